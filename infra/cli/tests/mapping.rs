//! `cosell mapping push | show`, and a start that finds the version its deploy names: the
//! document pushed from `cosell.toml`'s `[mapping]` table is the one the processes run.

use serde_json::Value;

use cosell_testkit::crm;
use cosell_testkit::process::Deployment;
use cosell_testkit::referrals::fabrikam;
use cosell_testkit::{microsoft, sim};

const DOCUMENT: &str = r#"
[mapping]
version = 2
[mapping.defaults.opportunity]
new_source = "Microsoft co-sell"
"#;

#[tokio::test]
async fn a_pushed_document_is_what_a_start_runs_and_a_deploy_ahead_of_it_is_refused() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let mut cli = Deployment::new(&sim, "sim-refresh-token");
    let file = cli.path("cosell-mapping.toml");
    std::fs::write(&file, DOCUMENT).unwrap();
    let file = file.to_string_lossy().into_owned();

    // No store yet: nothing to show, and none made.
    let (code, _, stderr) = cli.run(&["mapping", "show"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("there is no sync state at"), "{stderr}");
    std::fs::write(cli.path("cosell.db"), b"").unwrap(); // an empty store
    let (code, stdout, _) = cli.run(&["mapping", "show"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("no mapping document is stored"), "{stdout}");

    let (code, stdout, stderr) = cli.run(&["--config", &file, "mapping", "push"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("✔ mapping version 2 stored"), "{stdout}");
    assert!(stdout.contains("MappingVersion=2"), "{stdout}");
    let (_, stdout, _) = cli.run(&["--config", &file, "mapping", "push"]).await;
    assert!(stdout.contains("is stored already"), "{stdout}");
    let (_, stdout, _) = cli.run(&["--json", "mapping", "show"]).await;
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["mapping"]["version"], 2, "{shown}");

    // A different document under the same version is refused, by the version.
    let changed = cli.path("changed.toml");
    std::fs::write(&changed, DOCUMENT.replace("co-sell", "referral")).unwrap();
    let changed = changed.to_string_lossy().into_owned();
    let (code, _, stderr) = cli.run(&["--config", &changed, "mapping", "push"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("raise `version` above it"), "{stderr}");

    // A process with no COSELL_MAPPING of its own runs the stored document.
    let referral = microsoft::seed_referral(&sim, fabrikam()).await;
    let id = referral["id"].as_str().unwrap();
    cli.set("COSELL_MAPPING_VERSION", "2");
    let (code, stdout, stderr) = cli.run(&["preview", "referral", id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["rows"]["opportunities"]["new_source"], "Microsoft co-sell",
        "{shown}"
    );

    // A deploy naming a version the store does not hold yet does not start.
    cli.set("COSELL_MAPPING_VERSION", "3");
    let (code, _, stderr) = cli.run(&["preview", "referral", id]).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("this deploy runs mapping version 3, and the store holds version 2: run `cosell mapping push` with version 3"),
        "{stderr}"
    );
}
