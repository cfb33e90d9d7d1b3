//! `cosell login`, run as the binary against the simulated Entra ID and Partner Center, with the
//! person's side — the browser, the device-code page — played by the test: a sign-in that works
//! is stored (and is what `check` then uses); every refusal is one sentence and leaves the stored
//! credentials byte for byte as they were.

use cosell_sim::token::{AppCredential, TokenConfig, users};
use cosell_sim::{Sim, SimConfig};
use serde_json::Value;

use cosell_testkit::crm;
use cosell_testkit::process::{Deployment, Login, browse, param};
use cosell_testkit::sim;

/// The browser landing on the loopback redirect URI with `query` (what Entra ID would send).
async fn land(url: &url::Url, query: &[(&str, &str)]) {
    let mut back = url::Url::parse(&param(url, "redirect_uri")).unwrap();
    back.query_pairs_mut().extend_pairs(query);
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(back)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn credentials(deployment: &Deployment) -> String {
    std::fs::read_to_string(deployment.path("credentials.json")).unwrap()
}

fn stored_refresh_token(deployment: &Deployment) -> (String, Value) {
    let document: Value = serde_json::from_str(&credentials(deployment)).unwrap();
    let pc = document["partner_center"].clone();
    (pc["refresh_token"].as_str().unwrap().to_owned(), document)
}

#[tokio::test]
async fn a_browser_sign_in_with_mfa_is_stored_and_check_uses_it() {
    let sim = sim::start().await;
    crm::seed_currency(&sim, "USD");
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let mut login = Login::spawn(&deployment, &[]);
    let url = login.url().await;
    assert_eq!(param(&url, "code_challenge_method"), "S256");
    assert!(param(&url, "redirect_uri").starts_with("http://localhost:"));
    let page = browse(&url, Some(users::ADMIN)).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("You can close this tab")
    );

    let (code, stdout, stderr) = login.finish().await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("✔ signed in as {} (Ada Admin)", users::ADMIN)),
        "{stdout}"
    );
    assert!(
        stdout.contains("✔ multi-factor authentication — the token lists pwd, mfa"),
        "{stdout}"
    );
    let (stored, document) = stored_refresh_token(&deployment);
    assert_ne!(stored, "sim-refresh-token");
    let grant = sim.state.tokens.refresh_token_grant(&stored).unwrap();
    assert_eq!(grant.user.as_deref(), Some(users::ADMIN));
    assert!(grant.mfa);
    assert_eq!(document["partner_center"]["public_client"], false);
    assert_eq!(
        document["dataverse"]["client_id"], "sim-client",
        "the rest is kept"
    );
    assert!(
        !stdout.contains(&stored) && !stderr.contains(&stored),
        "the token is never printed"
    );

    let (_, stdout, _) = deployment.run(&["check"]).await;
    assert!(stdout.contains("✔ Partner Center token — "), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "✔ MFA — {} (Ada Admin) signed in with",
            users::ADMIN
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_sign_in_partner_center_refuses_is_not_stored() {
    let sim = sim::start().await;
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let before = credentials(&deployment);
    for (user, says) in [
        (
            users::NO_MFA,
            "signed in without multi-factor authentication (the token lists pwd)",
        ),
        (
            users::NO_ROLE,
            "signed in, but Partner Center refuses them the referrals API",
        ),
    ] {
        let mut login = Login::spawn(&deployment, &[]);
        let url = login.url().await;
        browse(&url, Some(user)).await;
        let (code, stdout, stderr) = login.finish().await;
        assert_eq!(code, 1, "{user}: {stdout}{stderr}");
        assert!(stderr.contains(user) && stderr.contains(says), "{stderr}");
        assert!(
            stderr.contains("Nothing was stored; the refresh token stored before is kept."),
            "{stderr}"
        );
        assert_eq!(credentials(&deployment), before, "{user}");
    }
    assert!(
        sim.state
            .tokens
            .refresh_token_grant("sim-refresh-token")
            .is_some()
    );
}

#[tokio::test]
async fn a_cancelled_sign_in_a_foreign_state_and_a_taken_port_store_nothing() {
    let sim = sim::start().await;
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let before = credentials(&deployment);

    // Entra ID's redirect when the person cancels (its authorization code flow page).
    let mut login = Login::spawn(&deployment, &[]);
    let url = login.url().await;
    let state = param(&url, "state");
    land(
        &url,
        &[
            ("error", "access_denied"),
            ("error_description", "the user canceled the authentication"),
            ("state", &state),
        ],
    )
    .await;
    let (code, _, stderr) = login.finish().await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "the sign-in was cancelled (access_denied: the user canceled the authentication)"
        ),
        "{stderr}"
    );

    // A redirect that carries a code but another sign-in's state.
    let mut login = Login::spawn(&deployment, &[]);
    let url = login.url().await;
    land(
        &url,
        &[("code", "sim-code-stolen"), ("state", "not-this-one")],
    )
    .await;
    let (code, _, stderr) = login.finish().await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("a state that is not this sign-in's"),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, stderr) = deployment.run(&["login", "--port", &port]).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
    assert_eq!(credentials(&deployment), before);
}

