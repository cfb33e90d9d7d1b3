//! Reconciliation: Partner Center gives up on a webhook after 10 failed deliveries, so a sweep
//! lists the referrals changed since the stored watermark and syncs every one whose state differs
//! from what its link last synced. Webhooks make it fast; this makes it complete.
//!
//! - The watermark is the store cursor [`WATERMARK`] (an `updatedDateTime`). A sweep lists what
//!   changed after `watermark − overlap` — under whichever reading Partner Center honours (a
//!   range filter, newest first, or every referral: [`cosell_partner_center::changes`]) — and
//!   handles it page by page. The overlap catches a change Partner Center stamped a little
//!   before it became visible.
//! - A referral whose inbound plan hash equals the link's `inbound_hash` costs nothing more (one
//!   store read); one that differs is synced by [`InboundSync::redo`], so a failure is parked as
//!   a retry item like any other. A page's syncs run in bulk groups ([`crate::bulk`]): their
//!   queries and change sets go as a few `$batch` requests, paced by what Dataverse answers,
//!   the pace kept from page to page of the sweep.
//! - A referral seen again only because of the overlap, and already parked, is left to the retry
//!   scheduler: the sweep does not stack attempts on it.
//! - The watermark advances only when a pass has handled every page — to `start − overlap` —
//!   and is stored once per pass. A pass that runs short of time (a full listing of 20,000
//!   referrals is 200 pages) or fails stops between pages and keeps where it was in [`PASS`];
//!   the next sweep goes on from there.
//! - One sweep at a time holds the lease [`LEASE`].

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::{inbound, timestamp};
use cosell_partner_center::{Listed, Reading, Resume, Stamp, Unreadable};
use cosell_store::{Cursor, ReferralId, StoreError, SyncStore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::bulk::Bulk;
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
/// The store cursor holding an unfinished pass ([`Pass`] as JSON; empty when none).
pub const PASS: &str = "inbound:referrals:pass";

/// A pass stopped between pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pass {
    /// What it lists after (the watermark less the overlap when it began).
    #[serde(with = "time::serde::rfc3339")]
    after: OffsetDateTime,
    /// When it began: the watermark moves to this less the overlap once it is done.
    #[serde(with = "time::serde::rfc3339")]
    started: OffsetDateTime,
    resume: Resume,
}

/// Where a sweep starts.
struct Start {
    /// The watermark's cursor, and the time it holds.
    cursor: Option<Cursor>,
    watermark: OffsetDateTime,
    /// The unfinished pass's cursor, and the pass it holds.
    kept: Option<Cursor>,
    pass: Option<Pass>,
}

/// How a sweep's reading of its pass ended.
struct PagesRead {
    /// What the pass lists after, and when it began.
    after: OffsetDateTime,
    started: OffsetDateTime,
    /// The newest change handled.
    high: OffsetDateTime,
    reading: Reading,
    outcome: Result<(), SweepError>,
    /// Where the pass goes on, when it stopped between pages (short of time, or a page failed).
    stopped: Option<Resume>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// How far before the watermark each sweep looks again.
    pub overlap: Duration,
    /// With no watermark yet, how far back the first sweep looks (`cosell backfill` does the
    /// first-time sync of everything).
    pub first_lookback: Duration,
    pub lease_ttl: Duration,
    /// With less than this left before the run's deadline, no further page is read: the pass
    /// goes on next run. At most this; twice the slowest page of the run so far (listing and
    /// syncs) when that is less, at least 1 s — a run with a short budget and fast pages still
    /// reads them all.
    pub page_reserve: Duration,
    /// How often the sweep is scheduled, recorded for `cosell status` ([`crate::jobs`]).
    pub interval: Option<Duration>,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            overlap: Duration::from_secs(300),
            first_lookback: Duration::from_secs(3600),
            lease_ttl: Duration::from_secs(300),
            page_reserve: Duration::from_secs(30),
            interval: Some(Duration::from_secs(900)),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Another sweep holds the lease: this one did nothing.
    pub busy: bool,
    /// Referrals Partner Center listed as changed (this run's pages).
    pub listed: usize,
    /// Pages read this run.
    pub pages: usize,
    /// How the listing found what changed.
    pub reading: Option<Reading>,
    /// The pass stopped between pages (out of time, or a failure): where it is kept in [`PASS`]
    /// and the next sweep goes on. Pages read in the pass so far.
    pub unfinished: Option<usize>,
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

impl SweepReport {
    /// How the sweep lists, for `status`.
    fn detail(&self) -> Option<String> {
        let reading = self.reading?;
        let unfinished = self
            .unfinished
            .map(|pages| format!("; the pass goes on next run ({pages} pages read so far)"))
            .unwrap_or_default();
        Some(format!(
            "lists {reading}; {} page(s) this run{unfinished}",
            self.pages
        ))
    }
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
        // Boxed: the pass's future is deep enough to pass rustc's layout depth in a Lambda main.
        let pass = Box::pin(self.sweep_locked(now));
        let sweep = with_lease(&*self.store, LEASE, now, ttl, pass).await;
        let interval = self.settings.interval;
        let done = |report: &SweepReport| {
            Ran::Done {
            note: (report.without_id > 0).then(|| {
                format!(
                    "{} listed referral(s) without a readable id skipped (the log has each problem)",
                    report.without_id
                )
            }),
            detail: report.detail(),
        }
        };
        jobs::record_run(&*self.store, jobs::RECONCILE, interval, &sweep, done, now).await;
        Ok(sweep?.unwrap_or_else(|| SweepReport {
            busy: true,
            ..SweepReport::default()
        }))
    }

