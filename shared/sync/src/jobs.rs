//! What each scheduled job last did, kept in the store so `cosell status` — which reads only the
//! store — can tell a job that runs from one that fails or stopped: one cursor per job
//! (`job:<name>`) holding a [`JobRecord`] as JSON.
//!
//! The use cases write it at the end of each run ([`record`]); a run that found another holding
//! the job's lease writes nothing (that one records). A run killed before its end writes nothing
//! either: its record ages, and `status` says so once it is older than twice the interval.
//! Recording is best effort — a failure to record is logged, never the run's failure.

use std::time::Duration;

use cosell_store::{Cursor, StoreError, SyncStore};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The Dataverse change feed (outbound-sync's schedule).
pub const OUTBOUND_POLL: &str = "outbound-poll";
/// Due retry items redone (retry-scheduler's first schedule).
pub const RETRIES: &str = "retries";
/// The reconciliation sweep (retry-scheduler's second).
pub const RECONCILE: &str = "reconcile";
/// Every job, in the order `status` shows them.
pub const ALL: [&str; 3] = [OUTBOUND_POLL, RETRIES, RECONCILE];

/// The variables holding each job's EventBridge schedule expression in AWS (`template.yaml` sets
/// them from its schedule parameters), read with [`interval_setting`].
pub const POLL_SCHEDULE: &str = "COSELL_POLL_SCHEDULE";
pub const RETRY_SCHEDULE: &str = "COSELL_RETRY_SCHEDULE";
pub const RECONCILE_SCHEDULE: &str = "COSELL_RECONCILE_SCHEDULE";

/// The interval the schedule variable `name` says: `None` when it is unset (keep the default),
/// `Some(None)` for a schedule without a fixed rate (a cron: no staleness judged).
pub fn interval_setting(
    lookup: impl Fn(&str) -> Option<String>,
    name: &str,
) -> Option<Option<Duration>> {
    let expression = lookup(name).filter(|v| !v.trim().is_empty())?;
    Some(rate_interval(&expression))
}

/// A job's last runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// How often it is scheduled; `None` when the schedule is not a fixed rate (a cron).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<u64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<JobError>,
    /// What the last successful run wants said (listing entries it could not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the last successful run went, when worth showing and not a problem (how the sweep
    /// lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub message: String,
}

impl JobRecord {
    /// The last run failed: its error came after the last success.
    pub fn failing(&self) -> Option<&JobError> {
        self.last_error
            .as_ref()
            .filter(|e| self.last_success.is_none_or(|ok| e.at > ok))
    }

    /// Not run successfully for longer than twice its interval (a stopped schedule, runs that
    /// are killed); `None` when that cannot be told (no interval, never succeeded).
    pub fn overdue(&self, now: OffsetDateTime) -> Option<time::Duration> {
        let interval = time::Duration::seconds(self.interval_secs? as i64);
        let since = now - self.last_success?;
        (since > interval * 2).then_some(since)
    }
}

/// What one run came to, for [`record`].
pub enum Ran {
    /// It did its work; `note` (a problem) and `detail` are kept for `status` (or cleared when
    /// `None`).
    Done {
        note: Option<String>,
        detail: Option<String>,
    },
    /// It failed: why.
    Failed(String),
}

/// The store cursor of a job's record.
pub fn cursor(job: &str) -> String {
    format!("job:{job}")
}

/// Records how a lease-guarded run of `job` ended (`run`, as `with_lease` answers): nothing
/// when another run held the lease (that one records), its error when it failed, else what
/// `judge` makes of its report.
pub async fn record_run<T, E: std::fmt::Display>(
    store: &dyn SyncStore,
    job: &str,
    interval: Option<Duration>,
    run: &Result<Option<T>, E>,
    judge: impl FnOnce(&T) -> Ran,
    now: OffsetDateTime,
) {
    let ran = match run {
        Ok(None) => return,
        Ok(Some(report)) => judge(report),
        Err(error) => Ran::Failed(error.to_string()),
    };
    record(store, job, interval, ran, now).await;
}

