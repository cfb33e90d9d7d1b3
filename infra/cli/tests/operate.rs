//! `cosell status` and `cosell replay`, run as the binaries an operator runs: a referral whose
//! write Dataverse refuses (a wrong column setting) is dead at once; `status` shows it with its
//! reason and the command to replay it; `replay` fails while the cause is there and succeeds once
//! the setting is fixed.

use std::time::Duration;

use cosell_mapping::inbound::record_id;
use serde_json::Value;

use cosell_testkit::crm;
use cosell_testkit::process::{Deployment, Running};
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{sim, wait_within};

#[tokio::test]
async fn status_shows_a_dead_item_and_replay_brings_it_back_once_fixed() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let mut cli = Deployment::new(&sim, "sim-refresh-token");
    cli.set("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue");
    // serve shares the operator's store, with its own refresh token (one per process).
    let mut serve_env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    serve_env.set("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue");
    serve_env.set(
        "COSELL_SQLITE_PATH",
        cli.path("cosell.db").to_string_lossy(),
    );

    // No store yet: status says so, and does not make an empty one.
    let (code, stdout, stderr) = cli.run(&["status"]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("there is no sync state at"), "{stderr}");
    assert!(stderr.contains("check COSELL_SQLITE_PATH"), "{stderr}");
    assert!(!cli.path("cosell.db").exists());

    let mut serve = Running::spawn(serve_env.command(&["serve", "--listen", "127.0.0.1:0"]));
    let listening = serve
        .line(Duration::from_secs(30), |l| {
            l.contains("cosell serve listening")
        })
        .await;
    // Nothing synced yet.
    let (code, stdout, stderr) = cli.run(&["status"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("pending 0 (0 due now) · dead 0"),
        "{stdout}"
    );
    assert!(stdout.contains("inbound   never"), "{stdout}");
    let log: Value = serde_json::from_str(&listening).unwrap();
    let webhook = format!(
        "{}/webhooks/partner-center",
        log["fields"]["url"].as_str().unwrap()
    );
    let (code, stdout, stderr) = cli.run(&["webhooks", "register", &webhook]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let referral = cosell_sim::partner_center::referrals::create_referral(
        &sim.state,
        fabrikam(),
        cosell_sim::partner_center::referrals::Source::Admin,
    )
    .unwrap();
    let id = referral["id"].as_str().unwrap().to_owned();
    // serve answers 200 once the event is durably parked.
    wait_within("the delivery", Duration::from_secs(15), || {
        sim.state.pc.webhooks.log().iter().any(|d| {
            d.event.starts_with("referral") && d.attempts.iter().any(|a| a.status == Some(200))
        })
    })
    .await;
    let (code, _) = serve.terminate().await;
    assert_eq!(code, 0);

    let (code, stdout, stderr) = cli.run(&["status", "--json"]).await;
    assert_eq!(code, 1, "a dead item is not ok: {stdout}{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(status["retries"]["dead"], 1, "{status}");
    assert_eq!(status["retries"]["pending"], 0, "{status}");
    let dead = &status["dead"][0];
    assert_eq!(dead["id"], format!("inbound:{id}"));
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("new_dealvalue"),
        "{dead}"
    );
    assert_eq!(dead["replay"], format!("cosell replay {id}"));
    let (_, human, _) = cli.run(&["status"]).await;
    assert!(human.contains(&format!("✖ inbound:{id}")), "{human}");

    // The cause is still there: replay says so and fails.
    let (code, stdout, _) = cli.run(&["replay", &id]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("new_dealvalue"), "{stdout}");
    assert!(sim.state.dv.rows("opportunities").is_empty());

    // Fixed: every dead item replays.
    cli.set("COSELL_DEAL_VALUE_COLUMN", "estimatedvalue");
    let (code, stdout, stderr) = cli.run(&["replay", "--dead"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("✔ inbound:{id}")), "{stdout}");
    assert!(stdout.contains("created"), "{stdout}");
    let row = sim
        .state
        .dv
        .row("opportunities", record_id("opportunities", &id))
        .expect("the opportunity");
    assert_eq!(row["estimatedvalue"], 250000.5);

    let (_, stdout, _) = cli.run(&["status", "--json"]).await;
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["retries"]["dead"], 0, "{status}");
    assert!(status["last_sync"][0]["at"].is_string(), "{status}");

    let (code, stdout, _) = cli.run(&["replay", "no-such-referral"]).await;
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
}

