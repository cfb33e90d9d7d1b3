//! The change feed: Dataverse change tracking on opportunities, the delta link kept as the store
//! cursor [`CURSOR`]. One run at a time holds the lease [`FEED_LEASE`].
//!
//! - No cursor yet, or a delta link that cannot be used (expired, refused, on another host): a
//!   fresh baseline (every row). Re-handling a row is harmless — the link's hash makes an
//!   unchanged row cost no Partner Center request.
//! - Every page is handled before the next is asked for, and the new delta link replaces the
//!   cursor only after every page before it was handled (conditional on the cursor's version), so
//!   a crash re-reads the same changes instead of losing them.
//! - Change tracking cannot filter: rows whose sync column is not yes are skipped here, without
//!   reading them again. Deleted rows are logged and left alone (the referral stays).
//! - Parked work (`outbound:*` retry items) is redone by the retry scheduler, not here.

use cosell_dataverse::{ChangesPage, DataverseError};
use cosell_mapping::{CrmRow, Opportunity};
use cosell_store::{Cursor, StoreError};
use futures::stream::{self, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{OutboundSync, Synced};
use crate::NotStored;
use crate::jobs::{self, Ran};
use crate::record::lock::with_lease;

/// The store cursor holding the opportunities' delta link.
pub const CURSOR: &str = "outbound:opportunities";
/// The lease that keeps two runs from working the cursor.
pub const FEED_LEASE: &str = "outbound-feed";

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Another run holds the feed: this one did nothing.
    pub busy: bool,
    /// The delta link had expired (or there was none): a baseline was read.
    pub baseline: bool,
    /// Changed rows seen whose sync column is not yes.
    pub not_shared: usize,
    /// Deleted rows seen.
    pub deleted: usize,
    /// Each opportunity synced, in order.
    pub synced: Vec<(Uuid, Synced)>,
    /// How long each of [`Self::synced`] took, in the same order.
    pub latencies: Vec<std::time::Duration>,
}

impl PollReport {
    /// Opportunities for which something was sent to Partner Center or written to Dataverse.
    pub fn worked(&self) -> usize {
        self.synced
            .iter()
            .filter(|(_, s)| {
                !matches!(
                    s,
                    Synced::Unchanged
                        | Synced::Waiting { .. }
                        | Synced::NotShared
                        | Synced::Missing
                )
            })
            .count()
    }
}

/// Why a poll stopped early (its cursor unchanged: the next poll reads the same changes).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("reading Dataverse changes failed: {0}")]
    Feed(#[source] DataverseError),
    #[error("the sync state store failed: {0}")]
    Store(#[source] StoreError),
}

impl From<NotStored> for PollError {
    fn from(error: NotStored) -> Self {
        Self::Store(error.0)
    }
}

impl From<StoreError> for PollError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl OutboundSync {
    /// One scheduled run: every change since the cursor.
    pub async fn poll(&self, now: OffsetDateTime) -> Result<PollReport, PollError> {
        let ttl = self.settings.feed_lease_ttl;
        let mut report = PollReport::default();
        let polled = self.poll_locked(now, &mut report);
        let polled = with_lease(&*self.store, FEED_LEASE, now, ttl, polled).await;
        let interval = self.settings.poll_interval;
        let done = |_: &()| Ran::Done {
            note: None,
            detail: None,
        };
        jobs::record_run(
            &*self.store,
            jobs::OUTBOUND_POLL,
            interval,
            &polled,
            done,
            now,
        )
        .await;
        report.busy = polled?.is_none();
        Ok(report)
    }

    async fn poll_locked(
        &self,
        now: OffsetDateTime,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let set = Opportunity::ENTITY_SET;
        let cursor = self.store.cursor(CURSOR).await.map_err(PollError::Store)?;
        let mut page = match &cursor {
            Some(cursor) => match self.crm.changes_since(&cursor.value).await {
                // Expired or refused by the service, or one the client will not follow (the
                // Dataverse URL setting moved to another host): start again from a baseline.
                Err(error)
                    if matches!(error, DataverseError::DeltaLinkExpired { .. })
                        || error.is_refused_link() =>
                {
                    tracing::warn!(%error, "the stored delta link cannot be used; taking a fresh baseline");
                    report.baseline = true;
                    self.crm.track_changes(set, &self.select).await
                }
                other => other,
            },
            None => {
                report.baseline = true;
                self.crm.track_changes(set, &self.select).await
            }
        }
        .map_err(PollError::Feed)?;
        loop {
            self.handle_page(&page, now, report).await?;
            match (page.next_link.take(), page.delta_link.take()) {
                (Some(next), _) => {
                    page = self
                        .crm
                        .changes_since(&next)
                        .await
                        .map_err(PollError::Feed)?;
                }
                (None, Some(delta_link)) => {
                    let next = Cursor {
                        name: CURSOR.to_owned(),
                        value: delta_link.0,
                        updated_at: now,
                        version: cursor.as_ref().map_or(0, |c| c.version),
                    };
                    self.store
                        .put_cursor(&next)
                        .await
                        .map_err(PollError::Store)?;
                    return Ok(());
                }
                (None, None) => {
                    return Err(PollError::Feed(DataverseError::Protocol {
                        operation: "changes",
                        detail: "the last page has no @odata.deltaLink".into(),
                    }));
                }
            }
        }
    }

    async fn handle_page(
        &self,
        page: &ChangesPage,
        now: OffsetDateTime,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let sync_column = &self.config.columns.sync;
        let mut shared = Vec::new();
        for record in &page.upserted {
            let Some(id) = record.id(Opportunity::KEY) else {
                tracing::warn!("a changed opportunity without its id; skipped");
                continue;
            };
            if record.get(sync_column) != Some(&Value::Bool(true)) {
                report.not_shared += 1;
                continue;
            }
            shared.push(id.0);
        }
        // A few at a time (each under its opportunity's lease), every one to its end; the
        // cursor stays put if any outcome could not be stored.
        let synced: Vec<_> = stream::iter(shared)
            .map(|id| async move {
                let started = std::time::Instant::now();
                let synced = self.sync_opportunity(id, now).await;
                (id, started.elapsed(), synced)
            })
            .buffered(crate::CONCURRENCY)
            .collect()
            .await;
        let mut not_stored = None;
        for (id, latency, synced) in synced {
            match synced {
                Ok(synced) => {
                    report.latencies.push(latency);
                    report.synced.push((id, synced));
                }
                Err(error) => not_stored = not_stored.or(Some(error)),
            }
        }
        if let Some(error) = not_stored {
            return Err(error.into());
        }
        for id in &page.deleted {
            tracing::info!(opportunity = %id, "opportunity deleted; its referral is left as it is");
            report.deleted += 1;
        }
        Ok(())
    }
}
