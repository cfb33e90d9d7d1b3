//! `cosell serve`: the three functions in one long-running process — the Partner Center webhook
//! (webhook-ingress), the Dataverse webhook and change-feed poll (outbound-sync), and the
//! schedules — over one store: SQLite (`COSELL_SQLITE_PATH`, default `cosell.db`), or DynamoDB
//! when `COSELL_TABLE` is set. For partners who self-host, for the sandbox and for the tests.
//!
//! | module | holds |
//! |---|---|
//! | [`listen`] | the HTTP server under the routes: header and body timeouts, a connection limit |
//! | [`routes`] | the axum router: the two webhooks and `/healthz` |
//! | [`schedules`] | the in-process schedules: the change-feed poll, due retries, the reconciliation sweep |
//! | [`events`] | [`SyncEvent`]: what was synced, logged and broadcast for the sandbox |

pub mod events;
mod listen;
mod routes;
pub mod schedules;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cosell_host::{Apps, Leases, Schedules};
use cosell_partner_center::PartnerCenter;
use cosell_store::StoreError;
use cosell_sync::outbound::CURSOR;
use cosell_sync::{InboundSettings, RetrySettings};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, keys};
use crate::context::Context;
use crate::output::{self, Format};
pub use events::SyncEvent;

/// The change feed is polled this often unless `COSELL_POLL_INTERVAL` says otherwise (Lambda's
/// schedule is every minute).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// Due retry items are redone this often unless `COSELL_RETRY_INTERVAL` says otherwise.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(60);
/// The reconciliation sweep runs this often unless `COSELL_RECONCILE_INTERVAL` says otherwise.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// What the routes and the schedules share: the three functions' apps (the jobs over the same
/// use cases as the webhooks), and who hears of each sync.
pub struct Services {
    pub apps: Apps,
    events: broadcast::Sender<SyncEvent>,
}

impl Services {
    /// Logs one sync and tells whoever listens (nobody, unless the sandbox narrates).
    pub fn emit(&self, event: SyncEvent) {
        tracing::info!(
            direction = ?event.direction,
            source = %event.source.id,
            target = event.target.as_ref().map(|t| t.id.as_str()),
            ok = event.ok,
            outcome = %event.outcome,
            latency_ms = event.latency.as_millis() as u64,
            "synced"
        );
        let _ = self.events.send(event);
    }

    /// One read of the store.
    pub async fn store_reachable(&self) -> Result<(), StoreError> {
        self.apps.store.cursor(CURSOR).await.map(|_| ())
    }
}

/// A running `serve`.
pub struct Server {
    pub addr: SocketAddr,
    /// The Partner Center client serve signs in with. Anything else in the process that calls
    /// Partner Center (the sandbox registering the webhook) must use this one: a second client
    /// would redeem the same rotating refresh token and revoke this one's.
    pub partner_center: PartnerCenter,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Reads the settings, builds the clients and store, and starts the routes on `listener` and
    /// the schedules. Every sync is sent on `events`.
    pub async fn start(
        config: &Config,
        listener: tokio::net::TcpListener,
        events: broadcast::Sender<SyncEvent>,
    ) -> anyhow::Result<Server> {
        let intervals = schedules::Intervals {
            poll: config.duration(keys::POLL_INTERVAL, DEFAULT_POLL_INTERVAL)?,
            retries: config.duration(keys::RETRY_INTERVAL, DEFAULT_RETRY_INTERVAL)?,
            reconcile: config.duration(keys::RECONCILE_INTERVAL, DEFAULT_RECONCILE_INTERVAL)?,
        };
        // No Lambda timeout bounds a run here: the leases say how long a crash blocks the next.
        let leases = Leases {
            run: config.duration(keys::RUN_LEASE, RetrySettings::default().lease_ttl)?,
            record: config.duration(keys::RECORD_LEASE, InboundSettings::default().lease_ttl)?,
        };
        let mut runtime_settings = config.runtime()?;
        runtime_settings.http_timeout = config
            .get(keys::HTTP_TIMEOUT)
            .map(|_| config.duration(keys::HTTP_TIMEOUT, Duration::ZERO))
            .transpose()?;
        let schedules = Schedules { leases, intervals };
        let apps = Apps::start(runtime_settings, Some(schedules)).await?;
        if !apps.outbound.webhook_enabled() {
            tracing::info!(
                "no dataverse.webhook_key in the credentials: POST /webhooks/dataverse answers 404; the poll alone syncs"
            );
        }
        let partner_center = apps.partner_center.clone();
        let services = Arc::new(Services { apps, events });

        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks =
            schedules::spawn(schedules::jobs(&services, intervals), &stopped, leases.run);
        let router = routes::router(services.clone());
        tasks.push(tokio::spawn(listen::serve(
            listener,
            router,
            stopped.clone(),
        )));
        Ok(Server {
            addr,
            partner_center,
            stop,
            tasks,
        })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking requests, lets the ones in flight and the running jobs finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// `cosell serve`: JSON logs on stdout, until Ctrl-C or SIGTERM.
pub fn main(ctx: &Context, listen: SocketAddr) -> ExitCode {
    cosell_runtime::init_tracing();
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let (events, _) = broadcast::channel(256);
        let server = Server::start(&config, listener, events).await?;
        tracing::info!(url = %server.url(), "cosell serve listening");
        signal().await;
        tracing::info!("shutting down: finishing requests and scheduled runs in progress");
        server.stop().await;
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output::fail(Format::Human, "serve", &error),
    }
}
