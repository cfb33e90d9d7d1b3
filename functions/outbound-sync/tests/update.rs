//! A seller's later changes reach the linked referral: one JSON Patch with `If-Match` (one
//! Partner Center request), a stale eTag merged after a 412, the status moves, and the changes
//! refused locally. Request counts come from the simulator's counters.

use cosell_sync::Synced;
use serde_json::{Value, json};
use uuid::Uuid;

use cosell_testkit::crm::Deal;
use cosell_testkit::sim;
use cosell_testkit::stack::Stack;

const PC_PATCH: &str = "partner-center PATCH /v1.0/engagements/referrals/{id}";
const PC_GET: &str = "partner-center GET /v1.0/engagements/referrals/{id}";
const PC_PUT: &str = "partner-center PUT /v1.0/engagements/referrals/{id}";

/// A private deal, created and settled.
async fn created(stack: &Stack, deal: &Deal) -> (Uuid, String) {
    let id = stack.seed_deal(deal);
    let report = stack.poll().await;
    assert!(
        matches!(report.synced.last(), Some((_, Synced::Created { .. }))),
        "{report:?}"
    );
    (id, stack.referral_id_of(id))
}

#[tokio::test]
async fn a_seller_change_with_a_rename_is_one_put_of_the_referral_read_and_the_next_poll_is_quiet()
{
    let stack = Stack::outbound().await;
    let (id, referral_id) = created(&stack, &Deal::default()).await;
    let etag_before = stack.referral(&referral_id)["eTag"].clone();

    stack.seller_edit(
        id,
        json!({
            "name": "Contoso - Data platform, phase 2 ✔",
            "estimatedvalue": 150000.25,
            "estimatedclosedate": "2026-10-15",
            "description": "  Phase 2 adds analytics.  ",
        }),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    let Synced::Updated {
        changes, conflicts, ..
    } = &report.synced[0].1
    else {
        panic!("{report:?}");
    };
    assert_eq!((*changes, *conflicts), (4, 0));
    // The connector's PATCH does not take `/name`: the referral is read and PUT whole, on the
    // version read. Partner Center requests per outbound update with a rename: 2.
    let pc = stack.requests("partner-center");
    println!("Partner Center requests per outbound update with a rename: {pc} (GET, PUT)");
    assert_eq!(pc, 2, "{:?}", stack.counters());
    assert_eq!((stack.route(PC_GET), stack.route(PC_PUT)), (1, 1));
    assert_eq!(stack.route(PC_PATCH), 0);
    assert_eq!(stack.writes("dataverse"), 1, "✔ + Audit in one PATCH");

    let referral = stack.referral(&referral_id);
    assert_ne!(referral["eTag"], etag_before);
    assert_eq!(referral["name"], "Contoso - Data platform, phase 2");
    assert_eq!(referral["details"]["dealValue"], json!(150000.25));
    assert_eq!(
        referral["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .get(..10),
        Some("2026-10-15")
    );
    assert_eq!(referral["details"]["notes"], "Phase 2 adds analytics.");
    let audit = stack.audit(id);
    assert!(
        audit
            .lines()
            .next()
            .unwrap()
            .contains(&format!("✔ Updated Partner Center referral {referral_id}")),
        "{audit}"
    );
    let link = stack.link(&referral_id).await;
    // The next patch is conditional on the referral as this one left it.
    assert_eq!(
        link.referral_etag.as_deref().map(|e| e.trim_matches('"')),
        referral["eTag"].as_str().map(|e| e.trim_matches('"'))
    );

    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.synced, vec![(id, Synced::Unchanged)]);
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.writes("dataverse"), 0);
}

#[tokio::test]
async fn a_stale_etag_is_read_again_merged_and_sent_once_more() {
    let stack = Stack::outbound().await;
    let (id, referral_id) = created(&stack, &Deal::default()).await;

    // Microsoft changes the closing date in Partner Center (its webhook goes nowhere here), and
    // the seller changes the deal value.
    stack
        .edit_referral(
            &referral_id,
            json!({"details": {"closingDateTime": "2026-12-31T00:00:00Z"}}),
        )
        .await;
    stack.seller_edit(id, json!({"estimatedvalue": 99000}));
    stack.reset_counters();
    let report = stack.poll().await;
    let Synced::Updated {
        changes, conflicts, ..
    } = &report.synced[0].1
    else {
        panic!("{report:?}");
    };
    assert_eq!((*changes, *conflicts), (1, 1));
    // 412, then one read and the patch again, and the read of the state it left.
    let pc = stack.requests("partner-center");
    println!(
        "Partner Center requests per outbound update after a 412: {pc} (PATCH 412, GET, PATCH, GET)"
    );
    assert_eq!(stack.route(PC_PATCH), 2, "{:?}", stack.counters());
    assert_eq!(stack.route(PC_GET), 2);
    assert_eq!(pc, 4);

    let referral = stack.referral(&referral_id);
    assert_eq!(
        referral["details"]["dealValue"],
        json!(99000),
        "the seller's change"
    );
    assert_eq!(
        referral["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .get(..10),
        Some("2026-12-31"),
        "Microsoft's change kept"
    );
    assert_eq!(
        referral["details"]["notes"], "Move the warehouse to Azure.",
        "untouched"
    );

    // Quiet afterwards: the CRM's state is what was sent.
    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.synced, vec![(id, Synced::Unchanged)]);
    assert_eq!(stack.requests("partner-center"), 0);
}

