//! A seller's opportunity becomes a referral: each deal kind, each validation failure, the
//! write-back, and what the next poll does (nothing). Request counts come from the simulator.

use cosell_store::RetryState;
use cosell_sync::Synced;
use cosell_sync::retry::Redone;
use serde_json::{Value, json};

use cosell_testkit::cid;
use cosell_testkit::crm::{Deal, HELP_ARCHITECTURE};
use cosell_testkit::sim;
use cosell_testkit::stack::Stack;

const PC_POST: &str = "partner-center POST /v1.0/engagements/referrals";
const PC_PATCH: &str = "partner-center PATCH /v1.0/engagements/referrals/{id}";
const PC_GET: &str = "partner-center GET /v1.0/engagements/referrals/{id}";

/// Runs `sync` with Partner Center answering 300 ms late, and `meanwhile` as soon as the
/// referral's POST has reached it: something that happens while the create is in flight.
async fn while_posting<T>(
    stack: &Stack,
    sync: impl std::future::Future<Output = T>,
    meanwhile: impl FnOnce(),
) -> T {
    use cosell_sim::{FaultSettings, Service};

    let faults = &stack.sim.state.faults;
    let late = FaultSettings {
        latency_ms: 300,
        ..FaultSettings::default()
    };
    faults.set(Service::PartnerCenter, late);
    let (out, ()) = tokio::join!(sync, async {
        while stack.route(PC_POST) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        meanwhile();
    });
    faults.set(Service::PartnerCenter, FaultSettings::default());
    out
}

#[tokio::test]
async fn a_private_deal_becomes_one_unshared_referral_and_the_write_back_is_one_patch() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();

    let report = stack.poll().await;
    assert!(report.baseline);
    let (synced_id, synced) = &report.synced[0];
    assert_eq!(*synced_id, id);
    assert!(matches!(synced, Synced::Created { .. }), "{synced:?}");
    assert_eq!(stack.route(PC_POST), 1);
    assert_eq!(
        stack.requests("partner-center"),
        1,
        "{:?}",
        stack.counters()
    );
    assert_eq!(
        stack.writes("dataverse"),
        1,
        "one PATCH writes back id, link, ✔ and Audit: {:?}",
        stack.counters()
    );

    let referrals = stack.referrals();
    assert_eq!(referrals.len(), 1);
    let referral = &referrals[0];
    let referral_id = referral["id"].as_str().unwrap();
    assert_eq!(referral["externalReferenceId"], id.to_string());
    assert_eq!(referral["name"], "Contoso - Data platform");
    assert_eq!(referral["type"], "Independent");
    assert_eq!(
        referral["consent"]["consentToShareReferralWithMicrosoftSellers"],
        false
    );
    assert_eq!(referral["customerProfile"]["name"], "Contoso Ltd");
    assert_eq!(referral["customerProfile"]["address"]["country"], "US");
    assert_eq!(referral["customerProfile"]["team"][0]["lastName"], "Chen");
    assert_eq!(referral["details"]["dealValue"], json!(125000));
    assert_eq!(referral["details"]["currency"], "USD");
    assert_eq!(
        referral["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .get(..10),
        Some("2026-09-30")
    );
    assert_eq!(referral["details"]["notes"], "Move the warehouse to Azure.");

    let opportunity = stack.opportunity(id);
    assert_eq!(
        opportunity["msft_microsoftpartnercenterreferralidentifier"],
        referral_id
    );
    assert_eq!(
        opportunity["msft_microsoftpartnercenterreferrallink"],
        referral["links"]["self"]["uri"]
    );
    assert_eq!(opportunity["name"], "Contoso - Data platform ✔");
    let audit = stack.audit(id);
    assert!(
        audit.contains(&format!(
            "✔ Created private referral {referral_id} in Partner Center"
        )),
        "{audit}"
    );

    let link = stack
        .port()
        .link_by_crm(cid(id))
        .await
        .unwrap()
        .expect("link");
    assert_eq!(link.referral_id, referral_id);
    assert!(link.outbound_hash.is_some() && link.inbound_hash.is_some());
    assert!(link.referral_etag.is_some());

    // Our own write-back comes back through the change feed: no request to Partner Center, no
    // write to Dataverse.
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.synced, vec![(id, Synced::Unchanged)]);
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.writes("dataverse"), 0);
}

