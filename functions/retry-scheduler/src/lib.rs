//! The retry-scheduler function's handler: two EventBridge schedules, one function.
//!
//! | event | job |
//! |---|---|
//! | `{"job": "retries"}` (or no `job`) | due retry items redone ([`cosell_sync::RetryScheduler`]) |
//! | `{"job": "reconcile"}` | the sweep over referrals changed since the watermark ([`cosell_sync::Reconciler`]), then the metadata cache refreshed when a day old ([`cosell_sync::metadata`]) |
//!
//! `src/main.rs` (the Lambda glue) builds the clients, the store and the use cases once at cold
//! start. A job that fails fails the invocation, so the schedule's retry policy, its dead-letter
//! queue and the error metric see it. No business rule lives here.

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_runtime::metrics::{self, MetricSet};
use cosell_store::{StoreError, SyncStore};
use cosell_sync::backoff::{Backoff, BackoffError};
use cosell_sync::metadata::{self as schema_cache, Refreshed, Schema};
use cosell_sync::reconcile::SweepError;
use cosell_sync::retry::RetryError;
use cosell_sync::{
    Crm, InboundSettings, InboundSync, OutboundSettings, OutboundSync, ReconcileSettings,
    Reconciler, ReferralFeed, Referrals, RetryScheduler, RetrySettings,
};
use cosell_sync::{activity, jobs};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The variable holding the reconciliation overlap, in seconds.
pub const OVERLAP: &str = "COSELL_RECONCILE_OVERLAP_SECS";

/// Everything the function reads from its environment, checked at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub crm: CrmConfig,
    pub inbound: InboundSettings,
    pub outbound: OutboundSettings,
    pub retry: RetrySettings,
    pub reconcile: ReconcileSettings,
}

/// A setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("Dataverse settings: {0}")]
    Crm(#[from] cosell_mapping::ConfigError),
    #[error("retry settings: {0}")]
    Backoff(#[from] BackoffError),
    #[error("{OVERLAP} must be a whole number of seconds, got '{0}'")]
    Overlap(String),
}

impl Settings {
    /// Reads the `COSELL_*` CRM settings, `COSELL_RETRY_*` ([`Backoff::from_lookup`]),
    /// [`OVERLAP`] and the two schedules ([`jobs::RETRY_SCHEDULE`], [`jobs::RECONCILE_SCHEDULE`])
    /// through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let backoff = Backoff::from_lookup(&lookup)?;
        let mut reconcile = ReconcileSettings::default();
        if let Some(value) = lookup(OVERLAP).filter(|v| !v.trim().is_empty()) {
            let secs = value
                .trim()
                .parse()
                .map_err(|_| SettingsError::Overlap(value.clone()))?;
            reconcile.overlap = Duration::from_secs(secs);
        }
        if let Some(interval) = jobs::interval_setting(&lookup, jobs::RECONCILE_SCHEDULE) {
            reconcile.interval = interval;
        }
        let mut retry = RetrySettings::default();
        if let Some(interval) = jobs::interval_setting(&lookup, jobs::RETRY_SCHEDULE) {
            retry.interval = interval;
        }
        Ok(Self {
            crm: CrmConfig::from_lookup(&lookup)?,
            inbound: InboundSettings {
                backoff,
                ..InboundSettings::default()
            },
            outbound: OutboundSettings {
                backoff,
                ..OutboundSettings::default()
            },
            retry,
            reconcile,
        })
    }
}

impl Settings {
    /// Alerts on: queued by the syncs the jobs run, posted to `channels` by the retry run.
    pub fn alerts(&mut self, channels: &cosell_sync::alerts::channel::Channels) {
        self.inbound.alerts = channels.names();
        self.outbound.alerts = channels.names();
        self.retry.channels = channels.clone();
    }
}

/// The two jobs; built once per process.
pub struct App {
    pub retries: Arc<RetryScheduler>,
    pub reconciler: Arc<Reconciler>,
    /// The use cases the jobs redo work through (`cosell backfill` drives them directly).
    pub inbound: Arc<InboundSync>,
    pub outbound: Arc<OutboundSync>,
    /// For the gauges each run reports ([`gauges`]).
    pub store: Arc<dyn SyncStore>,
    /// Where the metadata cache is refreshed from; `None` leaves it alone.
    pub schema: Option<Arc<dyn Schema>>,
}

