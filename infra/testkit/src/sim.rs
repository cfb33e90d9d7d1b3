//! The simulators with the real clients pointed at them, and what the simulators counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cosell_dataverse::{DataverseClient, DataverseConfig};
use cosell_partner_center::webhook::{DEFAULT_MAX_BODY, TrustRoots, VerifierConfig};
use cosell_partner_center::{BoxError, PartnerCenter, PartnerCenterConfig, RefreshTokenSink};
use cosell_sim::dataverse::DvConfig;
use cosell_sim::partner_center::signing::Signer;
use cosell_sim::partner_center::{DeliveryConfig, PcConfig};
use cosell_sim::{Sim, SimConfig};
use cosell_transport::{HttpConfig, RetryPolicy, Secret};

/// The Partner Center tenant the clients sign in to.
pub const TENANT: &str = "contoso.onmicrosoft.com";

/// The simulators, with webhook deliveries retried on short delays.
pub async fn start() -> Sim {
    start_on(PcConfig::default(), DvConfig::default()).await
}

/// The simulators with this Partner Center configuration, webhook deliveries retried fast (its
/// own number of attempts kept).
pub async fn start_with(partner_center: PcConfig) -> Sim {
    start_on(partner_center, DvConfig::default()).await
}

/// The simulators with this Dataverse environment (tables, required columns, plug-ins).
pub async fn start_with_dataverse(dataverse: DvConfig) -> Sim {
    start_on(PcConfig::default(), dataverse).await
}

/// The simulators with both configurations, webhook deliveries retried fast.
pub async fn start_on(mut partner_center: PcConfig, dataverse: DvConfig) -> Sim {
    partner_center.delivery = DeliveryConfig {
        max_attempts: partner_center.delivery.max_attempts,
        ..DeliveryConfig::fast()
    };
    Sim::start(SimConfig {
        partner_center,
        dataverse,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A test's HTTP policy: `max_attempts` tries with millisecond backoffs, a `Retry-After` of up
/// to 2 s honoured.
pub fn http(max_attempts: u32) -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        rate_limit: None,
    }
}

/// The Dataverse client's configuration for the simulator's environment and token endpoint.
pub fn dataverse_config(sim: &Sim, http: HttpConfig) -> DataverseConfig {
    let mut config = DataverseConfig::new(
        sim.state.dv.api_base_url(),
        "tenant-1",
        "sim-client",
        Secret::new("sim-secret"),
    );
    config.token_url = format!("{}/{{tenant}}/oauth2/v2.0/token", sim.base_url);
    config.http = http;
    config
}

/// The Partner Center client's configuration for the simulator, signed in with its default app.
pub fn partner_center_config(sim: &Sim, http: HttpConfig) -> PartnerCenterConfig {
    let mut config = PartnerCenterConfig::new(TENANT, "sim-client", Secret::new("sim-secret"))
        .with_base_url(&sim.base_url, TENANT);
    config.http = http;
    config
}

/// Both clients, signed in to the simulator's token endpoint with its default app.
pub fn clients(sim: &Sim, http: HttpConfig) -> (DataverseClient, PartnerCenter) {
    let dataverse =
        DataverseClient::new(dataverse_config(sim, http.clone())).expect("dataverse client");
    let partner_center = PartnerCenter::new(
        partner_center_config(sim, http),
        Secret::new("sim-refresh-token"),
        Arc::new(MemorySink::default()),
    )
    .expect("partner center client");
    (dataverse, partner_center)
}

/// A simulator and a Partner Center client alone on it, with where the client keeps the
/// refresh tokens it rotates to.
pub struct WithPartnerCenter {
    pub sim: Sim,
    pub client: PartnerCenter,
    pub sink: Arc<MemorySink>,
}

/// [`start`] and a Partner Center client holding the simulator's initial refresh token.
pub async fn with_partner_center() -> WithPartnerCenter {
    let sim = start().await;
    let (client, sink) = partner_center(&sim, "sim-refresh-token");
    WithPartnerCenter { sim, client, sink }
}

/// A Partner Center client of `sim` (4 attempts) holding `refresh_token`, and its token sink.
pub fn partner_center(sim: &Sim, refresh_token: &str) -> (PartnerCenter, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let config = partner_center_config(sim, http(4));
    let client = PartnerCenter::new(config, Secret::new(refresh_token), sink.clone());
    (client.expect("partner center client"), sink)
}

/// Keeps every refresh token the Partner Center client rotates to; can be told to fail.
#[derive(Default)]
pub struct MemorySink {
    pub stored: Mutex<Vec<Secret>>,
    pub failures_left: Mutex<u32>,
}

impl MemorySink {
    /// The tokens kept, oldest first.
    pub fn stored(&self) -> Vec<String> {
        let stored = self.stored.lock().unwrap();
        stored.iter().map(|s| s.expose().to_owned()).collect()
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

/// Webhook verification that trusts the simulator's test CA and fetches certificates only from
/// the simulator, as a partner's deployment trusts Microsoft's roots and host.
pub fn verifier(sim: &Sim) -> VerifierConfig {
    VerifierConfig {
        cert_hosts: vec![sim.addr.to_string()],
        trust_roots: TrustRoots::Pem(Signer::get().ca_pem.clone().into_bytes()),
        max_body: DEFAULT_MAX_BODY,
    }
}

/// Requests so far to a service, e.g. `"dataverse"` (token requests are counted apart).
pub fn requests(sim: &Sim, service: &str) -> u64 {
    let counters = sim.state.counters.snapshot();
    counters.services.get(service).copied().unwrap_or(0)
}

/// Requests on one `"<service> <METHOD> <route>"` counter (0 when absent).
pub fn route(sim: &Sim, key: &str) -> u64 {
    let counters = sim.state.counters.snapshot();
    counters.routes.get(key).copied().unwrap_or(0)
}

/// One of the simulator's own event counters, e.g. `"dataverse throttled"`.
pub fn event(sim: &Sim, name: &str) -> u64 {
    sim.state.counters.count(name)
}

/// A simulator whose Dataverse is `dataverse`, and a Dataverse client of it (5 attempts).
pub async fn dataverse(dataverse: DvConfig) -> (Sim, DataverseClient) {
    let sim = start_with_dataverse(dataverse).await;
    let client = DataverseClient::new(dataverse_config(&sim, http(5))).expect("dataverse client");
    (sim, client)
}
