//! The change feed: the delta link as the cursor, an expired link, the feed lease, failures
//! parked and redone, and the Dataverse webhook trigger.

use std::time::{Duration, Instant};

use cosell_sim::Fault;
use cosell_sim::faults::Service;
use cosell_store::RetryState;
use cosell_sync::Synced;
use cosell_sync::outbound::{CURSOR, FEED_LEASE};
use cosell_sync::retry::Redone;
use serde_json::json;
use time::OffsetDateTime;

use cosell_testkit::crm::Deal;
use cosell_testkit::stack::KEY;
use cosell_testkit::stack::Stack;
use cosell_testkit::wait_for;

#[tokio::test]
async fn the_delta_link_is_the_cursor_and_an_expired_one_takes_a_fresh_baseline() {
    let stack = Stack::outbound().await;
    let a = stack.seed_deal(&Deal::default());
    let b = stack.seed_deal(&Deal {
        name: "Tailspin - Analytics".into(),
        ..Deal::default()
    });
    let report = stack.poll().await;
    assert!(report.baseline);
    assert_eq!(report.synced.len(), 2);
    let cursor = stack.port().cursor(CURSOR).await.unwrap().expect("cursor");
    assert!(cursor.value.contains("$deltatoken") || cursor.value.contains("deltatoken"));

    // A seller edit, then every delta token expires before the next poll.
    stack.seller_edit(
        a,
        json!({"description": "Edited before the token expired."}),
    );
    stack.sim.state.dv.expire_delta_tokens();
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(report.baseline, "expired: a fresh baseline");
    let outcome = |id| {
        report
            .synced
            .iter()
            .find(|(i, _)| *i == id)
            .unwrap()
            .1
            .clone()
    };
    assert!(
        matches!(outcome(a), Synced::Updated { changes: 1, .. }),
        "{report:?}"
    );
    assert_eq!(outcome(b), Synced::Unchanged, "re-handled, harmlessly");
    assert_eq!(
        stack.requests("partner-center"),
        2,
        "only the edit is sent: its PATCH, and the GET for the state it left"
    );
    let referral = stack.referral(&stack.referral_id_of(a));
    assert_eq!(
        referral["details"]["notes"],
        "Edited before the token expired."
    );
    assert_eq!(stack.referrals().len(), 2, "nothing created twice");
    let next = stack.port().cursor(CURSOR).await.unwrap().unwrap();
    assert!(next.version > cursor.version);
    assert_ne!(next.value, cursor.value);

    // The new link works: a quiet poll reads one page and sends nothing.
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(!report.baseline);
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.writes("dataverse"), 0, "{report:?}");
}

/// The configured Dataverse URL moved to another host (`org.crm4…` → a new org's URL, say): the
/// stored delta link can no longer be followed with our token, and the feed takes a fresh
/// baseline instead of failing every poll.
#[tokio::test]
async fn a_delta_link_on_another_host_takes_a_fresh_baseline() {
    let stack = Stack::outbound().await;
    let a = stack.seed_deal(&Deal::default());
    stack.poll().await;
    let cursor = stack.port().cursor(CURSOR).await.unwrap().unwrap();
    let elsewhere = cosell_store::Cursor {
        value: "https://old-org.crm.dynamics.com/api/data/v9.2/opportunities?$deltatoken=919042%2108%2f22%2f2017"
            .into(),
        ..cursor.clone()
    };
    let elsewhere = stack.port().put_cursor(&elsewhere).await.unwrap();
    stack.seller_edit(a, json!({"description": "Edited after the move."}));

    let report = stack.poll().await;
    assert!(report.baseline, "{report:?}");
    assert!(
        matches!(report.synced[0].1, Synced::Updated { changes: 1, .. }),
        "{report:?}"
    );
    let healed = stack.port().cursor(CURSOR).await.unwrap().unwrap();
    assert!(healed.version > elsewhere.version);
    assert!(
        healed.value.starts_with(&stack.sim.state.dv.api_base_url()),
        "{}",
        healed.value
    );
    // ...and the feed goes on from the new link.
    let report = stack.poll().await;
    assert!(!report.baseline);
}

