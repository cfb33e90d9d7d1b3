//! `$batch` change sets and the Win/Lose actions against the simulator.

use cosell_dataverse::{
    Answer, Batch, ChangeSet, DataverseError, Id, Key, OpportunityClose, Precondition, Query, bind,
};
use serde_json::json;

use cosell_testkit::{object, sim};

#[tokio::test]
async fn a_failing_second_part_rolls_back_the_first() {
    let (sim, client) = start_naming_failed_parts().await;
    let mut changes = ChangeSet::new();
    changes.create("accounts", object(json!({"name": "Rolled back"})));
    // No `name`: the service refuses the opportunity.
    changes.create("opportunities", object(json!({"description": "nameless"})));
    let error = client.execute(&changes).await.unwrap_err();
    match &error {
        DataverseError::BatchFailed {
            part,
            status,
            code,
            message,
        } => {
            assert_eq!(
                (*part, *status, code.as_str()),
                (Some(2), 400, "0x80044331")
            );
            assert!(message.contains("'name'"), "{message}");
        }
        other => panic!("expected BatchFailed, got {other}"),
    }
    assert!(
        sim.state.dv.rows("accounts").is_empty(),
        "the first part was rolled back"
    );
    assert!(sim.state.dv.rows("opportunities").is_empty());
    let by_name = client
        .query_all(
            "accounts",
            &Query::new().filter(cosell_dataverse::Filter::eq("name", "Rolled back")),
        )
        .await
        .unwrap();
    assert!(by_name.is_empty());
}

#[tokio::test]
async fn content_id_references_bind_rows_created_earlier_in_the_change_set() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let mut changes = ChangeSet::new();
    let account = changes.create("accounts", object(json!({"name": "Contoso"})));
    let opportunity = changes.create(
        "opportunities",
        object(json!({"name": "Deal", "customerid_account@odata.bind": account.bind()})),
    );
    changes.update_reference(account, object(json!({"telephone1": "555"})));
    let outcomes = client.execute(&changes).await.expect("applied");
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[1].content_id, opportunity.content_id());
    let account_id = outcomes[0].entity_id.expect("account id");
    let opportunity_id = outcomes[1].entity_id.expect("opportunity id");
    let stored = sim
        .state
        .dv
        .row("opportunities", opportunity_id.0)
        .expect("opportunity stored");
    assert_eq!(stored["_customerid_value"], account_id.to_string());
    assert_eq!(
        sim.state.dv.row("accounts", account_id.0).unwrap()["telephone1"],
        "555"
    );
    assert_eq!(
        sim::event(&sim, "dataverse POST $batch"),
        1,
        "one request for three writes"
    );
}

#[tokio::test]
async fn change_sets_carry_preconditions_and_deletes() {
    let (sim, client) = start_naming_failed_parts().await;
    let kept = Id(sim
        .state
        .dv
        .seed("accounts", object(json!({"name": "kept"})))
        .unwrap());
    let gone = Id(sim
        .state
        .dv
        .seed("accounts", object(json!({"name": "gone"})))
        .unwrap());
    let mut changes = ChangeSet::new();
    changes.delete("accounts", Key::Id(gone), Precondition::None);
    changes.update(
        "accounts",
        Key::Id(Id::new_random()),
        object(json!({"name": "x"})),
        Precondition::MustExist,
    );
    let error = client.execute(&changes).await.unwrap_err();
    assert!(
        matches!(
            error,
            DataverseError::BatchFailed {
                part: Some(2),
                status: 404,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        sim.state.dv.row("accounts", gone.0).is_some(),
        "the delete was rolled back"
    );

    let mut changes = ChangeSet::new();
    changes.delete("accounts", Key::Id(gone), Precondition::None);
    changes.update(
        "accounts",
        Key::Id(kept),
        object(json!({"name": "kept!"})),
        Precondition::MustExist,
    );
    client.execute(&changes).await.expect("applied");
    assert!(sim.state.dv.row("accounts", gone.0).is_none());
    assert_eq!(
        sim.state.dv.row("accounts", kept.0).unwrap()["name"],
        "kept!"
    );
}

#[tokio::test]
async fn win_and_lose_close_opportunities_once() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let won = client
        .create("opportunities", &object(json!({"name": "Won deal"})))
        .await
        .unwrap();
    let lost = client
        .create("opportunities", &object(json!({"name": "Lost deal"})))
        .await
        .unwrap();

    client
        .win_opportunity(won, &OpportunityClose::won("Signed"))
        .await
        .expect("win");
    client
        .lose_opportunity(lost, &OpportunityClose::out_sold("Competitor"))
        .await
        .expect("lose");
    let won_row = sim.state.dv.row("opportunities", won.0).unwrap();
    assert_eq!(
        (won_row["statecode"].clone(), won_row["statuscode"].clone()),
        (json!(1), json!(3))
    );
    let lost_row = sim.state.dv.row("opportunities", lost.0).unwrap();
    assert_eq!(
        (
            lost_row["statecode"].clone(),
            lost_row["statuscode"].clone()
        ),
        (json!(2), json!(5))
    );
    let closes = sim.state.dv.rows("opportunitycloses");
    assert_eq!(closes.len(), 2, "each close records an opportunityclose");

    let again = client
        .lose_opportunity(won, &OpportunityClose::canceled("too late"))
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(400));
    assert!(again.to_string().contains("already closed"), "{again}");

    let wrong_status = client
        .create("opportunities", &object(json!({"name": "x"})))
        .await
        .map(|id| {
            (
                id,
                OpportunityClose {
                    status: 4,
                    ..OpportunityClose::won("x")
                },
            )
        })
        .unwrap();
    let error = client
        .win_opportunity(wrong_status.0, &wrong_status.1)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "4 is not a Won status");

    let by_patch = client
        .update(
            "opportunities",
            &cosell_dataverse::Key::Id(wrong_status.0),
            &object(json!({"statecode": 1})),
            Precondition::None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        by_patch.status(),
        Some(400),
        "closing is done by the actions"
    );
}

