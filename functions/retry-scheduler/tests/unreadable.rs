//! One referral cosell cannot read never blocks the rest: over real sockets, a listing of 250
//! with one whose `dealValue` is `"1,000"` syncs the other 249, parks that one dead with its
//! field and value, and the watermark moves past it; read by id, it goes dead at once too.

use cosell_mapping::CrmConfig;
use cosell_sim::partner_center::config::WebhookKnobs;
use cosell_sim::partner_center::referrals::{Source, create_referral};
use cosell_store::{RetryState, SyncStore};
use cosell_sync::Handled;
use cosell_sync::reconcile::WATERMARK;
use serde_json::{Value, json};
use time::OffsetDateTime;

use cosell_testkit::referrals::cosell_referral;
use cosell_testkit::stack::{Stack, stepped_backoff};

/// Plants Microsoft's data as it is, beyond what the simulator's API would take.
fn corrupt(stack: &Stack, id: &str, edit: impl FnOnce(&mut Value)) {
    let mut store = stack.sim.state.pc.store.lock().unwrap();
    let mut referral = store.get(id).unwrap().clone();
    edit(&mut referral);
    store.replace(referral);
}

#[tokio::test]
async fn one_unreadable_referral_among_250_is_parked_and_the_other_249_sync() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..WebhookKnobs::default()
    });
    let ids: Vec<String> = (0..250)
        .map(|i| {
            let body = cosell_referral(
                &format!("Fabrikam {i}"),
                "98052",
                &format!("dana{i}@fabrikam.example"),
            );
            let created = create_referral(&stack.sim.state, body, Source::Admin).unwrap();
            created["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let bad = ids[117].clone();
    corrupt(&stack, &bad, |r| r["details"]["dealValue"] = json!("1,000"));

    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.listed, 250, "{report:?}");
    let synced = report
        .synced
        .iter()
        .filter(|(_, h)| matches!(h, Handled::Synced { .. }))
        .count();
    let why: std::collections::BTreeSet<String> = report
        .synced
        .iter()
        .filter_map(|(_, h)| match h {
            Handled::Parked { message, .. } => Some(message.chars().take(300).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(synced, 249, "{why:?}");
    assert_eq!(stack.rows("opportunities").len(), 249);
    let (_, parked) = report.synced.iter().find(|(id, _)| *id == bad).unwrap();
    let Handled::Parked {
        permanent, message, ..
    } = parked
    else {
        panic!("expected parked, got {parked:?}");
    };
    assert!(permanent, "data that never parses is dead at once");
    assert!(
        message.contains(r#"details.dealValue = "1,000""#),
        "{message}"
    );
    let dead = stack.parked_referral(&bad).await.unwrap();
    assert_eq!((dead.state, dead.attempts), (RetryState::Dead, 1));

    // The watermark moved past every listed change, the unreadable one's included.
    let watermark = stack.store.cursor(WATERMARK).await.unwrap().unwrap();
    let newest = stack
        .sim
        .state
        .pc
        .store
        .lock()
        .unwrap()
        .all()
        .iter()
        .filter_map(|r| r["updatedDateTime"].as_str())
        .map(|at| cosell_mapping::timestamp::parse(at).unwrap())
        .max()
        .unwrap();
    assert!(cosell_mapping::timestamp::parse(&watermark.value).unwrap() >= newest);

    // Swept again inside the overlap: nothing written, the dead item left as it is.
    stack.reset_counters();
    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!((report.unchanged, report.parked), (249, 1), "{report:?}");
    assert_eq!(stack.requests("dataverse"), 0);
    assert_eq!(stack.parked_referral(&bad).await.unwrap().attempts, 1);
}

#[tokio::test]
async fn a_referral_read_by_id_that_cannot_be_read_goes_dead_at_once() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..WebhookKnobs::default()
    });
    let id = stack.fabrikam().await;
    // A close date with no time: Microsoft documents `closingDateTime` as a date-time.
    corrupt(&stack, &id, |r| {
        r["details"]["closingDateTime"] = json!("2026-03-01");
    });
    let handled = app
        .inbound
        .redo(
            &cosell_testkit::rid(&id),
            Value::Null,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let Handled::Parked {
        permanent, message, ..
    } = handled
    else {
        panic!("expected parked, got {handled:?}");
    };
    assert!(permanent);
    assert!(
        message.contains(r#"details.closingDateTime = "2026-03-01""#),
        "{message}"
    );
    assert_eq!(
        stack.parked_referral(&id).await.unwrap().state,
        RetryState::Dead
    );
}
