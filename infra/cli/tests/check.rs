//! `cosell check`, run as the binary against the simulators: all ✔ when everything is in place,
//! ✖ naming what is not, and settings from the environment over a `--config` file.

use cosell_sim::token::{Grant, users};
use serde_json::Value;

use cosell_testkit::crm;
use cosell_testkit::process::{Deployment, cosell, run, write_credentials};
use cosell_testkit::sim;

const WEBHOOK_URL: &str = "https://cosell.contoso.example/webhooks/partner-center";

/// The simulators with a currency, and the webhook registered to [`WEBHOOK_URL`] by the binary.
async fn ready() -> (cosell_sim::Sim, Deployment) {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    deployment.set("COSELL_WEBHOOK_URL", WEBHOOK_URL);
    let (code, stdout, stderr) = deployment.run(&["webhooks", "register"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    (sim, deployment)
}

#[tokio::test]
async fn everything_in_place_prints_only_check_marks() {
    let (_sim, deployment) = ready().await;
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for name in [
        "Partner Center token",
        "MFA",
        "refresh token age",
        "Dataverse token",
        "co-sell schema",
        "co-sell columns",
        "country column",
        "help options",
        "solutions relationship",
        "services values",
        "mapping defaults",
        "mapping fields",
        "required columns",
        "account rules",
        "users",
        "tasks",
        "change tracking",
        "currency",
        "webhook registration",
        "store",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("✔ {name} — "))),
            "no ✔ {name}:\n{stdout}"
        );
    }
    assert!(lines.iter().all(|l| l.starts_with('✔')), "{stdout}");
    assert!(
        stdout.contains(&format!("✔ webhook registration — {WEBHOOK_URL}")),
        "{stdout}"
    );

    let (code, stdout, _) = deployment.run(&["check", "--json"]).await;
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(report["ok"], true);
    assert_eq!(report["checks"].as_array().unwrap().len(), 20);
    let mfa = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "MFA")
        .unwrap();
    assert_eq!(
        mfa["detail"],
        format!(
            "{} (Ada Admin) signed in with multi-factor authentication (amr: pwd, mfa)",
            users::ADMIN
        )
    );
}

/// A refresh token from a sign-in without MFA: Partner Center refuses it (the token line ✖ with
/// `cosell login`, no retry loop), and the MFA line says why; with the enforcement off (the time
/// before 1 April 2026) the token still works and the MFA line alone is ✖.
#[tokio::test]
async fn a_sign_in_without_mfa_is_named_with_cosell_login() {
    let (sim, mut deployment) = ready().await;
    let without = sim.state.tokens.mint_refresh_token_for(Grant {
        client_id: "sim-client".into(),
        public: false,
        user: Some(users::NO_MFA.into()),
        mfa: false,
    });
    write_credentials(&deployment.path("credentials.json"), &without);
    deployment.set("COSELL_WEBHOOK_URL", WEBHOOK_URL);
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_ne!(code, 0, "{stdout}");
    let line = |mark: char, name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{mark} {name} — ")))
            .unwrap_or_else(|| panic!("no {mark} {name}:\n{stdout}"))
            .to_owned()
    };
    let token = line('✖', "Partner Center token");
    assert!(
        token.contains("900421") && token.contains("run `cosell login`"),
        "{token}"
    );
    let mfa = line('✖', "MFA");
    assert!(
        mfa.contains(&format!(
            "{} (Nils Nomfa) signed in without multi-factor authentication (amr: pwd)",
            users::NO_MFA
        )),
        "{mfa}"
    );
    assert!(
        mfa.ends_with("complete the multi-factor authentication prompt"),
        "{mfa}"
    );

    sim.state.tokens.set_require_mfa(false);
    let (_, stdout, _) = deployment.run(&["check"]).await;
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✖')).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(failed[0].starts_with("✖ MFA — "), "{stdout}");
}

/// The help column's options as metadata gives them, each with the code it maps to, and the
/// solutions relationship found there.
#[tokio::test]
async fn the_help_options_and_solutions_relationship_are_read_from_metadata() {
    let (_sim, deployment) = ready().await;
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let help = stdout
        .lines()
        .find(|l| l.starts_with("✔ help options — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        help.contains(
            "100000001 \"Customer technical architecture\" → CustomerTechnicalArchitecture"
        ),
        "{help}"
    );
    assert_eq!(help.matches(" → ").count(), 6, "{help}");
    assert!(
        stdout.contains(
            "✔ solutions relationship — opportunity reaches msft_microsoftpartnercentersolutions \
             through msft_opportunity_msft_microsoftpartnercentersolutions"
        ),
        "{stdout}"
    );
}

