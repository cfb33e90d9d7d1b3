//! `cosell setup` after a deploy, against the simulators over real sockets: the webhook is taken
//! over from Power Automate the way Microsoft accepts (PUT over an existing registration; the
//! simulator refuses a POST there, as the REST reference says), the path is proved with a test
//! event that `serve` receives and verifies, and every check passes. A second run changes
//! nothing; a receiver that refuses the signature is named as such.

use std::time::Duration;

use serde_json::Value;

use cosell_testkit::crm::{self, Deal};
use cosell_testkit::process::{Deployment, Login, Running, browse};
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{microsoft, sim, wait_within};

/// What a partner moving off Microsoft's solution has registered today.
const POWER_AUTOMATE: &str =
    "https://prod-27.westus.logic.azure.com/workflows/0f1e2d3c/triggers/manual/paths/invoke";

/// `cosell serve` on a loopback port with `deployment`'s settings; its Partner Center webhook URL.
async fn serve(deployment: &Deployment) -> (Running, String) {
    let mut serve = Running::spawn(deployment.command(&["serve", "--listen", "127.0.0.1:0"]));
    let listening = serve
        .line(Duration::from_secs(30), |l| {
            l.contains("cosell serve listening")
        })
        .await;
    let log: Value = serde_json::from_str(&listening).expect("serve logs JSON");
    let url = log["fields"]["url"].as_str().expect("the URL is logged");
    (serve, format!("{url}/webhooks/partner-center"))
}

/// `serve` and the operator's settings pointed at it, sharing one credentials file and one
/// store as the functions and the CLI share one secret and one table.
async fn deployment(sim: &cosell_sim::Sim) -> (Running, Deployment) {
    // Two processes redeem the one stored refresh token: the one each read must stay valid
    // (Entra ID does not always revoke on rotation; this simulator does unless told).
    sim.state.tokens.set_rotation_revokes_old(false);
    let mut deployment = Deployment::new(sim, "sim-refresh-token");
    let mut serve_env = Deployment::new(sim, "unused");
    for shared in ["COSELL_CREDENTIALS_FILE", "COSELL_SQLITE_PATH"] {
        serve_env.set(shared, deployment.get(shared));
    }
    let (serve, ours) = serve(&serve_env).await;
    deployment.set("COSELL_WEBHOOK_URL", &ours);
    deployment.set(
        "COSELL_DATAVERSE_WEBHOOK_URL",
        ours.replace("/webhooks/partner-center", "/webhooks/dataverse"),
    );
    (serve, deployment)
}

/// The Dataverse webhook key `setup` stored in the credentials.
fn stored_key(deployment: &Deployment) -> String {
    let path = deployment.get("COSELL_CREDENTIALS_FILE");
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    document["dataverse"]["webhook_key"]
        .as_str()
        .expect("a webhook key stored")
        .to_owned()
}

/// The line of `stdout` that starts with `mark name —`.
fn line<'a>(stdout: &'a str, mark: &str, name: &str) -> &'a str {
    let start = format!("{mark} {name} —");
    stdout
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no line '{start}': {stdout}"))
}

