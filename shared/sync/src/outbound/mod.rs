//! Outbound: a seller's opportunity (with "Sync with Partner Center" = yes) becomes a Partner
//! Center referral and stays in sync with it, without ping-pong.
//!
//! Two triggers share [`OutboundSync::sync_opportunity`]: the change feed ([`OutboundSync::poll`],
//! see [`feed`]) and a Dataverse webhook naming one row. For one opportunity, under its deal
//! lease (`outbound:<opportunity id>`, see [`crate::record`]), it does:
//! 1. **read** the row with its account, contact, currency and solutions (one `$expand` query);
//! 2. **skip** it when its [`DealState`] hash equals `Link.outbound_hash` (what both sides last
//!    agreed on — our own write-backs and the inbound sync's writes land here, at no Partner
//!    Center request), or when a retry item `outbound:<id>` holds the same hash (and the same
//!    Services and marketplace columns, which only a create sends) and is dead or not yet due
//!    (a rejected opportunity waits for the seller's next edit);
//! 3. **create** (no link, [`create`]): validate; an invalid opportunity gets ✖ and the
//!    sentences in Audit (one PATCH) and a dead retry item, with *no* Partner Center request;
//!    else store the intent (see [`crate::intent`]), `POST` (co-sell: a second `POST`), the
//!    link, then **one** Dataverse PATCH writing back referral id, link, ✔ and Audit. An attempt
//!    after an intent first looks for the referral the earlier one may have created (by
//!    `externalReferenceId`) and adopts it, merging three ways against the deal as posted;
//! 4. **update** (linked, [`update`]): a plan against the last agreed state and a referral
//!    assumed from it (see [`assumed`]), under the referral's lease too. The paths the connector
//!    allows go by one JSON Patch with `If-Match` = the link's stored eTag, then a `GET` for the
//!    new state and eTag (the connector declares a bare `204`) — **two** Partner Center
//!    requests; what it does not allow (the name) goes by `PUT` of the whole referral read
//!    afresh (`GET`, `PUT`: two as well). A 412 reads the referral, plans again on top of it and
//!    sends once more; refusals (un-share, illegal moves) become Audit lines; then one Dataverse
//!    PATCH (✔ + Audit) and the link.
//!
//! After a send, `Link.outbound_hash`/`Link.deal` hold the CRM's deal state as sent, and
//! `Link.inbound_hash` the inbound plan hash of the referral Partner Center answered — so the
//! webhook our own write fires changes nothing. When Partner Center holds something the CRM does
//! not (Microsoft's change merged after a 412, a refused un-share), `inbound_hash` is left as it
//! was, so that webhook brings Partner Center's state into the CRM instead.
//!
//! A failure (5xx after retries, network, a refused request) becomes a retry item
//! `outbound:<opportunity id>` (pending with backoff, or dead when retrying cannot help) and ✖ +
//! an Audit line on the opportunity ([`park`]); the retry scheduler ([`crate::retry`]) redoes
//! due items.

mod assumed;
mod country;
mod create;
mod failure;
pub mod feed;
mod park;
mod payload;
mod update;
mod write_back;

use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::{ETag, Record};
use cosell_mapping::deal::DealState;
use cosell_mapping::outbound::{DealKind, Expansions, OutboundInput};
use cosell_mapping::{CrmConfig, CrmRow, Opportunity};
use cosell_store::{Link, ReferralId, RetryItem, RetryState, SyncStore};
use cosell_transport::correlation;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

pub use failure::OutboundError;
pub use feed::{CURSOR, FEED_LEASE, PollReport};
pub use payload::OutboundWork;

use crate::NotStored;
use crate::activity::{self, SyncDirection};
use crate::alerts::Alerts;
use crate::backoff::Backoff;
use crate::link::DealLink;
use crate::ports::{Crm, Referrals};
use crate::record::WorkKey;
use crate::record::lock::{DealLock, LockError};
use crate::respond::RespondBy;