#[tokio::test]
async fn a_visible_deal_without_help_is_partner_led() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal {
        visible: true,
        ..Deal::default()
    });
    let report = stack.poll().await;
    assert!(
        matches!(
            &report.synced[0].1,
            Synced::Created {
                connected: None,
                ..
            }
        ),
        "{report:?}"
    );
    let referrals = stack.referrals();
    assert_eq!(referrals.len(), 1);
    assert_eq!(referrals[0]["type"], "Independent");
    assert_eq!(
        referrals[0]["consent"]["consentToShareReferralWithMicrosoftSellers"],
        true
    );
    assert!(
        stack.audit(id).contains("✔ Created partner-led referral"),
        "{}",
        stack.audit(id)
    );
}

#[tokio::test]
async fn a_deal_asking_for_help_is_co_sell_two_referrals_sharing_an_engagement() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal {
        help: Some(HELP_ARCHITECTURE),
        visible: true,
        ..Deal::default()
    });
    stack.reset_counters();
    let report = stack.poll().await;
    let Synced::Created {
        referral_id,
        connected: Some(connected),
        ..
    } = &report.synced[0].1
    else {
        panic!("{report:?}");
    };
    assert_eq!(stack.route(PC_POST), 2, "two POSTs");
    let partner = stack.referral(referral_id);
    let microsoft = stack.referral(connected);
    assert_eq!(partner["type"], "Shared");
    assert_eq!(partner["target"][0]["type"], "SolutionProfile");
    assert_eq!(partner["target"][0]["id"], "SOL-2F5A1C7E");
    assert_eq!(
        partner["inviteContext"]["assistanceRequestCode"],
        "CustomerTechnicalArchitecture"
    );
    assert!(
        partner["engagementId"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(partner["engagementId"], microsoft["engagementId"]);
    assert_eq!(
        microsoft["target"],
        json!([{"type": "BusinessProfileLocation", "id": "msft"}])
    );
    // As Microsoft's create sample: the partner's team (the opportunity's owner in Dynamics
    // 365), the consent flags (docs/settings.md's defaults), and no read-only member — the simulator
    // refuses a create carrying one, so both POSTs got through without.
    for referral in [&partner, &microsoft] {
        assert_eq!(
            referral["team"],
            json!([{
                "firstName": "Sam",
                "lastName": "Seller",
                "phoneNumber": "+1 425 555 0199",
                "email": "sam.seller@partner.example"
            }])
        );
        assert_eq!(referral["consent"]["consentToContact"], true);
        assert_eq!(referral["consent"]["consentToToShareInfoWithOthers"], false);
        assert_eq!(referral["direction"], "Outgoing", "set by the service");
    }
    assert_eq!(stack.referral_id_of(id), *referral_id);
    assert!(stack.audit(id).contains(&format!(
        "✔ Created co-sell referral {referral_id} in Partner Center, with the connected referral {connected} for Microsoft"
    )));
    assert_eq!(stack.writes("dataverse"), 1);
}

/// Each validation failure: ✖ and the sentence in Audit (one Dataverse PATCH), no Partner
/// Center request, a dead retry item, and a second poll that writes nothing.
#[tokio::test]
async fn each_validation_failure_is_shown_and_sends_nothing_until_the_seller_edits() {
    let cases: Vec<(&str, Deal, &str)> = vec![
        (
            "help without contact",
            Deal {
                help: Some(HELP_ARCHITECTURE),
                visible: true,
                contact: false,
                ..Deal::default()
            },
            "a customer contact is required",
        ),
        (
            "no solution",
            Deal {
                solutions: vec![],
                ..Deal::default()
            },
            "Solution ID is required",
        ),
        (
            "country not ISO",
            Deal {
                country: Some("United States"),
                ..Deal::default()
            },
            "customer account country code is missing",
        ),
        (
            "no country",
            Deal {
                country: None,
                ..Deal::default()
            },
            "customer account country code is missing",
        ),
        (
            "no currency",
            Deal {
                currency: None,
                ..Deal::default()
            },
            "currency is missing",
        ),
    ];
    let stack = Stack::outbound().await;
    let mut ids = Vec::new();
    for (_, deal, _) in &cases {
        ids.push(stack.seed_deal(deal));
    }
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(
        stack.requests("partner-center"),
        0,
        "{:?}",
        stack.counters()
    );
    assert_eq!(
        stack.writes("dataverse"),
        cases.len() as u64,
        "one PATCH per rejected opportunity"
    );
    for ((case, _, sentence), id) in cases.iter().zip(&ids) {
        let synced = &report.synced.iter().find(|(i, _)| i == id).unwrap().1;
        assert!(
            matches!(synced, Synced::Invalid { .. }),
            "{case}: {synced:?}"
        );
        let opportunity = stack.opportunity(*id);
        assert_eq!(opportunity["name"], "Contoso - Data platform ✖", "{case}");
        let audit = stack.audit(*id);
        assert!(
            audit.contains("✖ Not sent to Partner Center"),
            "{case}: {audit}"
        );
        assert!(
            audit.to_lowercase().contains(&sentence.to_lowercase()),
            "{case}: {audit}"
        );
        assert!(
            opportunity
                .get("msft_microsoftpartnercenterreferralidentifier")
                .is_none_or(Value::is_null),
            "{case}"
        );
        let item = stack.parked(*id).await.expect("retry item");
        assert_eq!(item.state, RetryState::Dead, "{case}");
    }
    assert!(stack.referrals().is_empty());

    // Our ✖ write-backs come back through the feed: nothing is sent or written.
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.writes("dataverse"), 0, "{report:?}");
    assert!(
        report
            .synced
            .iter()
            .all(|(_, s)| matches!(s, Synced::Waiting { .. })),
        "{report:?}"
    );

    // The seller fixes the country: the next poll creates the referral, and the log keeps the
    // rejection below the success.
    let fixed = ids[2];
    stack
        .sim
        .state
        .dv
        .seed(
            "accounts",
            cosell_testkit::object(json!({
                "accountid": stack.text(fixed, "_parentaccountid_value"),
                "address1_country": "us",
            })),
        )
        .unwrap();
    stack.seller_edit(fixed, json!({"description": "Country fixed."}));
    let report = stack.poll().await;
    let synced = &report.synced.iter().find(|(i, _)| *i == fixed).unwrap().1;
    assert!(matches!(synced, Synced::Created { .. }), "{synced:?}");
    assert_eq!(
        stack.opportunity(fixed)["name"],
        "Contoso - Data platform ✔"
    );
    let audit = stack.audit(fixed);
    let lines: Vec<&str> = audit.lines().collect();
    assert!(lines[0].contains("✔ Created private referral"), "{audit}");
    assert!(lines[1].contains("country code is missing"), "{audit}");
    assert!(
        stack.parked(fixed).await.is_none(),
        "done: the retry item is gone"
    );
}

