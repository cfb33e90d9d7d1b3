//! Outbound: a seller's opportunity (with "Sync with Partner Center" = yes) becomes a Partner
//! Center referral and stays in sync with it, without ping-pong.
//!
//! Two triggers share [`OutboundSync::sync_opportunity`]: the change feed ([`OutboundSync::poll`],
//! see [`feed`]) and a Dataverse webhook naming one row. For one opportunity, under a store lease
//! (`outbound:<opportunity id>`), it does:
//! 1. **read** the row with its account, contact, currency and solutions (one `$expand` query);
//! 2. **skip** it when its [`DealState`] hash equals `Link.outbound_hash` (what both sides last
//!    agreed on — our own write-backs and the inbound sync's writes land here, at no Partner
//!    Center request), or when a retry item `outbound:<id>` holds the same hash (and the same
//!    Services and marketplace columns, which only a create sends) and is dead or not yet due
//!    (a rejected opportunity waits for the seller's next edit);
//! 3. **create** (no link): validate ([`plan_create`]); an invalid opportunity gets ✖ and the
//!    sentences in Audit (one PATCH) and a dead retry item, with *no* Partner Center request;
//!    else store the intent (retry item with `creatingSince` and the deal posted, see
//!    [`intent`]), `POST` (co-sell: a second `POST`, [`microsoft_referral`]), the link, then
//!    **one** Dataverse PATCH writing back referral id, link, ✔ and Audit. An attempt after an
//!    intent first looks for the referral the earlier one may have created (by
//!    `externalReferenceId`) and adopts it, merging three ways against the deal as posted: the
//!    seller's changes since are sent, Microsoft's are left for the inbound sync;
//! 4. **update** (linked): [`plan_update`] against the last agreed state and a referral assumed
//!    from it (see [`assumed`]). The paths the connector allows go by one JSON Patch with
//!    `If-Match` = the link's stored eTag, then a `GET` for the new state and eTag (the connector
//!    declares a bare `204`) — **two** Partner Center requests; what it does not allow (the name)
//!    goes by `PUT` of the whole referral read afresh (`GET`, `PUT`: two as well). A 412 reads
//!    the referral, plans again on top of it and sends once more; refusals (un-share, illegal
//!    moves) become Audit lines; then one Dataverse PATCH (✔ + Audit) and the link.
//!
//! After a send, `Link.outbound_hash`/`Link.deal` hold the CRM's deal state as sent, and
//! `Link.inbound_hash` the inbound plan hash of the referral Partner Center answered — so the
//! webhook our own write fires changes nothing. When Partner Center holds something the CRM does
//! not (Microsoft's change merged after a 412, a refused un-share), `inbound_hash` is left as it
//! was, so that webhook brings Partner Center's state into the CRM instead.
//!
//! A failure (5xx after retries, network, a refused request) becomes a retry item
//! `outbound:<opportunity id>` (pending with backoff, or dead when retrying cannot help) and ✖ +
//! an Audit line on the opportunity; the retry scheduler ([`crate::retry`]) redoes due items.

pub mod assumed;
mod failure;
pub mod feed;
pub mod intent;

use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::{DataverseError, ETag, Precondition, Record};
use cosell_mapping::category::MICROSOFT_ORGANIZATION_ID;
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound::{self, MARK_FAILED, MARK_OK, decorate_name};
use cosell_mapping::outbound::{
    DealKind, InvalidOpportunity, OutboundInput, UpdatePlan, microsoft_referral, missing_services,
    plan_create, plan_update,
};
use cosell_mapping::{CrmConfig, CrmRow, Opportunity, Referral, audit};
use cosell_partner_center::{PatchOp, PatchOpKind, patchable};
use cosell_store::{CrmKind, Link, Outcome, RetryItem, RetryState, StoreError, SyncStore};
use cosell_transport::correlation;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

pub use failure::Problem;
pub use feed::{CURSOR, FEED_LEASE, PollReport};
pub use intent::Intent;