    async fn sweep_locked(&self, now: OffsetDateTime) -> Result<SweepReport, SweepError> {
        let start = self.start(now).await?;
        let mut report = SweepReport::default();
        let read = self.read_pages(&start, now, &mut report).await;
        report.reading = Some(read.reading);
        let high = self.advance_watermark(&start, &read, now).await?;
        report.unfinished = self.keep_pass(&start, &read, now).await?;
        report.watermark = Some(high);
        tracing::info!(
            listed = report.listed,
            pages = report.pages,
            reading = ?report.reading,
            unfinished = ?report.unfinished,
            unchanged = report.unchanged,
            synced = report.synced.len(),
            without_id = report.without_id,
            watermark = %timestamp::format(high),
            "reconciliation sweep done"
        );
        read.outcome.map(|()| report)
    }

    /// Where this sweep starts: the watermark (the first lookback without one) and the pass an
    /// earlier run left unfinished, if any — an empty or unreadable one is no pass.
    async fn start(&self, now: OffsetDateTime) -> Result<Start, SweepError> {
        let cursor = self.store.cursor(WATERMARK).await?;
        let watermark = match &cursor {
            Some(cursor) => timestamp::parse(&cursor.value)
                .map_err(|_| SweepError::Watermark(cursor.value.clone()))?,
            None => now - self.settings.first_lookback,
        };
        let kept = self.store.cursor(PASS).await?;
        let pass = kept
            .as_ref()
            .and_then(|c| serde_json::from_str(&c.value).ok());
        Ok(Start {
            cursor,
            watermark,
            kept,
            pass,
        })
    }