#[tokio::test]
async fn closing_without_revenue_and_close_date_is_refused() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.seller_edit(
        id,
        json!({"estimatedvalue": null, "estimatedclosedate": null, "statecode": 1, "statuscode": 3}),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Invalid { .. }),
        "{report:?}"
    );
    assert_eq!(stack.requests("partner-center"), 0);
    let audit = stack.audit(id);
    assert!(
        audit
            .to_lowercase()
            .contains("closing a lead requires revenue and a close date"),
        "{audit}"
    );
}

#[tokio::test]
async fn rows_not_shared_are_skipped_without_reading_them() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.seller_edit(
        id,
        json!({"msft_microsoftpartnercenterreferralsync": false}),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.not_shared, 1);
    assert!(report.synced.is_empty());
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(
        stack.requests("dataverse"),
        1,
        "only the change feed page: {:?}",
        stack.counters()
    );
}

/// The window between the referral's POST and the CRM write-back: if the write-back is lost (a
/// crash, a Dataverse outage), the next run must finish it, not create a second referral.
#[tokio::test]
async fn a_lost_write_back_is_finished_later_without_a_second_referral() {
    use cosell_sim::{FaultSettings, Service};

    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let faults = &stack.sim.state.faults;
    let now = time::OffsetDateTime::now_utc();
    // Dataverse breaks while the POST is in flight.
    let report = while_posting(
        &stack,
        outbound_sync::poll(&stack.outbound_sync().app, now),
        || {
            faults.set(
                Service::Dataverse,
                FaultSettings {
                    rate_500: 1.0,
                    ..FaultSettings::default()
                },
            );
        },
    )
    .await;
    let report = report.unwrap();
    assert!(
        matches!(&report.synced[0].1, Synced::Parked { .. }),
        "{report:?}"
    );
    faults.set(Service::Dataverse, FaultSettings::default());
    assert_eq!(stack.referrals().len(), 1);
    assert!(
        stack
            .opportunity(id)
            .get("msft_microsoftpartnercenterreferralidentifier")
            .is_none_or(Value::is_null),
        "the write-back was lost"
    );

    // When the retry is due, the write-back is finished from the link: no second POST.
    let item = stack.parked(id).await.expect("parked");
    let later = item.due_at + time::Duration::seconds(1);
    let report = stack.retry(later).await;
    assert!(
        matches!(
            &report.redone[..],
            [(_, Redone::Outbound(Synced::Created { .. }))]
        ),
        "{report:?}"
    );
    assert_eq!(stack.route(PC_POST), 1, "{:?}", stack.counters());
    let referrals = stack.referrals();
    assert_eq!(referrals.len(), 1);
    let opportunity = stack.opportunity(id);
    assert_eq!(
        opportunity["msft_microsoftpartnercenterreferralidentifier"],
        referrals[0]["id"]
    );
    assert_eq!(
        opportunity["msft_microsoftpartnercenterreferrallink"],
        referrals[0]["links"]["self"]["uri"]
    );
    assert_eq!(opportunity["name"], "Contoso - Data platform ✔");
}

