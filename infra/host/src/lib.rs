//! The three functions hosted in one process over one runtime — how `cosell serve` runs them and
//! the benchmark measures them. In Lambda each function's `main.rs` builds its own; here the
//! three share the clients, the store and the use cases, so one sync of a record is never run by
//! two use cases with two caches.

use std::sync::Arc;
use std::time::Duration;

use cosell_partner_center::PartnerCenter;
use cosell_runtime::{Runtime, StartError};
use cosell_store::SyncStore;

/// The three apps, wired.
pub struct Apps {
    pub inbound: webhook_ingress::App,
    pub outbound: outbound_sync::App,
    pub jobs: retry_scheduler::App,
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
    Inbound(#[from] webhook_ingress::SettingsError),
    #[error(transparent)]
    Outbound(#[from] outbound_sync::SettingsError),
    #[error(transparent)]
    Jobs(#[from] retry_scheduler::SettingsError),
    #[error(transparent)]
    Runtime(#[from] StartError),
}

impl Apps {
    /// Reads each function's settings through `lookup`, starts one runtime with `runtime`, and
    /// wires the three apps over it (with `schedules`, run as that says): one inbound and one outbound use case, shared by the
    /// webhooks and the scheduled jobs.
    pub async fn start(
        lookup: &dyn Fn(&str) -> Option<String>,
        runtime: cosell_runtime::Settings,
        schedules: Option<Schedules>,
    ) -> Result<Apps, HostError> {
        let mut inbound = webhook_ingress::Settings::from_lookup(lookup)?;
        let mut outbound = outbound_sync::Settings::from_lookup(lookup)?;
        let mut jobs = retry_scheduler::Settings::from_lookup(lookup)?;
        if let Some(Schedules { leases, intervals }) = schedules {
            let Leases { record, run } = leases;
            inbound.inbound.lease_ttl = record;
            outbound.outbound.lease_ttl = record;
            outbound.outbound.feed_lease_ttl = run;
            jobs.retry.lease_ttl = run;
            jobs.retry.budget = run * 3 / 5;
            jobs.reconcile.lease_ttl = run;
            outbound.outbound.poll_interval = Some(intervals.poll);
            jobs.retry.interval = Some(intervals.retries);
            jobs.reconcile.interval = Some(intervals.reconcile);
        }
        let runtime = Runtime::start(runtime).await?;
        // With the cached metadata laid over.
        inbound.crm = runtime.settings.crm.clone();
        outbound.crm = runtime.settings.crm.clone();
        outbound.webhook_key = runtime.dataverse_webhook_key.clone();
        let credentials = runtime.credentials.clone();
        let identity = runtime.dataverse.clone();
        inbound.inbound.alerts = runtime.alerts.names();
        outbound.outbound.alerts = runtime.alerts.names();
        jobs.alerts(&runtime.alerts);
        let partner_center = runtime.partner_center.clone();
        let referrals = Arc::new(runtime.partner_center);
        let crm = Arc::new(runtime.dataverse);
        let store = runtime.store;
        let inbound =
            webhook_ingress::App::new(inbound, store.clone(), referrals.clone(), crm.clone())?;
        let outbound =
            outbound_sync::App::new(outbound, store.clone(), referrals.clone(), crm.clone())
                .with_key_source(credentials)
                .with_identity_source(identity);
        let jobs = retry_scheduler::App::from_parts(
            store.clone(),
            inbound.sync.clone(),
            outbound.sync.clone(),
            referrals,
            jobs.retry,
            jobs.reconcile,
        )
        .with_schema(crm);
        Ok(Apps {
            inbound,
            outbound,
            jobs,
            store,
            partner_center,
        })
    }
}