/// Timings of the outbound sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// How long one run may hold the change feed before another may take it over.
    pub feed_lease_ttl: Duration,
    /// How long one sync may hold an opportunity.
    pub lease_ttl: Duration,
    /// How long a sync waits for a concurrent sync of the same opportunity.
    pub lease_wait: Duration,
    /// When parked work is due again, and when it is given up.
    pub backoff: Backoff,
    /// The alert channels configured; none: no alerts ([`crate::alerts`]).
    pub alerts: Vec<String>,
    /// How often the change feed is polled, recorded for `cosell status` ([`crate::jobs`]).
    pub poll_interval: Option<Duration>,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            feed_lease_ttl: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(60),
            lease_wait: Duration::from_secs(5),
            backoff: Backoff::default(),
            alerts: Vec::new(),
            poll_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// What became of one opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The row no longer exists.
    Missing,
    /// "Sync with Partner Center" is not yes.
    NotShared,
    /// Its deal state is what both sides agreed on: nothing sent.
    Unchanged,
    /// Rejected or failed before with this same state; waits for an edit (or its due time).
    Waiting { retry_id: String },
    /// Created in Partner Center.
    Created {
        referral_id: ReferralId,
        kind: DealKind,
        /// Co-sell's connected referral for Microsoft.
        connected: Option<String>,
    },
    /// The referral was brought up to date (`changes` operations sent, `refused` refused).
    Updated {
        referral_id: ReferralId,
        changes: usize,
        refused: usize,
        /// 412s met on the way (0 or 1).
        conflicts: u32,
        /// The dead retry item keeping what Partner Center refused, until the seller's next edit.
        parked: Option<String>,
    },
    /// Not valid for Partner Center: ✖ and the sentences in Audit; no request was made.
    Invalid { message: String },
    /// Failed; the retry item holds it (pending, or dead when `permanent`).
    Parked {
        retry_id: String,
        message: String,
        permanent: bool,
    },
}

impl Synced {
    /// The work is done: nothing is left for a retry item to hold.
    fn done(&self) -> bool {
        matches!(
            self,
            Synced::Created { .. } | Synced::Updated { parked: None, .. } | Synced::Unchanged
        )
    }
}

/// The outbound use case. Cheap to share (`Arc` it).
pub struct OutboundSync {
    store: Arc<dyn SyncStore>,
    referrals: Arc<dyn Referrals>,
    crm: Arc<dyn Crm>,
    config: CrmConfig,
    settings: OutboundSettings,
    select: Vec<String>,
    expand: Expansions,
    countries: country::CountryCodes,
    /// Closes a waiting referral's task once the seller's answer is sent.
    respond: RespondBy,
    alerts: Alerts,
}

/// A failed sync: the problem, and what is known to write ✖ on the row.
struct Failure {
    problem: Box<OutboundError>,
    hash: Option<String>,
    name: Option<String>,
    etag: Option<ETag>,
}

impl Failure {
    fn new(problem: impl Into<OutboundError>) -> Self {
        Self {
            problem: Box::new(problem.into()),
            hash: None,
            name: None,
            etag: None,
        }
    }
}

/// The state of one opportunity as read, for the write-backs.
struct Read {
    id: Uuid,
    input: OutboundInput,
    deal: DealState,
    hash: String,
    /// What a parked item waits on: the deal's hash, and the Services and marketplace columns
    /// a create sends, so filling one of them is an edit that is tried again.
    seen: String,
    /// The row's version as read: a write-back that renames it is made only on this version.
    etag: Option<ETag>,
}

impl Read {
    fn fail(&self, problem: impl Into<OutboundError>) -> Failure {
        Failure {
            problem: Box::new(problem.into()),
            hash: Some(self.seen.clone()),
            name: self.input.opportunity.name.clone(),
            etag: self.etag.clone(),
        }
    }

    fn name(&self) -> Option<&str> {
        self.input.opportunity.name.as_deref()
    }

    /// When the deal's mapped fields were last agreed under a newer mapping than this process
    /// runs (a push not yet deployed everywhere), reads them as agreed: this sync sends none of
    /// them, and the newer process does.
    fn defer_mapped_to_newer(&mut self, link: &Link, running: u64) {
        let Some(agreed) = link.agreed() else {
            return;
        };
        if self.deal.mapped.is_empty() || agreed.mapping_version.is_none_or(|v| v <= running) {
            return;
        }
        tracing::info!(
            opportunity = %self.id,
            agreed = agreed.mapping_version,
            running,
            "mapped fields agreed under a newer mapping; left to it"
        );
        for (column, value) in self.deal.mapped.iter_mut() {
            if let Some(agreed) = agreed.mapped.get(column) {
                value.clone_from(agreed);
            }
        }
        self.input.opportunity.mapped = self.deal.mapped.clone();
        self.deal.mapping_version = agreed.mapping_version;
    }

    /// Whether the row states the deal the link agreed on: the same hash, and no mapped column
    /// that goes out moved.
    fn agrees_with(&self, link: &Link) -> bool {
        link.outbound_hash.as_deref() == Some(self.hash.as_str())
            && self
                .deal
                .mapped_changed(link.agreed().as_ref(), false)
                .is_empty()
    }
}

