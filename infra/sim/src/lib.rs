//! Local stand-ins for the three services cosell talks to: Partner Center (referrals, webhook
//! registration, signed webhook delivery), Dataverse (the OData subset in `contracts/dataverse.md`)
//! the Entra ID token endpoint, and a webhook sink standing in for Teams and Slack (alerts). All are served on one loopback port with the real paths, so a
//! client only swaps its base URLs. Knobs for latency, injected faults and request counters live
//! under `/_admin`, so tests, benchmarks and the sandbox can drive both sides like a person would.
//!
//! The simulator shares no code with the clients it tests (`cosell-partner-center`,
//! `cosell-dataverse`, `cosell-mapping`): it reads and writes plain JSON by Microsoft's published
//! definitions (`partner_center/published.toml` names its sources). A type shared between the two
//! would make a client's mistake the simulator's too, and a test would pass on what the real
//! service refuses.

pub mod admin;
pub mod counters;
pub mod dataverse;
pub mod faults;
pub mod partner_center;
mod server;
pub mod sink;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use serde::{Deserialize, Serialize};

pub use counters::Counters;
pub use faults::{Fault, FaultSettings, Faults, Service};
pub use token::{AppCredential, Audience, TokenAuthority};

/// Everything a simulator run can be told at start; most of it can also be changed at run time
/// through the admin routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one (tests).
    pub bind: SocketAddr,
    /// Seed of the fault dice, so a failing run can be replayed.
    pub seed: u64,
    pub token: token::TokenConfig,
    pub partner_center: partner_center::PcConfig,
    pub dataverse: dataverse::DvConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 7,
            token: token::TokenConfig::default(),
            partner_center: partner_center::PcConfig::default(),
            dataverse: dataverse::DvConfig::default(),
        }
    }
}

/// State shared by every route of one simulator run.
pub struct SimState {
    /// `http://127.0.0.1:<port>`: the base of every URL the simulator hands out.
    pub base_url: String,
    pub faults: Faults,
    pub counters: Counters,
    pub tokens: TokenAuthority,
    pub pc: partner_center::PcState,
    pub dv: dataverse::DvState,
    /// What the local webhook sink received (alerts).
    pub sink: sink::Sink,
}

/// A running simulator; stops when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    pub base_url: String,
    pub state: Arc<SimState>,
    server: tokio::task::JoinHandle<()>,
}

impl Sim {
    /// Binds, builds the state and serves in a background task.
    pub async fn start(config: SimConfig) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let state = Arc::new(SimState {
            faults: Faults::new(config.seed),
            counters: Counters::default(),
            tokens: TokenAuthority::new(config.token.clone()),
            pc: partner_center::PcState::new(config.partner_center.clone(), &base_url),
            dv: dataverse::DvState::new(config.dataverse.clone(), &base_url),
            base_url: base_url.clone(),
            sink: sink::Sink::default(),
        });
        partner_center::start_background(&state);
        let app = router(state.clone());
        let server = tokio::spawn(server::serve(listener, app));
        Ok(Sim {
            addr,
            base_url,
            state,
            server,
        })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// All routes, with fault injection and counting around the service routes (not around admin).
pub fn router(state: Arc<SimState>) -> Router {
    let services = Router::new()
        .merge(token::router())
        .merge(partner_center::router())
        .merge(dataverse::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ));
    services
        .merge(sink::router())
        .merge(sink::admin_router())
        .merge(admin::router())
        .with_state(state)
}
