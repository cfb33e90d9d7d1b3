//! Both directions on one deal at once. They take the deal's two leases in one order (the
//! opportunity's, then the referral's), so neither ever holds one while waiting for the other's:
//! one waits for the other to finish, well within the lease wait, and nothing is parked as busy.
//! (Taken in opposite orders, each held its first lease and waited out the other's wait, then
//! gave up `Busy` and parked the work.)

use std::time::{Duration, Instant};

use cosell_sim::{FaultSettings, Service};
use cosell_sync::{Handled, Synced};
use serde_json::json;
use time::OffsetDateTime;

use cosell_testkit::crm::Deal;
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;
use cosell_testkit::stack::outbound_settings;

#[tokio::test]
async fn both_directions_on_one_deal_at_once_take_turns_without_a_busy_retry() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    stack.poll().await;
    let referral = stack.referral_id_of(id);
    let inbound = stack.inbound_sync();
    // Every request a little late: each sync holds its first lease long enough for the other
    // to reach for its own.
    let late = FaultSettings {
        latency_ms: 40,
        ..FaultSettings::default()
    };
    for service in [Service::Dataverse, Service::PartnerCenter] {
        stack.sim.state.faults.set(service, late.clone());
    }
    let lease_wait = outbound_settings().lease_wait;
    for round in 0..5 {
        let notes = format!("Seller's notes, round {round}");
        let value = f64::from(2_000 + round);
        stack.seller_edit(id, json!({"description": notes}));
        stack
            .edit_referral(&referral, json!({"details": {"dealValue": value}}))
            .await;

        let now = OffsetDateTime::now_utc();
        let started = Instant::now();
        let referral_id = rid(&referral);
        let (outbound, inbound) = tokio::join!(
            stack.outbound_sync().app.sync.sync_opportunity(id, now),
            inbound.sync_referral(&referral_id, now)
        );
        let took = started.elapsed();

        let outbound = outbound.expect("outcome stored");
        assert!(
            matches!(
                outbound,
                Synced::Updated { parked: None, .. } | Synced::Unchanged
            ),
            "round {round}: outbound {outbound:?}"
        );
        match inbound {
            Ok(Handled::Synced { .. } | Handled::Unchanged { .. }) => {}
            Ok(other) => panic!("round {round}: inbound {other:?}"),
            Err(failure) => panic!("round {round}: inbound failed: {}", failure.problem),
        }
        assert!(
            took < lease_wait - Duration::from_millis(500),
            "round {round}: the two syncs took {took:?}, near the lease wait {lease_wait:?}"
        );
        // Both edits are on both sides: neither sync wrote the other's older state.
        let pc = stack.referral(&referral);
        assert_eq!(pc["details"]["notes"], notes.as_str(), "round {round}");
        assert_eq!(
            pc["details"]["dealValue"].as_f64(),
            Some(value),
            "round {round}"
        );
        assert_eq!(stack.text(id, "description"), notes, "round {round}");
        let crm_value = stack.opportunity(id)["estimatedvalue"].as_f64();
        assert_eq!(crm_value, Some(value), "round {round}");
    }
    assert!(stack.parked(id).await.is_none(), "nothing parked outbound");
    let inbound_item = format!("inbound:{referral}");
    assert!(
        stack.port().retry(&inbound_item).await.unwrap().is_none(),
        "nothing parked inbound"
    );
}
