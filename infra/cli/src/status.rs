//! `cosell status`: what the sync state says — each scheduled job's last success and last error
//! with their age, cursors and watermarks with their age, the retry queue by state, the dead
//! items (with the command that replays each), the referrals waiting for an answer with the days
//! they have left, and when each direction last wrote something. Reads the store only: no
//! credentials, no request to either service.
//!
//! ✔ is shown only for what is true: a job whose last run failed, a job or cursor older than
//! twice its job's interval, and a dead item are ✖, and any ✖ makes the exit status 1.

use std::process::ExitCode;

use cosell_mapping::timestamp;
use cosell_store::{RetryItem, SyncStore};
use cosell_sync::activity::{self, SyncDirection};
use cosell_sync::jobs::{self, JobRecord};
use cosell_sync::respond::Waiting;
use cosell_sync::{WorkKey, outbound, reconcile};
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::output::{self, FAILED, OK, Report};

/// Items counted per queue; more shows as "at least".
const LIMIT: usize = 1000;

#[derive(Debug, Serialize)]
pub struct Status {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Each scheduled job's last runs.
    pub jobs: Vec<JobStatus>,
    pub cursors: Vec<CursorStatus>,
    pub last_sync: Vec<LastSync>,
    pub retries: Queue,
    /// Each pending item, with when it is due and its last error.
    pub pending: Vec<PendingItem>,
    pub dead: Vec<DeadItem>,
    /// Referrals Microsoft sent that nobody has answered yet, soonest expiry first.
    pub waiting: Vec<WaitingReferral>,
}

/// A referral waiting for an answer (its `respond:` item).
#[derive(Debug, Serialize)]
pub struct WaitingReferral {
    pub referral_id: String,
    pub deal: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Whole days left (0 on the last day, negative once past).
    pub days_left: i64,
    /// The "expiring" reminder went out.
    pub reminded: bool,
}

/// A scheduled job, as its last runs recorded it ([`cosell_sync::jobs`]).
#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub name: &'static str,
    /// How often it is scheduled; `null` for a schedule without a fixed rate, or never run.
    pub interval_secs: Option<u64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    pub last_success_age_secs: Option<i64>,
    /// The last run's error, when that run failed.
    pub failing: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// No success for longer than twice the interval.
    pub overdue: bool,
    /// What its last successful run said (listing entries it could not read).
    pub note: Option<String>,
    /// How it ran, when worth saying (how the sweep lists): not a problem.
    pub detail: Option<String>,
}

impl JobStatus {
    fn ok(&self) -> bool {
        self.failing.is_none() && !self.overdue && self.note.is_none()
    }
}

#[derive(Debug, Serialize)]
pub struct CursorStatus {
    pub name: &'static str,
    pub what: &'static str,
    /// The watermark itself; `null` for the delta link (a long URL that tells a person nothing).
    pub value: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub age_secs: Option<i64>,
    /// Older than twice the interval of the job that moves it.
    pub stale: bool,
}

#[derive(Debug, Serialize)]
pub struct LastSync {
    pub direction: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    pub age_secs: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub pending: usize,
    pub due_now: usize,
    pub dead: usize,
    /// A count reached the limit: there may be more.
    pub truncated: bool,
}

/// An item the retry scheduler will redo by itself.
#[derive(Debug, Serialize)]
pub struct PendingItem {
    pub id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// Negative when overdue.
    pub due_in_secs: i64,
}

#[derive(Debug, Serialize)]
pub struct DeadItem {
    pub id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// What to run once the cause is fixed.
    pub replay: String,
}

