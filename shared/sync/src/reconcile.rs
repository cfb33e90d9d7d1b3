//! Reconciliation: Partner Center gives up on a webhook after 10 failed deliveries, so a sweep
//! lists the referrals changed since the stored watermark and syncs every one whose state differs
//! from what its link last synced. Webhooks make it fast; this makes it complete.
//!
//! - The watermark is the store cursor [`WATERMARK`] (an `updatedDateTime`). A sweep lists
//!   `updatedDateTime gt watermark − overlap`, oldest first: the overlap catches a change Partner
//!   Center stamped a little before it became visible.
//! - A referral whose inbound plan hash equals the link's `inbound_hash` costs nothing more (one
//!   store read); one that differs is synced by [`InboundSync::redo`], so a failure is parked as
//!   a retry item like any other.
//! - A referral seen again only because of the overlap, and already parked, is left to the retry
//!   scheduler: the sweep does not stack attempts on it.
//! - The watermark advances only past referrals handled (synced, unchanged or parked) — to
//!   `now − overlap` when all were — and is stored once per sweep; a sweep that stops early
//!   leaves the rest for the next one.
//! - One sweep at a time holds the lease [`LEASE`].

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::{inbound, timestamp};
use cosell_partner_center::{Listed, Unreadable};
use cosell_store::{Cursor, StoreError, SyncStore};
use futures::stream::{self, StreamExt};
use serde_json::json;
use time::OffsetDateTime;

use crate::inbound::{Handled, InboundSync};
use crate::jobs::{self, Ran};
use crate::link::DealLink;
use crate::ports::ReferralFeed;
use crate::record::WorkKey;
use crate::record::lock::with_lease;