/// A new environment (`DvConfig::bare`), allowing more test events than Partner Center's two a
/// minute: these tests run setup several times in a row.
async fn bare_sim() -> cosell_sim::Sim {
    cosell_sim::Sim::start(cosell_sim::SimConfig {
        partner_center: cosell_sim::partner_center::PcConfig {
            delivery: cosell_sim::partner_center::DeliveryConfig::fast(),
            validation_events_per_minute: 10,
            ..Default::default()
        },
        dataverse: cosell_sim::dataverse::DvConfig::bare(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The registration requests the simulator saw, `METHOD` words, oldest first.
fn registration_writes(sim: &cosell_sim::Sim) -> Vec<String> {
    sim.state
        .pc
        .requests
        .all()
        .into_iter()
        .filter(|r| r.uri == "/webhooks/v1/registration" && r.method != "GET")
        .map(|r| r.method)
        .collect()
}

#[tokio::test]
async fn setup_takes_over_from_power_automate_and_proves_the_path() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    // serve and the operator's commands each redeem their own refresh token.
    let (_serve, deployment) = deployment(&sim).await;
    let ours = deployment.get("COSELL_WEBHOOK_URL");

    let (code, stdout, stderr) = deployment
        .run(&["webhooks", "register", POWER_AUTOMATE])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 1, "still Power Automate's: {stdout}{stderr}");
    assert!(stdout.contains("✖ webhook registration"), "{stdout}");

    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("registered {ours}")), "{stdout}");
    assert!(
        stdout.contains(&format!("replaced {POWER_AUTOMATE}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("delivered to {ours} and verified by cosell")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("✔ webhook registration — {ours}")),
        "{stdout}"
    );
    assert!(!stdout.contains('✖'), "{stdout}");
    assert_eq!(
        registration_writes(&sim),
        ["POST", "PUT"],
        "Power Automate's POST, then cosell's takeover by PUT"
    );
    let saved: Value = serde_json::from_slice(
        &std::fs::read(deployment.path("cosell-webhook-previous.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["previous"]["webhook_url"], POWER_AUTOMATE);

    // The Dataverse webhook: endpoint, steps and the pre-images of the solutions table's.
    let registered = line(&stdout, "✔", "dataverse webhook");
    assert!(
        registered.contains("endpoint 'cosell outbound sync' created at")
            && registered.contains("steps: 5 created, 0 updated, 0 unchanged"),
        "{registered}"
    );
    let writes = |sim: &cosell_sim::Sim| {
        [
            "POST serviceendpoints",
            "PATCH serviceendpoints(key)",
            "POST sdkmessageprocessingsteps",
            "PATCH sdkmessageprocessingsteps(key)",
            "POST sdkmessageprocessingstepimages",
        ]
        .map(|e| sim_event(sim, &format!("dataverse {e}")))
    };
    assert_eq!(writes(&sim), [1, 0, 5, 0, 2]);
    // serve started before the key existed: it reads the credentials again and takes the call
    // Dataverse makes with it.
    let key = stored_key(&deployment);
    let dataverse_hook = deployment.get("COSELL_DATAVERSE_WEBHOOK_URL");
    let response = reqwest::Client::new()
        .post(format!("{dataverse_hook}?code={key}"))
        .json(&serde_json::json!({
            "MessageName": "Update", "PrimaryEntityName": "opportunity",
            "PrimaryEntityId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    // Again: the same registration is put in place (by PUT: one exists), the rollback file keeps
    // Power Automate's URL, and the path is proved again.
    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("already registered; nothing saved"),
        "{stdout}"
    );
    assert!(stdout.contains("verified by cosell"), "{stdout}");
    assert_eq!(registration_writes(&sim), ["POST", "PUT", "PUT"]);
    assert!(
        line(&stdout, "✔", "dataverse webhook")
            .contains("endpoint 'cosell outbound sync' unchanged; 5 steps unchanged"),
        "{stdout}"
    );
    assert_eq!(writes(&sim), [1, 0, 5, 0, 2], "nothing written again");
    assert_eq!(stored_key(&deployment), key, "the key is kept");
    let kept: Value = serde_json::from_slice(
        &std::fs::read(deployment.path("cosell-webhook-previous.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["previous"]["webhook_url"], POWER_AUTOMATE);
}

#[tokio::test]
async fn setup_names_the_trust_roots_when_cosell_refuses_the_signature() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    // serve trusts only the public web roots: the simulator's test CA signs the event.
    let mut serve_env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    serve_env.unset("COSELL_WEBHOOK_TRUST_ROOTS");
    let (_serve, ours) = serve(&serve_env).await;
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    deployment.set("COSELL_WEBHOOK_URL", &ours);

    let (code, stdout, stderr) = deployment.run(&["setup", "--test-timeout", "20"]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("registered {ours}")), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("test event"))
        .unwrap_or_else(|| panic!("a test event line: {stdout}"));
    assert!(line.starts_with('✖'), "{line}");
    assert!(line.contains("refused its signature (HTTP 401"), "{line}");
    assert!(line.contains("COSELL_WEBHOOK_TRUST_ROOTS"), "{line}");
}

#[tokio::test]
async fn setup_switches_change_tracking_on_once() {
    let sim = sim::start_with_dataverse(
        cosell_sim::dataverse::DvConfig::default().with_change_tracking_off("opportunities"),
    )
    .await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_eq!(code, 1);
    assert!(
        line(&stdout, "✖", "change tracking").contains("not enabled on opportunity"),
        "{stdout}"
    );

    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "change tracking")
            .contains("switched on for opportunity; enabled on opportunity; a delta read works"),
        "{stdout}"
    );
    assert_eq!(sim_event(&sim, "dataverse PUT EntityDefinitions"), 1);

    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "change tracking").contains("unchanged"),
        "{stdout}"
    );
    assert_eq!(
        sim_event(&sim, "dataverse PUT EntityDefinitions"),
        1,
        "written once"
    );
}

#[tokio::test]
async fn setup_names_organization_read_when_the_delta_read_is_refused() {
    let sim = sim::start_with_dataverse(cosell_sim::dataverse::DvConfig {
        business_unit_read: vec!["opportunity".into()],
        ..cosell_sim::dataverse::DvConfig::default()
    })
    .await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("change tracking"), "{stdout}{stderr}");
    let refused = line(&stdout, "✖", "change tracking");
    assert!(
        refused.contains("the application user needs Organization-level Read on Opportunity"),
        "{refused}"
    );
    // The check that follows says the same: it no longer passes such a user.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("needs Organization-level Read"))
            .count(),
        2,
        "{stdout}"
    );
}

fn sim_event(sim: &cosell_sim::Sim, name: &str) -> u64 {
    sim.state.counters.count(name)
}

#[tokio::test]
async fn setup_registers_associate_steps_for_a_many_to_many_solutions_relationship() {
    let mut config = cosell_sim::dataverse::DvConfig::default();
    config
        .many_to_many
        .push(cosell_sim::dataverse::ManyToManyConfig {
            name: "new_opportunity_solution".into(),
            entity1_set: "opportunities".into(),
            entity1_navigation: "new_opportunity_solution".into(),
            entity2_set: "msft_microsoftpartnercentersolutions".into(),
            entity2_navigation: "new_opportunity_solution".into(),
        });
    let sim = sim::start_with_dataverse(config).await;
    crm::seed_currency(&sim, "USD");
    let (_serve, mut deployment) = deployment(&sim).await;
    deployment.set("COSELL_SOLUTIONS_RELATIONSHIP", "new_opportunity_solution");
    let (_, stdout, _) = deployment.run(&["setup"]).await;
    let registered = line(&stdout, "✔", "dataverse webhook");
    assert!(registered.contains("steps: 4 created"), "{registered}");
    let steps: Vec<_> = ["Associate", "Disassociate"]
        .iter()
        .map(|message| {
            sim.state
                .dv
                .rows("sdkmessageprocessingsteps")
                .into_iter()
                .find(|row| row["name"] == format!("cosell: {message} of any table"))
                .unwrap_or_else(|| panic!("a {message} step: {stdout}"))
        })
        .collect();
    for step in steps {
        assert!(
            step.get("_sdkmessagefilterid_value")
                .is_none_or(serde_json::Value::is_null),
            "{step:?}"
        );
        assert_eq!(step["mode"], 1);
    }
}

#[tokio::test]
async fn setup_creates_cosells_own_schema_on_a_bare_environment_once() {
    let sim = bare_sim().await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_eq!(code, 1);
    assert!(
        line(&stdout, "✖", "co-sell columns").contains("msft_"),
        "{stdout}"
    );

    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let made = line(&stdout, "✔", "co-sell schema");
    assert!(
        made.contains(
            "cosell's own: created the publisher cosell, the solution cosell, 8 opportunity \
             columns, the solutions table, the solution id column, its relationship to \
             opportunity, 3 views; published"
        ),
        "{made}"
    );
    // The check that follows runs on the recorded schema: cosell's columns, all there.
    assert!(
        line(&stdout, "✔", "co-sell columns").contains("cosell_referralid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✔ co-sell schema — cosell's own columns (cosell_…), made by cosell setup"),
        "the check names the schema in use: {stdout}"
    );
    let mut views: Vec<String> = sim
        .state
        .dv
        .rows("savedqueries")
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    views.sort();
    assert_eq!(
        views,
        [
            "Co-sell: not synced",
            "Co-sell: shared with Microsoft",
            "Co-sell: waiting for an answer",
        ]
    );

    // Again: nothing created, nothing published.
    let created = |sim: &cosell_sim::Sim| {
        sim_event(sim, "dataverse POST EntityDefinitions Attributes")
            + sim_event(sim, "dataverse POST EntityDefinitions")
            + sim_event(sim, "dataverse POST RelationshipDefinitions")
            + sim_event(sim, "dataverse POST savedqueries")
            + sim_event(sim, "dataverse POST PublishXml")
    };
    let before = created(&sim);
    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "co-sell schema")
            .contains("cosell's own columns on opportunity (unchanged)"),
        "{stdout}"
    );
    assert_eq!(created(&sim), before);

    // With --form, the main opportunity form gets the solutions section, once.
    let (code, stdout, stderr) = deployment.run(&["setup", "--form"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "opportunity form").contains("added to 1 main form(s); published"),
        "{stdout}"
    );
    let form = &sim.state.dv.rows("systemforms")[0];
    let xml = form["formxml"].as_str().unwrap();
    assert!(
        xml.contains("Microsoft Partner Center")
            && xml.contains(
                "<RelationshipName>cosell_opportunity_cosell_solution</RelationshipName>"
            ),
        "{xml}"
    );
    let (_, stdout, _) = deployment.run(&["setup", "--form"]).await;
    assert!(
        line(&stdout, "✔", "opportunity form").contains("(unchanged)"),
        "{stdout}"
    );
    assert_eq!(
        sim.state.dv.rows("systemforms")[0]["formxml"]
            .as_str()
            .unwrap(),
        xml,
        "left alone"
    );

    // A process started now writes cosell's columns: the backfill brings an open referral in.
    let referral = microsoft::seed_referral(&sim, fabrikam()).await;
    let (code, stdout, stderr) = deployment.run(&["backfill", "--referrals-only"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let opportunity =
        cosell_mapping::inbound::record_id("opportunities", referral["id"].as_str().unwrap());
    let row = sim
        .state
        .dv
        .row("opportunities", opportunity)
        .expect("the opportunity");
    assert_eq!(row["cosell_referralid"], referral["id"]);
    assert!(
        row.get("msft_microsoftpartnercenterreferralidentifier")
            .is_none()
    );
}

#[tokio::test]
async fn setup_refuses_a_half_installed_microsoft_solution_and_creates_nothing() {
    let mut config = cosell_sim::dataverse::DvConfig::default();
    config
        .tables
        .get_mut("opportunities")
        .unwrap()
        .attributes
        .retain(|a| {
            a != "msft_microsoftpartnercenterreferralsyncaudit"
                && a != "msft_microsoftcrmidentifier"
        });
    let sim = sim::start_with_dataverse(config).await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let (code, stdout, _) = deployment.run(&["setup"]).await;
    assert_eq!(code, 1);
    let refused = line(&stdout, "✖", "co-sell schema");
    assert!(
        refused.contains("half-installed")
            && refused
                .contains("msft_microsoftpartnercenterreferralsyncaudit (COSELL_COLUMN_AUDIT)")
            && refused.contains("msft_microsoftcrmidentifier (COSELL_COLUMN_MSX_ID)"),
        "{refused}"
    );
    assert_eq!(
        sim_event(&sim, "dataverse POST EntityDefinitions Attributes"),
        0
    );
    assert!(line(&stdout, "✖", "dataverse webhook").contains("depends on the schema"));
}

/// Writes the simulated Dataverse took through its Web API (not the test's own seeding).
fn dataverse_writes(sim: &cosell_sim::Sim) -> u64 {
    sim.state
        .counters
        .snapshot()
        .events
        .iter()
        .filter(|(name, _)| {
            ["POST", "PATCH", "PUT", "DELETE"]
                .iter()
                .any(|verb| name.starts_with(&format!("dataverse {verb} ")))
        })
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_remove_undoes_the_registrations_only() {
    let sim = bare_sim().await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let ours = deployment.get("COSELL_WEBHOOK_URL");
    let (code, _, _) = deployment
        .run(&["webhooks", "register", POWER_AUTOMATE])
        .await;
    assert_eq!(code, 0);

    let (code, stdout, stderr) = deployment.run(&["setup", "--dry-run", "--form"]).await;
    assert_eq!(
        code, 1,
        "the check after the plan still fails: {stdout}{stderr}"
    );
    assert!(
        line(&stdout, "✔", "webhook takeover").contains(&format!(
            "would replace {POWER_AUTOMATE} with {ours} by PUT"
        )),
        "{stdout}"
    );
    assert!(
        line(&stdout, "✔", "co-sell schema")
            .contains("cosell's own would be made: the publisher cosell, the solution cosell, 8 opportunity columns"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "✔", "change tracking").contains("would be switched on"),
        "{stdout}"
    );
    let webhook = line(&stdout, "✔", "dataverse webhook");
    assert!(
        webhook.contains("the key would be made in the credentials")
            && webhook.contains("would be created"),
        "{webhook}"
    );
    assert!(
        line(&stdout, "✔", "opportunity form").contains("would be added to 1 main form(s)"),
        "{stdout}"
    );
    assert_eq!(dataverse_writes(&sim), 0, "nothing written in Dataverse");
    assert_eq!(registration_writes(&sim), ["POST"], "only Power Automate's");
    let credentials: Value =
        serde_json::from_slice(&std::fs::read(deployment.get("COSELL_CREDENTIALS_FILE")).unwrap())
            .unwrap();
    assert!(credentials["dataverse"].get("webhook_key").is_none());

    // Set up for real, then removed: the registrations go, the schema and its data stay.
    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = deployment.run(&["setup", "--remove"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "dataverse webhook")
            .contains("endpoint 'cosell outbound sync' and 5 step(s) deleted"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "✔", "webhook registration").contains(&format!("put back {POWER_AUTOMATE}")),
        "{stdout}"
    );
    assert!(sim.state.dv.rows("serviceendpoints").is_empty());
    assert!(sim.state.dv.rows("sdkmessageprocessingsteps").is_empty());
    assert!(
        sim.state
            .dv
            .rows("sdkmessageprocessingstepimages")
            .is_empty()
    );
    assert_eq!(
        registration_writes(&sim).last().map(String::as_str),
        Some("PUT"),
        "put back by PUT"
    );
    let (_, shown, _) = deployment.run(&["webhooks", "show"]).await;
    assert!(shown.starts_with(POWER_AUTOMATE), "{shown}");
    let (_, stdout, _) = deployment.run(&["check"]).await;
    assert!(
        line(&stdout, "✔", "co-sell columns").contains("cosell_referralid"),
        "the columns stay: {stdout}"
    );

    // Again: nothing left to remove.
    let (code, stdout, _) = deployment.run(&["setup", "--remove"]).await;
    assert_eq!(code, 0);
    assert!(line(&stdout, "✔", "dataverse webhook").contains("nothing to remove"));
    assert!(line(&stdout, "✔", "webhook registration").contains("(unchanged)"));
}

#[tokio::test]
async fn a_sellers_edits_reach_partner_center_through_the_webhook_setup_registered() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;
    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    // serve polls once a minute: what happens in the next seconds comes through the webhook.
    // The seller's opportunity, then its solution (the opportunity alone is refused for want of
    // one; the solution's Create step names it, and it is shared).
    let opportunity = crm::seed_deal(&sim, &Deal::default());
    let referral_of = || {
        sim.state
            .dv
            .row("opportunities", opportunity)
            .and_then(|row| {
                row.get("msft_microsoftpartnercenterreferralidentifier")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
    };
    wait_within(
        "the referral, through the webhook",
        Duration::from_secs(10),
        || referral_of().is_some(),
    )
    .await;
    let referral = referral_of().unwrap();

    // The seller edits the deal value in the app: the Update step delivers it.
    sim.state
        .dv
        .edit(
            "opportunities",
            opportunity,
            cosell_testkit::object(serde_json::json!({"estimatedvalue": 180000})),
        )
        .unwrap();
    let value = || {
        sim.state.pc.store.lock().unwrap().get(&referral).unwrap()["details"]["dealValue"].clone()
    };
    wait_within(
        "the new deal value in Partner Center",
        Duration::from_secs(10),
        || value() == serde_json::json!(180000),
    )
    .await;

    // The deliveries, as Dataverse's log would show them: the seller's edits, and cosell's own
    // write-backs (answered without a read), all 200.
    let log: Value = reqwest::get(format!("{}/_admin/dataverse/deliveries", sim.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deliveries = log["value"].as_array().unwrap();
    let of = |entity: &str, message: &str| {
        deliveries
            .iter()
            .filter(|d| d["entity"] == entity && d["message"] == message)
            .count()
    };
    assert!(of("opportunity", "Create") >= 1, "{log}");
    assert!(
        of("msft_microsoftpartnercentersolutions", "Create") >= 1,
        "{log}"
    );
    assert!(
        of("opportunity", "Update") >= 2,
        "the edit and a write-back: {log}"
    );
    let answered = || all_answered_200(&sim);
    for _ in 0..250 {
        if answered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered(), "{:#?}", sim.state.dv.deliveries.log());
}

/// Whether every delivery logged so far was answered 200.
fn all_answered_200(sim: &cosell_sim::Sim) -> bool {
    sim.state
        .dv
        .deliveries
        .log()
        .iter()
        .all(|d| d.status == Some(200))
}

#[tokio::test]
async fn an_administrator_signs_in_for_what_the_application_user_may_not_do() {
    // Only Ada may customize (System Customizer); the application user may not, as it should be.
    let mut dataverse = cosell_sim::dataverse::DvConfig::bare();
    dataverse.customizers = vec![cosell_sim::token::users::ADMIN.to_owned()];
    let sim = cosell_sim::Sim::start(cosell_sim::SimConfig {
        partner_center: cosell_sim::partner_center::PcConfig {
            delivery: cosell_sim::partner_center::DeliveryConfig::fast(),
            validation_events_per_minute: 10,
            ..Default::default()
        },
        dataverse,
        ..Default::default()
    })
    .await
    .unwrap();
    crm::seed_currency(&sim, "USD");
    let (_serve, deployment) = deployment(&sim).await;

    // No terminal: the application user, without asking; each refused step names the role.
    let (code, stdout, _) = deployment.run(&["setup"]).await;
    assert_eq!(code, 1);
    assert!(
        line(&stdout, "✔", "dynamics 365 identity").contains("the application user"),
        "{stdout}"
    );
    let refused = line(&stdout, "✖", "co-sell schema");
    assert!(
        refused.contains("prvCreateEntity") && refused.contains("System Customizer"),
        "{refused}"
    );
    assert!(
        line(&stdout, "✖", "change tracking").contains("System Customizer"),
        "{stdout}"
    );
    assert_eq!(
        sim_event(&sim, "dataverse POST EntityDefinitions Attributes"),
        0
    );

    // An administrator signs in: the same run goes through, written as her.
    let mut setup = Login::spawn_command(deployment.command(&["setup", "--sign-in"]));
    let url = setup.url().await;
    browse(&url, None).await;
    let (code, stdout, stderr) = setup.finish().await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        line(&stdout, "✔", "dynamics 365 identity").contains("ada@contoso.example"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "✔", "co-sell schema").contains("cosell's own: created"),
        "{stdout}"
    );
    // The delta read is still tried as the application user, who will read the changes.
    assert!(
        line(&stdout, "✔", "change tracking").contains("a delta read works"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "✔", "dataverse webhook").contains("steps: 5 created"),
        "{stdout}"
    );
}
