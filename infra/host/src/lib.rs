//! The three functions hosted in one process over one runtime — how `cosell serve` runs them and
//! the benchmark measures them. In Lambda each function's `main.rs` starts its own runtime; here
//! the three share the clients, the store and the use cases, so one sync of a record is never run
//! by two use cases with two caches, and both webhooks are the functions' own routers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cosell_partner_center::PartnerCenter;
use cosell_runtime::{Jobs, Runtime, Settings, StartError};
use cosell_store::SyncStore;

/// Where [`Apps::router`] mounts webhook-ingress's router.
pub const PARTNER_CENTER_ROUTE: &str = "/webhooks/partner-center";
/// Where [`Apps::router`] mounts outbound-sync's webhook router.
pub const DATAVERSE_ROUTE: &str = "/webhooks/dataverse";

/// The three apps, wired.
pub struct Apps {
    pub inbound: Arc<webhook_ingress::App>,
    pub outbound: Arc<outbound_sync::App>,
    pub jobs: Jobs,
    pub store: Arc<dyn SyncStore>,
    /// The Partner Center client the apps sign in with. Anything else in the process that calls
    /// Partner Center must use this one: a second client would redeem the same rotating refresh
    /// token and revoke this one's.
    pub partner_center: PartnerCenter,
}

/// How long leases last where no Lambda timeout bounds a run: how long a crash blocks the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leases {
    /// A record's lease (both directions).
    pub record: Duration,
    /// A scheduled run's lease (the change feed, the retry run, the sweep); the retry run takes
    /// no new item after three fifths of it.
    pub run: Duration,
}

/// How often each scheduled job runs in-process (in AWS, the template's schedules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub poll: Duration,
    pub retries: Duration,
    pub reconcile: Duration,
}

/// How one process runs the jobs where no Lambda timeout or EventBridge schedule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedules {
    pub leases: Leases,
    /// Recorded with each run, so `cosell status` can tell a job that stopped.
    pub intervals: Intervals,
}

/// A setting that cannot be used, or a runtime that did not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Verifier(#[from] cosell_partner_center::webhook::ConfigError),
    #[error(transparent)]
    Runtime(#[from] StartError),
}

impl Schedules {
    /// `settings` as one process runs the jobs: the leases and the intervals these say.
    pub fn apply(self, settings: &mut Settings) {
        let Schedules { leases, intervals } = self;
        settings.inbound.lease_ttl = leases.record;
        settings.outbound.lease_ttl = leases.record;
        settings.outbound.feed_lease_ttl = leases.run;
        settings.retry.lease_ttl = leases.run;
        settings.retry.budget = leases.run * 3 / 5;
        settings.reconcile.lease_ttl = leases.run;
        settings.outbound.poll_interval = Some(intervals.poll);
        settings.retry.interval = Some(intervals.retries);
        settings.reconcile.interval = Some(intervals.reconcile);
    }
}

impl Apps {
    /// Starts one runtime from `settings` (run as `schedules` says, when given) and wires the
    /// three apps over it: one inbound and one outbound use case, shared by the webhooks and the
    /// scheduled jobs. Metrics are off: this process's stdout is a person's.
    pub async fn start(
        mut settings: Settings,
        schedules: Option<Schedules>,
    ) -> Result<Apps, HostError> {
        if let Some(schedules) = schedules {
            schedules.apply(&mut settings);
        }
        settings.metrics = cosell_runtime::metrics::Metrics::Off;
        let runtime = Runtime::start(settings).await?;
        Ok(Apps {
            inbound: Arc::new(webhook_ingress::App::new(&runtime)?),
            outbound: Arc::new(outbound_sync::App::new(&runtime)),
            jobs: runtime.jobs(),
            store: runtime.store.clone(),
            partner_center: runtime.partner_center.clone(),
        })
    }

    /// Both functions' webhook routers, at [`PARTNER_CENTER_ROUTE`] and [`DATAVERSE_ROUTE`].
    pub fn router(&self) -> Router {
        Router::new()
            .nest_service(
                PARTNER_CENTER_ROUTE,
                webhook_ingress::router(self.inbound.clone()),
            )
            .nest_service(
                DATAVERSE_ROUTE,
                outbound_sync::router(self.outbound.clone()),
            )
    }
}
