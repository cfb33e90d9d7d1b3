//! The simulator's API called raw, as a client without cosell's would call it (a token issued
//! directly, the request, the status asserted), and a webhook receiver on a loopback port: what the
//! simulator's own tests need.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cosell_sim::{Audience, Sim};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::http;

/// A token the simulator issues for `audience`, without a sign-in.
pub fn token(sim: &Sim, audience: Audience) -> String {
    sim.state.tokens.issue(audience).0
}

/// Partner Center's referrals collection.
pub fn referrals_url(sim: &Sim) -> String {
    format!("{}/v1.0/engagements/referrals", sim.base_url)
}

/// POSTs a referral through the API as the partner.
pub async fn create(sim: &Sim, body: Value) -> Value {
    let response = http()
        .post(referrals_url(sim))
        .bearer_auth(token(sim, Audience::PartnerCenter))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create");
    response.json().await.unwrap()
}

/// Registers `url` for `events` with the webhook API; its answer.
pub async fn register(sim: &Sim, url: &str, events: &[&str]) -> Value {
    let response = http()
        .post(format!("{}/webhooks/v1/registration", sim.base_url))
        .bearer_auth(token(sim, Audience::PartnerCenterWebhooks))
        .json(&json!({ "WebhookUrl": url, "WebhookEvents": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "register");
    response.json().await.unwrap()
}

/// One request the receiver got, and what it answered.
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub struct Receiver {
    pub url: String,
    pub requests: mpsc::UnboundedReceiver<Received>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// The next request, or a panic after a few seconds.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("a webhook arrives in time")
            .expect("receiver open")
    }

    /// Asserts nothing more arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok(Some(extra)) = tokio::time::timeout(wait, self.requests.recv()).await {
            panic!(
                "unexpected webhook: {}",
                String::from_utf8_lossy(&extra.body)
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct ReceiverState {
    sender: mpsc::UnboundedSender<Received>,
    hits: Arc<AtomicU32>,
    fail_first: u32,
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 to its first `fail_first` requests.
pub async fn receiver(fail_first: u32) -> Receiver {
    let (sender, requests) = mpsc::unbounded_channel();
    let state = ReceiverState {
        sender,
        hits: Arc::default(),
        fail_first,
    };
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url,
        requests,
        server,
    }
}

async fn hook(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = state.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let status = if n <= state.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let _ = state.sender.send(Received {
        headers,
        body,
        answered: status.as_u16(),
    });
    status
}