#[tokio::test]
async fn an_action_can_run_inside_a_change_set() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let deal = Id(sim
        .state
        .dv
        .seed("opportunities", object(json!({"name": "Deal"})))
        .unwrap());
    let mut changes = ChangeSet::new();
    changes.update(
        "opportunities",
        Key::Id(deal),
        object(json!({"description": "closing"})),
        Precondition::MustExist,
    );
    changes.win_opportunity(deal, &OpportunityClose::won("Signed"));
    client.execute(&changes).await.expect("applied");
    let stored = sim.state.dv.row("opportunities", deal.0).unwrap();
    assert_eq!(stored["statecode"], 1);
    assert_eq!(stored["description"], "closing");
    let _ = bind("opportunities", deal);
}

/// As published, a failed change set is answered by one error that names no part: the error
/// says the change set failed, with Dataverse's message, and blames no request.
#[tokio::test]
async fn a_change_set_answered_by_one_error_is_reported_whole_with_dataverse_s_message() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let mut changes = ChangeSet::new();
    changes.create("accounts", object(json!({"name": "Rolled back"})));
    changes.create("opportunities", object(json!({"description": "nameless"})));
    let error = client.execute(&changes).await.unwrap_err();
    let DataverseError::BatchFailed { part, status, .. } = &error else {
        panic!("expected BatchFailed, got {error}");
    };
    assert_eq!((*part, *status), (None, 400));
    let said = error.to_string();
    assert!(
        said.starts_with("dataverse $batch change set failed: HTTP 400 0x80044331"),
        "{said}"
    );
    assert!(said.contains("'name'"), "Dataverse's own message: {said}");
    assert!(!said.contains("part"), "{said}");
    assert!(sim.state.dv.rows("accounts").is_empty(), "rolled back");
}

/// Microsoft documents `$n` for a row *created* earlier in the change set: one naming an
/// upsert (`PATCH`) is refused, so a client must bind such a row by its id.
#[tokio::test]
async fn a_reference_to_a_part_that_created_nothing_is_refused() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let account = Id::new_random();
    let mut changes = ChangeSet::new();
    let upsert = changes.update(
        "accounts",
        Key::Id(account),
        object(json!({"name": "Upserted"})),
        Precondition::None,
    );
    changes.create(
        "opportunities",
        object(json!({"name": "Deal", "customerid_account@odata.bind": upsert.bind()})),
    );
    let error = client.execute(&changes).await.unwrap_err();
    assert_eq!(error.status(), Some(400), "{error}");
    assert!(
        error
            .to_string()
            .contains("does not exist in the batch context"),
        "{error}"
    );
    assert!(sim.state.dv.rows("accounts").is_empty(), "rolled back");

    // Bound by its id instead, the same change set goes through.
    let mut changes = ChangeSet::new();
    changes.update(
        "accounts",
        Key::Id(account),
        object(json!({"name": "Upserted"})),
        Precondition::None,
    );
    changes.create(
        "opportunities",
        object(json!({"name": "Deal", "customerid_account@odata.bind": format!("/accounts({})", account.0)})),
    );
    client.execute(&changes).await.unwrap();
    assert_eq!(sim.state.dv.rows("opportunities").len(), 1);
}