/// A `POST` that Partner Center committed but whose answer never arrived (the connection closed
/// after the write; a crash right after it looks the same): the next attempt finds the referral
/// by its `externalReferenceId` and adopts it instead of creating a second one.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_posted_again() {
    use cosell_sim::Service;
    use cosell_sim::faults::Fault;

    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack
        .sim
        .state
        .faults
        .script(Service::PartnerCenter, [Fault::LostAnswer]);
    let now = time::OffsetDateTime::now_utc();
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
    assert_eq!(stack.referrals().len(), 1, "the POST was committed");
    let item = stack.parked(id).await.expect("parked");
    assert!(
        item.payload.get("creatingSince").is_some(),
        "the parked item remembers a create was under way: {:?}",
        item.payload
    );

    let report = stack.retry(item.due_at + time::Duration::seconds(1)).await;
    assert!(
        matches!(
            &report.redone[..],
            [(_, Redone::Outbound(Synced::Created { .. }))]
        ),
        "{report:?}"
    );
    assert_eq!(stack.route(PC_POST), 1, "{:?}", stack.counters());
    let referrals = stack.referrals();
    assert_eq!(referrals.len(), 1, "adopted, not created twice");
    assert_eq!(
        stack.opportunity(id)["msft_microsoftpartnercenterreferralidentifier"],
        referrals[0]["id"]
    );
    assert!(stack.parked(id).await.is_none(), "nothing left to redo");

    // The link holds the adopted referral's eTag: the seller's next edit is one conditional
    // PATCH, and the GET for the state it left (the connector declares a bare 204).
    stack.reset_counters();
    stack.seller_edit(id, json!({"description": "After the adoption."}));
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { conflicts: 0, .. }),
        "{report:?}"
    );
    assert_eq!(
        (stack.route(PC_PATCH), stack.route(PC_GET)),
        (1, 1),
        "{:?}",
        stack.counters()
    );
}

/// The state a create leaves when Partner Center committed its `POST` but the answer never
/// came back (the `lost` fault; a process killed right after the `POST` leaves the same intent,
/// due once its lease expires), then a seller's edit of name and value and Microsoft's edit of
/// the notes, each before either side heard of the other. Returns the referral's id.
async fn lost_answer_then_both_sides_edit(stack: &Stack, id: uuid::Uuid) -> String {
    use cosell_sim::Service;
    use cosell_sim::faults::Fault;

    stack
        .sim
        .state
        .faults
        .script(Service::PartnerCenter, [Fault::LostAnswer]);
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Parked { .. }),
        "{report:?}"
    );
    let referrals = stack.referrals();
    assert_eq!(referrals.len(), 1, "the POST was committed");
    let referral_id = referrals[0]["id"].as_str().unwrap().to_owned();
    let intent = stack.parked(id).await.expect("the create's intent");
    assert_eq!(
        intent.payload["posted"]["name"], "Contoso - Data platform",
        "the intent holds the deal as posted: {:?}",
        intent.payload
    );
    stack.seller_edit(
        id,
        json!({"name": "Contoso - Data platform v2", "estimatedvalue": 250000}),
    );
    stack
        .edit_referral(
            &referral_id,
            json!({"details": {"notes": "Microsoft: add Fabric."}}),
        )
        .await;
    referral_id
}

