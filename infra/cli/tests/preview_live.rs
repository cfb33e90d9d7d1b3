//! `cosell preview referral ID` and `cosell preview opportunity ID` against the simulators: one
//! real record read, what a sync would write printed with the mapping applied, nothing written.

use serde_json::Value;

use cosell_testkit::crm::{self, Deal};
use cosell_testkit::process::Deployment;
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{microsoft, sim};

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn a_referral_and_an_opportunity_preview_what_a_sync_would_write_and_write_nothing() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let mut cli = Deployment::new(&sim, "sim-refresh-token");
    cli.set(
        "COSELL_MAPPING",
        r#"{"defaults": {"opportunity": {"new_source": "Microsoft co-sell"}},
            "fields": [{"referral": "/customerProfile/size", "column": "new_companysize"}]}"#,
    );
    let referral = microsoft::seed_referral(&sim, fabrikam()).await;
    let id = referral["id"].as_str().unwrap();
    let opportunity = crm::seed_deal(&sim, &Deal::default());
    let referrals_before = sim.state.pc.store.lock().unwrap().all().len();
    sim.state.counters.reset();

    let (code, stdout, stderr) = cli.run(&["preview", "referral", id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let shown = json(&stdout);
    assert_eq!(shown["action"], "create", "{shown}");
    let row = &shown["rows"]["opportunities"];
    assert_eq!(row["new_source"], "Microsoft co-sell", "{shown}");
    assert_eq!(
        row["new_companysize"], referral["customerProfile"]["size"],
        "{shown}"
    );

    let (code, stdout, stderr) = cli
        .run(&["preview", "opportunity", &opportunity.to_string()])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let shown = json(&stdout);
    assert_eq!(shown["action"], "create", "{shown}");
    assert!(shown["partner"]["name"].is_string(), "{shown}");

    // Reads only.
    let counters = sim.state.counters.snapshot();
    let writes: Vec<&String> = counters
        .routes
        .keys()
        .filter(|route| !route.contains(" GET ") && !route.starts_with("token "))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(sim.state.dv.rows("opportunities").len(), 1);
    assert_eq!(
        sim.state.pc.store.lock().unwrap().all().len(),
        referrals_before
    );
}

/// Once linked (a backfill synced it), a referral previews as the update its change would write,
/// or as nothing when it is unchanged.
#[tokio::test]
async fn a_linked_referral_previews_as_its_update() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let cli = Deployment::new(&sim, "sim-refresh-token");
    let referral = microsoft::seed_referral(&sim, fabrikam()).await;
    let id = referral["id"].as_str().unwrap();
    let (code, stdout, stderr) = cli.run(&["backfill", "--referrals-only"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let (code, stdout, stderr) = cli.run(&["preview", "referral", id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(json(&stdout)["action"], "none", "{stdout}");

    let patch = serde_json::json!({"details": {"dealValue": 4321}});
    microsoft::edit_referral(&sim, id, patch).await;
    let (code, stdout, stderr) = cli.run(&["preview", "referral", id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let shown = json(&stdout);
    assert_eq!(shown["action"], "update", "{shown}");
    assert_eq!(shown["record"]["table"], "opportunities", "{shown}");
    assert_eq!(shown["row"]["estimatedvalue"], 4321, "{shown}");
    assert!(
        shown["row"].get("description").is_none(),
        "only what moved: {shown}"
    );
    let row = sim
        .state
        .dv
        .rows("opportunities")
        .pop()
        .expect("the backfilled opportunity");
    assert_ne!(row["estimatedvalue"], 4321, "the preview wrote nothing");
}
