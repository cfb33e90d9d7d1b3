//! The simulated Entra ID sign-ins and Partner Center's refusal of App+User tokens without MFA:
//! the authorization code with PKCE, the device code, the public-client rule for the refresh
//! tokens each produces, and the `amr` claim of the access tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cosell_sim::token::{AppCredential, TokenConfig, users};
use cosell_sim::{Sim, SimConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "/t/oauth2/v2.0/token";
const SCOPE: &str = "https://api.partner.microsoft.com/.default offline_access";

async fn start(public_client_flows: bool) -> Sim {
    Sim::start(SimConfig {
        token: TokenConfig {
            apps: vec![AppCredential {
                client_id: "sim-client".into(),
                client_secret: "sim-secret".into(),
                public_client_flows,
            }],
            ..TokenConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_form(sim: &Sim, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", sim.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The browser's side of the authorization request: the redirect it is sent to.
async fn authorize(sim: &Sim, user: &str, challenge: &str) -> url::Url {
    let redirect_uri = "http://localhost:43111/";
    let response = http()
        .get(format!("{}/t/oauth2/v2.0/authorize", sim.base_url))
        .query(&[
            ("client_id", "sim-client"),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPE),
            ("state", "s-1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", user),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn list_referrals(sim: &Sim, access_token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}/v1.0/engagements/referrals", sim.base_url))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_authorization_code_redeems_once_against_its_verifier_and_names_the_sign_in() {
    let sim = start(false).await;
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefg";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let back = authorize(&sim, users::ADMIN, &challenge).await;
    assert_eq!(back.port(), Some(43111));
    assert_eq!(param(&back, "state").as_deref(), Some("s-1"));
    let code = param(&back, "code").unwrap();
    let form = |verifier: &'static str, code: &str| {
        [
            ("grant_type", "authorization_code"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
            ("code", code),
            ("redirect_uri", "http://localhost:43111/"),
            ("code_verifier", verifier),
            ("scope", SCOPE),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let wrong = form("another-verifier", &code);
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_form(&sim, TOKEN, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Any attempt spends the code (the strict reading: Entra ID documents a code as single-use).
    let back = authorize(&sim, users::ADMIN, &challenge).await;
    let code = param(&back, "code").unwrap();
    let right = form(verifier, &code);
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_form(&sim, TOKEN, &right).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let claims = claims(access);
    assert_eq!(claims["upn"], users::ADMIN);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa"]));
    assert_eq!(list_referrals(&sim, access).await.0, 200);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(sim.state.tokens.refresh_token_grant(refresh).is_some());
    let (again, _) = post_form(&sim, TOKEN, &right).await;
    assert_eq!(again, 400, "a code redeems once");
}

#[tokio::test]
async fn partner_center_refuses_a_sign_in_without_mfa_with_900421_and_one_without_a_role_with_403()
{
    let sim = start(false).await;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(b"v"));
    for (user, status) in [(users::NO_MFA, 401), (users::NO_ROLE, 403)] {
        let code = param(&authorize(&sim, user, &challenge).await, "code").unwrap();
        let (ok, body) = post_form(
            &sim,
            TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "sim-client"),
                ("client_secret", "sim-secret"),
                ("code", &code),
                ("redirect_uri", "http://localhost:43111/"),
                ("code_verifier", "v"),
                ("scope", SCOPE),
            ],
        )
        .await;
        assert_eq!(ok, 200, "{body}");
        let access = body["access_token"].as_str().unwrap();
        let (answer, error) = list_referrals(&sim, access).await;
        assert_eq!(answer, status, "{user}: {error}");
        if status == 401 {
            assert_eq!(claims(access)["amr"], serde_json::json!(["pwd"]));
            assert_eq!(error["error"]["code"], "900421");
            // Without the enforcement (before 1 April 2026) the same token is accepted.
            sim.state.tokens.set_require_mfa(false);
            assert_eq!(list_referrals(&sim, access).await.0, 200);
            sim.state.tokens.set_require_mfa(true);
        }
    }
}

#[tokio::test]
async fn a_device_code_waits_for_the_person_and_yields_a_public_refresh_token() {
    let sim = start(true).await;
    let (status, device) = post_form(
        &sim,
        "/t/oauth2/v2.0/devicecode",
        &[("client_id", "sim-client"), ("scope", SCOPE)],
    )
    .await;
    assert_eq!(status, 200, "{device}");
    let device_code = device["device_code"].as_str().unwrap();
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "sim-client"),
        ("device_code", device_code),
    ];
    let (status, body) = post_form(&sim, TOKEN, &poll).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    let entered = http()
        .post(device["verification_uri"].as_str().unwrap())
        .form(&[
            ("user_code", device["user_code"].as_str().unwrap()),
            ("username", users::ADMIN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(entered.status(), 200);
    let (status, body) = post_form(&sim, TOKEN, &poll).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["upn"],
        users::ADMIN
    );

    // A device code's refresh token is a public client's: redeemed without the secret only.
    let refresh = body["refresh_token"].as_str().unwrap();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", "sim-client"),
        ("refresh_token", refresh),
        ("scope", SCOPE),
    ];
    form.push(("client_secret", "sim-secret"));
    let (status, body) = post_form(&sim, TOKEN, &form).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700025))
    );
    form.pop();
    let (status, body) = post_form(&sim, TOKEN, &form).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_device_code_needs_public_client_flows_on_the_registration() {
    let sim = start(false).await;
    let (_, device) = post_form(
        &sim,
        "/t/oauth2/v2.0/devicecode",
        &[("client_id", "sim-client"), ("scope", SCOPE)],
    )
    .await;
    let (status, body) = post_form(
        &sim,
        TOKEN,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "sim-client"),
            ("device_code", device["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000218))
    );
}