use crate::activity::{self, Direction};
use crate::backoff::Backoff;
use crate::ports::{Crm, Referrals};

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
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            feed_lease_ttl: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(60),
            lease_wait: Duration::from_secs(5),
            backoff: Backoff::default(),
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
        referral_id: String,
        kind: DealKind,
        /// Co-sell's connected referral for Microsoft.
        connected: Option<String>,
    },
    /// The referral was brought up to date (`changes` operations sent, `refused` refused).
    Updated {
        referral_id: String,
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

/// The outcome could not be stored durably (not even as a retry item): the trigger must come
/// again (a webhook answers 5xx; the change feed keeps its cursor).
#[derive(Debug, thiserror::Error)]
#[error("the outbound sync could not store its outcome: {0}")]
pub struct NotStored(#[source] pub StoreError);

/// The retry item (and lease) id of an opportunity's outbound work.
pub fn retry_id(opportunity_id: Uuid) -> String {
    format!("outbound:{opportunity_id}")
}

/// The outbound use case. Cheap to share (`Arc` it).
pub struct OutboundSync {
    store: Arc<dyn SyncStore>,
    referrals: Arc<dyn Referrals>,
    crm: Arc<dyn Crm>,
    config: CrmConfig,
    settings: OutboundSettings,
    select: Vec<String>,
    expand: String,
}

/// A failed sync: the problem, and what is known to write ✖ on the row.
struct Failure {
    problem: Box<Problem>,
    hash: Option<String>,
    name: Option<String>,
    etag: Option<ETag>,
}

impl Failure {
    fn new(problem: impl Into<Problem>) -> Self {
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
    fn fail(&self, problem: impl Into<Problem>) -> Failure {
        Failure {
            problem: Box::new(problem.into()),
            hash: Some(self.seen.clone()),
            name: self.input.opportunity.name.clone(),
            etag: self.etag.clone(),
        }
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
        Self {
            select: OutboundInput::select(&config),
            expand: OutboundInput::expand(&config),
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
        let lease = retry_id(id);
        let owner = Uuid::new_v4().to_string();
        match self.lease(&lease, &owner).await {
            Ok(true) => {}
            Ok(false) => return self.park(id, Failure::new(Problem::Busy), now).await,
            Err(e) => return Err(NotStored(e)),
        }
        // One correlation id per sync: on its log span and on every Partner Center request.
        let sync_id = Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync", sync_id = %sync_id, opportunity = %id);
        let synced =
            correlation::scope(sync_id, self.sync_locked(id, &owner, now).instrument(span)).await;
        if redoing
            && let Ok(
                Synced::Unchanged
                | Synced::Missing
                | Synced::NotShared
                | Synced::Created { .. }
                | Synced::Updated { parked: None, .. },
            ) = &synced
            && let Err(error) = self.store.delete_retry(&retry_id(id)).await
        {
            tracing::warn!(%error, opportunity = %id, "done retry item not removed");
        }
        let result = match synced {
            Ok(synced) => {
                if matches!(synced, Synced::Created { .. } | Synced::Updated { .. }) {
                    activity::note(&*self.store, Direction::Outbound, now).await;
                }
                Ok(synced)
            }
            Err(failure) => self.park(id, failure, now).await,
        };
        self.release(&lease, &owner).await;
        result
    }

    /// Takes a store lease, waiting a little for its holder to finish; `false` if it did not.
    async fn lease(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let (ttl, wait) = (self.settings.lease_ttl, self.settings.lease_wait);
        crate::lease::acquire_waiting(&*self.store, name, owner, ttl, wait).await
    }

    async fn sync_locked(
        &self,
        id: Uuid,
        owner: &str,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let Some(record) = self
            .crm
            .read_expanded(
                Opportunity::ENTITY_SET,
                Opportunity::KEY,
                id,
                &self.select,
                &self.expand,
            )
            .await
            .map_err(|e| Failure::new(Problem::Read(e)))?
        else {
            tracing::info!(opportunity = %id, "opportunity gone; nothing to sync");
            return Ok(Synced::Missing);
        };
        let read = self.interpret(id, &record)?;
        if read.input.opportunity.sync != Some(true) {
            return Ok(Synced::NotShared);
        }
        let link = self
            .store
            .link_by_crm(&id.to_string())
            .await
            .map_err(|e| read.fail(e))?;
        if let Some(link) = &link
            && read.input.opportunity.referral_id.is_none()
        {
            return self.finish_create(&read, link, now).await;
        }
        if link.as_ref().and_then(|l| l.outbound_hash.as_deref()) == Some(read.hash.as_str()) {
            tracing::debug!(opportunity = %id, "deal unchanged since last agreed; nothing sent");
            return Ok(Synced::Unchanged);
        }
        let retry = self
            .store
            .retry(&retry_id(id))
            .await
            .map_err(|e| read.fail(e))?;
        if let Some(item) = &retry
            && item.payload.get("hash").and_then(Value::as_str) == Some(read.seen.as_str())
            && (item.state == RetryState::Dead || item.due_at > now)
        {
            tracing::info!(opportunity = %id, "unchanged since it was parked; waiting");
            return Ok(Synced::Waiting {
                retry_id: item.id.clone(),
            });
        }
        let earlier = match (&link, &retry) {
            (Some(link), _) => link.audit.clone(),
            (None, Some(item)) => audit_of(&item.payload),
            (None, None) => Vec::new(),
        };
        let referral_id = read.input.opportunity.referral_id.clone();
        let synced = match (link, referral_id) {
            (Some(link), _) => self.update_locked(&read, link, earlier, now).await?,
            // Named a referral but no link: the inbound sync that wrote the row stopped before
            // its link (a crash), or the link was lost. Which side is newer is unknown, so
            // nothing is sent: the link records the CRM's deal as agreed and no inbound hash, so
            // the inbound sync (its webhook or the sweep) brings whatever Partner Center holds
            // beyond it. Sending the row instead overwrote Microsoft's newer edit (chaos suite).
            (None, Some(referral_id)) => {
                let mut link = new_link(&referral_id, id);
                link.outbound_hash = Some(read.hash.clone());
                link.deal = serde_json::to_value(&read.deal).ok();
                link.audit = earlier;
                self.put_link(link).await.map_err(|e| read.fail(e))?;
                tracing::info!(opportunity = %id, referral = %referral_id, "referral named by the row adopted; nothing sent");
                Synced::Unchanged
            }
            (None, None) => {
                let attempt = CreateAttempt::of(retry.as_ref());
                self.create(&read, earlier, attempt, owner, now).await?
            }
        };
        let done = matches!(
            synced,
            Synced::Created { .. } | Synced::Updated { parked: None, .. } | Synced::Unchanged
        );
        if done
            && retry.is_some()
            && let Err(error) = self.store.delete_retry(&retry_id(id)).await
        {
            tracing::warn!(%error, opportunity = %id, "done retry item not removed");
        }
        Ok(synced)
    }

    /// A referral linked whose write-back was lost (a crash or a failed `PATCH` right after the
    /// `POST`), or linked by the inbound sync while the create's answer was lost: write it now,
    /// from the link, instead of creating another. A seller's edit since the deal the link
    /// agrees on (as posted, or as the inbound sync found Partner Center) is then sent.
    async fn finish_create(
        &self,
        read: &Read,
        link: &Link,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let ok = link.last_outcome.as_ref().is_none_or(|o| o.ok);
        let name = self.marked(read.input.opportunity.name.as_deref(), ok);
        self.write_back(read.id, read.etag.as_ref(), created_row(link, name))
            .await
            .map_err(|e| read.fail(Problem::WriteBack(e)))?;
        tracing::info!(opportunity = %read.id, referral = link.referral_id, "write-back of a created referral finished");
        if link.outbound_hash.as_deref() != Some(read.hash.as_str()) {
            let earlier = link.audit.clone();
            return self.update_locked(read, link.clone(), earlier, now).await;
        }
        Ok(Synced::Created {
            referral_id: link.referral_id.clone(),
            kind: DealKind::of(&read.input),
            connected: None,
        })
    }

    fn interpret(&self, id: Uuid, record: &Record) -> Result<Read, Failure> {
        let input = OutboundInput::from_expanded_row(&record.row, &self.config)
            .map_err(|e| Failure::new(Problem::Mapping(e)))?;
        let deal = DealState::from_opportunity(&input);
        let hash = deal.hash();
        let row = &input.opportunity;
        let create_only = [
            &row.services.partner_role,
            &row.services.solution_area,
            &row.services.solution_play,
            &row.marketplace_intent,
        ];
        let seen = if create_only.iter().all(|v| v.is_none()) {
            hash.clone()
        } else {
            let values = create_only.map(|v| v.as_deref().unwrap_or_default());
            format!("{hash}|{}", values.join("|"))
        };
        Ok(Read {
            id,
            input,
            deal,
            hash,
            seen,
            etag: record.etag.clone(),
        })
    }

    /// An opportunity with no referral: validate, `POST` (twice for co-sell), write back once.
    ///
    /// A `POST` that reached Partner Center but whose link was never stored (a crash, a store
    /// error, an answer lost on the way back) must not become a second referral: the intent is
    /// stored first (a retry item due once the record lease has expired, so a crash is redone,
    /// holding the deal the `POST` carries), and a later attempt after such an intent looks for
    /// the referral it may have created — `externalReferenceId` is the opportunity's id — before
    /// posting again. An adopted referral is merged three ways against the deal as posted
    /// (see [`intent`]): the seller's changes since are sent at once.
    async fn create(
        &self,
        read: &Read,
        earlier: Vec<String>,
        attempt: CreateAttempt,
        owner: &str,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let plan = match plan_create(&read.input, &self.config) {
            Ok(plan) => plan,
            Err(invalid) => return self.reject(read, None, earlier, &invalid, now).await,
        };
        // After an intent, first look for the referral an earlier `POST` may have made. The
        // intent stays as it is until a `POST` is sent: it names the deal that one carried.
        let (earlier_partner, earlier_microsoft) = match &attempt.intent {
            Some(intent) => self.created_since(read, intent.since).await?,
            None => (None, None),
        };
        // The reads (and the listing) before may have outlasted the lease, and a redo of this opportunity may
        // have taken it over: renew it, or leave the create to that one.
        let renewed = self
            .store
            .acquire_lease(
                &retry_id(read.id),
                owner,
                OffsetDateTime::now_utc(),
                self.settings.lease_ttl,
            )
            .await
            .map_err(|e| read.fail(e))?;
        if !renewed {
            return Err(read.fail(Problem::Busy));
        }
        let adopted = earlier_partner.is_some();
        let created = match earlier_partner {
            Some(referral) => {
                tracing::info!(opportunity = %read.id, referral = ?referral.id, "referral created by an earlier attempt adopted");
                referral
            }
            None => {
                let intent = Intent {
                    since: attempt.intent.as_ref().map_or(now, |i| i.since),
                    posted: Some(read.deal.clone()),
                };
                let item = RetryItem {
                    id: retry_id(read.id),
                    payload: intent.mark(payload(read.id, Some(&read.seen), &earlier)),
                    due_at: now + self.settings.lease_ttl,
                    attempts: attempt.attempts,
                    last_error: Some("creating the referral".into()),
                    state: RetryState::Pending,
                };
                self.store
                    .put_retry(&item)
                    .await
                    .map_err(|e| read.fail(e))?;
                self.referrals
                    .create(&plan.referral)
                    .await
                    .map_err(|e| read.fail(self.create_refused(read, e)))?
            }
        };
        let referral_id = created
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| read.fail(Problem::NoReferralId))?;
        let (connected, connect_error) = match plan.kind {
            DealKind::CoSell if earlier_microsoft.is_some() => {
                (earlier_microsoft.and_then(|r| r.id), None)
            }
            DealKind::CoSell => {
                match self
                    .referrals
                    .create(&microsoft_referral(&created, &plan))
                    .await
                {
                    Ok(microsoft) => (microsoft.id, None),
                    Err(error) => (None, Some(error)),
                }
            }
            DealKind::Private | DealKind::PartnerLed => (None, None),
        };
        let kind = kind_name(plan.kind);
        let (ok, message) = match (&connect_error, &connected) {
            (Some(error), _) => (
                false,
                format!(
                    "✖ Created {kind} referral {referral_id} in Partner Center, but the connected referral for Microsoft failed: {error}"
                ),
            ),
            (None, Some(microsoft)) => (
                true,
                format!(
                    "✔ Created {kind} referral {referral_id} in Partner Center, with the connected referral {microsoft} for Microsoft"
                ),
            ),
            (None, None) => (
                true,
                format!("✔ Created {kind} referral {referral_id} in Partner Center"),
            ),
        };
        let log = audit::prepend(audit::line(now, &message), &earlier);
        // The link first: once it is stored, no later run creates a second referral for this
        // opportunity, even if the write-back below is lost (see `finish_create`).
        let mut link = new_link(&referral_id, read.id);
        link.referral_link = referral_link(&created);
        match (adopted, attempt.intent.and_then(|i| i.posted)) {
            (false, _) => {
                link.inbound_hash = inbound::plan(&created, &self.config).ok().map(|p| p.hash);
                link.referral_etag = created.etag.clone();
                link.outbound_hash = Some(read.hash.clone());
                link.deal = serde_json::to_value(&read.deal).ok();
            }
            // Adopted: both sides may have moved since the `POST` whose answer was lost. The deal
            // as posted is what they last agreed on; the update below sends the seller's changes
            // since, and Partner Center's (unless it still holds the posted deal) are left for
            // the inbound sync: no inbound hash, no eTag, so the update reads the referral first.
            (true, Some(posted)) => {
                if DealState::from_referral(&created).hash() == posted.hash() {
                    link.inbound_hash = inbound::plan(&created, &self.config).ok().map(|p| p.hash);
                    link.referral_etag = created.etag.clone();
                }
                link.outbound_hash = Some(posted.hash());
                link.deal = serde_json::to_value(&posted).ok();
            }
            // An intent stored before the posted deal was kept: no common ancestor, so the
            // update sends whatever the row holds that the referral does not.
            (true, None) => {}
        }
        link.audit = log;
        link.last_outcome = Some(Outcome {
            ok,
            message: message.clone(),
            at: now,
        });
        let link = self.put_link(link).await.map_err(|e| read.fail(e))?;
        if let Err(error) = self.store.delete_retry(&retry_id(read.id)).await {
            // Harmless: the redo finds the link and only finishes the write-back.
            tracing::warn!(%error, opportunity = %read.id, "create intent not removed");
        }
        self.write_back(
            read.id,
            read.etag.as_ref(),
            created_row(
                &link,
                self.marked(read.input.opportunity.name.as_deref(), ok),
            ),
        )
        .await
        .map_err(|e| read.fail(Problem::WriteBack(e)))?;
        if let Some(error) = connect_error {
            // The partner's referral exists and is linked (a retry would not create it again);
            // the connected one needs an operator. ✖ and the reason are already on the row.
            let problem = Problem::Connected {
                referral_id,
                source: error,
            };
            let item = RetryItem {
                id: retry_id(read.id),
                payload: payload(read.id, Some(&read.seen), &[]),
                due_at: now,
                attempts: 1,
                last_error: Some(problem.to_string()),
                state: RetryState::Dead,
            };
            self.store
                .put_retry(&item)
                .await
                .map_err(|e| read.fail(e))?;
            tracing::warn!(opportunity = %read.id, %problem, "co-sell referral only half created");
            return Ok(Synced::Parked {
                retry_id: item.id,
                message: problem.to_string(),
                permanent: true,
            });
        }
        if adopted && link.outbound_hash.as_deref() != Some(read.hash.as_str()) {
            tracing::info!(opportunity = %read.id, referral = %referral_id, "edited since the adopted referral was posted; updating it");
            let earlier = link.audit.clone();
            return self.update_locked(read, link, earlier, now).await;
        }
        tracing::info!(opportunity = %read.id, referral = %referral_id, kind, "referral created");
        Ok(Synced::Created {
            referral_id,
            kind: plan.kind,
            connected,
        })
    }

    /// [`Self::update`] holding the inbound sync's lease of the referral (`inbound:<referral id>`):
    /// the webhook our patch fires is handled only once the link says what we sent, so it
    /// writes nothing back.
    async fn update_locked(
        &self,
        read: &Read,
        link: Link,
        earlier: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let lease = crate::inbound::retry_id(&link.referral_id);
        let owner = Uuid::new_v4().to_string();
        match self.lease(&lease, &owner).await {
            Ok(true) => {}
            Ok(false) => return Err(read.fail(Problem::Busy)),
            Err(e) => return Err(read.fail(e)),
        }
        // Read the link again under the lease: an inbound write just before may have moved it.
        let link = match self.store.link_by_referral(&link.referral_id).await {
            Ok(Some(current)) if current.crm_id == link.crm_id => current,
            Ok(_) => link,
            Err(e) => {
                self.release(&lease, &owner).await;
                return Err(read.fail(e));
            }
        };
        let result = if link.outbound_hash.as_deref() == Some(read.hash.as_str()) {
            Ok(Synced::Unchanged)
        } else {
            self.update(read, link, earlier, now).await
        };
        self.release(&lease, &owner).await;
        result
    }

    async fn release(&self, lease: &str, owner: &str) {
        if let Err(error) = self.store.release_lease(lease, owner).await {
            tracing::warn!(%error, lease, "lease not released; it expires on its own");
        }
    }

    /// A linked opportunity: one JSON Patch against the stored eTag; a 412 reads and plans again.
    async fn update(
        &self,
        read: &Read,
        link: Link,
        earlier: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let referral_id = link.referral_id.clone();
        let last_agreed: Option<DealState> = link
            .deal
            .clone()
            .and_then(|deal| serde_json::from_value(deal).ok());
        // With a stored eTag and agreed state, no read: the patch is conditional on exactly the
        // state we know. Otherwise (an adopted link) read it first.
        let (mut current, mut etag, mut fresh) = match (&link.referral_etag, &last_agreed) {
            (Some(etag), Some(agreed)) => (
                assumed::referral(&referral_id, agreed, etag),
                Some(etag.clone()),
                false,
            ),
            _ => {
                let current = self
                    .referrals
                    .referral(&referral_id)
                    .await
                    .map_err(|e| read.fail(Problem::Referral(e)))?;
                let etag = current.etag.clone();
                (current, etag, true)
            }
        };
        let mut conflicts = 0;
        // Read the referral as it is now, and plan again on top of it.
        let mut reread = false;
        // A `PUT` Partner Center refused: the paths only it carries are dropped, and why.
        let mut put_refused: Option<(Vec<String>, String)> = None;
        let (plan, answered) = loop {
            if reread {
                current = self
                    .referrals
                    .referral(&referral_id)
                    .await
                    .map_err(|e| read.fail(Problem::Referral(e)))?;
                etag = current.etag.clone();
                // Every way round the loop asks for a read again.
                fresh = true;
            }
            let mut plan =
                match plan_update(&read.input, &current, last_agreed.as_ref(), &self.config) {
                    Ok(plan) => plan,
                    Err(invalid) => {
                        return self.reject(read, Some(link), earlier, &invalid, now).await;
                    }
                };
            if let Some((dropped, _)) = &mut put_refused {
                let (patchable_part, unpatchable) = plan.without(&current, patchable);
                plan = patchable_part;
                *dropped = unpatchable;
            }
            if plan.changes.is_empty() {
                break (plan, None);
            }
            // What the connector cannot patch (the name, a parent object the referral lacks)
            // goes by `PUT` of the whole referral, built from the referral as it is now: never
            // from the assumed one, which lacks the customer, team and target.
            let whole = plan.changes.iter().any(|c| !patchable(&c.path));
            if whole && !fresh {
                reread = true;
                continue;
            }
            let sent = if whole {
                let next = plan
                    .apply_to(&current)
                    .map_err(|e| read.fail(Problem::Mapping(e)))?;
                // `*` only if the read gave no eTag: PUT is conditional on the version read.
                let version = etag.as_deref().unwrap_or("*");
                self.referrals.replace(&next, version).await
            } else {
                let ops = patch_ops(&plan);
                self.referrals
                    .patch(&referral_id, &ops, etag.as_deref())
                    .await
            };
            match sent {
                Ok(answered) => break (plan, Some(answered)),
                Err(error) if error.is_precondition_failed() && conflicts == 0 => {
                    conflicts += 1;
                    tracing::info!(referral = %referral_id, "referral changed meanwhile (412); merging");
                    reread = true;
                }
                Err(error) if error.is_precondition_failed() => {
                    return Err(read.fail(Problem::Conflict));
                }
                // A refused `PUT` never blocks what a PATCH can carry: send that part.
                Err(error) if whole && error.is_refused() && put_refused.is_none() => {
                    let message = error.message().unwrap_or("no reason given").to_owned();
                    tracing::info!(referral = %referral_id, %error, "replace refused; patching what can be");
                    put_refused = Some((Vec::new(), message));
                }
                Err(error) => return Err(read.fail(Problem::Referral(error))),
            }
        };

        let sent: Vec<&str> = plan.changes.iter().map(|c| c.path.as_str()).collect();
        let mut lines = Vec::new();
        if !sent.is_empty() {
            lines.push(format!(
                "✔ Updated Partner Center referral {referral_id}: {}",
                sent.join(", ")
            ));
        }
        for refusal in &plan.refusals {
            lines.push(format!("✖ Not sent to Partner Center: {refusal}"));
        }
        // What Partner Center refused stays as it holds it, in the agreed deal too: neither side
        // writes it over the other, and a dead item keeps the row until the seller's next edit.
        let (dropped, refused_line) = match &put_refused {
            Some((dropped, message)) if !dropped.is_empty() => {
                let fields: Vec<&str> = dropped.iter().map(|p| field_named(p)).collect();
                let line = format!(
                    "✖ Not sent to Partner Center: {}; Partner Center refused the change: \
                     {message} (edit the opportunity to try again)",
                    fields.join(", ")
                );
                (dropped.as_slice(), Some(line))
            }
            _ => (&[][..], None),
        };
        let mut agreed = read.deal.clone();
        let held = DealState::from_referral(&current);
        for path in dropped {
            agreed.keep_from(path, &held);
        }
        lines.extend(refused_line.clone());
        let mut log = earlier;
        for line in &lines {
            log = audit::prepend(audit::line(now, line), &log);
        }
        if !lines.is_empty() {
            let row = Opportunity {
                name: self.marked(
                    read.input.opportunity.name.as_deref(),
                    refused_line.is_none(),
                ),
                audit: Some(audit::render(&log)),
                ..Opportunity::default()
            };
            self.write_back(read.id, read.etag.as_ref(), row)
                .await
                .map_err(|e| read.fail(Problem::WriteBack(e)))?;
        }
        let parked = match &refused_line {
            Some(line) => Some(self.park_until_edited(read, &log, line, now).await?),
            None => None,
        };
        // Partner Center holds more than the CRM (Microsoft's change kept after a 412 or since an
        // adopted referral was posted, a refused change): leave `inbound_hash`, so the webhook
        // of this write (or the sweep) brings it into the CRM. Only a referral read, not the one
        // assumed from the agreed deal, can show Microsoft's changes.
        let partner_center_has_more = conflicts > 0
            || !plan.refusals.is_empty()
            || (fresh && plan.deal.hash() != agreed.hash());
        let mut next = link;
        if let Some(answered) = &answered {
            if !partner_center_has_more {
                next.inbound_hash = inbound::plan(answered, &self.config).ok().map(|p| p.hash);
            }
            next.referral_etag = answered.etag.clone().or(next.referral_etag);
        } else {
            // Nothing sent: the eTag is the one planned against (stored, or just read).
            next.referral_etag = etag.clone().or(next.referral_etag);
        }
        // Remember the CRM's state as sent, not `plan.deal` (Partner Center's merged state): where
        // Partner Center keeps more (a refused un-share, Microsoft's change kept after a 412), the
        // CRM row still differs from it, and must not read as a new seller change next poll. The
        // inbound sync brings Partner Center's state in and records it as agreed. A field Partner
        // Center refused is agreed as it holds it, so the next poll meets the dead item and waits.
        next.outbound_hash = Some(agreed.hash());
        next.deal = serde_json::to_value(&agreed).ok();
        next.audit = log;
        let message = lines
            .first()
            .cloned()
            .unwrap_or_else(|| format!("Referral {referral_id} already up to date"));
        next.last_outcome = Some(Outcome {
            ok: true,
            message,
            at: now,
        });
        self.put_link(next).await.map_err(|e| read.fail(e))?;
        tracing::info!(
            opportunity = %read.id,
            referral = %referral_id,
            changes = plan.changes.len(),
            refused = plan.refusals.len() + dropped.len(),
            conflicts,
            "referral updated"
        );
        Ok(Synced::Updated {
            referral_id,
            changes: plan.changes.len(),
            refused: plan.refusals.len() + dropped.len(),
            conflicts,
            parked,
        })
    }

    /// ✖ and the sentences in Audit (one PATCH), then a dead retry item holding the hash, so the
    /// row waits for the seller's next edit. No Partner Center request.
    async fn reject(
        &self,
        read: &Read,
        link: Option<Link>,
        earlier: Vec<String>,
        invalid: &InvalidOpportunity,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let message = format!("✖ Not sent to Partner Center: {invalid}");
        let log = audit::prepend(audit::line(now, &message), &earlier);
        let row = Opportunity {
            name: self.marked(read.input.opportunity.name.as_deref(), false),
            audit: Some(audit::render(&log)),
            ..Opportunity::default()
        };
        self.write_back(read.id, read.etag.as_ref(), row)
            .await
            .map_err(|e| read.fail(Problem::WriteBack(e)))?;
        self.park_until_edited(read, &log, &invalid.to_string(), now)
            .await?;
        if let Some(link) = link {
            let next = Link {
                audit: log,
                last_outcome: Some(Outcome {
                    ok: false,
                    message: message.clone(),
                    at: now,
                }),
                ..link
            };
            if let Err(error) = self.put_link(next).await {
                tracing::warn!(%error, opportunity = %read.id, "audit line not kept in the link");
            }
        }
        tracing::info!(opportunity = %read.id, problems = invalid.problems.len(), "opportunity not valid for Partner Center");
        Ok(Synced::Invalid {
            message: invalid.to_string(),
        })
    }

    /// A dead retry item holding the row as read: the next poll waits until the seller edits.
    async fn park_until_edited(
        &self,
        read: &Read,
        log: &[String],
        why: &str,
        now: OffsetDateTime,
    ) -> Result<String, Failure> {
        let item = RetryItem {
            id: retry_id(read.id),
            payload: payload(read.id, Some(&read.seen), log),
            due_at: now,
            attempts: 0,
            last_error: Some(why.to_owned()),
            state: RetryState::Dead,
        };
        self.store
            .put_retry(&item)
            .await
            .map_err(|e| read.fail(e))?;
        Ok(item.id)
    }

    /// Why a create failed: a refusal of a co-sell lacking the Services fields names them.
    fn create_refused(&self, read: &Read, error: cosell_partner_center::Error) -> Problem {
        let fill = missing_services(&read.input, &self.config);
        if error.is_refused() && !fill.is_empty() {
            Problem::ServicesMissing {
                source: error,
                fill,
            }
        } else {
            Problem::Referral(error)
        }
    }

    /// Keeps the work as a retry item, then shows the failure on the row (best effort).
    async fn park(
        &self,
        id: Uuid,
        failure: Failure,
        now: OffsetDateTime,
    ) -> Result<Synced, NotStored> {
        let retry = retry_id(id);
        let previous = self.store.retry(&retry).await.ok().flatten();
        let attempts = previous.as_ref().map_or(0, |i| i.attempts) + 1;
        let backoff = &self.settings.backoff;
        let permanent = failure.problem.is_permanent() || backoff.exhausted(attempts);
        let mut message = failure.problem.to_string();
        if !failure.problem.is_permanent() && permanent {
            message = format!("{message} (gave up after {attempts} attempts)");
        }
        let link = self.store.link_by_crm(&id.to_string()).await.ok().flatten();
        let earlier = match (&link, &previous) {
            (Some(link), _) => link.audit.clone(),
            (None, Some(item)) => audit_of(&item.payload),
            (None, None) => Vec::new(),
        };
        let next = if permanent {
            "fix it, then edit the opportunity"
        } else {
            "will retry"
        };
        let line = format!("✖ Not synced with Partner Center: {message} ({next})");
        let log = audit::prepend(audit::line(now, &line), &earlier);
        let item = RetryItem {
            id: retry.clone(),
            payload: Intent::keep(
                payload(id, failure.hash.as_deref(), &log),
                previous.as_ref(),
            ),
            due_at: now + backoff.delay(attempts),
            attempts,
            last_error: Some(message.clone()),
            state: if permanent {
                RetryState::Dead
            } else {
                RetryState::Pending
            },
        };
        self.store.put_retry(&item).await.map_err(NotStored)?;
        tracing::warn!(opportunity = %id, permanent, problem = %message, "outbound sync parked");
        if !matches!(*failure.problem, Problem::Busy | Problem::Read(_)) {
            let row = Opportunity {
                name: self.marked(failure.name.as_deref(), false),
                audit: Some(audit::render(&log)),
                ..Opportunity::default()
            };
            match self.write_back(id, failure.etag.as_ref(), row).await {
                Ok(()) => {
                    if let Some(link) = link
                        && let Err(error) = self.put_link(Link { audit: log, ..link }).await
                    {
                        tracing::warn!(%error, opportunity = %id, "audit line not kept in the link");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, opportunity = %id, "failure not shown on the opportunity");
                }
            }
        }
        Ok(Synced::Parked {
            retry_id: retry,
            message,
            permanent,
        })
    }

    /// The referrals an earlier create attempt begun at `since` made for this opportunity, if
    /// any reached Partner Center: (the partner's, co-sell's connected one for Microsoft). One
    /// listing of what changed since then, a few minutes earlier for clock skew.
    async fn created_since(
        &self,
        read: &Read,
        since: OffsetDateTime,
    ) -> Result<(Option<Referral>, Option<Referral>), Failure> {
        let listed = self
            .referrals
            .updated_after(since - CLOCK_SKEW)
            .await
            .map_err(|e| read.fail(Problem::Referral(e)))?;
        let id = read.id.to_string();
        let (microsoft, partner): (Vec<Referral>, Vec<Referral>) = listed
            .into_iter()
            .filter(|r| r.external_reference_id.as_deref() == Some(id.as_str()))
            .partition(|r| {
                r.target
                    .iter()
                    .any(|t| t.id.as_deref() == Some(MICROSOFT_ORGANIZATION_ID))
            });
        Ok((partner.into_iter().next(), microsoft.into_iter().next()))
    }

    /// The name with ✔ or ✖ when the setting is on (`None`: leave the name alone).
    fn marked(&self, name: Option<&str>, ok: bool) -> Option<String> {
        let name = name.filter(|_| self.config.check_mark_in_name)?;
        let mark = if ok { MARK_OK } else { MARK_FAILED };
        let marked = decorate_name(name, mark, &self.config);
        (marked != name).then_some(marked)
    }

    /// Writes our columns back. One that renames the row (✔/✖) is made only on the version
    /// read (`etag`): a seller who renamed it meanwhile keeps their name — the change feed
    /// brings their edit next — and the rest is written without the name.
    async fn write_back(
        &self,
        id: Uuid,
        etag: Option<&ETag>,
        row: Opportunity,
    ) -> Result<(), DataverseError> {
        let to_row = |row: &Opportunity| {
            row.to_row(&self.config)
                .map_err(|e| DataverseError::InvalidInput(e.to_string()))
        };
        let set = Opportunity::ENTITY_SET;
        if let (Some(etag), Some(_)) = (etag, &row.name) {
            let precondition = Precondition::IfMatch(etag.clone());
            match self
                .crm
                .update_row(set, id, &to_row(&row)?, precondition)
                .await
            {
                Err(error) if error.is_precondition_failed() => {
                    tracing::info!(opportunity = %id, "edited since read; written back without the name");
                }
                other => return other,
            }
        }
        let row = Opportunity {
            name: row.name.filter(|_| etag.is_none()),
            ..row
        };
        self.crm
            .update_row(set, id, &to_row(&row)?, Precondition::MustExist)
            .await
    }

    /// Stores the link; a concurrent writer (the inbound sync of our own referral's webhook) is
    /// merged once: ours is the newer word on this opportunity.
    async fn put_link(&self, next: Link) -> Result<Link, StoreError> {
        match self.store.put_link(&next).await {
            Err(StoreError::Conflict { .. }) => {
                let current = self.store.link_by_referral(&next.referral_id).await?;
                let version = current.map_or(0, |c| c.version);
                self.store.put_link(&Link { version, ..next }).await
            }
            other => other,
        }
    }
}

fn patch_ops(plan: &UpdatePlan) -> Vec<PatchOp> {
    plan.changes
        .iter()
        .map(|change| PatchOp {
            op: match change.op {
                cosell_mapping::outbound::ChangeOp::Replace => PatchOpKind::Replace,
                cosell_mapping::outbound::ChangeOp::Add => PatchOpKind::Add,
            },
            path: change.path.clone(),
            value: change.value.clone(),
        })
        .collect()
}

/// The write-back after a create: referral id and link, the mark, and the Audit log.
fn created_row(link: &Link, name: Option<String>) -> Opportunity {
    Opportunity {
        referral_id: Some(link.referral_id.clone()),
        referral_link: link.referral_link.clone(),
        name,
        audit: Some(audit::render(&link.audit)),
        ..Opportunity::default()
    }
}

fn new_link(referral_id: &str, crm_id: Uuid) -> Link {
    Link {
        referral_id: referral_id.to_owned(),
        crm_kind: CrmKind::Opportunity,
        crm_id: crm_id.to_string(),
        inbound_hash: None,
        outbound_hash: None,
        referral_etag: None,
        referral_link: None,
        crm_etag: None,
        last_outcome: None,
        audit: Vec::new(),
        deal: None,
        version: 0,
    }
}

/// `links.self.uri`, the referral's address.
fn referral_link(referral: &Referral) -> Option<String> {
    referral
        .links
        .as_ref()
        .and_then(|l| l.self_link.as_ref())
        .and_then(|l| l.uri.clone())
}

/// The CRM's words for what a referral path carries, for Audit.
fn field_named(path: &str) -> &str {
    match path {
        "/name" => "the name",
        "/details" => "the deal value, currency, close date and notes",
        "/consent" => "Referral Visibility",
        other => other,
    }
}

fn kind_name(kind: DealKind) -> &'static str {
    match kind {
        DealKind::Private => "private",
        DealKind::PartnerLed => "partner-led",
        DealKind::CoSell => "co-sell",
    }
}

/// A retry item's payload: the opportunity, the deal hash it failed with, and the Audit log as
/// written (a row without a link keeps its log here).
fn payload(id: Uuid, hash: Option<&str>, log: &[String]) -> Value {
    json!({ "opportunityId": id.to_string(), "hash": hash, "audit": log })
}

/// How far Partner Center's clock may be behind ours when looking for a referral an earlier
/// attempt created.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// What an earlier create left in the retry item: its intent, and how many attempts have failed.
#[derive(Debug, Clone, Default)]
struct CreateAttempt {
    intent: Option<Intent>,
    attempts: u32,
}

impl CreateAttempt {
    fn of(item: Option<&RetryItem>) -> Self {
        Self {
            intent: item.and_then(Intent::of),
            attempts: item.map_or(0, |i| i.attempts),
        }
    }
}

fn audit_of(payload: &Value) -> Vec<String> {
    payload
        .get("audit")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
