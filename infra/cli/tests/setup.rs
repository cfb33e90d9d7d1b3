//! `cosell setup` after a deploy: the webhook moves to our URL and every check passes.

mod common;

use common::{Deployment, seed_currency, sim};

#[tokio::test]
async fn setup_registers_our_url_then_checks_everything() {
    let sim = sim::start().await;
    seed_currency(&sim);
    let mut deployment = Deployment::new(&sim, "sim-refresh-token");
    let ours = "https://abc.lambda-url.eu-west-1.on.aws/";
    deployment.set("COSELL_WEBHOOK_URL", ours);

    let (code, stdout, stderr) = deployment.run(&["check"]).await;
    assert_eq!(code, 1, "not registered yet: {stdout}{stderr}");
    assert!(stdout.contains("✖ webhook registration"), "{stdout}");

    let (code, stdout, stderr) = deployment.run(&["setup"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("registered {ours}")), "{stdout}");
    assert!(
        stdout.contains(&format!("✔ webhook registration — {ours}")),
        "{stdout}"
    );
    assert!(!stdout.contains('✖'), "{stdout}");
}