/// Records how a run of `job` ended. Best effort: retried once on a concurrent write, logged
/// if it still fails.
pub async fn record(
    store: &dyn SyncStore,
    job: &str,
    interval: Option<Duration>,
    ran: Ran,
    now: OffsetDateTime,
) {
    let name = cursor(job);
    let mut result = Ok(());
    for _ in 0..2 {
        result = write(store, &name, interval, &ran, now).await;
        if !matches!(result, Err(StoreError::Conflict { .. })) {
            break;
        }
    }
    if let Err(error) = result {
        tracing::warn!(%error, job, "job outcome not recorded");
    }
}

async fn write(
    store: &dyn SyncStore,
    name: &str,
    interval: Option<Duration>,
    ran: &Ran,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let current = store.cursor(name).await?;
    let mut job: JobRecord = current
        .as_ref()
        .and_then(|c| serde_json::from_str(&c.value).ok())
        .unwrap_or_default();
    job.interval_secs = interval.map(|i| i.as_secs());
    match ran {
        Ran::Done { note, detail } => {
            job.last_success = Some(now);
            job.note = note.clone();
            job.detail = detail.clone();
        }
        Ran::Failed(error) => {
            job.last_error = Some(JobError {
                at: now,
                message: error.clone(),
            });
        }
    }
    let next = Cursor {
        name: name.to_owned(),
        value: serde_json::to_string(&job).unwrap_or_default(),
        updated_at: now,
        version: current.map_or(0, |c| c.version),
    };
    store.put_cursor(&next).await.map(|_| ())
}

/// The job's record, if it ever ran; an unreadable one reads as never run.
pub async fn read(store: &dyn SyncStore, job: &str) -> Result<Option<JobRecord>, StoreError> {
    Ok(store
        .cursor(&cursor(job))
        .await?
        .and_then(|c| serde_json::from_str(&c.value).ok()))
}

/// The interval of an EventBridge schedule expression `rate(N unit)` (`rate(1 minute)`,
/// `rate(15 minutes)`); `None` for a `cron(…)` or anything else.
pub fn rate_interval(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit.trim().trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * unit))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

    #[test]
    fn a_failure_after_the_last_success_is_failing() {
        let mut job = JobRecord {
            interval_secs: Some(60),
            last_success: Some(T),
            ..JobRecord::default()
        };
        assert!(job.failing().is_none());
        job.last_error = Some(JobError {
            at: T + time::Duration::seconds(60),
            message: "HTTP 429".into(),
        });
        assert_eq!(job.failing().unwrap().message, "HTTP 429");
        job.last_success = Some(T + time::Duration::seconds(120));
        assert!(job.failing().is_none(), "a later success clears it");
    }

    #[test]
    fn overdue_after_twice_the_interval() {
        let job = JobRecord {
            interval_secs: Some(60),
            last_success: Some(T),
            ..JobRecord::default()
        };
        assert_eq!(job.overdue(T + time::Duration::seconds(120)), None);
        assert_eq!(
            job.overdue(T + time::Duration::seconds(121)),
            Some(time::Duration::seconds(121))
        );
        let cron = JobRecord {
            interval_secs: None,
            ..job
        };
        assert_eq!(cron.overdue(T + time::Duration::days(3)), None);
    }

    #[test]
    fn rate_expressions_give_their_interval() {
        assert_eq!(
            rate_interval("rate(1 minute)"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rate_interval("rate(15 minutes)"),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            rate_interval(" rate(2 hours) "),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            rate_interval("rate(1 day)"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(rate_interval("cron(0/5 * * * ? *)"), None);
        assert_eq!(rate_interval("rate(0 minutes)"), None);
        assert_eq!(rate_interval("rate(fast)"), None);
    }
}
