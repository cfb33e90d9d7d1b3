//! A simulator and a client pointed at it, with small timeouts and backoffs so tests stay fast.
#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use cosell_dataverse::{DataverseClient, DataverseConfig, Row};
use cosell_sim::{Sim, SimConfig};
use cosell_transport::{HttpConfig, RateLimit, RetryPolicy, Secret};
use serde_json::Value;

pub fn config(sim: &Sim) -> DataverseConfig {
    let mut config = DataverseConfig::new(
        sim.state.dv.api_base_url(),
        "tenant-1",
        "sim-client",
        Secret::new("sim-secret"),
    );
    config.token_url = format!("{}/{{tenant}}/oauth2/v2.0/token", sim.base_url);
    config.http = HttpConfig {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
        rate_limit: None,
    };
    config
}

pub async fn start() -> (Sim, DataverseClient) {
    start_with(cosell_sim::dataverse::DvConfig::default()).await
}

/// A simulator whose Dataverse is `dataverse`, and a client of it.
pub async fn start_with(dataverse: cosell_sim::dataverse::DvConfig) -> (Sim, DataverseClient) {
    let sim = Sim::start(SimConfig {
        dataverse,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");
    let client = DataverseClient::new(config(&sim)).expect("client");
    (sim, client)
}

/// A simulator whose failed change set names its failing part (a kinder reading than the
/// default, which names none).
pub async fn start_naming_failed_parts() -> (Sim, DataverseClient) {
    let mut dataverse = cosell_sim::dataverse::DvConfig::default();
    dataverse.lenient.failed_change_set_names_part = true;
    start_with(dataverse).await
}

pub fn client_with_rate_limit(sim: &Sim, limit: RateLimit) -> DataverseClient {
    let mut config = config(sim);
    config.http.rate_limit = Some(limit);
    DataverseClient::new(config).expect("client")
}

pub fn row(value: Value) -> Row {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

/// A counter of the simulator's own events, e.g. `event(&sim, "dataverse throttled")`.
pub fn event(sim: &Sim, name: &str) -> u64 {
    sim.state.counters.count(name)
}