#[tokio::test]
async fn a_run_holding_the_feed_lease_keeps_another_out() {
    let stack = Stack::outbound().await;
    stack.seed_deal(&Deal::default());
    let now = OffsetDateTime::now_utc();
    assert!(
        stack
            .port()
            .acquire_lease(FEED_LEASE, "another-run", now, Duration::from_secs(60))
            .await
            .unwrap()
    );
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(report.busy);
    assert_eq!(
        stack.requests("dataverse") + stack.requests("partner-center"),
        0
    );
    assert!(stack.port().cursor(CURSOR).await.unwrap().is_none());

    stack
        .port()
        .release_lease(FEED_LEASE, "another-run")
        .await
        .unwrap();
    let report = stack.poll().await;
    assert!(!report.busy);
    assert_eq!(report.synced.len(), 1);
}

#[tokio::test]
async fn a_partner_center_outage_is_parked_shown_and_redone_when_due() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    // Every attempt of the POST fails (the client tries 3 times).
    stack.sim.state.faults.script(
        Service::PartnerCenter,
        [Fault::ServerError, Fault::ServerError, Fault::ServerError],
    );
    let now = OffsetDateTime::now_utc();
    let report = outbound_sync::poll(&stack.outbound_sync().app, now)
        .await
        .unwrap();
    assert!(
        matches!(
            &report.synced[0].1,
            Synced::Parked {
                permanent: false,
                ..
            }
        ),
        "{report:?}"
    );
    let item = stack.parked(id).await.expect("retry item");
    assert_eq!(item.state, RetryState::Pending);
    assert_eq!(stack.opportunity(id)["name"], "Contoso - Data platform ✖");
    assert!(
        stack.audit(id).contains("(will retry)"),
        "{}",
        stack.audit(id)
    );
    assert!(stack.referrals().is_empty());

    // Our ✖ comes back through the feed before the item is due: it waits.
    let report = outbound_sync::poll(&stack.outbound_sync().app, now)
        .await
        .unwrap();
    assert!(
        matches!(&report.synced[0].1, Synced::Waiting { .. }),
        "{report:?}"
    );
    assert!(stack.referrals().is_empty());

    // Not due yet: the retry scheduler leaves it.
    let report = stack.retry(now).await;
    assert!(report.redone.is_empty(), "{report:?}");
    assert!(stack.referrals().is_empty());

    // Due: redone by the retry scheduler, created, ✔, the item gone.
    let later = item.due_at + time::Duration::seconds(1);
    let report = stack.retry(later).await;
    assert!(
        matches!(
            &report.redone[..],
            [(item, Redone::Outbound(Synced::Created { .. }))] if *item == format!("outbound:{id}")
        ),
        "{report:?}"
    );
    assert!(stack.parked(id).await.is_none());
    assert_eq!(stack.referrals().len(), 1);
    assert_eq!(stack.opportunity(id)["name"], "Contoso - Data platform ✔");
}

#[tokio::test]
async fn the_dataverse_webhook_syncs_the_row_it_names_at_once() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.poll().await;
    let referral_id = stack.referral_id_of(id);

    // The seller's PATCH through the Web API, then Dataverse's service endpoint calls us.
    let started = Instant::now();
    let mut row = serde_json::Map::new();
    row.insert("estimatedvalue".into(), json!(180000));
    stack
        .dataverse
        .update(
            "opportunities",
            &cosell_dataverse::Key::from(id),
            &row,
            cosell_dataverse::Precondition::MustExist,
        )
        .await
        .unwrap();
    let (status, body) = stack.dataverse_webhook(id, Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), format!("updated: {referral_id}"));
    // The WebhookKey form of the same call (`?code=<key>`) is accepted too.
    let (status, body) = stack.dataverse_webhook_by_code(id, KEY).await;
    assert_eq!(status, 200, "{body}");
    wait_for("the referral update", || {
        stack.referral(&referral_id)["details"]["dealValue"] == json!(180000)
    })
    .await;
    let latency = started.elapsed();
    println!(
        "Dataverse webhook: seller's PATCH to referral updated in {} ms",
        latency.as_millis()
    );

    // The change feed later sees the same edit (and our write-back): nothing more is sent.
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.synced, vec![(id, Synced::Unchanged)]);
    assert_eq!(stack.requests("partner-center"), 0);
}