/// A simulator whose failed change set names its failing part (a kinder reading than the
/// default, which names none), and a client of it.
async fn start_naming_failed_parts() -> (cosell_sim::Sim, cosell_dataverse::DataverseClient) {
    let mut dataverse = cosell_sim::dataverse::DvConfig::default();
    dataverse.lenient.failed_change_set_names_part = true;
    sim::dataverse(dataverse).await
}

/// A change set creating an account and an opportunity bound to it by `$1`.
fn deal(name: &str) -> ChangeSet {
    let mut changes = ChangeSet::new();
    let account = changes.create("accounts", object(json!({"name": format!("{name} Inc.")})));
    changes.create(
        "opportunities",
        object(json!({"name": name, "customerid_account@odata.bind": account.bind()})),
    );
    changes
}

#[tokio::test]
async fn a_batch_answers_each_query_and_change_set_on_its_own() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let mut batch = Batch::new();
    batch.query("accounts", Query::new().select(["name"]));
    batch.changes(deal("First"));
    let mut failing = ChangeSet::new();
    failing.create("accounts", object(json!({"name": "Rolled back Inc."})));
    // No `name`: the service refuses the opportunity, and only this change set is undone.
    failing.create("opportunities", object(json!({"description": "nameless"})));
    batch.changes(failing);
    batch.changes(deal("Third"));
    batch.query(
        "accounts",
        Query::new().filter(cosell_dataverse::Filter::eq("name", "First Inc.")),
    );
    assert_eq!((batch.len(), batch.requests()), (5, 8));

    let answered = client.send_batch(&batch).await.expect("one answer");
    assert_eq!(sim::event(&sim, "dataverse POST $batch"), 1, "one request");
    assert_eq!(answered.dop_hint, Some(8));
    let [first_query, first, failed, third, second_query] = &answered.answers[..] else {
        panic!("five answers: {:?}", answered.answers);
    };
    assert!(matches!(first_query, Ok(Answer::Page(page)) if page.records.is_empty()));
    // Each change set's Content-IDs as it numbers them, though the batch numbered them 1…6.
    let Ok(Answer::Applied(outcomes)) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        outcomes.iter().map(|o| o.content_id).collect::<Vec<_>>(),
        [1, 2]
    );
    match failed {
        Err(DataverseError::BatchFailed { status: 400, .. }) => {}
        other => panic!("the second change set fails alone: {other:?}"),
    }
    let Ok(Answer::Applied(third)) = third else {
        panic!("{third:?}")
    };
    let opportunity = third[1].entity_id.expect("opportunity id");
    let account = third[0].entity_id.expect("account id");
    // Its `$1` bound its own account, renumbered with it.
    let stored = sim.state.dv.row("opportunities", opportunity.0).unwrap();
    assert_eq!(stored["_customerid_value"], account.to_string());
    let Ok(Answer::Page(found)) = second_query else {
        panic!("{second_query:?}")
    };
    assert_eq!(
        found.records.len(),
        1,
        "run in order: the first deal is there"
    );
    let names: Vec<String> = sim
        .state
        .dv
        .rows("accounts")
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("Rolled back")));
}

#[tokio::test]
async fn a_query_refused_inside_a_batch_is_that_entry_s_error() {
    let (_sim, client) = sim::dataverse(Default::default()).await;
    let mut batch = Batch::new();
    batch.changes(deal("Kept"));
    let unknown = cosell_dataverse::Expand::new("no_such_relationship");
    batch.query("accounts", Query::new().expand(unknown));
    batch.query("accounts", Query::new().select(["name"]));
    let answered = client.send_batch(&batch).await.expect("one answer");
    assert!(matches!(answered.answers[0], Ok(Answer::Applied(_))));
    assert!(
        matches!(&answered.answers[1], Err(e @ DataverseError::BatchQueryFailed { .. }) if e.status() == Some(400)),
        "{:?}",
        answered.answers[1]
    );
    assert!(matches!(&answered.answers[2], Ok(Answer::Page(p)) if p.records.len() == 1));
    assert!(client.send_batch(&Batch::new()).await.is_err());
}
