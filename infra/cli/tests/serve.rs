//! `cosell serve` and `cosell webhooks`, run as the binaries a partner runs, against the
//! simulators over real sockets: the webhook is moved from a Power Automate URL to serve (the old
//! one printed and saved), a test event reaches serve, a referral Microsoft creates reaches
//! Dataverse through serve's webhook endpoint, an opportunity a seller shares reaches Partner
//! Center through serve's poll, and SIGTERM stops serve cleanly.

use std::time::Duration;

use cosell_mapping::inbound::record_id;
use serde_json::Value;

use cosell_testkit::crm::{self, Deal};
use cosell_testkit::process::{Deployment, Running};
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{sim, wait_within};

/// What a partner moving off Microsoft's solution has registered today.
const POWER_AUTOMATE: &str =
    "https://prod-27.westus.logic.azure.com/workflows/0f1e2d3c/triggers/manual/paths/invoke";

#[tokio::test]
async fn serve_syncs_both_ways_and_the_webhook_moves_to_it() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");

    // The operator's commands and serve each get their own refresh token: the simulator revokes
    // a token once redeemed, so two processes must not share one.
    let cli = Deployment::new(&sim, "sim-refresh-token");
    let mut serve_env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    serve_env.set("COSELL_POLL_INTERVAL", "200ms");

    let (code, stdout, stderr) = cli.run(&["webhooks", "register", POWER_AUTOMATE]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("nothing was registered before"), "{stdout}");

    let mut serve = Running::spawn(serve_env.command(&["serve", "--listen", "127.0.0.1:0"]));
    let listening = serve
        .line(Duration::from_secs(30), |l| {
            l.contains("cosell serve listening")
        })
        .await;
    let log: Value = serde_json::from_str(&listening).expect("serve logs JSON");
    let url = log["fields"]["url"]
        .as_str()
        .expect("the URL is logged")
        .to_owned();
    let webhook = format!("{url}/webhooks/partner-center");

    // Register serve: the Power Automate URL is printed and saved for rollback.
    let save = cli.path("previous.json");
    let save_arg = save.to_string_lossy().into_owned();
    let (code, stdout, stderr) = cli
        .run(&["webhooks", "register", &webhook, "--save", &save_arg])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("registered {webhook}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("replaced {POWER_AUTOMATE}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("cosell webhooks register '{POWER_AUTOMATE}'")),
        "{stdout}"
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(saved["previous"]["webhook_url"], POWER_AUTOMATE);
    assert_eq!(saved["replaced_by"], webhook);

    // Registering serve again keeps the rollback file as it was.
    let (code, stdout, _) = cli
        .run(&["webhooks", "register", &webhook, "--save", &save_arg])
        .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("already registered; nothing saved"),
        "{stdout}"
    );
    let kept: Value = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(kept["previous"]["webhook_url"], POWER_AUTOMATE);

    let (code, stdout, _) = cli.run(&["webhooks", "show", "--json"]).await;
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(shown["registration"]["webhook_url"], webhook);
    let events: Vec<&str> = shown["registration"]["webhook_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for event in [
        "referral-created",
        "referral-updated",
        "related-referral-created",
        "related-referral-updated",
    ] {
        assert!(events.contains(&event), "{events:?}");
    }

    // A test event is signed by the simulator, verified and accepted by serve.
    let (code, stdout, stderr) = cli
        .run(&["webhooks", "test", "--json", "--timeout", "20"])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let tested: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(tested["delivered"], true, "{tested}");
    assert_eq!(tested["callback_url"], webhook);
    assert_eq!(tested["attempts"][0]["response_code"], "200");

    // Inbound: Microsoft creates a referral; the simulator delivers the webhook to serve.
    let referral = cosell_sim::partner_center::referrals::create_referral(
        &sim.state,
        fabrikam(),
        cosell_sim::partner_center::referrals::Source::Admin,
    )
    .unwrap();
    let referral_id = referral["id"].as_str().unwrap().to_owned();
    let opportunity_id = record_id("opportunities", &referral_id);
    wait_within(
        "the referral's opportunity",
        Duration::from_secs(15),
        || sim.state.dv.row("opportunities", opportunity_id).is_some(),
    )
    .await;
    let row = sim.state.dv.row("opportunities", opportunity_id).unwrap();
    assert_eq!(
        row["msft_microsoftpartnercenterreferralidentifier"],
        referral_id.as_str()
    );
    serve
        .line(Duration::from_secs(5), |l| {
            l.contains("\"synced\"") && l.contains(&referral_id)
        })
        .await;

    // Outbound: a seller shares an opportunity; serve's next poll creates its referral.
    let shared = crm::seed_deal(&sim, &Deal::default());
    let referral_of = || {
        sim.state
            .pc
            .store
            .lock()
            .unwrap()
            .all()
            .iter()
            .find(|r| r["externalReferenceId"] == shared.to_string())
            .map(|r| r["id"].clone())
    };
    let written_back = || {
        sim.state.dv.row("opportunities", shared).and_then(|row| {
            row.get("msft_microsoftpartnercenterreferralidentifier")
                .cloned()
        })
    };
    wait_within(
        "the opportunity's referral, its id written back",
        Duration::from_secs(15),
        || referral_of().is_some() && written_back() == referral_of(),
    )
    .await;

    let health = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["store"], "reachable");

    let (code, lines) = serve.terminate().await;
    assert_eq!(code, 0, "SIGTERM is a clean stop");
    assert!(
        lines.iter().any(|l| l.contains("schedule stopped")),
        "the poll finished its run and stopped"
    );
}