/// The store cursor holding the referrals' `updatedDateTime` watermark.
pub const WATERMARK: &str = "inbound:referrals";
/// The lease that keeps two sweeps apart.
pub const LEASE: &str = "reconcile";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// How far before the watermark each sweep looks again.
    pub overlap: Duration,
    /// With no watermark yet, how far back the first sweep looks (`cosell backfill` does the
    /// first-time sync of everything).
    pub first_lookback: Duration,
    pub lease_ttl: Duration,
    /// How often the sweep is scheduled, recorded for `cosell status` ([`crate::jobs`]).
    pub interval: Option<Duration>,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(300),
            first_lookback: Duration::from_secs(3600),
            lease_ttl: Duration::from_secs(300),
            interval: Some(Duration::from_secs(900)),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Another sweep holds the lease: this one did nothing.
    pub busy: bool,
    /// Referrals Partner Center listed.
    pub listed: usize,
    /// Listed, and equal to what was last synced.
    pub unchanged: usize,
    /// Listed again inside the overlap while already parked: left to the retry scheduler.
    pub parked: usize,
    /// Each referral synced (or parked), in order; an unreadable one parked dead is here too.
    pub synced: Vec<(String, Handled)>,
    /// Listed entries without a readable `id`: logged and skipped, since nothing can be parked
    /// under their key.
    pub without_id: usize,
    /// The watermark after the sweep.
    pub watermark: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("listing referrals from Partner Center failed: {0}")]
    List(#[source] cosell_partner_center::Error),
    #[error("the sync state store failed: {0}")]
    Store(#[from] StoreError),
    #[error("the stored watermark '{0}' is not a timestamp")]
    Watermark(String),
}

/// The reconciliation use case.
pub struct Reconciler {
    store: Arc<dyn SyncStore>,
    inbound: Arc<InboundSync>,
    feed: Arc<dyn ReferralFeed>,
    settings: ReconcileSettings,
}

impl Reconciler {
    pub fn new(
        store: Arc<dyn SyncStore>,
        inbound: Arc<InboundSync>,
        feed: Arc<dyn ReferralFeed>,
        settings: ReconcileSettings,
    ) -> Self {
        Self {
            store,
            inbound,
            feed,
            settings,
        }
    }

    /// One sweep (see the [module docs](self)).
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<SweepReport, SweepError> {
        let ttl = self.settings.lease_ttl;
        let sweep = with_lease(&*self.store, LEASE, now, ttl, self.sweep_locked(now)).await;
        let interval = self.settings.interval;
        let done = |report: &SweepReport| {
            Ran::Done {
            note: (report.without_id > 0).then(|| {
                format!(
                    "{} listed referral(s) without a readable id skipped (the log has each problem)",
                    report.without_id
                )
            }),
        }
        };
        jobs::record_run(&*self.store, jobs::RECONCILE, interval, &sweep, done, now).await;
        Ok(sweep?.unwrap_or_else(|| SweepReport {
            busy: true,
            ..SweepReport::default()
        }))
    }

    async fn sweep_locked(&self, now: OffsetDateTime) -> Result<SweepReport, SweepError> {
        let mut report = SweepReport::default();
        let cursor = self.store.cursor(WATERMARK).await?;
        let watermark = match &cursor {
            Some(cursor) => timestamp::parse(&cursor.value)
                .map_err(|_| SweepError::Watermark(cursor.value.clone()))?,
            None => now - self.settings.first_lookback,
        };
        let referrals = self
            .feed
            .updated_after(watermark - self.settings.overlap)
            .await
            .map_err(SweepError::List)?;
        report.listed = referrals.len();
        let mut high = watermark;
        let mut outcome = Ok(());
        // A few at a time (each under its record's lease), every one to its end: a sync cut off
        // midway would leave its record half done. The watermark then moves only past the
        // unbroken run of handled referrals, in listed order.
        let handled: Vec<_> = stream::iter(0..referrals.len())
            // By index, not `stream::iter(&referrals)`: a closure over `&Referral` makes this
            // future not `Send` for a spawned task (rustc's higher-ranked lifetime limits).
            .map(|index| {
                let entry = &referrals[index];
                async move {
                    // An unreadable entry may have no readable date: it is set apart all the same.
                    let updated = entry.updated();
                    if updated.is_none() && matches!(entry, Listed::Readable(_)) {
                        return None;
                    }
                    let in_overlap = updated.is_some_and(|at| at <= watermark);
                    Some((updated, self.reconcile(entry, in_overlap, now).await))
                }
            })
            .buffered(crate::CONCURRENCY)
            .collect()
            .await;
        for (entry, handled) in referrals.iter().zip(handled) {
            let Some((updated, handled)) = handled else {
                tracing::warn!(referral = ?entry.id(), "listed referral without updatedDateTime; skipped");
                continue;
            };
            match handled {
                Ok(Seen::Unchanged) => report.unchanged += 1,
                Ok(Seen::Parked) => report.parked += 1,
                Ok(Seen::WithoutId) => report.without_id += 1,
                Ok(Seen::Synced(id, handled)) => report.synced.push((id, handled)),
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
            high = high.max(updated.unwrap_or(high));
        }
        if outcome.is_ok() {
            // Everything listed was handled: a change stamped before `now − overlap` would have
            // been listed, so the next sweep need not look further back than that.
            high = high.max(now - self.settings.overlap);
        }
        if cursor.is_none() || high > watermark {
            let next = Cursor {
                name: WATERMARK.to_owned(),
                value: timestamp::format(high),
                updated_at: now,
                version: cursor.as_ref().map_or(0, |c| c.version),
            };
            self.store.put_cursor(&next).await?;
        }
        report.watermark = Some(high);
        tracing::info!(
            listed = report.listed,
            unchanged = report.unchanged,
            synced = report.synced.len(),
            without_id = report.without_id,
            watermark = %timestamp::format(high),
            "reconciliation sweep done"
        );
        outcome.map(|()| report)
    }

    /// Brings one listed referral up to date: `None` when it equals what its link last synced
    /// (one store read, nothing written), else what the inbound sync did (a failure is parked).
    /// `cosell backfill` uses this for every open referral, so a second run skips what the first
    /// did.
    ///
    /// An entry that cannot be read is parked dead under its id with the reason (`Some`), or,
    /// without a readable id, only logged (`None`).
    pub async fn bring_up_to_date(
        &self,
        entry: &Listed,
        now: OffsetDateTime,
    ) -> Result<Option<Handled>, SweepError> {
        match self.reconcile(entry, false, now).await? {
            Seen::Synced(_, handled) => Ok(Some(handled)),
            Seen::Unchanged | Seen::Parked | Seen::WithoutId => Ok(None),
        }
    }

    async fn reconcile(
        &self,
        entry: &Listed,
        in_overlap: bool,
        now: OffsetDateTime,
    ) -> Result<Seen, SweepError> {
        let referral = match entry {
            Listed::Readable(referral) => referral,
            Listed::Unreadable(unreadable) => {
                return self.set_apart(unreadable, in_overlap, now).await;
            }
        };
        let Some(id) = referral.id.as_deref() else {
            return Ok(Seen::Unchanged);
        };
        let link = self.store.link_by_referral(id).await?;
        let plan = inbound::plan(referral, self.inbound.config()).ok();
        // Unchanged as the sync itself decides: the rows' hash, and no mapped column moved.
        let unchanged = match (&plan, &link) {
            (Some(plan), Some(link)) => link.holds(plan),
            _ => false,
        };
        if unchanged {
            return Ok(Seen::Unchanged);
        }
        if in_overlap
            && self
                .store
                .retry(&WorkKey::inbound(id).to_string())
                .await?
                .is_some()
        {
            return Ok(Seen::Parked);
        }
        let payload = json!({
            "source": "reconciliation or backfill",
            "referralId": id,
            "updatedDateTime": referral.updated_date_time.map(timestamp::format),
        });
        tracing::info!(referral = id, "reconciliation found a referral out of sync");
        let handled = self.inbound.redo(id, payload, now).await?;
        Ok(Seen::Synced(id.to_owned(), handled))
    }
}

impl Reconciler {
    /// An entry that cannot be read: parked dead under its id with the field and value in the
    /// reason (once; listed again inside the overlap it is left as parked), so the rest of the
    /// listing goes on and the watermark moves past it.
    async fn set_apart(
        &self,
        unreadable: &Unreadable,
        in_overlap: bool,
        now: OffsetDateTime,
    ) -> Result<Seen, SweepError> {
        let Some(id) = unreadable.id.as_deref() else {
            tracing::warn!(problem = %unreadable.problem, "listed referral without a readable id skipped");
            return Ok(Seen::WithoutId);
        };
        let item = WorkKey::inbound(id).to_string();
        if in_overlap && self.store.retry(&item).await?.is_some() {
            return Ok(Seen::Parked);
        }
        let handled = self.inbound.park_unreadable(unreadable, now).await?;
        Ok(Seen::Synced(id.to_owned(), handled))
    }
}

/// What a pass over the waiting referrals did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WaitingReport {
    /// Referrals sent to us and not yet answered, as Partner Center listed them.
    pub listed: usize,
    /// Linked ones that got their task and `respond:` item now.
    pub tasks: Vec<String>,
    /// Ones not in the CRM yet, synced (their create adds the task).
    pub synced: Vec<(String, Handled)>,
    /// Ones whose task could not be made; each message names the referral.
    pub failed: Vec<String>,
}

/// The store cursor that says the waiting referrals were looked over once
/// ([`Reconciler::waiting_once`]).
pub const WAITING_DONE: &str = "respond:backfilled";

impl Reconciler {
    /// Every referral waiting for an answer gets its task and due item: a linked one through
    /// [`crate::respond::RespondBy::ensure`], one not in the CRM by syncing it. A second pass
    /// finds their items and does nothing. (`cosell backfill --waiting`.)
    pub async fn waiting(&self, now: OffsetDateTime) -> Result<WaitingReport, SweepError> {
        let referrals = self.feed.waiting().await.map_err(SweepError::List)?;
        let mut report = WaitingReport {
            listed: referrals.len(),
            ..WaitingReport::default()
        };
        for entry in &referrals {
            let Some(id) = entry.id() else {
                continue;
            };
            let link = self.store.link_by_referral(id).await?;
            match (entry, link) {
                (Listed::Readable(referral), Some(link)) => {
                    match self.inbound.respond().ensure(referral, &link, now).await {
                        Ok(true) => report.tasks.push(id.to_owned()),
                        Ok(false) => {}
                        Err(error) => report.failed.push(format!("{id}: {error}")),
                    }
                }
                _ => {
                    if let Some(handled) = self.bring_up_to_date(entry, now).await? {
                        report.synced.push((id.to_owned(), handled));
                    }
                }
            }
        }
        tracing::info!(
            listed = report.listed,
            tasks = report.tasks.len(),
            synced = report.synced.len(),
            failed = report.failed.len(),
            "waiting referrals looked over"
        );
        Ok(report)
    }

    /// [`Self::waiting`] the first time this store sees it, so referrals already waiting when
    /// respond-by shipped get their tasks on the first reconcile run; `None` afterwards.
    pub async fn waiting_once(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<WaitingReport>, SweepError> {
        if !self.inbound.config().respond.tasks || self.store.cursor(WAITING_DONE).await?.is_some()
        {
            return Ok(None);
        }
        let ttl = self.settings.lease_ttl;
        let Some(report) = with_lease(&*self.store, LEASE, now, ttl, self.waiting(now)).await?
        else {
            return Ok(None); // a sweep holds the lease: the next run does it
        };
        // Done even when some failed: those are in the report and the log, each referral's
        // own sync retries it, and a pass that repeats every run would list everything again.
        let done = Cursor {
            name: WAITING_DONE.to_owned(),
            value: timestamp::format(now),
            updated_at: now,
            version: 0,
        };
        match self.store.put_cursor(&done).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(Some(report))
    }
}

enum Seen {
    Unchanged,
    Parked,
    /// An unreadable entry without a readable id: logged, nothing stored.
    WithoutId,
    Synced(String, Handled),
}