/// serve runs retry-scheduler's two jobs in-process: parked work is redone once Dataverse heals,
/// and a referral whose webhook Partner Center never delivered arrives through the sweep.
#[tokio::test]
async fn serve_redoes_parked_work_and_sweeps_for_lost_webhooks() {
    use cosell_sim::faults::{FaultSettings, Service};

    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let cli = Deployment::new(&sim, "sim-refresh-token");
    let mut serve_env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    serve_env.set("COSELL_POLL_INTERVAL", "3600");
    serve_env.set("COSELL_RETRY_INTERVAL", "100ms");
    serve_env.set("COSELL_RETRY_BASE_SECS", "1");
    serve_env.set("COSELL_RECONCILE_INTERVAL", "200ms");
    let mut serve = Running::spawn(serve_env.command(&["serve", "--listen", "127.0.0.1:0"]));
    let listening = serve
        .line(Duration::from_secs(30), |l| {
            l.contains("cosell serve listening")
        })
        .await;
    let log: Value = serde_json::from_str(&listening).unwrap();
    let webhook = format!(
        "{}/webhooks/partner-center",
        log["fields"]["url"].as_str().unwrap()
    );
    let (code, stdout, stderr) = cli.run(&["webhooks", "register", &webhook]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Dataverse is down when the webhook comes: parked, then redone once it is back.
    let down = FaultSettings {
        rate_500: 1.0,
        ..FaultSettings::default()
    };
    sim.state.faults.set(Service::Dataverse, down);
    let create = |referral| {
        cosell_sim::partner_center::referrals::create_referral(
            &sim.state,
            referral,
            cosell_sim::partner_center::referrals::Source::Admin,
        )
        .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let parked = create(fabrikam());
    wait_within("the delivery", Duration::from_secs(15), || {
        sim.state
            .pc
            .webhooks
            .log()
            .iter()
            .any(|d| d.attempts.iter().any(|a| a.status == Some(200)))
    })
    .await;
    assert!(sim.state.dv.rows("opportunities").is_empty());
    sim.state
        .faults
        .set(Service::Dataverse, FaultSettings::default());
    let row = record_id("opportunities", &parked);
    // Within the client's own retries (up to ~12 s of backoff per call) plus one backoff.
    wait_within("the retried opportunity", Duration::from_secs(60), || {
        sim.state.dv.row("opportunities", row).is_some()
    })
    .await;

    // Every webhook lost from now on: the sweep alone brings the next referral.
    sim.state
        .pc
        .webhooks
        .set_knobs(cosell_sim::partner_center::config::WebhookKnobs {
            drop_rate: 1.0,
            ..Default::default()
        });
    let mut other = fabrikam();
    other["customerProfile"]["name"] = "Tailspin Toys".into();
    other["customerProfile"]["team"][0]["email"] = "ana@tailspin.example".into();
    let swept = create(other);
    let row = record_id("opportunities", &swept);
    wait_within("the swept opportunity", Duration::from_secs(15), || {
        sim.state.dv.row("opportunities", row).is_some()
    })
    .await;
    let (code, _) = serve.terminate().await;
    assert_eq!(code, 0);
}

/// `cosell status | head`: the reader is gone before anything is printed, and the command ends
/// the way a Unix tool does (status 141, nothing on stderr) instead of a panic and a backtrace.
#[tokio::test]
async fn a_closed_pipe_ends_the_command_quietly() {
    let sim = sim::start().await;
    let cli = Deployment::new(&sim, "sim-refresh-token");
    // A store to read (an empty SQLite file is an empty store).
    std::fs::write(cli.path("cosell.db"), b"").unwrap();
    let mut command = cli.command(&["status"]);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take()); // `head` has read its lines and left
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}

/// A pending item is listed like a dead one: its id, when it is due, its last error.
#[tokio::test]
async fn status_lists_pending_items_with_their_reason_and_when_they_are_due() {
    use cosell_store::{RetryItem, RetryState, SqliteStore, SyncStore};
    let sim = sim::start().await;
    let mut cli = Deployment::new(&sim, "sim-refresh-token");
    let path = cli.path("cosell.db");
    cli.set("COSELL_SQLITE_PATH", path.to_string_lossy());
    let store = SqliteStore::open(&path).unwrap();
    let now = time::OffsetDateTime::now_utc();
    store
        .put_retry(&RetryItem {
            id: "inbound:r-42".into(),
            payload: Value::Null,
            due_at: now + time::Duration::minutes(10),
            attempts: 2,
            last_error: Some("Dataverse answered 503".into()),
            state: RetryState::Pending,
        })
        .await
        .unwrap();
    let (code, stdout, stderr) = cli.run(&["status"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("pending 1 (0 due now)"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("inbound:r-42"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("due in 9 min") || line.contains("due in 10 min"),
        "{line}"
    );
    assert!(
        line.contains("after 2 attempt(s): Dataverse answered 503"),
        "{line}"
    );
    let (_, json, _) = cli.run(&["status", "--json"]).await;
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["pending"][0]["id"], "inbound:r-42", "{status}");
}

/// `status` tells the truth about the schedules: with Dataverse and Partner Center refusing
/// everything, the change feed and the sweep fail every run, and `status` says ✖ for each with
/// its error and exits 1 — where it used to say ✔ and exit 0.
#[tokio::test]
async fn status_shows_a_failing_feed_and_a_failing_sweep_and_exits_1() {
    use cosell_sim::faults::{FaultSettings, Service};

    let sim = sim::start().await;
    let cli = Deployment::new(&sim, "sim-refresh-token");
    let mut serve_env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    serve_env.set("COSELL_SQLITE_PATH", cli.get("COSELL_SQLITE_PATH"));
    serve_env.set("COSELL_POLL_INTERVAL", "200ms");
    serve_env.set("COSELL_RETRY_INTERVAL", "3600");
    serve_env.set("COSELL_RECONCILE_INTERVAL", "200ms");
    let mut serve = Running::spawn(serve_env.command(&["serve", "--listen", "127.0.0.1:0"]));
    serve
        .line(Duration::from_secs(30), |l| {
            l.contains("cosell serve listening")
        })
        .await;
    let refused = FaultSettings {
        rate_500: 1.0,
        ..FaultSettings::default()
    };
    sim.state.faults.set(Service::Dataverse, refused.clone());
    sim.state.faults.set(Service::PartnerCenter, refused);

    let failing = |status: &Value, job: &str| {
        status["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["name"] == job))
            .is_some_and(|j| j["failing"].is_string())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let (_, stdout, _) = cli.run(&["status", "--json"]).await;
        let status: Value = serde_json::from_str(&stdout).unwrap();
        if failing(&status, "outbound-poll") && failing(&status, "reconcile") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{status:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (code, _) = serve.terminate().await;
    assert_eq!(code, 0);
    assert!(
        status["jobs"][0]["failing"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{status:#}"
    );
    let (code, human, stderr) = cli.run(&["status"]).await;
    assert_eq!(code, 1, "{human}{stderr}");
    assert!(
        human.contains("✖ outbound-poll  last run failed"),
        "{human}"
    );
    assert!(
        human.contains("✖ reconcile      last run failed"),
        "{human}"
    );
}