/// Reads everything `status` shows.
pub async fn read(store: &dyn SyncStore, now: OffsetDateTime) -> anyhow::Result<Status> {
    let mut records = Vec::new();
    for name in jobs::ALL {
        records.push((name, jobs::read(store, name).await?));
    }
    let interval = |job: &str| {
        records
            .iter()
            .find(|(name, _)| *name == job)
            .and_then(|(_, record)| record.as_ref()?.interval_secs)
    };
    let mut cursors = Vec::new();
    for (name, what, job) in [
        (
            outbound::CURSOR,
            "Dataverse change feed (delta link)",
            jobs::OUTBOUND_POLL,
        ),
        (
            reconcile::WATERMARK,
            "Partner Center reconciliation watermark",
            jobs::RECONCILE,
        ),
    ] {
        let cursor = store.cursor(name).await?;
        let age_secs = cursor
            .as_ref()
            .map(|c| (now - c.updated_at).whole_seconds());
        cursors.push(CursorStatus {
            name,
            what,
            value: cursor
                .as_ref()
                .filter(|_| name == reconcile::WATERMARK)
                .map(|c| c.value.clone()),
            updated_at: cursor.as_ref().map(|c| c.updated_at),
            age_secs,
            stale: matches!((age_secs, interval(job)), (Some(age), Some(every)) if age > 2 * every as i64),
        });
    }
    let jobs = records
        .into_iter()
        .map(|(name, record)| job_status(name, record.unwrap_or_default(), now))
        .collect();
    let mut last_sync = Vec::new();
    for direction in SyncDirection::ALL {
        let at = activity::last(store, direction).await?;
        last_sync.push(LastSync {
            direction: direction.as_str(),
            at,
            age_secs: at.map(|at| (now - at).whole_seconds()),
        });
    }
    let pending = store
        // Every pending item: due now or at any time later.
        .due_retries(now + time::Duration::days(3650), LIMIT)
        .await?;
    // The waiting referrals' items are reminders, not retries: listed apart.
    let (respond, pending): (Vec<RetryItem>, Vec<RetryItem>) = pending
        .into_iter()
        .partition(|i| matches!(WorkKey::parse(&i.id), Some(WorkKey::Respond(_))));
    let mut waiting: Vec<WaitingReferral> = respond
        .iter()
        .filter_map(|item| {
            let Some(WorkKey::Respond(referral_id)) = WorkKey::parse(&item.id) else {
                return None;
            };
            let w: Waiting = serde_json::from_value(item.payload.clone()).ok()?;
            Some(WaitingReferral {
                days_left: w.days_left(now),
                referral_id: referral_id.to_string(),
                deal: w.deal,
                expires: w.expires,
                reminded: w.reminded,
            })
        })
        .collect();
    waiting.sort_by_key(|w| w.expires);
    let due_now = pending.iter().filter(|i| i.due_at <= now).count();
    let dead = store.dead_retries(LIMIT).await?;
    Ok(Status {
        at: now,
        jobs,
        cursors,
        last_sync,
        retries: Queue {
            pending: pending.len(),
            due_now,
            dead: dead.len(),
            truncated: pending.len() >= LIMIT || dead.len() >= LIMIT,
        },
        pending: pending
            .into_iter()
            .map(|item| PendingItem {
                due_in_secs: (item.due_at - now).whole_seconds(),
                id: item.id,
                attempts: item.attempts,
                last_error: item.last_error,
                due_at: item.due_at,
            })
            .collect(),
        dead: dead.into_iter().map(dead_item).collect(),
        waiting,
    })
}

fn job_status(name: &'static str, record: JobRecord, now: OffsetDateTime) -> JobStatus {
    let failing = record.failing().cloned();
    JobStatus {
        name,
        interval_secs: record.interval_secs,
        last_success: record.last_success,
        last_success_age_secs: record.last_success.map(|at| (now - at).whole_seconds()),
        failing_since: failing.as_ref().map(|f| f.at),
        failing: failing.map(|f| f.message),
        overdue: record.overdue(now).is_some(),
        note: record.note,
        detail: record.detail,
    }
}

fn dead_item(item: RetryItem) -> DeadItem {
    // A referral or opportunity id is enough for a sync; other work is named whole.
    let target = match WorkKey::parse(&item.id) {
        Some(WorkKey::Inbound(_) | WorkKey::Outbound(_)) => item
            .id
            .split_once(':')
            .map_or(item.id.as_str(), |(_, id)| id),
        _ => item.id.as_str(),
    };
    DeadItem {
        replay: format!("cosell replay {target}"),
        id: item.id,
        attempts: item.attempts,
        last_error: item.last_error,
    }
}

/// `42 s`, `3 min`, `5 h`, `2 d`.
fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86400),
    }
}

impl Report for Status {
    /// Anything ✖ — a failing, overdue or noting job, a stale cursor, a dead item — is not ok.
    fn ok(&self) -> bool {
        self.jobs.iter().all(JobStatus::ok)
            && self.cursors.iter().all(|c| !c.stale)
            && self.dead.is_empty()
    }