/// Issue 13, as the chaos suite found it: the reconciliation sweep meets a referral whose
/// create answer was lost before the create's redo does. The inbound sync merges against the
/// deal as posted — Microsoft's notes come into the CRM, the seller's name and value stay — and
/// the redo then sends the seller's edit. Before the fix the sweep wrote the posted name and
/// value over the seller's, and every later poll found the deal "unchanged since last agreed".
#[tokio::test]
async fn a_sweep_before_the_redo_of_a_lost_create_keeps_the_sellers_edit() {
    use cosell_sync::Handled;

    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let referral_id = lost_answer_then_both_sides_edit(&stack, id).await;

    let now = time::OffsetDateTime::now_utc();
    let report = stack.sweep(now).await;
    assert!(
        matches!(
            &report.synced[..],
            [(synced, Handled::Synced { created: false, .. })] if *synced == referral_id
        ),
        "{report:?}"
    );
    let row = stack.opportunity(id);
    assert_eq!(
        row["name"], "Contoso - Data platform v2",
        "the seller's name"
    );
    assert_eq!(row["estimatedvalue"], json!(250000), "the seller's value");
    assert_eq!(
        row["description"], "Microsoft: add Fabric.",
        "Microsoft's notes"
    );

    let item = stack
        .parked(id)
        .await
        .expect("the create's redo is still due");
    let report = stack.retry(item.due_at + time::Duration::seconds(1)).await;
    assert!(
        matches!(
            &report.redone[..],
            [(_, Redone::Outbound(Synced::Updated { changes: 2, .. }))]
        ),
        "{report:?}"
    );
    assert_both_edits_on_both_sides(&stack, id, &referral_id).await;
}

/// The same interleaving when the create's redo comes first and adopts the referral: the deal
/// as posted is the agreed one, so the seller's name and value are sent at once, and Microsoft's
/// notes (Partner Center no longer holds the posted deal) come in with the next inbound sync.
/// Adopting the CRM's deal as agreed lost the seller's edit: Partner Center still held the
/// posted version.
#[tokio::test]
async fn an_adopted_create_sends_the_sellers_edit_since_the_post_and_keeps_microsofts() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let referral_id = lost_answer_then_both_sides_edit(&stack, id).await;

    let item = stack.parked(id).await.expect("the create's intent");
    let report = stack.retry(item.due_at + time::Duration::seconds(1)).await;
    assert!(
        matches!(
            &report.redone[..],
            [(_, Redone::Outbound(Synced::Updated { changes: 2, .. }))]
        ),
        "{report:?}"
    );
    let referral = stack.referral(&referral_id);
    assert_eq!(referral["name"], "Contoso - Data platform v2");
    assert_eq!(referral["details"]["dealValue"], json!(250000));
    assert_eq!(referral["details"]["notes"], "Microsoft: add Fabric.");
    let link = stack
        .port()
        .link_by_crm(cid(id))
        .await
        .unwrap()
        .expect("linked");
    assert!(
        link.inbound_hash.is_none(),
        "Partner Center holds Microsoft's notes, which the CRM has not had yet"
    );

    let report = stack.sweep(time::OffsetDateTime::now_utc()).await;
    assert_eq!(report.synced.len(), 1, "{report:?}");
    assert_both_edits_on_both_sides(&stack, id, &referral_id).await;
}

/// Both sides hold the seller's name and value and Microsoft's notes, one referral was posted,
/// nothing is parked, and the next poll and sweep write nothing.
async fn assert_both_edits_on_both_sides(stack: &Stack, id: uuid::Uuid, referral_id: &str) {
    let referral = stack.referral(referral_id);
    assert_eq!(referral["name"], "Contoso - Data platform v2");
    assert_eq!(referral["details"]["dealValue"], json!(250000));
    assert_eq!(referral["details"]["notes"], "Microsoft: add Fabric.");
    let row = stack.opportunity(id);
    assert_eq!(row["name"], "Contoso - Data platform v2 ✔");
    assert_eq!(row["estimatedvalue"], json!(250000));
    assert_eq!(row["description"], "Microsoft: add Fabric.");
    assert_eq!(
        row["msft_microsoftpartnercenterreferralidentifier"],
        referral_id
    );
    assert_eq!(stack.referrals().len(), 1);
    assert_eq!(stack.route(PC_POST), 1, "{:?}", stack.counters());
    assert!(stack.parked(id).await.is_none(), "nothing left to redo");

    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        report
            .synced
            .iter()
            .all(|(_, synced)| matches!(synced, Synced::Unchanged)),
        "{report:?}"
    );
    let report = stack.sweep(time::OffsetDateTime::now_utc()).await;
    assert!(report.synced.is_empty(), "{report:?}");
    assert_eq!(stack.writes("partner-center"), 0, "{:?}", stack.counters());
    assert_eq!(stack.writes("dataverse"), 0, "{:?}", stack.counters());
}

