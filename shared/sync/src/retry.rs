//! The retry scheduler: parked work (retry items, see [`cosell_store::RetryItem`]) redone when
//! due, through the same use cases that parked it, and the operator's `replay`.
//!
//! - One run at a time holds the lease [`LEASE`]; each item's own sync also holds the record's
//!   lease, so a webhook arriving meanwhile and a run never write the same record together.
//! - `inbound:<referral id>` → [`InboundSync::redo`]; `outbound:<opportunity id>` →
//!   [`OutboundSync::sync_opportunity`]. Success removes the item; failure parks it again with
//!   one more attempt and the next backoff ([`crate::backoff`]), dead once the attempts are used
//!   up or the error can never succeed.
//! - `respond:<referral id>` → [`RespondBy::redo`] (a waiting referral's reminder and expiry);
//!   the due `alert:` items are posted together at the end of the run ([`alerts::deliver`]).
//! - An item whose id this version does not know is left pending, due again a day later, for a
//!   version that knows it (a rollback must not kill a newer version's work). Versions before
//!   respond-by parked such an item dead; each run revives the dead items they killed that
//!   this version knows ([`UNKNOWN`] in their error).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cosell_store::{CrmId, ReferralId, RetryItem, RetryState, StoreError, SyncStore};
use serde_json::Value;
use time::OffsetDateTime;

use crate::NotStored;
use crate::alerts::{self, channel::Channels, deliver::Delivered};
use crate::inbound::{Handled, InboundSync};
use crate::jobs::{self, Ran};
use crate::outbound::{OutboundSync, Synced};
use crate::record::WorkKey;
use crate::record::lock::with_lease;
use crate::respond::Reminded;

/// The words an unknown item's error holds, in this version and the ones before it: how a run
/// finds the items an older version parked dead for not knowing them.
pub const UNKNOWN: &str = "is not work this version knows";

/// How long an item of unknown work waits before it is looked at again.
const UNKNOWN_AGAIN: time::Duration = time::Duration::days(1);

/// The lease that keeps two scheduled runs from taking the same due items.
pub const LEASE: &str = "retry-scheduler";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Due items taken per run; the rest wait for the next run.
    pub batch: usize,
    /// How long one run may hold [`LEASE`] before another may take it over.
    pub lease_ttl: Duration,
    /// A run takes no new item after this long, so it ends before its lease (and the Lambda's
    /// timeout) does, instead of being cut off halfway through an item.
    pub budget: Duration,
    /// Consecutive items that fail again after which a run stops: the service they need is
    /// most likely still down, and the rest wait for the next run instead of each spending the
    /// client's retries on it.
    pub stop_after_failures: usize,
    /// Where due alerts are posted ([`crate::alerts`]).
    pub channels: Channels,
    /// How often the run is scheduled, recorded for `cosell status` ([`crate::jobs`]).
    pub interval: Option<Duration>,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            batch: 50,
            lease_ttl: Duration::from_secs(300),
            budget: Duration::from_secs(180),
            stop_after_failures: 5,
            channels: Channels::default(),
            interval: Some(Duration::from_secs(60)),
        }
    }
}

/// What redoing one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redone {
    Inbound(Handled),
    Outbound(Synced),
    /// A waiting referral's reminder or expiry.
    Respond(Reminded),
    /// An alert posted (or not).
    Alert(Delivered),
    /// Not work this version knows; the item is left pending for a version that does.
    Unknown,
}

impl Redone {
    /// True when the work failed again and waits for another attempt (not when it went dead:
    /// a refused request says nothing about whether the service is up).
    pub fn failed_again(&self) -> bool {
        matches!(
            self,
            Redone::Inbound(Handled::Parked {
                permanent: false,
                ..
            }) | Redone::Outbound(Synced::Parked {
                permanent: false,
                ..
            }) | Redone::Respond(Reminded::Parked {
                permanent: false,
                ..
            })
        )
    }

