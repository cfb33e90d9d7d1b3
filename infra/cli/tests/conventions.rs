//! What every command does alike, run as an operator runs the binary: the help (one line per
//! command, help on every argument, the exit codes), `--json` refused where it means nothing,
//! and output that cannot be written ending with an error, never a panic.

use std::path::Path;
use std::process::Stdio;

use cosell_testkit::process::{self, cosell};

/// `cosell ARGS`'s (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (i32, String, String) {
    let mut command = cosell();
    command.args(args);
    process::run(command).await
}

/// Compares `text` with the snapshot file `name`; on a difference, the test fails showing the
/// text to copy there once the change is meant.
fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == text,
        "{} differs from the output; if the change is meant, write this there:\n{text}",
        path.display()
    );
}

#[tokio::test]
async fn the_help_lists_each_command_on_one_line_with_the_exit_codes() {
    let (code, help, _) = run(&["--help"]).await;
    assert_eq!(code, 0);
    snapshot("help.txt", &help);
    let commands = help
        .split("Commands:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a command list");
    for line in commands.lines() {
        assert!(line.starts_with("  "), "one line a command: {line:?}");
    }
    assert!(help.contains("141 the reader of the output left"), "{help}");
}

#[tokio::test]
async fn every_argument_has_its_help() {
    let commands = [
        vec!["init"],
        vec!["sandbox"],
        vec!["serve"],
        vec!["login"],
        vec!["setup"],
        vec!["replay"],
        vec!["backfill"],
        vec!["webhooks", "register"],
        vec!["webhooks", "test"],
        vec!["preview", "inbound"],
        vec!["preview", "outbound"],
        vec!["preview", "referral"],
        vec!["preview", "opportunity"],
    ];
    for command in commands {
        let mut args = command.clone();
        args.push("-h");
        let (code, help, _) = run(&args).await;
        assert_eq!(code, 0, "{command:?}");
        // In the short help an argument with help is its name, two spaces, its line.
        let mut bare = Vec::new();
        let mut listing = false;
        for line in help.lines() {
            if line == "Arguments:" || line == "Options:" {
                listing = true;
            } else if line.is_empty() {
                listing = false;
            } else if listing && !line.starts_with("          ") {
                let columns = line.trim().split("  ").filter(|p| !p.trim().is_empty());
                if columns.count() < 2 {
                    bare.push(line.to_owned());
                }
            }
        }
        assert!(
            bare.is_empty(),
            "{command:?}: arguments without help: {bare:?}\n{help}"
        );
    }
    let (_, replay, _) = run(&["replay", "--help"]).await;
    snapshot("replay-help.txt", &replay);
}

#[tokio::test]
async fn json_is_refused_where_it_means_nothing() {
    for command in ["serve", "sandbox"] {
        let (code, stdout, stderr) = run(&["--json", command]).await;
        assert_eq!(code, 2, "a usage error: {stdout}{stderr}");
        assert!(stderr.contains("--json means nothing here"), "{stderr}");
    }
}

#[tokio::test]
async fn a_full_disk_is_an_error_and_never_a_panic() {
    if !Path::new("/dev/full").exists() {
        return; // not Linux: nothing to write to that is always full
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("cosell.db");
    std::fs::write(&store, b"").unwrap(); // an empty store
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut command = cosell();
    command
        .args(["status"])
        .env("COSELL_SQLITE_PATH", &store)
        .env(
            "COSELL_DATAVERSE_URL",
            "https://x.api.crm.dynamics.com/api/data/v9.2/",
        )
        .env("COSELL_PARTNER_CENTER_TENANT", "contoso.onmicrosoft.com")
        .env(
            "COSELL_CREDENTIALS_FILE",
            dir.path().join("credentials.json"),
        )
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped());
    // Spawned, not `output()`: tokio's would make stdout a pipe.
    let output = command.spawn().unwrap().wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing the output failed"), "{stderr}");
}

#[tokio::test]
async fn a_misspelt_setting_in_the_environment_is_refused_with_the_one_meant() {
    let mut command = cosell();
    command.args(["status"]).env(
        "COSELL_DATAVERSE_ULR",
        "https://x.api.crm.dynamics.com/api/data/v9.2/",
    );
    let (code, _, stderr) = process::run(command).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("COSELL_DATAVERSE_ULR (did you mean COSELL_DATAVERSE_URL?)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_dynamics_app_address_is_refused_with_the_web_api_meant() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = cosell();
    command
        .args(["webhooks", "show"])
        .current_dir(dir.path())
        .env("COSELL_DATAVERSE_URL", "https://contoso.crm.dynamics.com/")
        .env("COSELL_PARTNER_CENTER_TENANT", "contoso.onmicrosoft.com")
        .env(
            "COSELL_CREDENTIALS_FILE",
            dir.path().join("credentials.json"),
        );
    let (code, _, stderr) = process::run(command).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("use https://contoso.api.crm.dynamics.com/api/data/v9.2/"),
        "{stderr}"
    );
}
