//! `cosell backfill`, run as the binary against the simulators: every open referral and every
//! opportunity marked for sync is synced; closed referrals and unshared opportunities are left
//! alone; a second run writes nothing; referrals go in bulk, a few requests for many.

use cosell_mapping::inbound::record_id;
use cosell_sim::Sim;
use cosell_sim::dataverse::LimitConfig;
use cosell_sim::partner_center::referrals::{Source, create_referral};
use serde_json::{Value, json};

use cosell_testkit::crm::{self, Deal};
use cosell_testkit::process::Deployment;
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{object, sim};

/// `count` open co-sell referrals from different customers; their ids.
fn seed_open(sim: &Sim, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            let mut referral = fabrikam();
            referral["name"] = format!("Customer {n} - Azure migration").into();
            referral["customerProfile"]["name"] = format!("Customer {n} Ltd").into();
            referral["customerProfile"]["team"][0]["email"] =
                format!("buyer{n}@customer{n}.example").into();
            let created = create_referral(&sim.state, referral, Source::Admin).unwrap();
            created["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Requests to Partner Center or Dataverse other than reads (routes count as
/// `"<service> <METHOD> <route>"`; sign-ins are not counted).
fn writes(sim: &Sim) -> u64 {
    let snapshot = sim.state.counters.snapshot();
    snapshot
        .routes
        .iter()
        .filter(|(route, _)| {
            let mut parts = route.split(' ');
            let (service, method) = (parts.next(), parts.next());
            service != Some("token") && method != Some("GET")
        })
        .map(|(_, n)| n)
        .sum()
}

fn throttled(sim: &Sim) -> u64 {
    sim.state
        .counters
        .snapshot()
        .events
        .iter()
        .filter(|(name, _)| name.contains("throttled"))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn everything_open_is_synced_once_and_a_second_run_writes_nothing() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let open = seed_open(&sim, 25);
    let closed: Vec<String> = ["Won", "Lost"]
        .into_iter()
        .map(|substatus| {
            let mut referral = fabrikam();
            referral["status"] = "Closed".into();
            referral["substatus"] = substatus.into();
            let created = create_referral(&sim.state, referral, Source::Admin).unwrap();
            created["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let shared: Vec<_> = (0..3)
        .map(|_| crm::seed_deal(&sim, &Deal::default()))
        .collect();
    let unshared = sim
        .state
        .dv
        .seed(
            "opportunities",
            object(json!({"name": "Not for Partner Center", "msft_microsoftpartnercenterreferralsync": false})),
        )
        .unwrap();
    let referrals_before = sim.state.pc.store.lock().unwrap().all().len();

    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let (code, stdout, stderr) = deployment.run(&["backfill", "--json"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        report["referrals"]["listed"], 25,
        "closed ones are not listed: {report}"
    );
    assert_eq!(report["referrals"]["synced"], 25, "{report}");
    // The 25 opportunities the referrals became are shared too, and already agreed.
    assert_eq!(report["opportunities"]["listed"], 28, "{report}");
    assert_eq!(report["opportunities"]["created"], 3, "{report}");
    assert_eq!(report["opportunities"]["in_sync"], 25, "{report}");

    for id in &open {
        assert!(
            sim.state
                .dv
                .row("opportunities", record_id("opportunities", id))
                .is_some(),
            "referral {id} has its opportunity"
        );
    }
    for id in &closed {
        assert!(
            sim.state
                .dv
                .row("opportunities", record_id("opportunities", id))
                .is_none(),
            "closed referral {id} is left alone"
        );
    }
    for id in &shared {
        let row = sim.state.dv.row("opportunities", *id).unwrap();
        assert!(
            row["msft_microsoftpartnercenterreferralidentifier"].is_string(),
            "{row:?}"
        );
    }
    let row = sim.state.dv.row("opportunities", unshared).unwrap();
    assert!(
        row.get("msft_microsoftpartnercenterreferralidentifier")
            .is_none_or(Value::is_null)
    );
    let referrals_after = sim.state.pc.store.lock().unwrap().all().len();
    assert!(referrals_after >= referrals_before + 3);

    // Again: everything in sync, nothing written to either service.
    sim.state.counters.reset();
    let (code, stdout, stderr) = deployment.run(&["backfill", "--json"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    // Now also the 3 referrals the shared opportunities became: in sync from the start.
    assert_eq!(report["referrals"]["in_sync"], 28, "{report}");
    assert_eq!(report["opportunities"]["in_sync"], 28, "{report}");
    assert_eq!(
        writes(&sim),
        0,
        "{:?}",
        sim.state.counters.snapshot().routes
    );

    // People get a summary.
    let (code, stdout, _) = deployment.run(&["backfill", "--referrals-only"]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("28 open: 0 synced, 28 already in sync, 0 parked"),
        "{stdout}"
    );
}

#[tokio::test]
async fn referrals_go_in_bulk_a_few_requests_for_many_under_a_tight_limit() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    seed_open(&sim, 30);
    // 10 requests per 2 s: one by one, 30 new referrals take 60 requests and bounce off it.
    sim.state.dv.set_limits(LimitConfig {
        max_requests: 10,
        window_secs: 2,
        ..LimitConfig::default()
    });
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let (code, stdout, stderr) = deployment
        .run(&["backfill", "--referrals-only", "--json", "--rate", "20"])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["referrals"]["synced"], 30, "{report}");
    assert_eq!(throttled(&sim), 0, "under the limit");
    let batches = sim::event(&sim, "dataverse POST $batch");
    let requests = sim::requests(&sim, "dataverse");
    assert!(
        (2..=8).contains(&batches) && requests <= 10,
        "{batches} batches, {requests} Dataverse requests: {:?}",
        sim.state.counters.snapshot().routes
    );
}

#[tokio::test]
async fn an_opportunity_that_cannot_be_synced_fails_the_run() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    crm::seed_deal(&sim, &Deal::default());
    // Marked for sync, but no customer, contact, solution or value: Partner Center would refuse it.
    let incomplete = sim
        .state
        .dv
        .seed(
            "opportunities",
            object(json!({"name": "Half-filled", "msft_microsoftpartnercenterreferralsync": true})),
        )
        .unwrap();

    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let (code, stdout, stderr) = deployment
        .run(&["backfill", "--opportunities-only", "--json"])
        .await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert!(report["referrals"].is_null(), "{report}");
    assert_eq!(report["opportunities"]["listed"], 2, "{report}");
    assert_eq!(report["opportunities"]["created"], 1, "{report}");
    assert_eq!(report["opportunities"]["invalid"], 1, "{report}");
    let row = sim.state.dv.row("opportunities", incomplete).unwrap();
    assert!(
        row.get("msft_microsoftpartnercenterreferralidentifier")
            .is_none_or(Value::is_null),
        "{row:?}"
    );

    // Run again, for people: it waits for an edit (its retry item holds it), still not synced,
    // and they are told where to look.
    let (code, stdout, _) = deployment.run(&["backfill", "--opportunities-only"]).await;
    assert_eq!(code, 1);
    assert!(
        stdout.contains("1 already in sync, 0 invalid, 1 parked"),
        "{stdout}"
    );
    assert!(stdout.contains("cosell status"), "{stdout}");
}