async fn device_sim(public_client_flows: bool) -> Sim {
    let sim = Sim::start(SimConfig {
        token: TokenConfig {
            apps: vec![AppCredential {
                client_id: "sim-client".into(),
                client_secret: "sim-secret".into(),
                public_client_flows,
            }],
            device_code_interval_secs: 1,
            ..TokenConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    crm::seed_currency(&sim, "USD");
    sim
}

/// The device code page: the person enters the code from Entra ID's message and signs in.
async fn enter_code(sim: &Sim, message: &str, user: &str, action: &str) {
    let code = message
        .split_whitespace()
        .skip_while(|w| *w != "code")
        .nth(1)
        .unwrap_or_else(|| panic!("no code in {message}"));
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/devicelogin", sim.base_url))
        .form(&[("user_code", code), ("username", user), ("action", action)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_device_code_sign_in_is_stored_as_a_public_clients_and_works() {
    let sim = device_sim(true).await;
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let mut login = Login::spawn(&deployment, &["--device"]);
    let message = login.line(|l| l.contains("enter the code")).await;
    enter_code(&sim, &message, users::ADMIN, "approve").await;
    let (code, stdout, stderr) = login.finish().await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("(a device-code sign-in: redeemed without the client secret)"),
        "{stdout}"
    );
    let (stored, document) = stored_refresh_token(&deployment);
    assert_eq!(document["partner_center"]["public_client"], true);
    assert!(
        sim.state
            .tokens
            .refresh_token_grant(&stored)
            .unwrap()
            .public
    );

    // The functions' client redeems it without the secret, as Entra ID requires.
    let (_, stdout, _) = deployment.run(&["check"]).await;
    assert!(stdout.contains("✔ Partner Center token — "), "{stdout}");
    assert!(stdout.contains("✔ MFA — "), "{stdout}");
}

#[tokio::test]
async fn a_declined_device_code_or_a_registration_without_public_flows_stores_nothing() {
    let sim = device_sim(true).await;
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let before = credentials(&deployment);
    let mut login = Login::spawn(&deployment, &["--device"]);
    let message = login.line(|l| l.contains("enter the code")).await;
    enter_code(&sim, &message, users::ADMIN, "decline").await;
    let (code, _, stderr) = login.finish().await;
    assert_eq!(code, 1);
    assert!(stderr.contains("the sign-in was declined"), "{stderr}");
    assert_eq!(credentials(&deployment), before);

    let sim = device_sim(false).await;
    let deployment = Deployment::new(&sim, "sim-refresh-token");
    let before = credentials(&deployment);
    let mut login = Login::spawn(&deployment, &["--device"]);
    let message = login.line(|l| l.contains("enter the code")).await;
    enter_code(&sim, &message, users::ADMIN, "approve").await;
    let (code, _, stderr) = login.finish().await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Allow public client flows → Yes"),
        "{stderr}"
    );
    assert_eq!(credentials(&deployment), before);
}