impl App {
    /// Wires both jobs over the given ports. `partner_center` is read, written and listed.
    pub fn new<P>(
        settings: Settings,
        store: Arc<dyn SyncStore>,
        partner_center: Arc<P>,
        crm: Arc<dyn Crm>,
    ) -> Self
    where
        P: Referrals + ReferralFeed + 'static,
    {
        let inbound = Arc::new(InboundSync::new(
            store.clone(),
            partner_center.clone(),
            crm.clone(),
            settings.crm.clone(),
            settings.inbound,
        ));
        let outbound = Arc::new(OutboundSync::new(
            store.clone(),
            partner_center.clone(),
            crm,
            settings.crm,
            settings.outbound,
        ));
        Self::from_parts(
            store,
            inbound,
            outbound,
            partner_center,
            settings.retry,
            settings.reconcile,
        )
    }

    /// Wires both jobs over use cases another part of the process already holds (`cosell serve`
    /// shares one inbound and one outbound sync between its webhooks and its schedules).
    pub fn from_parts(
        store: Arc<dyn SyncStore>,
        inbound: Arc<InboundSync>,
        outbound: Arc<OutboundSync>,
        feed: Arc<dyn ReferralFeed>,
        retry: RetrySettings,
        reconcile: ReconcileSettings,
    ) -> Self {
        Self {
            retries: Arc::new(RetryScheduler::new(
                store.clone(),
                inbound.clone(),
                outbound.clone(),
                retry,
            )),
            reconciler: Arc::new(Reconciler::new(
                store.clone(),
                inbound.clone(),
                feed,
                reconcile,
            )),
            inbound,
            outbound,
            store,
            schema: None,
        }
    }

    /// Refreshes the metadata cache from `schema` after each sweep.
    pub fn with_schema(mut self, schema: Arc<dyn Schema>) -> Self {
        self.schema = Some(schema);
        self
    }
}