/// A first create that simply succeeds leaves no intent behind and makes no listing request.
#[tokio::test]
async fn a_create_that_succeeds_first_time_lists_nothing_and_leaves_no_item() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Created { .. }),
        "{report:?}"
    );
    assert_eq!(
        stack.route("partner-center GET /v1.0/engagements/referrals"),
        0,
        "{:?}",
        stack.counters()
    );
    assert!(stack.parked(id).await.is_none());
}

/// A retry item whose work another trigger already did (the deal is as both sides agreed) is
/// removed by its redo, instead of coming due again forever.
#[tokio::test]
async fn a_redo_that_finds_the_deal_in_sync_removes_its_item() {
    use cosell_store::{RetryItem, RetryState};

    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Created { .. }),
        "{report:?}"
    );
    let now = time::OffsetDateTime::now_utc();
    let stale = RetryItem {
        id: format!("outbound:{id}"),
        payload: json!({"opportunityId": id.to_string()}),
        due_at: now,
        attempts: 1,
        last_error: Some("parked before the poll synced it".into()),
        state: RetryState::Pending,
    };
    stack.port().put_retry(&stale).await.unwrap();
    stack.reset_counters();

    let report = stack.retry(now + time::Duration::seconds(1)).await;
    assert!(
        matches!(
            &report.redone[..],
            [(_, Redone::Outbound(Synced::Unchanged))]
        ),
        "{report:?}"
    );
    assert_eq!(
        stack.requests("partner-center"),
        0,
        "{:?}",
        stack.counters()
    );
    assert!(stack.parked(id).await.is_none(), "the item is gone");
}

/// A seller who renames the opportunity while its referral is being created keeps the new name:
/// the write-back's ✔ is made only on the row as it was read, and the rename is sent next.
#[tokio::test]
async fn a_rename_during_the_create_is_not_overwritten_by_the_write_back() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let report = while_posting(&stack, stack.poll(), || {
        stack.seller_edit(id, json!({"name": "Contoso - Data platform phase 2"}));
    })
    .await;
    assert!(
        matches!(&report.synced[0].1, Synced::Created { .. }),
        "{report:?}"
    );
    let row = stack.opportunity(id);
    assert_eq!(
        row["name"], "Contoso - Data platform phase 2",
        "the seller's name stays"
    );
    let referral_id = stack.referral_id_of(id);
    assert_eq!(
        row["msft_microsoftpartnercenterreferralidentifier"],
        referral_id.as_str()
    );

    // The rename is the seller's edit: the next poll sends it, and marks the name ✔.
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { .. }),
        "{report:?}"
    );
    assert_eq!(
        stack.referral(&referral_id)["name"],
        "Contoso - Data platform phase 2"
    );
    assert_eq!(
        stack.opportunity(id)["name"],
        "Contoso - Data platform phase 2 ✔"
    );
}

/// A row that names a referral but has no link (the inbound sync that wrote it stopped before
/// storing its link) is adopted without sending anything: Microsoft's newer edit in Partner
/// Center is not overwritten with the row's older values.
#[tokio::test]
async fn a_row_naming_a_referral_without_a_link_is_adopted_without_sending() {
    use cosell_sim::partner_center::referrals::{Source, create_referral};

    let stack = Stack::outbound().await;
    let referral = create_referral(
        &stack.sim.state,
        json!({
            "name": "Contoso - Data platform",
            "type": "Shared",
            "qualification": "SalesQualified",
            "customerProfile": {"name": "Contoso Ltd", "address": {"country": "US"}},
            "details": {"dealValue": 125000, "currency": "USD"}
        }),
        Source::Admin,
    )
    .unwrap();
    let referral_id = referral["id"].as_str().unwrap().to_owned();
    let id = stack.seed_deal(&Deal::default());
    stack.seller_edit(
        id,
        json!({"msft_microsoftpartnercenterreferralidentifier": referral_id}),
    );
    // Microsoft renames the deal after the row was written.
    stack
        .edit_referral(
            &referral_id,
            json!({"name": "Contoso - Data platform (MSX)"}),
        )
        .await;
    stack.reset_counters();

    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Unchanged),
        "{report:?}"
    );
    assert_eq!(stack.writes("partner-center"), 0, "{:?}", stack.counters());
    assert_eq!(
        stack.referral(&referral_id)["name"],
        "Contoso - Data platform (MSX)"
    );
    let link = stack
        .port()
        .link_by_crm(cid(id))
        .await
        .unwrap()
        .expect("adopted");
    assert_eq!(link.referral_id, referral_id);
    assert!(
        link.inbound_hash.is_none(),
        "the inbound sync brings Partner Center's state next"
    );
}