    fn human(&self) -> String {
        let mut out = String::from("Scheduled jobs\n");
        for j in &self.jobs {
            let every = j
                .interval_secs
                .map(|secs| format!(" (every {})", age(secs as i64)))
                .unwrap_or_default();
            let last = match j.last_success_age_secs {
                Some(secs) => format!("last success {} ago", age(secs)),
                None => "no success recorded".to_owned(),
            };
            let said = match &j.failing {
                Some(error) => format!("last run failed: {error}; {last}"),
                None if j.overdue => format!("{last}: more than twice its interval"),
                None if j.last_success.is_none() => {
                    out += &format!("  – {:<14} not run yet{every}\n", j.name);
                    continue;
                }
                None => last,
            };
            let mark = if j.ok() { OK } else { FAILED };
            out += &format!("  {mark} {:<14} {said}{every}\n", j.name);
            if let Some(detail) = &j.detail {
                out += &format!("      {detail}\n");
            }
            if let Some(note) = &j.note {
                out += &format!("      {note}\n");
            }
        }
        out += "Cursors\n";
        for c in &self.cursors {
            match (c.updated_at, c.age_secs) {
                (Some(_), Some(secs)) => {
                    let value = c
                        .value
                        .as_deref()
                        .map(|v| format!(" at {v}"))
                        .unwrap_or_default();
                    let (mark, stale) = if c.stale {
                        (FAILED, ": older than twice its job's interval")
                    } else {
                        (OK, "")
                    };
                    out += &format!(
                        "  {mark} {:<24} {}{value}, updated {} ago{stale}\n",
                        c.name,
                        c.what,
                        age(secs)
                    );
                }
                _ => out += &format!("  – {:<24} {}: not started yet\n", c.name, c.what),
            }
        }
        out += "Last sync\n";
        for s in &self.last_sync {
            match (s.at, s.age_secs) {
                (Some(at), Some(secs)) => {
                    out += &format!(
                        "  {:<9} {} ago ({})\n",
                        s.direction,
                        age(secs),
                        timestamp::format(at)
                    );
                }
                _ => out += &format!("  {:<9} never\n", s.direction),
            }
        }
        let more = if self.retries.truncated {
            " (at least)"
        } else {
            ""
        };
        out += &format!(
            "Retry queue{more}\n  pending {} ({} due now) · dead {}\n",
            self.retries.pending, self.retries.due_now, self.retries.dead
        );
        if !self.pending.is_empty() {
            out += "Pending (retried by themselves)\n";
            for p in &self.pending {
                let when = if p.due_in_secs <= 0 {
                    "due now".to_owned()
                } else {
                    format!("due in {}", age(p.due_in_secs))
                };
                out += &format!(
                    "  ↻ {}  {when}, after {} attempt(s): {}\n",
                    p.id,
                    p.attempts,
                    p.last_error.as_deref().unwrap_or("no error recorded"),
                );
            }
        }
        if !self.waiting.is_empty() {
            out += "Waiting for an answer (Microsoft closes them as Expired)\n";
            for w in &self.waiting {
                let left = match w.days_left {
                    d if d < 0 => "past its expiry".to_owned(),
                    0 => "expires today".to_owned(),
                    1 => "1 day left".to_owned(),
                    d => format!("{d} days left"),
                };
                let reminded = if w.reminded { ", reminded" } else { "" };
                out += &format!(
                    "  ⏳ {}  {left} (expires {}){reminded}: {}\n",
                    w.referral_id,
                    timestamp::format(w.expires),
                    w.deal
                );
            }
        }
        if !self.dead.is_empty() {
            out += "Dead (fix the cause, then replay)\n";
            for d in &self.dead {
                out += &format!(
                    "  {FAILED} {}  after {} attempt(s): {}\n      {}\n",
                    d.id,
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("no error recorded"),
                    d.replay
                );
            }
        }
        out
    }
}

