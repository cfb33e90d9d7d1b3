//! The simulators with the real clients pointed at them, as the end-to-end tests start them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cosell_dataverse::{DataverseClient, DataverseConfig};
use cosell_partner_center::webhook::{DEFAULT_MAX_BODY, TrustRoots, VerifierConfig};
use cosell_partner_center::{BoxError, PartnerCenter, PartnerCenterConfig, RefreshTokenSink};
use cosell_sim::partner_center::signing::Signer;
use cosell_sim::partner_center::{DeliveryConfig, PcConfig};
use cosell_sim::{Sim, SimConfig};
use cosell_transport::{HttpConfig, RetryPolicy, Secret};

/// The Partner Center tenant the clients sign in to.
pub const TENANT: &str = "contoso.onmicrosoft.com";

/// The simulators, with webhook deliveries retried on short delays.
pub async fn start() -> Sim {
    start_with(PcConfig::default()).await
}

/// The simulators with this Partner Center configuration, webhook deliveries retried fast.
pub async fn start_with(partner_center: PcConfig) -> Sim {
    Sim::start(SimConfig {
        partner_center: PcConfig {
            delivery: DeliveryConfig::fast(),
            ..partner_center
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The simulators with this Dataverse environment (tables, required columns, plug-ins).
pub async fn start_with_dataverse(dataverse: cosell_sim::dataverse::DvConfig) -> Sim {
    Sim::start(SimConfig {
        partner_center: PcConfig {
            delivery: DeliveryConfig::fast(),
            ..PcConfig::default()
        },
        dataverse,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A test's HTTP policy: `max_attempts` tries with millisecond backoffs.
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

/// Both clients, signed in to the simulator's token endpoint with its default app.
pub fn clients(sim: &Sim, http: HttpConfig) -> (DataverseClient, PartnerCenter) {
    let mut dv = DataverseConfig::new(
        sim.state.dv.api_base_url(),
        "tenant-1",
        "sim-client",
        Secret::new("sim-secret"),
    );
    dv.token_url = format!("{}/{{tenant}}/oauth2/v2.0/token", sim.base_url);
    dv.http = http.clone();
    let dataverse = DataverseClient::new(dv).expect("dataverse client");

    let mut pc = PartnerCenterConfig::new(TENANT, "sim-client", Secret::new("sim-secret"))
        .with_base_url(&sim.base_url, TENANT);
    pc.http = http;
    let partner_center =
        PartnerCenter::new(pc, Secret::new("sim-refresh-token"), Arc::new(Discard))
            .expect("partner center client");
    (dataverse, partner_center)
}

/// Rotated refresh tokens go nowhere: the simulator lives as long as the test.
struct Discard;

#[async_trait]
impl RefreshTokenSink for Discard {
    async fn store(&self, _: &Secret) -> Result<(), BoxError> {
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
