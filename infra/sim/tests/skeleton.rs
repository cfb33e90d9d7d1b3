//! The parts every simulated service shares: the token endpoint, the fault knobs, the counters.

use std::time::Duration;

use cosell_sim::{Audience, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn token(sim: &Sim, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/tenant/oauth2/v2.0/token", sim.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn refresh_form(refresh_token: &str) -> [(&'static str, &str); 5] {
    [
        ("grant_type", "refresh_token"),
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
        ("refresh_token", refresh_token),
        (
            "scope",
            "https://api.partner.microsoft.com/.default offline_access",
        ),
    ]
}

#[tokio::test]
async fn a_redeemed_refresh_token_is_rotated_and_revoked() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (status, body) = token(&sim, &refresh_form("sim-refresh-token")).await;
    assert_eq!(status, 200, "{body}");
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, "sim-refresh-token");

    let (status, body) = token(&sim, &refresh_form("sim-refresh-token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, _) = token(&sim, &refresh_form(&rotated)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_token_is_good_only_for_its_audience_and_until_expired() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (status, body) = token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
            ("scope", "https://contoso.crm.dynamics.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let mut headers = axum::http::HeaderMap::new();
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
    headers.insert("authorization", bearer.parse().unwrap());
    let tokens = &sim.state.tokens;
    let app_only = tokens.authorize(&headers, Audience::Dataverse).unwrap();
    assert_eq!(app_only.grant.user, None);
    assert!(tokens.authorize(&headers, Audience::PartnerCenter).is_err());
    tokens.expire_all();
    assert!(tokens.authorize(&headers, Audience::Dataverse).is_err());

    let (status, body) = token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn fault_knobs_set_over_http_shape_the_answers_and_are_counted() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}/_admin/faults/token", sim.base_url))
        .json(&serde_json::json!({"rate_503": 1.0, "retry_after_secs": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let answer = http
        .post(format!("{}/t/oauth2/token", sim.base_url))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "4");

    let unknown = http
        .put(format!("{}/_admin/faults/nope", sim.base_url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let counters: serde_json::Value = http
        .get(format!("{}/_admin/counters", sim.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["services"]["token"], 1);
    assert_eq!(counters["routes"]["token POST /{tenant}/oauth2/token"], 1);
    assert_eq!(counters["events"]["token 503"], 1);
}

#[tokio::test]
async fn an_injected_drop_closes_the_socket_without_an_answer() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    reqwest::Client::new()
        .post(format!("{}/_admin/faults/token/next", sim.base_url))
        .json(&serde_json::json!(["drop"]))
        .send()
        .await
        .unwrap();
    let mut socket = tokio::net::TcpStream::connect(sim.addr).await.unwrap();
    socket
        .write_all(b"POST /t/oauth2/token HTTP/1.1\r\nhost: sim\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the socket was not closed");
    assert!(
        answer.is_empty(),
        "got an answer: {}",
        String::from_utf8_lossy(&answer)
    );
}
