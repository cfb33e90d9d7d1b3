//! A simulator and a client pointed at it, with small backoffs so retry tests stay fast.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cosell_partner_center::{
    BoxError, HttpConfig, PartnerCenter, PartnerCenterConfig, RefreshTokenSink, RetryPolicy, Secret,
};
use cosell_sim::partner_center::{DeliveryConfig, PcConfig};
use cosell_sim::{Sim, SimConfig};
use serde_json::Value;

pub const TENANT: &str = "contoso.onmicrosoft.com";

/// Keeps every refresh token handed to it; can be told to fail.
#[derive(Default)]
pub struct MemorySink {
    pub stored: Mutex<Vec<Secret>>,
    pub failures_left: Mutex<u32>,
}

impl MemorySink {
    pub fn stored(&self) -> Vec<String> {
        self.stored
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.expose().to_owned())
            .collect()
    }
}

#[async_trait]
impl RefreshTokenSink for MemorySink {
    async fn store(&self, refresh_token: &Secret) -> Result<(), BoxError> {
        let mut failures = self.failures_left.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err("secret store unavailable".into());
        }
        self.stored.lock().unwrap().push(refresh_token.clone());
        Ok(())
    }
}

pub struct Setup {
    pub sim: Sim,
    pub client: PartnerCenter,
    pub sink: Arc<MemorySink>,
}

pub async fn sim() -> Sim {
    let pc = PcConfig {
        delivery: DeliveryConfig::fast(),
        ..PcConfig::default()
    };
    Sim::start(SimConfig {
        partner_center: pc,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

pub fn config(sim: &Sim) -> PartnerCenterConfig {
    let mut config = PartnerCenterConfig::new(TENANT, "sim-client", Secret::new("sim-secret"))
        .with_base_url(&sim.base_url, TENANT);
    config.http = HttpConfig {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        },
        rate_limit: None,
    };
    config
}

pub fn client(sim: &Sim, refresh_token: &str) -> (PartnerCenter, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let client = PartnerCenter::new(config(sim), Secret::new(refresh_token), sink.clone()).unwrap();
    (client, sink)
}

/// A simulator and a client holding the simulator's initial refresh token.
pub async fn setup() -> Setup {
    let sim = sim().await;
    let (client, sink) = client(&sim, "sim-refresh-token");
    Setup { sim, client, sink }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Seeds referrals as Microsoft would create them (admin route).
pub async fn seed(sim: &Sim, body: Value) -> Value {
    let response = http()
        .post(format!("{}/_admin/partner-center/referrals", sim.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

pub async fn admin(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http().request(method, format!("{}/_admin/{path}", sim.base_url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response
}

/// Requests seen per `"<service> <METHOD> <route>"`.
pub async fn route_count(sim: &Sim, route: &str) -> u64 {
    let counters: Value = admin(sim, reqwest::Method::GET, "counters", None)
        .await
        .json()
        .await
        .unwrap();
    counters["routes"][route].as_u64().unwrap_or(0)
}

pub async fn event_count(sim: &Sim, event: &str) -> u64 {
    let counters: Value = admin(sim, reqwest::Method::GET, "counters", None)
        .await
        .json()
        .await
        .unwrap();
    counters["events"][event].as_u64().unwrap_or(0)
}
