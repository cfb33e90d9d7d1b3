//! `cosell sandbox`, the README's first command, run as the binary: the first sync line comes
//! within 60 s of start, the printed `curl` commands work and cause the syncs they promise,
//! `cosell check` beside it passes, and SIGTERM stops it cleanly.

use std::time::Duration;

use cosell_testkit::process::{self, Login, Running, browse, cosell};

/// `cosell sandbox` on free ports, its state kept in `state`, with `extra` arguments.
fn sandbox(state: &std::path::Path, extra: &[&str]) -> Running {
    let state = state.to_string_lossy().into_owned();
    let mut command = cosell();
    command
        .args([
            "sandbox",
            "--port",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            &state,
        ])
        .args(extra);
    Running::spawn(command)
}

#[tokio::test]
async fn the_sandbox_narrates_syncs_and_its_guide_works() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut sandbox = sandbox(&state, &[]);

    // setup's Dynamics 365 steps first (Microsoft's schema is there: nothing to create), then
    // the syncs.
    let webhook = sandbox
        .line(Duration::from_secs(60), |l| l.contains("dataverse webhook"))
        .await;
    assert!(webhook.starts_with("✔ dataverse webhook — "), "{webhook}");
    let first = sandbox
        .line(Duration::from_secs(60), |l| {
            (l.starts_with('✔') || l.starts_with('✖'))
                && (l.contains("inbound ") || l.contains("outbound"))
        })
        .await;
    assert!(first.starts_with("✔ "), "the seeded data syncs: {first}");
    assert!(
        (first.contains("inbound ") || first.contains("outbound")) && first.ends_with(" ms)"),
        "one line with direction and latency: {first}"
    );

    // The seeded data: three referrals in, one opportunity out; then the guide.
    sandbox
        .line(Duration::from_secs(30), |l| {
            l.starts_with("Ctrl-C stops everything")
        })
        .await;
    let narrated = |seen: &[String], what: &str| {
        seen.iter()
            .filter(|l| l.starts_with("✔") && l.contains(what))
            .count()
    };
    assert_eq!(narrated(&sandbox.seen, "→ lead "), 1, "{:#?}", sandbox.seen);
    assert!(
        narrated(&sandbox.seen, "inbound  referral") >= 3,
        "{:#?}",
        sandbox.seen
    );
    assert!(
        narrated(&sandbox.seen, "outbound opportunity") >= 1,
        "{:#?}",
        sandbox.seen
    );

    let commands: Vec<String> = sandbox
        .seen
        .iter()
        .map(|l| l.trim_start().to_owned())
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), 9, "{:#?}", sandbox.seen);
    // The invitation waits for an answer: its seller's task, and the alert posted to the
    // simulated Teams webhook.
    assert!(
        sandbox
            .seen
            .iter()
            .any(|l| l.contains("☐ task created for sam.seller@partner.example")),
        "{:#?}",
        sandbox.seen
    );
    let alerted = |l: &str| l.contains("⚑ alert → Teams: New referral from Microsoft: Fabrikam");
    if !sandbox.seen.iter().any(|l| alerted(l)) {
        sandbox.line(Duration::from_secs(20), alerted).await;
    }
    let run = |line: &str| {
        let output = std::process::Command::new("sh")
            .args(["-c", line])
            .output()
            .expect("sh runs");
        assert!(
            output.status.success(),
            "{line}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    // Accept the invitation: the referral's update comes back in as one line.
    let accept = commands.iter().find(|c| c.contains("Accepted")).unwrap();
    run(accept);
    sandbox
        .line(Duration::from_secs(20), |l| {
            l.starts_with("✔ inbound") && l.contains("updated")
        })
        .await;
    sandbox
        .line(Duration::from_secs(20), |l| {
            l.contains("☑ task completed") && l.contains("Fabrikam")
        })
        .await;
    // Share the second opportunity: the next poll creates its referral.
    let share = commands
        .iter()
        .find(|c| c.contains("referralsync\":true"))
        .unwrap();
    run(share);
    sandbox
        .line(Duration::from_secs(20), |l| {
            l.starts_with("✔ outbound") && l.contains("created")
        })
        .await;
    // The look-only commands answer too.
    for look in commands.iter().filter(|c| !c.contains(" -X ")) {
        run(look);
    }
    // So does the guide's `cosell status`, as printed. Where `cosell` is not on the PATH the
    // guide names the binary's own path, and says how to install it.
    let status = sandbox
        .seen
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains(" status --config "));
    let status = status.expect("the guide's status command");
    let installed = status.starts_with("cosell ");
    let hinted = sandbox
        .seen
        .iter()
        .any(|l| l.contains("cargo install --locked --path infra/cli"));
    assert!(installed != hinted, "{:#?}", sandbox.seen);
    let status = status.split("  #").next().unwrap();
    run(status);

    // `cosell check` beside the running sandbox, with the settings it wrote.
    let config = state.join("cosell.toml").to_string_lossy().into_owned();
    let mut check = cosell();
    check.args(["check", "--config", &config]);
    let (code, stdout, stderr) = process::run(check).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.lines().all(|l| l.starts_with('✔')), "{stdout}");
    assert!(stdout.contains("✔ MFA — ada@contoso.example"), "{stdout}");

    // The guide's sign-in: refused without MFA, stored once Partner Center stops enforcing it,
    // and then `check` shows ✖ MFA.
    let login_line = |user: bool| {
        let line = sandbox
            .seen
            .iter()
            .map(|l| l.trim_start())
            // `cosell login …`, or the binary's path where `cosell` is not on the PATH.
            .find(|l| l.split_whitespace().nth(1) == Some("login") && l.contains("--user") == user)
            .unwrap_or_else(|| panic!("{:#?}", sandbox.seen))
            .to_owned();
        line.split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let sign_in = |args: Vec<String>| async move {
        let mut command = cosell();
        command.args(&args).args(["--timeout", "30"]);
        let mut login = Login::spawn_command(command);
        let url = login.url().await;
        browse(&url, None).await;
        login.finish().await
    };
    let (code, _, stderr) = sign_in(login_line(true)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("without multi-factor authentication"),
        "{stderr}"
    );
    let lenient = commands.iter().find(|c| c.contains("require-mfa")).unwrap();
    run(lenient);
    let (code, stdout, stderr) = sign_in(login_line(true)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mut check = cosell();
    check.args(["check", "--config", &config]);
    let (code, stdout, _) = process::run(check).await;
    assert_eq!(code, 1, "{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✖')).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].starts_with("✖ MFA — nils@contoso.example"),
        "{stdout}"
    );
    let (code, stdout, stderr) = sign_in(login_line(false)).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let (code, lines) = sandbox.terminate().await;
    assert_eq!(code, 0, "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("stopped")), "{lines:#?}");
}

#[tokio::test]
async fn a_bare_sandbox_is_set_up_first_and_a_sellers_edit_comes_through_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    // A poll so rare that what syncs in the next seconds came through the webhook.
    let mut sandbox = sandbox(
        &dir.path().join("state"),
        &["--bare", "--poll-interval", "10m"],
    );
    let schema = sandbox
        .line(Duration::from_secs(60), |l| l.contains("co-sell schema"))
        .await;
    assert!(
        schema.starts_with("✔ co-sell schema — cosell's own: created"),
        "{schema}"
    );
    let webhook = sandbox
        .line(Duration::from_secs(10), |l| l.contains("dataverse webhook"))
        .await;
    assert!(
        webhook.starts_with("✔ dataverse webhook — ") && webhook.contains("steps: 5 created"),
        "{webhook}"
    );
    sandbox
        .line(Duration::from_secs(30), |l| {
            l.starts_with("✔ outbound") && l.contains("created")
        })
        .await;
    sandbox
        .line(Duration::from_secs(30), |l| {
            l.starts_with("Ctrl-C stops everything")
        })
        .await;
    let raise = sandbox
        .seen
        .iter()
        .map(|l| l.trim_start().to_owned())
        .find(|l| l.starts_with("curl ") && l.contains("estimatedvalue"))
        .unwrap_or_else(|| panic!("{:#?}", sandbox.seen));
    let output = std::process::Command::new("sh")
        .args(["-c", &raise])
        .output()
        .unwrap();
    assert!(output.status.success());
    sandbox
        .line(Duration::from_secs(20), |l| {
            l.starts_with("✔ outbound") && l.contains("updated")
        })
        .await;
    let (code, lines) = sandbox.terminate().await;
    assert_eq!(code, 0, "{lines:#?}");
}