#[tokio::test]
async fn un_sharing_is_refused_with_an_audit_line_and_nothing_is_sent() {
    let stack = Stack::outbound().await;
    let (id, referral_id) = created(
        &stack,
        &Deal {
            visible: true,
            ..Deal::default()
        },
    )
    .await;
    stack.seller_edit(
        id,
        json!({"msft_microsoftpartnercenterreferralvisible": false}),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    let Synced::Updated {
        changes, refused, ..
    } = &report.synced[0].1
    else {
        panic!("{report:?}");
    };
    assert_eq!((*changes, *refused), (0, 1));
    assert_eq!(stack.requests("partner-center"), 0, "nothing sent");
    assert_eq!(stack.writes("dataverse"), 1, "the Audit line");
    assert_eq!(
        stack.referral(&referral_id)["consent"]["consentToShareReferralWithMicrosoftSellers"],
        true
    );
    let audit = stack.audit(id);
    assert!(
        audit
            .lines()
            .next()
            .unwrap()
            .contains("sharing cannot be undone"),
        "{audit}"
    );

    stack.reset_counters();
    let report = stack.poll().await;
    assert_eq!(report.synced, vec![(id, Synced::Unchanged)]);
    assert_eq!(
        stack.writes("dataverse") + stack.requests("partner-center"),
        0
    );
}

/// The seller moves the status; the referral follows with one request, and the webhook our patch
/// fires writes nothing back.
async fn status_move(opportunity: Value, status: &str, substatus: &str) {
    let stack = Stack::both().await;
    let (id, referral_id) = stack.incoming().await;
    stack.seller_edit(id, opportunity);
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { changes: 2, .. }),
        "{report:?}"
    );
    let referral = stack.referral(&referral_id);
    assert_eq!(
        (referral["status"].as_str(), referral["substatus"].as_str()),
        (Some(status), Some(substatus))
    );
    assert_eq!(stack.route(PC_PATCH), 1);
    stack.drain_deliveries().await;
    assert_eq!(
        stack.requests("partner-center"),
        3,
        "the patch, its read, and inbound's read for the webhook it fired: {:?}",
        stack.counters()
    );
    assert_eq!(
        stack.writes("dataverse"),
        2,
        "our ✔ + Audit and the answered referral's task closed: the webhook of our own patch writes nothing"
    );
    let task = cosell_mapping::respond::task_id(&referral_id);
    let task = stack.sim.state.dv.row("tasks", task).expect("its task");
    assert_ne!(task["statecode"], 0, "closed");
}

#[tokio::test]
async fn in_progress_accepts_an_incoming_referral() {
    status_move(json!({"statuscode": 1}), "Active", "Accepted").await;
}

#[tokio::test]
async fn canceled_declines_it() {
    status_move(
        json!({"statecode": 2, "statuscode": 4}),
        "Closed",
        "Declined",
    )
    .await;
}

#[tokio::test]
async fn won_closes_it_won() {
    status_move(json!({"statecode": 1, "statuscode": 3}), "Closed", "Won").await;
}

#[tokio::test]
async fn out_sold_closes_it_lost() {
    status_move(json!({"statecode": 2, "statuscode": 5}), "Closed", "Lost").await;
}

#[tokio::test]
async fn an_illegal_move_is_refused_locally_with_an_audit_line() {
    let stack = Stack::outbound().await;
    let (id, referral_id) = created(&stack, &Deal::default()).await;
    stack.seller_edit(id, json!({"statecode": 1, "statuscode": 3}));
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { changes: 2, .. }),
        "{report:?}"
    );
    assert_eq!(stack.referral(&referral_id)["status"], "Closed");

    // Reopening a won deal: Closed is terminal in Partner Center.
    stack.seller_edit(id, json!({"statecode": 0, "statuscode": 1}));
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(
            &report.synced[0].1,
            Synced::Updated {
                changes: 0,
                refused: 1,
                ..
            }
        ),
        "{report:?}"
    );
    assert_eq!(
        stack.requests("partner-center"),
        0,
        "refused locally, not by a 400"
    );
    let audit = stack.audit(id);
    assert!(
        audit
            .lines()
            .next()
            .unwrap()
            .contains("the status change was not sent"),
        "{audit}"
    );
}