#[tokio::test]
async fn a_forged_or_missing_webhook_key_is_refused_before_anything_is_read() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();
    for key in [Some("not-the-key"), Some(&KEY[..KEY.len() - 1]), None] {
        let (status, _) = stack.dataverse_webhook(id, key).await;
        assert_eq!(status, 401, "{key:?}");
    }
    // The same in the WebhookKey form, `?code=`: a wrong or empty code, or the key under another
    // parameter name.
    for code in ["not-the-key", &KEY[..KEY.len() - 1], ""] {
        let (status, _) = stack.dataverse_webhook_by_code(id, code).await;
        assert_eq!(status, 401, "{code:?}");
    }
    let response = cosell_testkit::http()
        .post(format!("{}?key={KEY}", stack.outbound_sync().url))
        .json(&cosell_testkit::crm::remote_execution_context(id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(stack.requests("dataverse"), 0);
    assert_eq!(stack.requests("partner-center"), 0);
    assert!(stack.referrals().is_empty());

    // Not an opportunity, or not a RemoteExecutionContext: nothing read either.
    let response = cosell_testkit::http()
        .post(&stack.outbound_sync().url)
        .header(cosell_testkit::stack::HEADER, KEY)
        .json(&json!({"PrimaryEntityName": "account", "PrimaryEntityId": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = cosell_testkit::http()
        .post(&stack.outbound_sync().url)
        .header(cosell_testkit::stack::HEADER, KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(stack.requests("dataverse"), 0);

    // Without a key in the credentials the trigger is off, whatever the caller sends.
    let off = stack.outbound_without_key();
    let mut headers = http::HeaderMap::new();
    headers.insert(cosell_testkit::stack::HEADER, KEY.parse().unwrap());
    let body = cosell_testkit::crm::remote_execution_context(id).to_string();
    let answer =
        outbound_sync::webhook_answer(&off, &http::Method::POST, &headers, None, body.into()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(stack.requests("dataverse"), 0);
}

#[tokio::test]
async fn a_deleted_opportunity_is_noted_and_its_referral_left_alone() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.poll().await;
    let referral_id = stack.referral_id_of(id);
    assert!(stack.sim.state.dv.delete("opportunities", id));
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(report.synced.is_empty());
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.referral(&referral_id)["status"], "New");
}

#[tokio::test]
async fn a_change_cosell_made_itself_is_answered_without_a_read() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();
    let mut context = cosell_testkit::crm::remote_execution_context(id);
    context["InitiatingUserId"] = json!(stack.sim.state.dv.config().application_user_id);
    let (status, body) = stack.deliver(&context).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "ours: Update of opportunity by the application user\n"
    );
    assert_eq!(
        stack.requests("dataverse") + stack.requests("partner-center"),
        0
    );
    assert!(stack.referrals().is_empty());
}

/// The context of a change to a solution row: its opportunity referenced by the lookup in the
/// target (create, update) or in the pre-image `before` (update, delete).
fn solution_context(
    message: &str,
    solution: uuid::Uuid,
    target: Option<uuid::Uuid>,
    before: Option<uuid::Uuid>,
) -> serde_json::Value {
    let reference = |id: uuid::Uuid| {
        json!({"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
               "Id": id, "LogicalName": "opportunity", "Name": null})
    };
    let attributes = |opportunity: Option<uuid::Uuid>| {
        opportunity
            .map(|id| vec![json!({"key": "msft_opportunityid", "value": reference(id)})])
            .unwrap_or_default()
    };
    json!({
        "MessageName": message,
        "PrimaryEntityName": "msft_microsoftpartnercentersolutions",
        "PrimaryEntityId": solution,
        "InitiatingUserId": "7d3c1a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "InputParameters": [{"key": "Target", "value": {
            "Attributes": attributes(target), "Id": solution,
            "LogicalName": "msft_microsoftpartnercentersolutions"}}],
        "PreEntityImages": before.map(|_| vec![json!({"key": "before", "value": {
            "Attributes": attributes(before), "Id": solution,
            "LogicalName": "msft_microsoftpartnercentersolutions"}})]).unwrap_or_default(),
    })
}