/// Which job an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    Retries,
    Reconcile,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event's job is not one of retries, reconcile: {0}")]
    Job(#[source] serde_json::Error),
    #[error(transparent)]
    Retries(#[from] RetryError),
    #[error(transparent)]
    Reconcile(#[from] SweepError),
    #[error("reading the gauges: {0}")]
    Gauges(#[from] StoreError),
}

/// What the sync state says each run, as gauges: dead items waiting for `cosell replay`
/// (`DeadRetries`, alarmed above 0), how long ago the last Partner Center webhook arrived
/// (`WebhookAge`, alarmed after N hours: webhooks that silently stop are Power Automate's
/// failure), and how old each cursor is (`CursorAge`: a feed that stopped moving).
pub async fn gauges(
    store: &dyn SyncStore,
    now: OffsetDateTime,
) -> Result<Vec<MetricSet>, StoreError> {
    let dead = store.dead_retries(1000).await?.len();
    let mut sets = vec![MetricSet::new().count("DeadRetries", dead as u64)];
    let age = |at: OffsetDateTime| (now - at).as_seconds_f64().max(0.0);
    if let Some(at) = activity::last_named(store, activity::LAST_WEBHOOK).await? {
        sets.push(MetricSet::new().seconds("WebhookAge", age(at)));
    }
    for name in [
        cosell_sync::outbound::CURSOR,
        cosell_sync::reconcile::WATERMARK,
    ] {
        if let Some(cursor) = store.cursor(name).await? {
            sets.push(
                MetricSet::new()
                    .dimension("Cursor", name)
                    .seconds("CursorAge", age(cursor.updated_at)),
            );
        }
    }
    Ok(sets)
}

/// The job an event names; an event without `job` (the scheduler's default payload) is
/// [`Job::Retries`].
pub fn job_of(event: &Value) -> Result<Job, EventError> {
    match event.get("job") {
        None => Ok(Job::Retries),
        Some(job) => serde_json::from_value(job.clone()).map_err(EventError::Job),
    }
}

/// Runs the job the event names and answers a small summary (the invocation's result).
pub async fn handle_event(
    app: &App,
    event: &Value,
    now: OffsetDateTime,
) -> Result<Value, EventError> {
    match job_of(event)? {
        Job::Retries => {
            let report = app.retries.run(now).await?;
            let mut sets: Vec<MetricSet> = report
                .redone
                .iter()
                .zip(&report.latencies)
                .flat_map(|((_, redone), latency)| metrics::redone(redone, Some(*latency)))
                .collect();
            sets.extend(gauges(&*app.store, now).await?);
            sets.extend(metrics::throttled());
            metrics::emit(&sets);
            tracing::info!(
                busy = report.busy,
                redone = report.redone.len(),
                done = report.done(),
                "retries done"
            );
            Ok(json!({
                "job": "retries",
                "busy": report.busy,
                "redone": report.redone.len(),
                "done": report.done(),
            }))
        }
        Job::Reconcile => {
            let report = app.reconciler.sweep(now).await?;
            let mut sets: Vec<MetricSet> = report
                .synced
                .iter()
                // The sweep does not time each referral: outcomes only.
                .flat_map(|(_, handled)| metrics::inbound(handled, None))
                .collect();
            sets.extend(metrics::throttled());
            metrics::emit(&sets);
            // Referrals already waiting when respond-by shipped: their tasks, once. A help, never
            // a failure of the sweep: the next run tries again.
            let waiting = match app.reconciler.waiting_once(now).await {
                Ok(waiting) => waiting,
                Err(error) => {
                    tracing::warn!(%error, "waiting referrals not looked over; the next run tries");
                    None
                }
            };
            // Metadata is a help, never a failure of the sweep: the settings stand meanwhile.
            if let Some(schema) = &app.schema {
                let config = app.outbound.config();
                match schema_cache::refresh(&*app.store, schema.as_ref(), config, now).await {
                    Ok(Refreshed::Read(found)) => tracing::info!(
                        help_options = found.help_options.len(),
                        solutions_relationships = ?found.solutions_relationships,
                        "metadata cache refreshed"
                    ),
                    Ok(Refreshed::Fresh) => {}
                    Err(error) => tracing::warn!(%error, "metadata cache not refreshed"),
                }
            }
            Ok(json!({
                "job": "reconcile",
                "busy": report.busy,
                "listed": report.listed,
                "pages": report.pages,
                "reading": report.reading,
                "unfinishedPages": report.unfinished,
                "unchanged": report.unchanged,
                "synced": report.synced.len(),
                "watermark": report.watermark.map(cosell_mapping::timestamp::format),
                "waitingTasks": waiting.map(|w| w.tasks.len()),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_job_and_the_scheduler_default_is_retries() {
        assert_eq!(job_of(&json!({})).unwrap(), Job::Retries);
        assert_eq!(job_of(&json!({"job": "retries"})).unwrap(), Job::Retries);
        assert_eq!(
            job_of(&json!({"job": "reconcile"})).unwrap(),
            Job::Reconcile
        );
        let error = job_of(&json!({"job": "export"})).unwrap_err();
        assert!(error.to_string().contains("retries, reconcile"), "{error}");
    }

    #[test]
    fn settings_name_the_variable_they_refuse() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let settings =
            Settings::from_lookup(env(&[("COSELL_RETRY_MAX_ATTEMPTS", "5"), (OVERLAP, "120")]))
                .unwrap();
        assert_eq!(settings.inbound.backoff.max_attempts, 5);
        assert_eq!(settings.outbound.backoff.max_attempts, 5);
        assert_eq!(settings.reconcile.overlap, Duration::from_secs(120));
        let error = Settings::from_lookup(env(&[(OVERLAP, "five minutes")])).unwrap_err();
        assert!(error.to_string().contains(OVERLAP), "{error}");
        let error = Settings::from_lookup(env(&[("COSELL_RETRY_BASE_SECS", "-1")])).unwrap_err();
        assert!(
            error.to_string().contains("COSELL_RETRY_BASE_SECS"),
            "{error}"
        );
    }
}