    /// Reads the pass's pages, handling each, until the listing ends, a page fails, or the run
    /// is short of time (every run reads at least one page, so a pass always gets further).
    async fn read_pages(
        &self,
        start: &Start,
        now: OffsetDateTime,
        report: &mut SweepReport,
    ) -> PagesRead {
        let (watermark, overlap) = (start.watermark, self.settings.overlap);
        let (mut after, mut started) = start
            .pass
            .as_ref()
            .map_or((watermark - overlap, now), |p| (p.after, p.started));
        let resume = start.pass.as_ref().map(|p| p.resume.clone());
        let mut changes = self.feed.changes(Stamp::Updated, after, resume);
        let mut resumed = changes.resume().is_some();
        let (mut high, mut outcome, mut stopped) = (watermark, Ok(()), None);
        let mut slowest = Duration::ZERO;
        let bulk = Bulk::new();
        loop {
            let before = changes.resume();
            if report.pages > 0 && before.is_some() && self.short_of_time(slowest) {
                stopped = before;
                break;
            }
            let page_started = std::time::Instant::now();
            let page = match changes.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(error) if resumed && error.is_refused() => {
                    // The kept link is not taken any more (an expired `$skiptoken`): a new pass.
                    tracing::warn!(%error, "the unfinished pass's next page was refused; starting a new pass");
                    (after, started, resumed) = (watermark - overlap, now, false);
                    changes = self.feed.changes(Stamp::Updated, after, None);
                    continue;
                }
                Err(error) => {
                    (outcome, stopped) = (Err(SweepError::List(error)), before);
                    break;
                }
            };
            resumed = false;
            report.pages += 1;
            report.listed += page.len();
            let handled = self.handle_page(&bulk, &page, watermark, now, report).await;
            slowest = slowest.max(page_started.elapsed());
            match handled {
                Ok(newest) => high = high.max(newest.unwrap_or(high)),
                Err(error) => {
                    (outcome, stopped) = (Err(error), before);
                    break;
                }
            }
        }
        PagesRead {
            after,
            started,
            high,
            reading: changes.reading(),
            outcome,
            stopped,
        }
    }

    /// Moves the watermark once every page of the pass was handled: a change stamped before the
    /// pass began (less the overlap) was listed, so the next pass need not look further back.
    /// The watermark the sweep ends at.
    async fn advance_watermark(
        &self,
        start: &Start,
        read: &PagesRead,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, SweepError> {
        if read.outcome.is_err() || read.stopped.is_some() {
            return Ok(start.watermark);
        }
        let high = read.high.max(read.started - self.settings.overlap);
        if start.cursor.is_none() || high > start.watermark {
            let next = Cursor {
                name: WATERMARK.to_owned(),
                value: timestamp::format(high),
                updated_at: now,
                version: start.cursor.as_ref().map_or(0, |c| c.version),
            };
            self.store.put_cursor(&next).await?;
        }
        Ok(high)
    }

    /// Keeps where an unfinished pass goes on (or clears a finished one's); the pages it has
    /// read so far, when unfinished.
    async fn keep_pass(
        &self,
        start: &Start,
        read: &PagesRead,
        now: OffsetDateTime,
    ) -> Result<Option<usize>, SweepError> {
        let keep = read.stopped.clone().map(|resume| Pass {
            after: read.after,
            started: read.started,
            resume,
        });
        let kept = start.kept.as_ref();
        if keep.is_some() || kept.is_some_and(|c| !c.value.is_empty()) {
            let value = keep
                .as_ref()
                .map(|p| serde_json::to_string(p).expect("a pass serializes"));
            let next = Cursor {
                name: PASS.to_owned(),
                value: value.unwrap_or_default(),
                updated_at: now,
                version: kept.map_or(0, |c| c.version),
            };
            self.store.put_cursor(&next).await?;
        }
        Ok(keep.map(|p| p.resume.pages))
    }

    /// Whether the run's deadline is too near for another page, the slowest so far having taken
    /// `slowest` ([`ReconcileSettings::page_reserve`]).
    fn short_of_time(&self, slowest: Duration) -> bool {
        let reserve = (slowest * 2)
            .max(Duration::from_secs(1))
            .min(self.settings.page_reserve);
        cosell_transport::deadline::remaining().is_some_and(|left| left < reserve)
    }

    /// One page's entries in bulk groups (each under its record's lease), every one to its end:
    /// a sync cut off midway would leave its record half done. The newest date handled.
    async fn handle_page(
        &self,
        bulk: &Bulk,
        entries: &[Listed],
        watermark: OffsetDateTime,
        now: OffsetDateTime,
        report: &mut SweepReport,
    ) -> Result<Option<OffsetDateTime>, SweepError> {
        // By index, not over `&Listed`: a closure over it makes this future not `Send` for a
        // spawned task (rustc's higher-ranked lifetime limits).
        let handle = |index: usize| {
            let entry = &entries[index];
            async move {
                // An unreadable entry may have no readable date: it is set apart all the same.
                let updated = entry.updated();
                if updated.is_none() && matches!(entry, Listed::Readable(_)) {
                    return None;
                }
                let in_overlap = updated.is_some_and(|at| at <= watermark);
                Some((updated, self.reconcile(entry, in_overlap, now).await))
            }
        };
        let handled = bulk.run(entries.len(), handle, |_, _| {}).await;
        let mut newest = None;
        for (entry, handled) in entries.iter().zip(handled) {
            let Some((updated, handled)) = handled else {
                tracing::warn!(referral = ?entry.id(), "listed referral without updatedDateTime; skipped");
                continue;
            };
            match handled? {
                Seen::Unchanged => report.unchanged += 1,
                Seen::Parked => report.parked += 1,
                Seen::WithoutId => report.without_id += 1,
                Seen::Synced(id, handled) => report.synced.push((id, handled)),
            }
            newest = newest.max(updated);
        }
        Ok(newest)
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
        let Ok(id) = ReferralId::new(id) else {
            tracing::warn!(
                referral = id,
                "listed referral with an id no request can carry skipped"
            );
            return Ok(Seen::WithoutId);
        };
        let id = &id;
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
        tracing::info!(referral = %id, "reconciliation found a referral out of sync");
        let handled = self.inbound.redo(id, payload, now).await?;
        Ok(Seen::Synced(id.to_string(), handled))
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
        let id = unreadable
            .id
            .as_deref()
            .and_then(|id| ReferralId::new(id).ok());
        let Some(id) = id else {
            tracing::warn!(problem = %unreadable.problem, "listed referral without a readable id skipped");
            return Ok(Seen::WithoutId);
        };
        let item = WorkKey::inbound(&id).to_string();
        if in_overlap && self.store.retry(&item).await?.is_some() {
            return Ok(Seen::Parked);
        }
        let handled = self.inbound.park_unreadable(&id, unreadable, now).await?;
        Ok(Seen::Synced(id.to_string(), handled))
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
            let Some(id) = entry.id().and_then(|id| ReferralId::new(id).ok()) else {
                continue;
            };
            let link = self.store.link_by_referral(&id).await?;
            match (entry, link) {
                (Listed::Readable(referral), Some(link)) => {
                    match self.inbound.respond().ensure(referral, &link, now).await {
                        Ok(true) => report.tasks.push(id.to_string()),
                        Ok(false) => {}
                        Err(error) => report.failed.push(format!("{id}: {error}")),
                    }
                }
                _ => {
                    if let Some(handled) = self.bring_up_to_date(entry, now).await? {
                        report.synced.push((id.to_string(), handled));
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
