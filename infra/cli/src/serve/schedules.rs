//! The schedules Lambda gets from EventBridge, run in-process: each [`Job`] is a name, an
//! interval and an async function of the current time. A job runs at start, then `interval`
//! after each run ends (runs never overlap); a failed run is logged and the next one comes on
//! time. On shutdown a job finishes the run in progress and stops.
//!
//! To add a job, add one entry to [`jobs`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cosell_transport::deadline::within;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Services;
use super::events::SyncEvent;

type Run = Arc<
    dyn Fn(OffsetDateTime) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send
        + Sync,
>;

pub struct Job {
    pub name: &'static str,
    pub interval: Duration,
    run: Run,
}

impl Job {
    pub fn new<F, Fut>(name: &'static str, interval: Duration, run: F) -> Self
    where
        F: Fn(OffsetDateTime) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            name,
            interval,
            run: Arc::new(move |now| Box::pin(run(now))),
        }
    }
}

pub use cosell_host::Intervals;

/// Every job `serve` runs.
pub fn jobs(services: &Arc<Services>, intervals: Intervals) -> Vec<Job> {
    let poll = services.clone();
    let retries = services.clone();
    let sweep = services.clone();
    vec![
        // outbound-sync's schedule: the Dataverse change feed.
        Job::new("outbound-poll", intervals.poll, move |now| {
            let services = poll.clone();
            async move {
                let report = outbound_sync::poll(&services.apps.outbound, now).await?;
                // Each sync's own time: a poll syncs several at once.
                for ((id, synced), latency) in report.synced.iter().zip(&report.latencies) {
                    if let Some(event) = SyncEvent::outbound(*id, synced, *latency) {
                        services.emit(event);
                    }
                }
                Ok(())
            }
        }),
        // retry-scheduler's first schedule: parked work that is due.
        Job::new("retries", intervals.retries, move |now| {
            let services = retries.clone();
            async move {
                let report = services.apps.jobs.retries.run(now).await?;
                for ((id, redone), latency) in report.redone.iter().zip(&report.latencies) {
                    if let Some(event) = SyncEvent::redone(id, redone, *latency) {
                        services.emit(event);
                    }
                }
                Ok(())
            }
        }),
        // retry-scheduler's second: referrals changed since the watermark, for lost webhooks.
        Job::new("reconcile", intervals.reconcile, move |now| {
            let services = sweep.clone();
            async move {
                let started = Instant::now();
                let report = services.apps.jobs.reconciler.sweep(now).await?;
                let latency = started.elapsed();
                for (_, handled) in &report.synced {
                    if let Some(event) = SyncEvent::inbound(handled, latency) {
                        services.emit(event);
                    }
                }
                Ok(())
            }
        }),
    ]
}

/// Starts every job; each stops after its current run once `shutdown` turns true. Each run may
/// work for `budget` ([`cosell_runtime::budget::from_now`]), as a Lambda run for its timeout.
pub fn spawn(
    jobs: Vec<Job>,
    shutdown: &watch::Receiver<bool>,
    budget: Duration,
) -> Vec<JoinHandle<()>> {
    jobs.into_iter()
        .map(|job| {
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    if *shutdown.borrow() {
                        break;
                    }
                    let deadline = cosell_runtime::budget::from_now(budget);
                    let run = (job.run)(OffsetDateTime::now_utc());
                    if let Err(error) = within(Some(deadline), run).await {
                        tracing::error!(
                            job = job.name,
                            error = format!("{error:#}"),
                            "scheduled run failed"
                        );
                    }
                    tokio::select! {
                        () = tokio::time::sleep(job.interval) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                tracing::info!(job = job.name, "schedule stopped");
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_job_runs_at_start_and_stops_on_shutdown_even_after_a_failure() {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let job = Job::new("count", Duration::from_millis(5), move |_| {
            let runs = counted.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    anyhow::bail!("the first run fails");
                }
                Ok(())
            }
        });
        let (stop, shutdown) = watch::channel(false);
        let handles = spawn(vec![job], &shutdown, Duration::from_secs(60));
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop.send(true).unwrap();
        for handle in handles {
            handle.await.unwrap();
        }
        let stopped_at = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            stopped_at,
            "no run after shutdown"
        );
    }
}