#[tokio::test]
async fn a_solution_added_or_removed_syncs_its_opportunity() {
    // Shared without a solution: refused ("Solution ID is required"), said in Audit.
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal {
        solutions: vec![],
        ..Deal::default()
    });
    let report = stack.poll().await;
    assert!(
        matches!(report.synced[..], [(_, Synced::Invalid { .. })]),
        "{report:?}"
    );

    // The seller adds one: the solutions table's Create step names the opportunity in its
    // target, and the referral is created from that call, not the next poll.
    let added = stack
        .sim
        .state
        .dv
        .seed(
            "msft_microsoftpartnercentersolutions",
            cosell_testkit::object(json!({
                "msft_solutionid": "SOL-7B3D9E21",
                "msft_name": "Solution SOL-7B3D9E21",
                "msft_opportunityid@odata.bind": format!("/opportunities({id})"),
            })),
        )
        .unwrap();
    let (status, body) = stack
        .deliver(&solution_context("Create", added, Some(id), None))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("created: "), "{body} {}", stack.audit(id));
    let referral_id = stack.referral_id_of(id);
    assert_eq!(body.trim(), format!("created: {referral_id}"));
    assert_eq!(
        stack.referral(&referral_id)["details"]["requirements"]["solutions"][0]["id"],
        "SOL-7B3D9E21"
    );

    // And removes it: the Delete step's context names the opportunity only in its pre-image,
    // and that opportunity is synced (solutions go to Partner Center on create only, so it is
    // unchanged there).
    assert!(
        stack
            .sim
            .state
            .dv
            .delete("msft_microsoftpartnercentersolutions", added)
    );
    stack.reset_counters();
    let (status, body) = stack
        .deliver(&solution_context("Delete", added, None, Some(id)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), "unchanged");
    assert!(stack.requests("dataverse") > 0, "the opportunity was read");
}

#[tokio::test]
async fn a_key_made_after_the_start_is_read_from_the_credentials() {
    // A function started before `cosell setup` made the key: the first call with it makes the
    // function read the credentials again, and it is accepted.
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(
        &path,
        json!({
            "partner_center": {"client_id": "a", "client_secret": "b", "refresh_token": "c"},
            "dataverse": {"tenant_id": "t", "client_id": "d", "client_secret": "e"}
        })
        .to_string(),
    )
    .unwrap();
    let credentials = cosell_secrets::CredentialStore::File(path);
    let started = stack
        .outbound_without_key()
        .with_key_source(credentials.clone());
    let (key, made) = credentials
        .ensure_webhook_key(|| cosell_transport::Secret::new("made-by-setup"))
        .await
        .unwrap();
    assert!(made);
    let call = |key: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert(cosell_testkit::stack::HEADER, key.parse().unwrap());
        let body = cosell_testkit::crm::remote_execution_context(id).to_string();
        let started = &started;
        async move {
            outbound_sync::webhook_answer(started, &http::Method::POST, &headers, None, body.into())
                .await
                .status
        }
    };
    // Two calls at once: one reads the credentials, the other waits for it; both are taken.
    let (first, second) = tokio::join!(call(key.expose()), call(key.expose()));
    assert_eq!((first.as_u16(), second.as_u16()), (200, 200));
    assert!(started.webhook_enabled());
    // A wrong key now is refused at once: the credentials were read less than a minute ago.
    assert_eq!(call("forged").await, 401);
}

#[tokio::test]
async fn the_application_user_is_asked_once_at_the_first_call_not_at_start() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();
    let key = Some(cosell_transport::Secret::new(KEY));
    let header = http::HeaderName::from_static(cosell_testkit::stack::HEADER);
    let app = outbound_sync::App::over(stack.outbound_sync().app.sync.clone(), key, header)
        .with_identity_source(stack.dataverse.clone());
    assert_eq!(stack.requests("dataverse"), 0, "nothing asked at start");
    let mut context = cosell_testkit::crm::remote_execution_context(id);
    context["InitiatingUserId"] = json!(stack.sim.state.dv.config().application_user_id);
    let call = || {
        let mut headers = http::HeaderMap::new();
        headers.insert(cosell_testkit::stack::HEADER, KEY.parse().unwrap());
        let body = context.to_string();
        let app = &app;
        async move {
            outbound_sync::webhook_answer(app, &http::Method::POST, &headers, None, body.into())
                .await
                .text
        }
    };
    assert!(call().await.starts_with("ours: "));
    assert_eq!(stack.requests("dataverse"), 1, "WhoAmI at the first call");
    assert!(call().await.starts_with("ours: "));
    assert_eq!(stack.requests("dataverse"), 1, "then nothing");
}
