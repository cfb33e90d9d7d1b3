//! The retry-scheduler function's handler: two EventBridge schedules, one function.
//!
//! | event | job |
//! |---|---|
//! | `{"job": "retries"}` (or no `job`) | due retry items redone ([`cosell_sync::RetryScheduler`]) |
//! | `{"job": "reconcile"}` | the sweep over referrals changed since the watermark ([`cosell_sync::Reconciler`]), then the metadata cache refreshed when a day old ([`cosell_sync::metadata`]) |
//!
//! `src/main.rs` (the Lambda glue) starts the runtime once at cold start and hands each event,
//! with the runtime's [`Jobs`], to [`invoke`]. A job that fails fails the invocation, so the schedule's retry policy, its dead-letter
//! queue and the error metric see it. No business rule lives here.

use cosell_runtime::Jobs;
use cosell_runtime::metrics::{self, MetricSet, Metrics};
use cosell_store::{StoreError, SyncStore};
use cosell_sync::activity;
use cosell_sync::metadata::{self as schema_cache, Refreshed};
use cosell_sync::reconcile::SweepError;
use cosell_sync::retry::RetryError;
use lambda_http::lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

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

/// How the Lambda runtime reports a failed event.
impl From<EventError> for Diagnostic {
    fn from(error: EventError) -> Self {
        Self {
            error_type: "retry_scheduler::EventError".into(),
            error_message: error.to_string(),
        }
    }
}

/// One Lambda invocation: the job its event names, within the invocation's deadline.
pub async fn invoke(jobs: &Jobs, event: LambdaEvent<Value>) -> Result<Value, EventError> {
    let deadline = cosell_runtime::budget::lambda(event.context.deadline);
    let work = handle_event(jobs, &event.payload, OffsetDateTime::now_utc());
    cosell_transport::deadline::within(Some(deadline), work).await
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
    app: &Jobs,
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
            Metrics::Emf.emit(sets);
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
            let sets: Vec<MetricSet> = report
                .synced
                .iter()
                // The sweep does not time each referral: outcomes only.
                .flat_map(|(_, handled)| metrics::inbound(handled, None))
                .collect();
            Metrics::Emf.emit(sets);
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
}