/// Settings naming the three Services co-sell columns (`new_partnerrole`, `new_solutionarea`,
/// `new_solutionplay`).
fn services_settings() -> cosell_mapping::CrmConfig {
    use cosell_mapping::config::keys;
    cosell_mapping::CrmConfig::from_lookup(|key| {
        [
            (keys::PARTNER_ROLE_COLUMN, "new_partnerrole"),
            (keys::SOLUTION_AREA_COLUMN, "new_solutionarea"),
            (keys::SOLUTION_PLAY_COLUMN, "new_solutionplay"),
        ]
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
    })
    .unwrap()
}

/// Issue 14: a Services co-sell deal. Partner Center refuses the create while a Services field
/// is empty (this host requires them, as create-a-referral says for Services co-sell); the
/// Audit names the column to fill, and once the seller fills it the create carries all three.
#[tokio::test]
async fn a_co_sell_refused_for_an_empty_services_field_names_the_column_then_goes() {
    let crm = services_settings();
    let pc = cosell_sim::partner_center::PcConfig {
        require_services_fields: true,
        ..Default::default()
    };
    let stack = Stack::build()
        .on(sim::start_with(pc).await)
        .crm(crm)
        .outbound()
        .start()
        .await;
    let id = stack.seed_deal(&Deal {
        help: Some(HELP_ARCHITECTURE),
        visible: true,
        ..Deal::default()
    });
    stack.seller_edit(
        id,
        json!({"new_partnerrole": "Services", "new_solutionarea": "AI Business Solutions"}),
    );
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Parked { .. }),
        "{report:?}"
    );
    assert!(stack.referrals().is_empty());
    let audit = stack.audit(id);
    let first = audit.lines().next().unwrap();
    assert!(
        first.contains("fill new_solutionplay (solutionPlay)"),
        "{audit}"
    );
    assert!(!first.contains("new_partnerrole"), "{audit}");
    assert!(
        first.contains("solutionPlay is required for Services co-sell referrals"),
        "Partner Center's own reason: {audit}"
    );
    let item = stack.parked(id).await.expect("parked");
    assert_eq!(
        item.state,
        RetryState::Dead,
        "nothing to retry until the seller acts"
    );

    stack.seller_edit(
        id,
        json!({"new_solutionplay": "Innovate with Azure AI apps"}),
    );
    let report = stack.poll().await;
    let Synced::Created { referral_id, .. } = &report.synced[0].1 else {
        panic!("{report:?}");
    };
    let referral = stack.referral(referral_id);
    assert_eq!(referral["partnerRole"], "Services");
    assert_eq!(referral["solutionArea"], "AI Business Solutions");
    assert_eq!(referral["solutionPlay"], "Innovate with Azure AI apps");
}

/// Services fields kept in a choice column, as a CRM admin would make them: the row holds the
/// option's value; the referral gets its label as metadata gives it — the English one, though
/// the reading user's labels are German. An option the metadata read does not name is parked
/// to retry (a later process reads the cache again), not dead.
#[tokio::test]
async fn a_services_choice_column_sends_its_english_label() {
    use cosell_sim::dataverse::{ChoiceConfig, DvConfig};
    let mut dv = DvConfig::default();
    let opportunities = dv.tables.get_mut("opportunities").unwrap();
    for column in ["new_partnerrole", "new_solutionarea", "new_solutionplay"] {
        opportunities.attributes.push(column.into());
    }
    opportunities.choices.insert(
        "new_solutionarea".into(),
        vec![
            ChoiceConfig {
                value: 100_000_000,
                label: "AI Business Solutions".into(),
                user_label: Some("KI-Geschäftslösungen".into()),
            },
            ChoiceConfig {
                value: 100_000_001,
                label: "Cloud and AI Platforms".into(),
                user_label: Some("Cloud- und KI-Plattformen".into()),
            },
        ],
    );
    let crm = services_settings();
    let sim = cosell_testkit::sim::start_with_dataverse(dv).await;
    let (dataverse, _) = cosell_testkit::sim::clients(&sim, cosell_testkit::sim::http(3));
    let found = cosell_sync::metadata::discover(&dataverse, &crm)
        .await
        .unwrap();
    assert_eq!(
        found.services_choices.keys().collect::<Vec<_>>(),
        ["new_solutionarea"],
        "the text columns have no options"
    );
    let stack = Stack::build()
        .on(sim)
        .crm(found.apply(&crm))
        .outbound()
        .start()
        .await;

    let id = stack.seed_deal(&Deal {
        help: Some(HELP_ARCHITECTURE),
        visible: true,
        ..Deal::default()
    });
    stack.seller_edit(
        id,
        json!({"new_partnerrole": "Services", "new_solutionarea": 100_000_002,
               "new_solutionplay": "Innovate with Azure AI apps"}),
    );
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Parked { .. }),
        "{report:?}"
    );
    let item = stack.parked(id).await.expect("parked");
    assert_eq!(item.state, RetryState::Pending, "a later cache may name it");
    let why = item.last_error.unwrap_or_default();
    assert!(
        why.contains("new_solutionarea") && why.contains("100000002"),
        "{why}"
    );
    assert!(stack.referrals().is_empty());

    stack.seller_edit(id, json!({"new_solutionarea": 100_000_000}));
    let report = stack.poll().await;
    let Synced::Created { referral_id, .. } = &report.synced[0].1 else {
        panic!("{report:?}");
    };
    let referral = stack.referral(referral_id);
    assert_eq!(referral["solutionArea"], "AI Business Solutions");
    assert_eq!(referral["partnerRole"], "Services");
}