pub fn main(ctx: &Context) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?;
        let store = crate::wiring::existing_store(&config).await?;
        read(&*store, OffsetDateTime::now_utc()).await
    });
    match result {
        Ok(status) => output::print(ctx.format, &status),
        Err(error) => output::fail(ctx.format, "status", &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_sensible_unit() {
        assert_eq!(age(42), "42 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(5 * 3600), "5 h");
        assert_eq!(age(3 * 86400), "3 d");
    }

    #[tokio::test]
    async fn waiting_referrals_are_listed_apart_with_their_days_left() {
        use cosell_store::{CrmKind, RetryState, SqliteStore};
        let store = SqliteStore::in_memory().unwrap();
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        for (id, days) in [("r-late", 9), ("r-soon", 2)] {
            let waiting = Waiting {
                expires: now + time::Duration::days(days) + time::Duration::hours(1),
                deal: format!("Deal {id}"),
                kind: CrmKind::Opportunity,
                record: uuid::Uuid::nil(),
                reminded: days < 3,
            };
            let item = RetryItem {
                id: format!("respond:{id}"),
                payload: serde_json::to_value(&waiting).unwrap(),
                due_at: now + time::Duration::days(days - 3),
                attempts: 0,
                last_error: None,
                state: RetryState::Pending,
            };
            store.put_retry(&item).await.unwrap();
        }
        let status = read(&store, now).await.unwrap();
        assert_eq!(status.retries.pending, 0, "reminders are not retries");
        let listed: Vec<(&str, i64, bool)> = status
            .waiting
            .iter()
            .map(|w| (w.referral_id.as_str(), w.days_left, w.reminded))
            .collect();
        assert_eq!(listed, [("r-soon", 2, true), ("r-late", 9, false)]);
        let text = status.human();
        assert!(text.contains("⏳ r-soon  2 days left"), "{text}");
    }

    /// What each job recorded is what `status` says: a job whose last run failed, a job with
    /// no success for over twice its interval, and a cursor as old are ✖, and not ok.
    #[tokio::test]
    async fn a_failing_job_an_overdue_one_and_an_old_cursor_are_not_ok() {
        use cosell_store::{Cursor, SqliteStore};
        use cosell_sync::jobs::{Ran, record};
        let store = SqliteStore::in_memory().unwrap();
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        let ago = |secs: i64| now - time::Duration::seconds(secs);
        let minute = Some(std::time::Duration::from_secs(60));
        let quarter = Some(std::time::Duration::from_secs(900));
        let fresh = read(&store, now).await.unwrap();
        assert!(fresh.ok(), "nothing run yet is not a failure");
        assert!(fresh.human().contains("– outbound-poll  not run yet"));

        let done = || Ran::Done {
            note: None,
            detail: None,
        };
        record(&store, jobs::OUTBOUND_POLL, minute, done(), ago(30)).await;
        record(&store, jobs::RETRIES, minute, done(), ago(20)).await;
        let listing =
            "lists every referral (no range filter or order honoured); 200 page(s) this run";
        let swept = Ran::Done {
            note: None,
            detail: Some(listing.into()),
        };
        record(&store, jobs::RECONCILE, quarter, swept, ago(60)).await;
        let healthy = read(&store, now).await.unwrap();
        assert!(
            healthy.ok(),
            "how the sweep lists is no problem: {}",
            healthy.human()
        );
        assert!(
            healthy.human().contains(&format!(
                "✔ reconcile      last success 60 s ago (every 15 min)\n      {listing}"
            )),
            "{}",
            healthy.human()
        );
        assert!(
            healthy
                .human()
                .contains("✔ retries        last success 20 s ago (every 60 s)")
        );

        // The feed fails: its last run is an error, after its last success.
        let throttled = "Dataverse changes: HTTP 429".to_owned();
        record(
            &store,
            jobs::OUTBOUND_POLL,
            minute,
            Ran::Failed(throttled),
            ago(5),
        )
        .await;
        // The retry runs stopped: no success for 10 minutes, every minute expected.
        record(&store, jobs::RETRIES, minute, done(), ago(600)).await;
        // The sweep's watermark has not moved for an hour (every 15 minutes expected).
        let watermark = Cursor {
            name: reconcile::WATERMARK.into(),
            value: "2026-12-03T11:00:00Z".into(),
            updated_at: ago(3600),
            version: 0,
        };
        store.put_cursor(&watermark).await.unwrap();
        let status = read(&store, now).await.unwrap();
        assert!(!status.ok());
        let text = status.human();
        assert!(
            text.contains("✖ outbound-poll  last run failed: Dataverse changes: HTTP 429"),
            "{text}"
        );
        assert!(
            text.contains("✖ retries        last success 10 min ago: more than twice its interval"),
            "{text}"
        );
        assert!(
            text.contains("✖ inbound:referrals") && text.contains("older than twice"),
            "{text}"
        );
        let reconcile = &status.jobs[2];
        assert!(reconcile.ok(), "the sweep itself is fine: {reconcile:?}");

        // A later success clears the failure.
        record(&store, jobs::OUTBOUND_POLL, minute, done(), now).await;
        let status = read(&store, now).await.unwrap();
        assert!(status.jobs[0].ok(), "{:?}", status.jobs[0]);
    }

    #[test]
    fn a_dead_item_says_how_to_replay_it() {
        let item = RetryItem {
            id: "inbound:r-1".into(),
            payload: serde_json::Value::Null,
            due_at: OffsetDateTime::UNIX_EPOCH,
            attempts: 8,
            last_error: Some("boom".into()),
            state: cosell_store::RetryState::Dead,
        };
        assert_eq!(dead_item(item.clone()).replay, "cosell replay r-1");
        let alert = RetryItem {
            id: "alert:teams:new:r-1".into(),
            ..item
        };
        assert_eq!(dead_item(alert).replay, "cosell replay alert:teams:new:r-1");
    }
}