    /// True when the work is done (the item is gone).
    pub fn done(&self) -> bool {
        match self {
            Redone::Inbound(handled) => !matches!(handled, Handled::Parked { .. }),
            Redone::Outbound(synced) => !matches!(
                synced,
                Synced::Parked { .. } | Synced::Invalid { .. } | Synced::Waiting { .. }
            ),
            Redone::Respond(reminded) => !matches!(reminded, Reminded::Parked { .. }),
            Redone::Alert(delivered) => *delivered == Delivered::Sent,
            Redone::Unknown => false,
        }
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetryReport {
    /// Another run holds the scheduler: this one did nothing.
    pub busy: bool,
    /// Each due item redone, by item id, in due order.
    pub redone: Vec<(String, Redone)>,
    /// How long each of [`Self::redone`] took, in the same order.
    pub latencies: Vec<Duration>,
    /// The run stopped before the end of the batch (its budget, or failures in a row); the
    /// rest are still due.
    pub stopped_early: bool,
    /// Items that failed again in a row when the run ended.
    pub failures_in_a_row: usize,
}

impl RetryReport {
    pub fn done(&self) -> usize {
        self.redone.iter().filter(|(_, r)| r.done()).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("the sync state store failed: {0}")]
    Store(#[from] StoreError),
    #[error("nothing is parked or linked under '{0}'")]
    NotFound(String),
}

impl From<NotStored> for RetryError {
    fn from(error: NotStored) -> Self {
        Self::Store(error.0)
    }
}

/// The retry use case. Cheap to share.
pub struct RetryScheduler {
    store: Arc<dyn SyncStore>,
    inbound: Arc<InboundSync>,
    outbound: Arc<OutboundSync>,
    settings: RetrySettings,
}

impl RetryScheduler {
    pub fn new(
        store: Arc<dyn SyncStore>,
        inbound: Arc<InboundSync>,
        outbound: Arc<OutboundSync>,
        settings: RetrySettings,
    ) -> Self {
        Self {
            store,
            inbound,
            outbound,
            settings,
        }
    }

    /// One scheduled run: every pending item due at `now` (up to the batch), earliest first.
    pub async fn run(&self, now: OffsetDateTime) -> Result<RetryReport, RetryError> {
        let ttl = self.settings.lease_ttl;
        let run = with_lease(&*self.store, LEASE, now, ttl, self.run_locked(now)).await;
        let stop = self.settings.stop_after_failures;
        let judge = |report: &RetryReport| match report.failures_in_a_row {
            failures if failures >= stop => Ran::Failed(format!(
                "{failures} items in a row failed again: the service they need is most likely down"
            )),
            _ => Ran::Done {
                note: None,
                detail: None,
            },
        };
        let interval = self.settings.interval;
        jobs::record_run(&*self.store, jobs::RETRIES, interval, &run, judge, now).await;
        Ok(run?.unwrap_or_else(|| RetryReport {
            busy: true,
            ..RetryReport::default()
        }))
    }

    async fn run_locked(&self, now: OffsetDateTime) -> Result<RetryReport, RetryError> {
        let mut report = RetryReport::default();
        let started = Instant::now();
        let mut failures_in_a_row = 0;
        if let Err(error) = self.revive(now).await {
            tracing::warn!(%error, "items older versions parked dead not revived this run");
        }
        let mut alerts = Vec::new();
        for item in self.store.due_retries(now, self.settings.batch).await? {
            if item.state != RetryState::Pending {
                continue;
            }
            if alerts::deliver::is_alert(&item) {
                alerts.push(item);
                continue;
            }
            if started.elapsed() >= self.settings.budget
                || failures_in_a_row >= self.settings.stop_after_failures
            {
                tracing::warn!(
                    failures_in_a_row,
                    "retry run stopped early; the rest wait for the next run"
                );
                report.stopped_early = true;
                break;
            }
            let item_started = Instant::now();
            let redone = self.redo(item.clone(), now).await?;
            report.latencies.push(item_started.elapsed());
            tracing::info!(item = %item.id, attempts = item.attempts, done = redone.done(), "retry redone");
            failures_in_a_row = if redone.failed_again() {
                failures_in_a_row + 1
            } else {
                0
            };
            report.redone.push((item.id, redone));
        }
        report.failures_in_a_row = failures_in_a_row;
        if !alerts.is_empty() {
            let backoff = self.inbound.settings().backoff;
            let delivered = alerts::deliver::deliver(
                &*self.store,
                &self.settings.channels.0,
                alerts,
                &backoff,
                now,
            )
            .await?;
            report.redone.extend(
                delivered
                    .into_iter()
                    .map(|(id, delivered)| (id, Redone::Alert(delivered))),
            );
        }
        Ok(report)
    }

    /// Items an older version parked dead for not knowing their kind, made pending again when
    /// this version knows it.
    async fn revive(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        for item in self.store.dead_retries(1000).await? {
            let unknown = item
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(UNKNOWN));
            if unknown && WorkKey::parse(&item.id).is_some() {
                tracing::info!(item = %item.id, "item an older version did not know revived");
                let revived = RetryItem {
                    state: RetryState::Pending,
                    attempts: 0,
                    due_at: now,
                    last_error: None,
                    ..item
                };
                self.store.put_retry(&revived).await?;
            }
        }
        Ok(())
    }

    /// Redoes the work parked under `id` now, whatever its state or due time, with its attempts
    /// counted afresh — for the operator, once the cause is fixed. `id` is a retry item id, a
    /// referral id or an opportunity id; with no item, a linked record is synced again.
    pub async fn replay(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<(String, Redone)>, RetryError> {
        let referral_id = ReferralId::new(id).ok();
        let crm_id = id.parse::<CrmId>().ok();
        let mut replayed = Vec::new();
        for candidate in candidates(id, referral_id.as_ref(), crm_id) {
            if let Some(item) = self.store.retry(&candidate).await? {
                let fresh = RetryItem {
                    state: RetryState::Pending,
                    attempts: 0,
                    due_at: now,
                    ..item
                };
                // Stored first, so a crash mid-replay leaves pending work, not a dead item.
                self.store.put_retry(&fresh).await?;
                replayed.push((candidate, self.redo(fresh, now).await?));
            }
        }
        if replayed.is_empty() {
            let resynced = self
                .resync_linked(referral_id.as_ref(), crm_id, now)
                .await?;
            replayed.extend(resynced);
        }
        if replayed.is_empty() {
            return Err(RetryError::NotFound(id.to_owned()));
        }
        Ok(replayed)
    }

    /// With nothing parked, the linked record synced again: the referral's link first, else the
    /// opportunity's.
    async fn resync_linked(
        &self,
        referral_id: Option<&ReferralId>,
        crm_id: Option<CrmId>,
        now: OffsetDateTime,
    ) -> Result<Option<(String, Redone)>, RetryError> {
        let linked = match referral_id {
            Some(referral_id) => self.store.link_by_referral(referral_id).await?,
            None => None,
        };
        if let Some(link) = linked {
            let work = RetryItem {
                id: WorkKey::inbound(&link.referral_id).to_string(),
                payload: Value::Null,
                due_at: now,
                attempts: 0,
                last_error: None,
                state: RetryState::Pending,
            };
            return Ok(Some((work.id.clone(), self.redo(work, now).await?)));
        }
        let claimed = match crm_id {
            Some(crm_id) => self.store.link_by_crm(crm_id).await?,
            None => None,
        };
        let Some(link) = claimed else {
            return Ok(None);
        };
        let uuid = link.crm_id.uuid();
        let synced = self.outbound.sync_opportunity(uuid, now).await?;
        Ok(Some((
            WorkKey::Outbound(uuid).to_string(),
            Redone::Outbound(synced),
        )))
    }

    /// Replays every dead item (up to `limit`).
    pub async fn replay_dead(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(String, Redone)>, RetryError> {
        let mut replayed = Vec::new();
        for item in self.store.dead_retries(limit).await? {
            replayed.extend(self.replay(&item.id, now).await?);
        }
        Ok(replayed)
    }

    async fn redo(&self, item: RetryItem, now: OffsetDateTime) -> Result<Redone, RetryError> {
        match WorkKey::parse(&item.id) {
            Some(WorkKey::Inbound(referral_id)) => {
                let handled = self.inbound.redo(&referral_id, item.payload, now).await?;
                Ok(Redone::Inbound(handled))
            }
            Some(WorkKey::Outbound(opportunity_id)) => {
                let synced = self.outbound.redo_opportunity(opportunity_id, now).await?;
                Ok(Redone::Outbound(synced))
            }
            Some(WorkKey::Respond(referral_id)) => {
                let reminded = self.inbound.respond().redo(&referral_id, item, now).await?;
                Ok(Redone::Respond(reminded))
            }
            Some(WorkKey::Alert { .. }) => {
                let backoff = self.inbound.settings().backoff;
                let delivered = alerts::deliver::deliver(
                    &*self.store,
                    &self.settings.channels.0,
                    vec![item],
                    &backoff,
                    now,
                )
                .await?;
                let delivered = delivered.into_iter().next().map(|(_, d)| d);
                Ok(Redone::Alert(delivered.unwrap_or(Delivered::Later)))
            }
            None => {
                tracing::warn!(item = %item.id, "retry item of unknown work; left for a version that knows it");
                let later = RetryItem {
                    due_at: now + UNKNOWN_AGAIN,
                    last_error: Some(format!(
                        "'{}' {UNKNOWN}; left pending for one that does",
                        item.id
                    )),
                    ..item
                };
                self.store.put_retry(&later).await?;
                Ok(Redone::Unknown)
            }
        }
    }
}

/// The retry items `id` may name: itself when it is one's id, else the referral's and the
/// opportunity's it may be.
fn candidates(id: &str, referral_id: Option<&ReferralId>, crm_id: Option<CrmId>) -> Vec<String> {
    if WorkKey::parse(id).is_some() {
        return vec![id.to_owned()];
    }
    let inbound = referral_id.map(|r| WorkKey::inbound(r).to_string());
    let outbound = crm_id.map(|c| WorkKey::Outbound(c.uuid()).to_string());
    inbound.into_iter().chain(outbound).collect()
}