/// The stored sign-in lacks MFA and Partner Center refuses it (401, 900421): the opportunity
/// says so with the fix in Audit, the item is dead at once (a retry loop cannot sign in again),
/// and Partner Center saw one request, not a second with a fresh token of the same sign-in.
#[tokio::test]
async fn a_sign_in_without_mfa_is_a_permanent_failure_naming_cosell_login() {
    use cosell_sim::token::{SimUser, TokenConfig};
    let sim = cosell_sim::Sim::start(cosell_sim::SimConfig {
        token: TokenConfig {
            users: vec![SimUser {
                username: "nils@contoso.example".into(),
                name: "Nils".into(),
                oid: "o-nils".into(),
                referrals_role: Some("Referrals Admin".into()),
                mfa: false,
            }],
            ..TokenConfig::default()
        },
        ..cosell_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let stack = Stack::build().on(sim).outbound().start().await;
    let id = stack.seed_deal(&Deal::default());
    stack.reset_counters();
    let report = stack.poll().await;
    let synced = &report.synced.iter().find(|(i, _)| *i == id).unwrap().1;
    assert!(matches!(synced, Synced::Parked { .. }), "{synced:?}");
    assert_eq!(stack.route(PC_POST), 1, "{:?}", stack.counters());
    let audit = stack.audit(id);
    assert!(
        audit.contains("requires multi-factor authentication")
            && audit.contains("run `cosell login`"),
        "{audit}"
    );
    assert_eq!(stack.opportunity(id)["name"], "Contoso - Data platform ✖");
    let item = stack.parked(id).await.expect("retry item");
    assert_eq!(item.state, RetryState::Dead);
    assert!(stack.referrals().is_empty());
}

#[tokio::test]
async fn a_country_kept_as_a_lookup_is_read_through_it_once_per_process() {
    let mapping = cosell_mapping::custom::Mapping::parse(
        r#"{"country": {"lookup": "new_countryid", "table": "new_countries", "code": "new_isocode"}}"#,
    )
    .unwrap();
    let crm = cosell_mapping::CrmConfig::default()
        .with_mapping(mapping)
        .unwrap();
    let stack = Stack::build()
        .on(sim::start_with(cosell_sim::partner_center::PcConfig::default()).await)
        .crm(crm)
        .outbound()
        .start()
        .await;
    let dv = &stack.sim.state.dv;
    let gb = dv
        .seed(
            "new_countries",
            cosell_testkit::object(json!({"new_isocode": "GB"})),
        )
        .unwrap();
    let bind = json!({"new_countryid@odata.bind": format!("/new_countries({gb})")});
    stack.reset_counters();
    // Two deals at that country, one poll each: the second create finds the code cached.
    for _ in 0..2 {
        let id = stack.seed_deal(&Deal {
            country: None,
            ..Deal::default()
        });
        let account = stack.opportunity(id)["_parentaccountid_value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        dv.edit("accounts", account, cosell_testkit::object(bind.clone()))
            .unwrap();
        let report = stack.poll().await;
        let created = report
            .synced
            .iter()
            .any(|(synced, how)| *synced == id && matches!(how, Synced::Created { .. }));
        assert!(created, "{report:?}");
        let referral = stack.referral(&stack.referral_id_of(id));
        assert_eq!(referral["customerProfile"]["address"]["country"], "GB");
    }
    let counters = stack.counters();
    assert_eq!(
        counters
            .events
            .get("dataverse GET new_countries(key)")
            .copied(),
        Some(1),
        "{counters:?}"
    );
}