#[tokio::test]
async fn an_invalid_change_to_a_linked_deal_is_shown_and_sent_once_fixed() {
    let stack = Stack::outbound().await;
    let (id, referral_id) = created(&stack, &Deal::default()).await;
    stack.seller_edit(
        id,
        json!({"transactioncurrencyid": null, "_transactioncurrencyid_value": null}),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Invalid { .. }),
        "{report:?}"
    );
    assert_eq!(stack.requests("partner-center"), 0);
    assert_eq!(stack.opportunity(id)["name"], "Contoso - Data platform ✖");
    let audit = stack.audit(id).to_lowercase();
    assert!(
        audit
            .lines()
            .next()
            .unwrap()
            .contains("currency is missing"),
        "{audit}"
    );
    // Our ✖ write-back is not another attempt.
    stack.reset_counters();
    stack.poll().await;
    assert_eq!(
        stack.writes("dataverse") + stack.requests("partner-center"),
        0
    );

    // Fixed: EUR is sent, ✔ is back, the log keeps the whole story.
    let eur = stack.currencies["EUR"].as_str().unwrap().to_owned();
    stack.seller_edit(
        id,
        json!({"transactioncurrencyid@odata.bind": format!("/transactioncurrencies({eur})")}),
    );
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { changes: 1, .. }),
        "{report:?}"
    );
    assert_eq!(stack.referral(&referral_id)["details"]["currency"], "EUR");
    assert_eq!(stack.opportunity(id)["name"], "Contoso - Data platform ✔");
    let audit = stack.audit(id);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 3, "{audit}");
    assert!(lines[0].contains("✔ Updated"), "{audit}");
    assert!(
        lines[1].to_lowercase().contains("currency is missing"),
        "{audit}"
    );
    assert!(lines[2].contains("✔ Created"), "{audit}");
}

/// Issue 14: a change Partner Center refuses never costs the seller the others. The `PUT` a
/// rename needs is refused (this host keeps `/name`); the deal value still goes by PATCH, the
/// Audit says which field did not and why, and nothing writes Partner Center's name over the
/// seller's until the seller edits again.
#[tokio::test]
async fn a_refused_rename_still_sends_the_deal_value_and_says_what_was_not_sent() {
    let stack = Stack::build()
        .on(sim::start_with(cosell_sim::partner_center::PcConfig {
            put_keeps: vec!["/name".into()],
            ..Default::default()
        })
        .await)
        .ingress()
        .outbound()
        .start()
        .await;
    let (id, referral_id) = created(&stack, &Deal::default()).await;
    stack.drain_deliveries().await;

    stack.seller_edit(
        id,
        json!({"name": "Contoso - Data platform v2", "estimatedvalue": 175000}),
    );
    stack.reset_counters();
    let report = stack.poll().await;
    let Synced::Updated {
        refused, parked, ..
    } = &report.synced[0].1
    else {
        panic!("{report:?}");
    };
    assert_eq!(*refused, 1, "{report:?}");
    assert!(parked.is_some(), "{report:?}");
    assert_eq!(
        (stack.route(PC_PUT), stack.route(PC_PATCH)),
        (1, 1),
        "{:?}",
        stack.counters()
    );
    let referral = stack.referral(&referral_id);
    assert_eq!(referral["details"]["dealValue"].as_f64(), Some(175000.0));
    assert_eq!(referral["name"], "Contoso - Data platform");

    let row = stack.opportunity(id);
    assert_eq!(row["name"], "Contoso - Data platform v2 ✖");
    let audit = stack.audit(id);
    let first = audit.lines().next().unwrap();
    assert!(
        first.contains("✖ Not sent to Partner Center: the name"),
        "{audit}"
    );
    assert!(first.contains("'/name' cannot be changed"), "{audit}");
    let item = stack.parked(id).await.expect("a dead item keeps the row");
    assert_eq!(item.state, cosell_store::RetryState::Dead);

    // Quiet until the seller edits: no request, and Partner Center's answer (its webhook, the
    // sweep) writes nothing over the seller's name.
    stack.drain_deliveries().await;
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Waiting { .. }),
        "{report:?}"
    );
    assert_eq!(stack.requests("partner-center"), 0);
    stack.sweep(time::OffsetDateTime::now_utc()).await;
    let row = stack.opportunity(id);
    assert_eq!(row["name"], "Contoso - Data platform v2 ✖");
    assert_eq!(row["estimatedvalue"], json!(175000));

    // The seller's next edit is tried again: the close date goes, the name is refused again.
    stack.seller_edit(id, json!({"estimatedclosedate": "2026-11-30"}));
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { refused: 1, .. }),
        "{report:?}"
    );
    let referral = stack.referral(&referral_id);
    assert_eq!(
        referral["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .get(..10),
        Some("2026-11-30")
    );
    assert_eq!(referral["name"], "Contoso - Data platform");
}
