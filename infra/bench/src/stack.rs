//! One measured deployment, in this process, over real loopback sockets: the simulators, a
//! SQLite store in a temporary directory (the adapter `cosell serve` uses by default), the
//! clients and use cases built from `COSELL_*` settings as `cosell serve` builds them, and the
//! functions' own webhook routers on a local axum server.
//!
//! Every measurement starts its own stack, so no run inherits another's store, caches, counters
//! or Dataverse request window.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use cosell_host::Apps;
use cosell_partner_center::PartnerCenter;
use cosell_sim::dataverse::{LimitConfig, OperationCost};
use cosell_sim::partner_center::PcConfig;
use cosell_sim::partner_center::signing::Signer;
use cosell_sim::{FaultSettings, Service, Sim, SimConfig};
use cosell_transport::RateLimit;
use serde_json::json;
use tokio::time::Instant;

/// The Partner Center tenant the simulator's token endpoint answers for (any name works).
const TENANT: &str = "contoso.onmicrosoft.com";
/// The key the Dataverse webhook presents; a made-up value for the simulator only.
pub const DATAVERSE_WEBHOOK_KEY: &str = "bench-dataverse-webhook-key";
pub const DATAVERSE_WEBHOOK_HEADER: &str = "x-cosell-key";
/// The response header carrying how long the handler took, request arrival → answer, in µs.
pub const HANDLED_HEADER: &str = "x-bench-handled-us";

pub use cosell_host::{DATAVERSE_ROUTE, PARTNER_CENTER_ROUTE};

/// The Dataverse client's own pace: every process's client admits at most
/// [`cosell_dataverse::DEFAULT_RATE_LIMIT`] (18 requests/s after a burst of 3,000) unless told
/// otherwise, as `cosell backfill --rate` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pace {
    /// As shipped: the client's default limit.
    #[default]
    Shipped,
    /// No client-side limit (a ceiling far above anything reached): what the sync itself
    /// costs. A diagnostic, not a configuration cosell ships.
    Lifted,
}

impl Pace {
    fn limit(self) -> Option<RateLimit> {
        match self {
            Pace::Shipped => None,
            Pace::Lifted => Some(RateLimit {
                per_second: 1_000_000,
                burst: 1_000_000,
            }),
        }
    }
}

/// How a stack differs from a plain deployment.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The client-side ceiling `cosell backfill --rate` sets on the Dataverse client.
    pub dataverse_rate: Option<RateLimit>,
    /// When `dataverse_rate` is not set.
    pub pace: Pace,
    /// The Dataverse simulator's service-protection limits and operation costs (default: its
    /// limits with no operation cost — the latency rows model each call's time with the fault
    /// latency instead, 0 or 80 ms a call, as they always have).
    pub dataverse_limits: Option<LimitConfig>,
    /// How the Partner Center simulator reads requests (default: as Microsoft publishes).
    pub partner_center: Option<PcConfig>,
}

pub struct Stack {
    pub sim: Sim,
    /// The three functions' apps over one store and one pair of clients.
    pub services: Arc<Apps>,
    /// The Partner Center client the apps use (backfill lists referrals with it, as the CLI does).
    pub partner_center: PartnerCenter,
    /// `http://<addr>` of the local server hosting the webhook routes.
    pub url: String,
    /// The caller's client: Partner Center's and Dataverse's webhook deliveries come from it.
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Stack {
    pub async fn start(options: Options) -> anyhow::Result<Stack> {
        let sim = Sim::start(SimConfig {
            partner_center: options.partner_center.clone().unwrap_or_default(),
            ..SimConfig::default()
        })
        .await
        .context("starting the simulators")?;
        sim.state
            .dv
            .set_limits(options.dataverse_limits.unwrap_or(LimitConfig {
                cost: OperationCost::FREE,
                ..LimitConfig::default()
            }));
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let write = |name: &str, text: String| -> anyhow::Result<String> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {name}"))?;
            Ok(path.to_string_lossy().into_owned())
        };
        // The simulator's default app and refresh token; the webhook key turns the Dataverse
        // webhook trigger on.
        let credentials = json!({
            "partner_center": {"client_id": "sim-client", "client_secret": "sim-secret", "refresh_token": "sim-refresh-token"},
            "dataverse": {"tenant_id": "tenant-1", "client_id": "sim-client", "client_secret": "sim-secret",
                          "webhook_key": DATAVERSE_WEBHOOK_KEY}
        });
        let settings: HashMap<&str, String> = HashMap::from([
            ("COSELL_DATAVERSE_URL", sim.state.dv.api_base_url()),
            ("COSELL_PARTNER_CENTER_TENANT", TENANT.to_owned()),
            (
                "COSELL_CREDENTIALS_FILE",
                write("credentials.json", credentials.to_string())?,
            ),
            (
                "COSELL_SQLITE_PATH",
                dir.path().join("cosell.db").to_string_lossy().into_owned(),
            ),
            ("COSELL_LOGIN_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_WEBHOOKS_URL", sim.base_url.clone()),
            ("COSELL_WEBHOOK_CERT_HOSTS", sim.addr.to_string()),
            (
                "COSELL_WEBHOOK_TRUST_ROOTS",
                write("sim-ca.pem", Signer::get().ca_pem.clone())?,
            ),
            (
                "COSELL_DATAVERSE_WEBHOOK_HEADER",
                DATAVERSE_WEBHOOK_HEADER.into(),
            ),
        ]);
        let lookup = |name: &str| settings.get(name).cloned();

        // As `cosell serve` wires them: one runtime, the three apps over the same use cases.
        let mut runtime_settings = cosell_runtime::Settings::from_lookup(lookup)?;
        runtime_settings.dataverse_rate_limit = options.dataverse_rate.or(options.pace.limit());
        let apps = Apps::start(runtime_settings, None).await?;
        let partner_center = apps.partner_center.clone();
        let services = Arc::new(apps);

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook server")?;
        let addr: SocketAddr = listener.local_addr()?;
        // Each answer timed from the moment its request reaches the server (headers read, body
        // not yet) to the moment it is ready.
        let router = services.router().layer(middleware::from_fn(timed));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .build()
            .context("building the HTTP client")?;
        Ok(Stack {
            sim,
            services,
            partner_center,
            url: format!("http://{addr}"),
            client,
            server,
            _dir: dir,
        })
    }

    /// A Dataverse client of the simulator's default app, as an operator's `cosell setup` has.
    pub fn dataverse(&self) -> anyhow::Result<cosell_dataverse::DataverseClient> {
        let mut config = cosell_dataverse::DataverseConfig::new(
            self.sim.state.dv.api_base_url(),
            "tenant-1",
            "sim-client",
            cosell_transport::Secret::new("sim-secret"),
        );
        config.token_url = format!("{}/{{tenant}}/oauth2/v2.0/token", self.sim.base_url);
        Ok(cosell_dataverse::DataverseClient::new(config)?)
    }

    /// Adds `ms` before every request to Partner Center, Dataverse and the token endpoint.
    pub fn set_latency(&self, ms: u64) {
        for service in Service::ALL {
            self.sim.state.faults.set(
                service,
                FaultSettings {
                    latency_ms: ms,
                    ..FaultSettings::default()
                },
            );
        }
    }
}

async fn timed(request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let mut response = next.run(request).await;
    let micros = arrived.elapsed().as_micros() as u64;
    response
        .headers_mut()
        .insert(HANDLED_HEADER, HeaderValue::from(micros));
    response
}