/// A help table that leaves an option of the column unmapped: ✖ naming the value and the
/// setting; a relationship setting that does not exist is corrected from metadata (✔, said).
#[tokio::test]
async fn an_unmapped_help_option_is_named_and_a_wrong_relationship_is_found() {
    let (_sim, mut deployment) = ready().await;
    deployment.set(
        "COSELL_HELP_OPTIONS",
        "100000000=WorkloadSpecificValueProposition,100000001=CustomerTechnicalArchitecture",
    );
    deployment.set("COSELL_SOLUTIONS_RELATIONSHIP", "new_opportunity_solutions");
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_ne!(code, 0, "{stdout}");
    let help = stdout
        .lines()
        .find(|l| l.starts_with("✖ help options — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        help.contains("100000002 \"Proof of concept or demo\" → none"),
        "{help}"
    );
    assert!(
        help.contains("set COSELL_HELP_OPTIONS to map 100000002, 100000003, 100000004, 100000005"),
        "{help}"
    );
    let solutions = stdout
        .lines()
        .find(|l| l.starts_with("✔ solutions relationship — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        solutions.contains("through msft_opportunity_msft_microsoftpartnercentersolutions (from metadata; COSELL_SOLUTIONS_RELATIONSHIP names new_opportunity_solutions"),
        "{solutions}"
    );
}

/// A choice column's options, each value with its (English) label.
fn choices(options: &[(i64, &str)]) -> Vec<cosell_sim::dataverse::ChoiceConfig> {
    options
        .iter()
        .map(|(value, label)| cosell_sim::dataverse::ChoiceConfig {
            value: *value,
            label: (*label).into(),
            ..Default::default()
        })
        .collect()
}

/// Services values kept in a choice column: `check` lists its options as they would be sent and
/// warns (⚠, exit 0) about one outside the fiscal year's values the partner listed.
#[tokio::test]
async fn services_choice_options_outside_the_fiscal_years_values_are_warned_about() {
    let mut dataverse = cosell_sim::dataverse::DvConfig::default();
    let opportunities = dataverse.tables.get_mut("opportunities").unwrap();
    opportunities.attributes.push("new_solutionarea".into());
    let areas = choices(&[
        (100_000_000, "AI Business Solutions"),
        (100_000_001, "Modern Work"),
    ]);
    opportunities
        .choices
        .insert("new_solutionarea".into(), areas);
    let sim = sim::start_with_dataverse(dataverse).await;
    crm::seed_currency(&sim, "USD");
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    deployment.set("COSELL_WEBHOOK_URL", WEBHOOK_URL);
    deployment.run(&["webhooks", "register"]).await;
    deployment.set("COSELL_SOLUTION_AREA_COLUMN", "new_solutionarea");
    deployment.set("COSELL_PARTNER_ROLE_COLUMN", "new_partnerrole");

    let (_, stdout, _) = deployment.run(&["check"]).await;
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✔ services values — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("new_partnerrole (partnerRole): text"),
        "{line}"
    );
    assert!(
        line.contains(r#"new_solutionarea (solutionArea): 100000000 "AI Business Solutions", 100000001 "Modern Work""#),
        "{line}"
    );
    assert!(line.contains("set COSELL_SERVICES_TAXONOMY"), "{line}");

    let year = {
        let today = time::OffsetDateTime::now_utc().date();
        today.year() + i32::from(u8::from(today.month()) >= 7)
    };
    let taxonomy = format!(
        r#"{{"fiscalYear": "FY{:02}", "solutionArea": ["AI Business Solutions", "Cloud and AI Platforms", "Security"]}}"#,
        year % 100
    );
    deployment.set("COSELL_SERVICES_TAXONOMY", &taxonomy);
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    let line = stdout
        .lines()
        .find(|l| l.starts_with("⚠ services values — "))
        .unwrap_or_else(|| panic!("{stdout}{stderr}"));
    assert!(
        line.contains(r#"solutionArea 100000001 "Modern Work""#),
        "{line}"
    );
    assert!(!line.contains(r#"solutionArea 100000000"#), "{line}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("✖ services values")),
        "{stdout}"
    );
    // A warning stops nothing: whatever else fails, it is not this line.
    let _ = code;
}

/// A partner's environment where opportunity has a business-required choice column: `check`
/// names it until a default fills it, and names a default or a mapped field that cannot work.
#[tokio::test]
async fn required_columns_and_the_mapping_are_checked_against_metadata() {
    let mut dataverse = cosell_sim::dataverse::DvConfig::default();
    let opportunities = dataverse.tables.get_mut("opportunities").unwrap();
    opportunities.attributes.push("new_region".into());
    opportunities.business_required.push("new_region".into());
    let region = choices(&[(100_000_000, "EMEA"), (100_000_001, "Americas")]);
    opportunities
        .choices
        .insert("new_region".into(), region.clone());
    opportunities.attributes.push("new_salesstage".into());
    opportunities
        .choices
        .insert("new_salesstage".into(), region);
    let sim = sim::start_with_dataverse(dataverse).await;
    crm::seed_currency(&sim, "USD");
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    deployment.set("COSELL_WEBHOOK_URL", WEBHOOK_URL);
    deployment.run(&["webhooks", "register"]).await;

    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_ne!(code, 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✖ required columns — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("opportunity.new_region (ApplicationRequired)"),
        "{line}"
    );

    let mapping = r#"{"defaults": {"opportunity": {"new_region": {"option": 100000001}}},
        "fields": [{"referral": "/salesStage", "column": "new_salesstage", "direction": "both",
                    "values": {"Qualify": 100000000}}]}"#;
    deployment.set("COSELL_MAPPING", mapping);
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("✔ required columns — "), "{stdout}");
    assert!(
        stdout.contains("✔ mapping fields — /salesStage → opportunity.new_salesstage (both ways)"),
        "{stdout}"
    );

    let mapping = r#"{"defaults": {"opportunity": {"new_region": {"option": 7}}},
        "fields": [{"referral": "/customerProfile/size", "column": "new_size"}]}"#;
    deployment.set("COSELL_MAPPING", mapping);
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_ne!(code, 0);
    let defaults = stdout
        .lines()
        .find(|l| l.starts_with("✖ mapping defaults — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        defaults.contains("mapping.defaults.opportunity.new_region: option 7 is not one of"),
        "{defaults}"
    );
    let fields = stdout
        .lines()
        .find(|l| l.starts_with("✖ mapping fields — "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        fields.contains("mapping.fields[0]: opportunity has no column 'new_size'"),
        "{fields}"
    );

    // A document that cannot be read at all is one line naming its key, before any check.
    deployment.set("COSELL_MAPPING", r#"{"leeds": false}"#);
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_ne!(code, 0);
    assert!(
        format!("{stdout}{stderr}").contains("mapping.leeds: unknown field `leeds`"),
        "{stdout}{stderr}"
    );
}

#[tokio::test]
async fn a_co_sell_column_that_does_not_exist_is_named_and_fails_the_run() {
    let (_sim, mut deployment) = ready().await;
    deployment.set("COSELL_COLUMN_AUDIT", "new_bogusaudit");
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_ne!(code, 0, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✖ co-sell columns — "))
        .unwrap_or_else(|| panic!("no ✖ co-sell columns line:\n{stdout}{stderr}"));
    assert!(
        line.contains("new_bogusaudit (COSELL_COLUMN_AUDIT)"),
        "{line}"
    );
    assert!(line.contains("set COSELL_COLUMN_AUDIT"), "{line}");
    // Only that check fails.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with('✖')).count(),
        1,
        "{stdout}"
    );

    let (code, stdout, _) = deployment.run(&["check", "--json"]).await;
    assert_ne!(code, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "co-sell columns");
    assert!(
        failed[0]["fix"]
            .as_str()
            .unwrap()
            .contains("COSELL_COLUMN_AUDIT")
    );
}

#[tokio::test]
async fn a_registration_pointing_elsewhere_names_both_urls() {
    let (_sim, mut deployment) = ready().await;
    let ours = "https://cosell.fabrikam.example/webhooks/partner-center";
    deployment.set("COSELL_WEBHOOK_URL", ours);
    let (code, stdout, _) = deployment.run(&["check"]).await;
    assert_ne!(code, 0);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✖ webhook registration"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains(WEBHOOK_URL) && line.contains(ours), "{line}");
    assert!(
        line.contains(&format!("cosell webhooks register {ours}")),
        "{line}"
    );
}

#[tokio::test]
async fn settings_come_from_the_file_and_the_environment_wins() {
    let (_sim, deployment) = ready().await;
    let file = deployment.path("cosell.toml");
    let toml: String = deployment
        .vars
        .iter()
        .map(|(k, v)| format!("{k} = {}\n", Value::String(v.clone())))
        .collect();
    std::fs::write(&file, toml).unwrap();
    let file = file.to_string_lossy().into_owned();

    let mut bare = cosell();
    bare.args(["check", "--config", &file])
        .current_dir(deployment.dir.path());
    let (code, stdout, stderr) = run(bare).await;
    assert_eq!(
        code, 0,
        "the file alone configures everything:\n{stdout}{stderr}"
    );

    let mut overridden = cosell();
    overridden
        .args(["check"])
        .env("COSELL_CONFIG", &file)
        .env("COSELL_COLUMN_HELP", "new_bogushelp")
        .current_dir(deployment.dir.path());
    let (code, stdout, _) = run(overridden).await;
    assert_ne!(code, 0);
    assert!(
        stdout.contains("new_bogushelp (COSELL_COLUMN_HELP)"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_missing_setting_is_one_line_naming_it() {
    let sim = sim::start().await;
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    deployment.vars.retain(|(k, _)| k != "COSELL_DATAVERSE_URL");
    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("cosell check: COSELL_DATAVERSE_URL is not set"),
        "{stderr}"
    );
}