impl OutboundSync {
    pub fn new(
        store: Arc<dyn SyncStore>,
        referrals: Arc<dyn Referrals>,
        crm: Arc<dyn Crm>,
        config: CrmConfig,
        settings: OutboundSettings,
    ) -> Self {
        let (respond, alerts) = RespondBy::for_sync(
            &store,
            &crm,
            referrals.clone(),
            &config.respond,
            settings.backoff,
            &settings.alerts,
        );
        Self {
            select: OutboundInput::select(&config),
            expand: OutboundInput::expand(&config),
            countries: country::CountryCodes::default(),
            respond,
            alerts,
            store,
            referrals,
            crm,
            config,
            settings,
        }
    }

    pub fn config(&self) -> &CrmConfig {
        &self.config
    }

    /// Syncs one opportunity as it is now (see the [module docs](self)). A failure is parked as a
    /// retry item and shown on the row; only a failure to store that is an error.
    pub async fn sync_opportunity(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Synced, NotStored> {
        self.sync_with(id, now, false).await
    }

    /// [`Self::sync_opportunity`] for the retry scheduler: once the work is done — or there turns
    /// out to be nothing to send (the deal is as agreed, the row is gone or no longer shared) —
    /// the retry item is removed while the opportunity's lease is still held, so no newer item
    /// is lost.
    pub async fn redo_opportunity(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Synced, NotStored> {
        self.sync_with(id, now, true).await
    }

    async fn sync_with(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        redoing: bool,
    ) -> Result<Synced, NotStored> {
        let (ttl, wait) = (self.settings.lease_ttl, self.settings.lease_wait);
        let mut lock = DealLock::new(&*self.store, ttl, wait);
        let synced = match lock.take(WorkKey::Outbound(id)).await {
            Ok(_) => {
                // One correlation id per sync: on its log span and every Partner Center request.
                let sync_id = Uuid::new_v4().to_string();
                let span = tracing::info_span!("sync", sync_id = %sync_id, opportunity = %id);
                let synced = self.sync_locked(&mut lock, id, now).instrument(span);
                correlation::scope(sync_id, synced).await
            }
            Err(LockError::Busy) => Err(Failure::new(OutboundError::Busy)),
            Err(LockError::Store(e)) => {
                lock.release().await;
                return Err(NotStored(e));
            }
        };
        let nothing_left = matches!(&synced, Ok(s) if s.done() || matches!(s, Synced::Missing | Synced::NotShared));
        if redoing && nothing_left {
            self.forget_retry(id).await;
        }
        let result = match synced {
            Ok(synced) => {
                if matches!(synced, Synced::Created { .. } | Synced::Updated { .. }) {
                    activity::note(&*self.store, SyncDirection::Outbound, now).await;
                }
                Ok(synced)
            }
            Err(failure) => self.park(id, failure, now).await,
        };
        lock.release().await;
        result
    }

    async fn sync_locked(
        &self,
        lock: &mut DealLock<'_>,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let mut read = match self.read(id).await? {
            Some(read) if read.input.opportunity.sync == Some(true) => read,
            Some(_) => return Ok(Synced::NotShared),
            None => return Ok(Synced::Missing),
        };
        let link = self
            .store
            .link_by_crm(id.into())
            .await
            .map_err(|e| read.fail(e))?;
        if let Some(link) = &link {
            read.defer_mapped_to_newer(link, self.config.mapping.version);
        }
        if let Some(link) = &link
            && read.input.opportunity.referral_id.is_none()
        {
            return self.finish_create(lock, &read, link, now).await;
        }
        if link.as_ref().is_some_and(|link| read.agrees_with(link)) {
            tracing::debug!(opportunity = %id, "deal unchanged since last agreed; nothing sent");
            return Ok(Synced::Unchanged);
        }
        let retry = self.retry_of(&read).await?;
        if let Some(item) = &retry
            && OutboundWork::of(&item.payload).hash.as_deref() == Some(read.seen.as_str())
            && (item.state == RetryState::Dead || item.due_at > now)
        {
            tracing::info!(opportunity = %id, "unchanged since it was parked; waiting");
            let retry_id = item.id.clone();
            return Ok(Synced::Waiting { retry_id });
        }
        let earlier = match (&link, &retry) {
            (Some(link), _) => link.audit.clone(),
            (None, Some(item)) => OutboundWork::of(&item.payload).audit,
            (None, None) => Vec::new(),
        };
        let referral_id = read.input.opportunity.referral_id.clone();
        let synced = match (link, referral_id) {
            (Some(link), _) => self.update_locked(lock, &read, link, earlier, now).await?,
            (None, Some(named)) => {
                let named = ReferralId::new(named).map_err(|e| read.fail(e))?;
                self.adopt_named(&read, &named, earlier).await?
            }
            (None, None) => {
                self.create(lock, &read, earlier, retry.as_ref(), now)
                    .await?
            }
        };
        if synced.done() && retry.is_some() {
            self.forget_retry(id).await;
        }
        Ok(synced)
    }

    /// The opportunity's parked work, if any.
    async fn retry_of(&self, read: &Read) -> Result<Option<RetryItem>, Failure> {
        let id = WorkKey::Outbound(read.id).to_string();
        self.store.retry(&id).await.map_err(|e| read.fail(e))
    }

    /// The row as read with its related rows, or `None` when it no longer exists.
    async fn read(&self, id: Uuid) -> Result<Option<Read>, Failure> {
        let set = Opportunity::ENTITY_SET;
        let record = self
            .crm
            .read_expanded(set, Opportunity::KEY, id, &self.select, &self.expand)
            .await
            .map_err(|e| Failure::new(OutboundError::Read(e)))?;
        match record {
            Some(record) => self.interpret(id, &record).map(Some),
            None => {
                tracing::info!(opportunity = %id, "opportunity gone; nothing to sync");
                Ok(None)
            }
        }
    }

    fn interpret(&self, id: Uuid, record: &Record) -> Result<Read, Failure> {
        let input = OutboundInput::from_expanded_row(&record.row, &self.config)
            .map_err(|e| Failure::new(OutboundError::Mapping(e)))?;
        let mut deal = input.deal();
        if !deal.mapped.is_empty() {
            deal.mapping_version = Some(self.config.mapping.version);
        }
        let hash = deal.hash();
        let row = &input.opportunity;
        let create_only = [
            &row.services.partner_role,
            &row.services.solution_area,
            &row.services.solution_play,
            &row.marketplace_intent,
        ];
        let mut seen = if create_only.iter().all(|v| v.is_none()) {
            hash.clone()
        } else {
            let values = create_only.map(|v| v.as_deref().unwrap_or_default());
            format!("{hash}|{}", values.join("|"))
        };
        // Solutions go to Partner Center on create only, so they are not in the deal state;
        // relating one (after "Solution ID is required") is the edit a parked row waits for.
        if !input.solutions.is_empty() {
            let ids: Vec<&str> = input
                .solutions
                .iter()
                .map(|s| s.solution_id.as_deref().unwrap_or_default())
                .collect();
            seen = format!("{seen}|solutions:{}", ids.join(","));
        }
        // A parked row waits for the seller's next edit: an edit of a mapped column is one.
        if !deal.mapped.is_empty() {
            let mapped = serde_json::to_string(&deal.mapped).unwrap_or_default();
            seen = format!("{seen}|{mapped}");
        }
        Ok(Read {
            id,
            input,
            deal,
            hash,
            seen,
            etag: record.etag.clone(),
        })
    }

    /// A row naming a referral it has no link for: the inbound sync that wrote the row stopped
    /// before its link (a crash), or the link was lost. Which side is newer is unknown, so
    /// nothing is sent: the link records the CRM's deal as agreed and no inbound hash, so the
    /// inbound sync (its webhook or the sweep) brings whatever Partner Center holds beyond it.
    /// Sending the row instead overwrote Microsoft's newer edit (chaos suite).
    async fn adopt_named(
        &self,
        read: &Read,
        referral_id: &ReferralId,
        earlier: Vec<String>,
    ) -> Result<Synced, Failure> {
        let mut link = Link::new(
            referral_id.clone(),
            cosell_store::CrmKind::Opportunity,
            read.id,
        );
        link.agree(&read.deal);
        link.audit = earlier;
        crate::link::put_link(&*self.store, link)
            .await
            .map_err(|e| read.fail(e))?;
        tracing::info!(opportunity = %read.id, referral = %referral_id, "referral named by the row adopted; nothing sent");
        Ok(Synced::Unchanged)
    }

    /// Removes the opportunity's retry item once nothing is left for it. Best effort.
    async fn forget_retry(&self, id: Uuid) {
        let item = WorkKey::Outbound(id).to_string();
        if let Err(error) = self.store.delete_retry(&item).await {
            tracing::warn!(%error, opportunity = %id, "done retry item not removed");
        }
    }
}
