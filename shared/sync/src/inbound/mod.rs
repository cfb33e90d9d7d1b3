//! Inbound: a verified Partner Center webhook event → the referral's account, contact and
//! opportunity (or lead) in Dataverse, exactly once.
//!
//! [`InboundSync::handle`] does, in order:
//! 1. **dedupe** the delivery ([`SyncStore::record_event`]); a duplicate does nothing;
//! 2. **serialise** per referral with a store lease (`inbound:<referral id>`), waiting a little
//!    for a concurrent sync of the same referral to finish;
//! 3. **read** the referral from Partner Center and **plan** it ([`cosell_mapping::inbound`]);
//! 4. if the link's `inbound_hash` equals the plan's hash, **write nothing** (0 Dataverse requests);
//! 5. for a new referral, **one match query** (accounts at the postal code, contacts of the email
//!    expanded; names compared normalised here) and **one `$batch` change set** PATCH-upserting
//!    account + contact + opportunity at deterministic ids, plus Win/Lose when the status says so
//!    — at most 2 requests once the currency cache is warm; several matching accounts write
//!    nothing and park the event with a message naming them;
//! 6. for a linked referral, **one change set** updating the record (and closing it) — 1 request;
//!    only the deal fields Microsoft changed since the agreed deal are written. A referral that
//!    names one of our opportunities but has no link is synced under the opportunity's outbound
//!    lease; while that opportunity's create intent exists (the `POST`'s answer was lost), the
//!    deal it posted is the agreed one, so a seller's edit made since survives;
//! 7. store the link (conditional on its version).
//!
//! A failure after the event was recorded parks it as a retry item (`inbound:<referral id>`,
//! payload = the envelope) and, when a record exists, puts ✖ in its name and a line in its
//! Audit. The event counts as handled only once it is durably stored (the dedupe row, or the
//! retry item); when even that fails the dedupe row is forgotten and [`NotStored`] tells the
//! caller to answer 5xx, so Partner Center redelivers.

mod currency;
pub mod envelope;
mod failure;
mod matching;

use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::{ChangeSet, Id, Key, OpportunityClose, Precondition, Reference};
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound::{
    self, InboundPlan, MARK_FAILED, RecordPlan, StatusAction, audit_line, decorate_name,
    hash_says_closed,
};
use cosell_mapping::{CrmConfig, CrmRow, Opportunity, Referral, audit};
use cosell_partner_center::webhook::WebhookEnvelope;
use cosell_store::{CrmKind, Link, Outcome, RetryItem, RetryState, StoreError, SyncStore};
use cosell_transport::correlation;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

pub use failure::{Failure, Problem, RecordRef};
pub use matching::AccountMatch;

use crate::activity::{self, Direction};
use crate::backoff::Backoff;
use crate::lease;
use crate::outbound::Intent;
use crate::ports::{Crm, ReferralSource};
use currency::CurrencyCache;

/// Timings of the inbound sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSettings {
    /// How long a delivery is remembered for dedupe. Partner Center's redeliveries span hours.
    pub event_ttl: Duration,
    /// How long one sync may hold a referral before another may take it over.
    pub lease_ttl: Duration,
    /// How long an event waits for a concurrent sync of the same referral before it is parked.
    pub lease_wait: Duration,
    /// When parked work is due again, and when it is given up.
    pub backoff: Backoff,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            event_ttl: Duration::from_secs(48 * 3600),
            lease_ttl: Duration::from_secs(60),
            lease_wait: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A delivery seen before: nothing done.
    Duplicate,
    /// Not a referral event (`test-created`, no id in `ResourceUri`): nothing to sync.
    Ignored { reason: String },
    /// The referral equals what was last written: nothing written.
    Unchanged { referral_id: String },
    /// An earlier sync closed the record (won or lost): a closed opportunity is not edited.
    AlreadyClosed { referral_id: String, crm_id: Uuid },
    /// Written to Dataverse.
    Synced {
        referral_id: String,
        kind: CrmKind,
        crm_id: Uuid,
        created: bool,
        message: String,
    },
    /// Not synced now; the retry item `retry_id` holds it — pending, or dead (kept for the
    /// operator) when retrying cannot help (`permanent`).
    Parked {
        referral_id: String,
        retry_id: String,
        message: String,
        permanent: bool,
    },
}

/// The event could not be stored durably: answer 5xx so Partner Center delivers it again.
#[derive(Debug, thiserror::Error)]
#[error("the webhook event was not stored, so it must be redelivered: {0}")]
pub struct NotStored(#[source] pub StoreError);

/// The inbound use case. Cheap to share (`Arc` it); holds the currency cache.
pub struct InboundSync {
    store: Arc<dyn SyncStore>,
    referrals: Arc<dyn ReferralSource>,
    crm: Arc<dyn Crm>,
    config: CrmConfig,
    settings: InboundSettings,
    currencies: CurrencyCache,
    /// When this process last noted a webhook's arrival: the `WebhookAge` gauge needs minutes,
    /// not two store writes per delivery.
    webhook_noted: std::sync::Mutex<Option<OffsetDateTime>>,
}

/// How often one process notes that webhooks are arriving.
const NOTE_WEBHOOKS_EVERY: time::Duration = time::Duration::seconds(60);

/// The retry item id of a referral's inbound work.
pub fn retry_id(referral_id: &str) -> String {
    format!("inbound:{referral_id}")
}

impl InboundSync {
    pub fn new(
        store: Arc<dyn SyncStore>,
        referrals: Arc<dyn ReferralSource>,
        crm: Arc<dyn Crm>,
        config: CrmConfig,
        settings: InboundSettings,
    ) -> Self {
        Self {
            store,
            referrals,
            crm,
            config,
            settings,
            currencies: CurrencyCache::default(),
            webhook_noted: std::sync::Mutex::new(None),
        }
    }

    pub fn config(&self) -> &CrmConfig {
        &self.config
    }

    /// Handles one verified webhook event (see the [module docs](self)).
    pub async fn handle(
        &self,
        envelope: &WebhookEnvelope,
        now: OffsetDateTime,
    ) -> Result<Handled, NotStored> {
        let due = {
            let mut noted = self.webhook_noted.lock().expect("webhook note lock");
            let due = noted.is_none_or(|at| now - at >= NOTE_WEBHOOKS_EVERY || now < at);
            if due {
                *noted = Some(now);
            }
            due
        };
        if due {
            activity::note_named(&*self.store, activity::LAST_WEBHOOK, now).await;
        }
        let key = envelope.dedupe_key();
        if !self
            .store
            .record_event(&key, now, self.settings.event_ttl)
            .await
            .map_err(NotStored)?
        {
            tracing::info!(event = %envelope.event_name, "duplicate webhook delivery ignored");
            return Ok(Handled::Duplicate);
        }
        let referral_id = match envelope.referral_id() {
            Some(id) if envelope.event_name.contains("referral") => id.to_owned(),
            _ => {
                let reason = format!("event '{}' names no referral", envelope.event_name);
                tracing::info!(%reason, "webhook event ignored");
                return Ok(Handled::Ignored { reason });
            }
        };
        let payload = envelope::to_payload(envelope);
        match self.sync_referral(&referral_id, now).await {
            Ok(handled) => {
                self.forget_parked(&referral_id, &handled, now).await;
                Ok(handled)
            }
            Err(failure) => match self.park(&referral_id, payload, failure, now).await {
                Ok(parked) => Ok(parked),
                Err(error) => {
                    if let Err(forget) = self.store.forget_event(&key).await {
                        tracing::error!(error = %forget, "dedupe row not forgotten; redelivery will be ignored until it expires");
                    }
                    Err(NotStored(error))
                }
            },
        }
    }

    /// Redoes parked work on the referral (a due retry item, a replay, the reconciliation
    /// sweep): the sync as it is now; success removes the item, failure parks it again with one
    /// more attempt. `payload` is kept on the item (the envelope that first brought the work).
    pub async fn redo(
        &self,
        referral_id: &str,
        payload: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        match self.sync_referral(referral_id, now).await {
            Ok(handled) => {
                self.store.delete_retry(&retry_id(referral_id)).await?;
                if matches!(handled, Handled::Synced { .. }) {
                    activity::note(&*self.store, Direction::Inbound, now).await;
                }
                Ok(handled)
            }
            Err(failure) => self.park(referral_id, payload, failure, now).await,
        }
    }

    /// A sync that wrote makes an older parked item of the same referral stale: remove it, so
    /// the operator's dead list shows only what is still wrong. Best effort.
    async fn forget_parked(&self, referral_id: &str, handled: &Handled, now: OffsetDateTime) {
        if !matches!(handled, Handled::Synced { .. }) {
            return;
        }
        if let Err(error) = self.store.delete_retry(&retry_id(referral_id)).await {
            tracing::warn!(%error, referral = referral_id, "stale retry item not removed");
        }
        activity::note(&*self.store, Direction::Inbound, now).await;
    }

    /// Syncs one referral as it is now, under its lease. The retry use case calls this too.
    pub async fn sync_referral(
        &self,
        referral_id: &str,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let lease = retry_id(referral_id);
        let owner = Uuid::new_v4().to_string();
        let (ttl, wait) = (self.settings.lease_ttl, self.settings.lease_wait);
        match lease::acquire_waiting(&*self.store, &lease, &owner, ttl, wait).await {
            Ok(true) => {}
            Ok(false) => return Err(Failure::new(Problem::Busy, None)),
            Err(e) => return Err(Failure::new(Problem::Store(e), None)),
        }
        // A linked deal is written by one direction at a time: the outbound sync of its
        // opportunity holds `outbound:<id>`. Without it, this sync could read the referral
        // before an outbound update and write the older state over the seller's edit after it
        // (the chaos suite's lost update). The referral is read after the lease is taken.
        let deal = match self.deal_lease(referral_id, &owner).await {
            Ok(deal) => deal,
            Err(failure) => {
                self.release(&lease, &owner, referral_id).await;
                return Err(failure);
            }
        };
        // One correlation id per sync: on its log span and on every Partner Center request.
        let sync_id = Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync", sync_id = %sync_id, referral = referral_id);
        let synced = self.sync_locked(referral_id, &owner, Named::NotHeld, now);
        let result = correlation::scope(sync_id, synced.instrument(span)).await;
        if let Some(deal) = deal {
            self.release(&deal, &owner, referral_id).await;
        }
        self.release(&lease, &owner, referral_id).await;
        result
    }

    /// Takes the outbound lease of the opportunity this referral is linked to, if any. Only the
    /// link's record id is used here; the sync reads the link again under both leases, because the
    /// outbound sync that held the deal may have moved its hashes meanwhile.
    async fn deal_lease(&self, referral_id: &str, owner: &str) -> Result<Option<String>, Failure> {
        let link = self
            .store
            .link_by_referral(referral_id)
            .await
            .map_err(|e| Failure::new(Problem::Store(e), None))?;
        let Some(opportunity) = link
            .filter(|l| l.crm_kind == CrmKind::Opportunity)
            .and_then(|l| l.crm_id.parse::<Uuid>().ok())
        else {
            return Ok(None);
        };
        self.take_deal_lease(opportunity, owner).await.map(Some)
    }

    /// Takes `outbound:<opportunity>`, waiting a little for the outbound sync holding it; its
    /// name, to release.
    async fn take_deal_lease(&self, opportunity: Uuid, owner: &str) -> Result<String, Failure> {
        let deal = crate::outbound::retry_id(opportunity);
        let (ttl, wait) = (self.settings.lease_ttl, self.settings.lease_wait);
        match lease::acquire_waiting(&*self.store, &deal, owner, ttl, wait).await {
            Ok(true) => Ok(deal),
            Ok(false) => Err(Failure::new(Problem::Busy, None)),
            Err(e) => Err(Failure::new(Problem::Store(e), None)),
        }
    }

    async fn release(&self, lease: &str, owner: &str, referral_id: &str) {
        if let Err(error) = self.store.release_lease(lease, owner).await {
            // It expires on its own after `lease_ttl`.
            tracing::warn!(%error, referral = referral_id, "lease not released");
        }
    }

    async fn sync_locked(
        &self,
        referral_id: &str,
        owner: &str,
        named: Named,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let link = self
            .store
            .link_by_referral(referral_id)
            .await
            .map_err(|e| Failure::new(e.into(), None))?;
        let linked = link.as_ref().and_then(|l| {
            Some(RecordRef {
                kind: l.crm_kind,
                id: Uuid::try_parse(&l.crm_id).ok()?,
                name: None,
            })
        });
        // Read before the outbound lease was taken, the referral is still current if no link
        // appeared meanwhile: only a linked opportunity is updated outbound.
        let held = matches!(named, Named::Held { .. });
        let (read, posted) = match named {
            Named::NotHeld => (None, None),
            Named::Held { referral, posted } => (referral.filter(|_| link.is_none()), posted),
        };
        let referral = match read {
            Some(referral) => *referral,
            None => self
                .referrals
                .referral(referral_id)
                .await
                .map_err(|e| Failure::new(Problem::Referral(e), linked.clone()))?,
        };
        let plan = inbound::plan(&referral, &self.config)
            .map_err(|e| Failure::new(Problem::Invalid(e), linked.clone()))?;
        if link.is_none()
            && !held
            && let Some(opportunity) = plan.external_record
            && kind_of(&plan) == CrmKind::Opportunity
        {
            let sync = self.sync_named(referral_id, opportunity, referral, owner, now);
            return Box::pin(sync).await;
        }
        let record = linked.map(|r| RecordRef {
            name: Some(plan.name.clone()),
            ..r
        });
        let fail = |problem: Problem| Failure::new(problem, record.clone());

        if let Some(link) = &link
            && let Some(hash) = &link.inbound_hash
        {
            if *hash == plan.hash {
                tracing::info!(
                    referral = referral_id,
                    "referral unchanged; nothing written"
                );
                return Ok(Handled::Unchanged {
                    referral_id: referral_id.to_owned(),
                });
            }
            if hash_says_closed(hash) {
                tracing::info!(
                    referral = referral_id,
                    "record closed by an earlier sync; not edited"
                );
                let crm_id = record.as_ref().map(|r| r.id).unwrap_or_default();
                return Ok(Handled::AlreadyClosed {
                    referral_id: referral_id.to_owned(),
                    crm_id,
                });
            }
        }

        let planned_kind = kind_of(&plan);
        let currency = match &plan.currency_code {
            Some(code) if planned_kind == CrmKind::Opportunity => Some(
                self.currencies
                    .id(self.crm.as_ref(), code)
                    .await
                    .map_err(&fail)?,
            ),
            _ => None,
        };
        let (status, substatus) = referral.state();
        let target = match (&link, plan.external_record) {
            (Some(link), _) => {
                if link.crm_kind != planned_kind {
                    return Err(fail(Problem::KindChanged {
                        linked: link.crm_kind,
                        planned: planned_kind,
                    }));
                }
                record.as_ref().map(|r| r.id)
            }
            // A referral we created outbound names our record before its link is stored.
            (None, Some(external)) if planned_kind == CrmKind::Opportunity => Some(external),
            (None, _) => None,
        };
        let written = match target {
            Some(id) => {
                let message = format!(
                    "✔ Updated from Partner Center referral {referral_id} ({status}/{substatus})"
                );
                let earlier = link.as_ref().map_or(&[][..], |l| l.audit.as_slice());
                let log = audit::prepend(audit_line(now, &message), earlier);
                // Without a link, the deal an outbound create posted is what both sides last
                // agreed on: only Microsoft's changes since are written, the seller's stay.
                let agreed: Option<DealState> = match &link {
                    Some(link) => link
                        .deal
                        .clone()
                        .and_then(|deal| serde_json::from_value(deal).ok()),
                    None => posted,
                };
                // After a failed sync the name may carry ✖: write it again with ✔.
                let rewrite_name = link
                    .as_ref()
                    .and_then(|l| l.last_outcome.as_ref())
                    .is_some_and(|outcome| !outcome.ok);
                let update = Update {
                    id,
                    currency,
                    message,
                    log,
                    agreed,
                    rewrite_name,
                };
                self.update(&plan, update).await.map_err(&fail)?
            }
            None => self
                .create(&plan, currency, &referral, now)
                .await
                .map_err(&fail)?,
        };
        let created = target.is_none();
        let mut next = link.unwrap_or_else(|| Link {
            referral_id: referral_id.to_owned(),
            crm_kind: planned_kind,
            crm_id: String::new(),
            inbound_hash: None,
            outbound_hash: None,
            referral_etag: None,
            referral_link: None,
            crm_etag: None,
            last_outcome: None,
            audit: Vec::new(),
            deal: None,
            version: 0,
        });
        next.crm_id = written.id.to_string();
        next.inbound_hash = Some(plan.hash.clone());
        // The CRM now states the referral's deal: both sides agree on it, so the outbound change
        // feed sees this write as already sent (no ping-pong).
        let agreed = DealState::from_referral(&referral);
        next.outbound_hash = Some(agreed.hash());
        next.deal = serde_json::to_value(&agreed).ok();
        next.referral_etag = referral.etag.clone();
        next.crm_etag = written.etag.clone();
        next.audit = written.audit;
        next.last_outcome = Some(Outcome {
            ok: true,
            message: written.message.clone(),
            at: now,
        });
        let written_record = RecordRef {
            kind: planned_kind,
            id: written.id,
            name: Some(plan.name.clone()),
        };
        self.put_link(next)
            .await
            .map_err(|e| Failure::new(e.into(), Some(written_record)))?;
        tracing::info!(referral = referral_id, crm_id = %written.id, created, "referral synced");
        Ok(Handled::Synced {
            referral_id: referral_id.to_owned(),
            kind: planned_kind,
            crm_id: written.id,
            created,
            message: written.message,
        })
    }

    /// A referral naming one of our opportunities, with no link: the outbound sync may be creating
    /// it right now, or its create's answer was lost. Under the opportunity's outbound lease
    /// (`outbound:<id>`, held to the end of the sync): a row linked to another referral (co-sell's
    /// connected referral for Microsoft names the same opportunity) is left alone; else the sync
    /// starts again — the link read afresh, and the referral too if a link appeared (a create
    /// may have finished and sent meanwhile) — knowing the deal the create's intent posted, if
    /// one is under way.
    /// A referral naming the row for another reason (made by Power Automate before a migration)
    /// has no intent, and syncs as any new referral does.
    async fn sync_named(
        &self,
        referral_id: &str,
        opportunity: Uuid,
        referral: Referral,
        owner: &str,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let lease = self.take_deal_lease(opportunity, owner).await?;
        let result = self
            .sync_named_locked(referral_id, opportunity, &lease, referral, owner, now)
            .await;
        self.release(&lease, owner, referral_id).await;
        result
    }

    async fn sync_named_locked(
        &self,
        referral_id: &str,
        opportunity: Uuid,
        lease: &str,
        referral: Referral,
        owner: &str,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let store = |e| Failure::new(Problem::Store(e), None);
        let found = self
            .store
            .link_by_crm(&opportunity.to_string())
            .await
            .map_err(store)?;
        if let Some(other) = found.filter(|other| other.referral_id != referral_id) {
            let reason = format!(
                "referral {referral_id} names opportunity {opportunity}, which is linked to referral {}",
                other.referral_id
            );
            tracing::info!(%reason, "webhook event ignored");
            return Ok(Handled::Ignored { reason });
        }
        let intent = self
            .store
            // The create's intent is the retry item named like its lease.
            .retry(lease)
            .await
            .map_err(store)?
            .as_ref()
            .and_then(Intent::of);
        if let Some(intent) = &intent {
            tracing::info!(referral = referral_id, opportunity = %opportunity, posted = intent.posted.is_some(), "referral of a create under way; merging against the deal it posted");
        }
        let named = Named::Held {
            referral: Some(Box::new(referral)),
            posted: intent.and_then(|i| i.posted),
        };
        self.sync_locked(referral_id, owner, named, now).await
    }

    /// A referral with no record yet: the match query, then one change set.
    async fn create(
        &self,
        plan: &InboundPlan,
        currency: Option<Uuid>,
        referral: &Referral,
        now: OffsetDateTime,
    ) -> Result<Written, Problem> {
        let (status, substatus) = referral.state();
        let id = &plan.referral_id;
        let mut changes = ChangeSet::new();
        let record_id = plan.record.new_id();
        let (message, record_ref) = match &plan.record {
            RecordPlan::Lead { row } => {
                let message = format!(
                    "✔ Created lead from Partner Center referral {id} ({status}/{substatus})"
                );
                let reference = changes.update(
                    RecordPlan::entity_set(&plan.record),
                    Key::from(record_id),
                    row.to_row(&self.config)?,
                    Precondition::None,
                );
                (message, reference)
            }
            RecordPlan::Opportunity { .. } => {
                let account_plan = plan
                    .account
                    .as_ref()
                    .expect("an opportunity plan has an account");
                let query = matching::query(account_plan, plan.contact.as_ref());
                let records = self.crm.query(matching::ACCOUNTS, &query).await?;
                let found = matching::interpret(&records, account_plan, plan.contact.as_ref());
                let (account, found_contact, account_note) = match found {
                    AccountMatch::Several(candidates) => {
                        let customer = account_plan.new_row.name.as_deref().unwrap_or_default();
                        return Err(Problem::Ambiguous(matching::ambiguity_message(
                            id,
                            customer,
                            account_plan.postal_code.as_deref(),
                            &candidates,
                        )));
                    }
                    AccountMatch::One { account, contact } => {
                        (account, contact, format!("matched account {account}"))
                    }
                    AccountMatch::None => {
                        let account = account_plan.new_id();
                        changes.update(
                            matching::ACCOUNTS,
                            Key::from(account),
                            account_plan.new_row.to_row(&self.config)?,
                            Precondition::None,
                        );
                        (account, None, format!("created account {account}"))
                    }
                };
                let (contact, contact_note) = match (&plan.contact, found_contact) {
                    (Some(_), Some(found)) => (Some(found), format!(", matched contact {found}")),
                    (Some(contact), None) => {
                        changes.update(
                            "contacts",
                            Key::from(contact.new_id()),
                            contact.row_under(account).to_row(&self.config)?,
                            Precondition::None,
                        );
                        (
                            Some(contact.new_id()),
                            format!(", created contact {}", contact.new_id()),
                        )
                    }
                    (None, _) => (None, ", no contact email".to_owned()),
                };
                let message = format!(
                    "✔ Created opportunity from Partner Center referral {id} ({status}/{substatus}): {account_note}{contact_note}"
                );
                let audit = audit::render(&audit::prepend(audit_line(now, &message), &[]));
                let row = plan
                    .opportunity_to_create(account, contact, currency, &audit)
                    .expect("an opportunity plan")
                    .to_row(&self.config)?;
                let reference = changes.update(
                    Opportunity::ENTITY_SET,
                    Key::from(record_id),
                    row,
                    Precondition::None,
                );
                close(&mut changes, plan, record_id);
                (message, reference)
            }
        };
        let outcomes = self.crm.execute(&changes).await?;
        let audit = match plan.record {
            RecordPlan::Opportunity { .. } => audit::prepend(audit_line(now, &message), &[]),
            RecordPlan::Lead { .. } => Vec::new(), // a lead has no Audit column
        };
        Ok(Written {
            id: record_id,
            etag: etag_of(&outcomes, record_ref, plan.status.closes()),
            message,
            audit,
        })
    }

    /// A linked referral: one change set updating (and maybe closing) the record.
    async fn update(&self, plan: &InboundPlan, update: Update) -> Result<Written, Problem> {
        let Update {
            id,
            currency,
            message,
            log,
            agreed,
            rewrite_name,
        } = update;
        let audit = audit::render(&log);
        let closes = plan.status.closes() && plan.changed_since(agreed.as_ref()).status;
        let mut changes = ChangeSet::new();
        let reference = match &plan.record {
            RecordPlan::Lead { row } => changes.update(
                RecordPlan::entity_set(&plan.record),
                Key::from(id),
                row.to_row(&self.config)?,
                Precondition::MustExist,
            ),
            RecordPlan::Opportunity { .. } => {
                let row = plan
                    .opportunity_to_update(currency, &audit, agreed.as_ref(), rewrite_name)
                    .expect("an opportunity plan")
                    .to_row(&self.config)?;
                let reference = changes.update(
                    Opportunity::ENTITY_SET,
                    Key::from(id),
                    row,
                    Precondition::MustExist,
                );
                // A status the CRM already holds (the seller closed it and outbound sent that)
                // is not closed a second time.
                if closes {
                    close(&mut changes, plan, id);
                }
                reference
            }
        };
        let outcomes = self.crm.execute(&changes).await?;
        let is_lead = matches!(plan.record, RecordPlan::Lead { .. });
        Ok(Written {
            id,
            etag: etag_of(&outcomes, reference, closes),
            message,
            audit: if is_lead { Vec::new() } else { log },
        })
    }

    /// Stores the link; a concurrent writer of the other direction (outbound) is merged once.
    /// This write is the newer word on the record (it just wrote the whole deal), so its hashes
    /// and agreed deal win.
    async fn put_link(&self, next: Link) -> Result<Link, StoreError> {
        match self.store.put_link(&next).await {
            Err(StoreError::Conflict { .. }) => {
                let current = self.store.link_by_referral(&next.referral_id).await?;
                let merged = match current {
                    Some(current) => Link {
                        version: current.version,
                        ..next
                    },
                    None => Link { version: 0, ..next },
                };
                self.store.put_link(&merged).await
            }
            other => other,
        }
    }

    /// Keeps the work as a retry item — pending with backoff, or dead when retrying cannot help
    /// or the attempts are used up — and shows the failure on the record. Only a failure to store
    /// the item is an error.
    async fn park(
        &self,
        referral_id: &str,
        payload: serde_json::Value,
        failure: Failure,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        let id = retry_id(referral_id);
        let attempts = match self.store.retry(&id).await {
            Ok(Some(item)) => item.attempts + 1,
            _ => 1,
        };
        let backoff = &self.settings.backoff;
        let permanent = failure.problem.is_permanent() || backoff.exhausted(attempts);
        let mut message = failure.problem.to_string();
        if !failure.problem.is_permanent() && permanent {
            message = format!("{message} (gave up after {attempts} attempts)");
        }
        let item = RetryItem {
            id: id.clone(),
            payload,
            due_at: now + backoff.delay(attempts),
            attempts,
            last_error: Some(message.clone()),
            state: if permanent {
                RetryState::Dead
            } else {
                RetryState::Pending
            },
        };
        if let Err(error) = self.store.put_retry(&item).await {
            tracing::error!(%error, referral = referral_id, "retry item not stored");
            return Err(error);
        }
        tracing::warn!(referral = referral_id, permanent, problem = %message, "inbound sync parked");
        if let Some(record) = &failure.record {
            self.mark_failed(referral_id, record, &message, permanent, now)
                .await;
        }
        Ok(Handled::Parked {
            referral_id: referral_id.to_owned(),
            retry_id: id,
            message,
            permanent,
        })
    }

    /// ✖ in the opportunity's name and a line in its Audit; best effort (the retry item is
    /// what keeps the work).
    async fn mark_failed(
        &self,
        referral_id: &str,
        record: &RecordRef,
        message: &str,
        permanent: bool,
        now: OffsetDateTime,
    ) {
        if record.kind != CrmKind::Opportunity {
            return;
        }
        let link = self
            .store
            .link_by_referral(referral_id)
            .await
            .ok()
            .flatten();
        let next = if permanent {
            "fix it, then replay"
        } else {
            "will retry"
        };
        // The referral's name when it was read; else the name both sides last agreed on (the
        // read itself may be what failed).
        let agreed = link
            .as_ref()
            .and_then(|l| l.deal.clone())
            .and_then(|deal| serde_json::from_value::<DealState>(deal).ok())
            .and_then(|deal| deal.name);
        let row = Opportunity {
            name: record
                .name
                .clone()
                .or(agreed)
                .filter(|_| self.config.check_mark_in_name)
                .map(|name| decorate_name(&name, MARK_FAILED, &self.config)),
            ..Opportunity::default()
        };
        let failed = audit_line(now, &format!("✖ Inbound sync failed: {message} ({next})"));
        let log = audit::prepend(
            failed,
            link.as_ref().map_or(&[][..], |l| l.audit.as_slice()),
        );
        let row = Opportunity {
            audit: Some(audit::render(&log)),
            ..row
        };
        let Ok(row) = row.to_row(&self.config) else {
            return;
        };
        let mut changes = ChangeSet::new();
        changes.update(
            Opportunity::ENTITY_SET,
            Key::from(record.id),
            row,
            Precondition::MustExist,
        );
        if let Err(error) = self.crm.execute(&changes).await {
            tracing::warn!(%error, crm_id = %record.id, "failure not shown on the opportunity");
            return;
        }
        // Keep the line for the next write of the log, and the failure, so the next sync puts
        // ✔ back in the name; a lost race only loses this line.
        let failed = Outcome {
            ok: false,
            message: message.to_owned(),
            at: now,
        };
        if let Some(link) = link
            && link.crm_id == record.id.to_string()
            && let Err(error) = self
                .store
                .put_link(&Link {
                    audit: log,
                    last_outcome: Some(failed),
                    ..link
                })
                .await
        {
            tracing::warn!(%error, referral = referral_id, "audit line not kept in the link");
        }
    }
}

/// Whether a sync of a referral naming one of our opportunities holds that opportunity's
/// outbound lease (see [`InboundSync::sync_named`]).
enum Named {
    NotHeld,
    /// Held: the referral as read before the lease was taken, and the deal the outbound create
    /// under way posted.
    Held {
        referral: Option<Box<Referral>>,
        posted: Option<DealState>,
    },
}

/// What an update of a linked record writes, and against which agreed deal.
struct Update {
    id: Uuid,
    currency: Option<Uuid>,
    message: String,
    log: Vec<String>,
    agreed: Option<DealState>,
    rewrite_name: bool,
}

/// What a change set wrote.
struct Written {
    id: Uuid,
    etag: Option<String>,
    message: String,
    /// The record's Audit log as written (empty for a lead).
    audit: Vec<String>,
}

fn kind_of(plan: &InboundPlan) -> CrmKind {
    match plan.record {
        RecordPlan::Opportunity { .. } => CrmKind::Opportunity,
        RecordPlan::Lead { .. } => CrmKind::Lead,
    }
}

/// Win or lose in the same change set, after the row is written.
fn close(changes: &mut ChangeSet, plan: &InboundPlan, id: Uuid) {
    let referral = &plan.referral_id;
    match plan.status {
        StatusAction::Win => {
            changes.win_opportunity(
                Id(id),
                &OpportunityClose::won(format!("Won in Partner Center (referral {referral})")),
            );
        }
        StatusAction::Lose => {
            changes.lose_opportunity(
                Id(id),
                &OpportunityClose::canceled(format!(
                    "Closed in Partner Center (referral {referral})"
                )),
            );
        }
        StatusAction::OnHold | StatusAction::InProgress | StatusAction::Keep => {}
    }
}

/// The record's ETag after the write; unknown once a closing action changed it again.
fn etag_of(
    outcomes: &[cosell_dataverse::PartOutcome],
    reference: Reference,
    closed: bool,
) -> Option<String> {
    if closed {
        return None;
    }
    outcomes
        .iter()
        .find(|o| o.content_id == reference.content_id())
        .and_then(|o| o.etag.as_ref())
        .map(|e| e.0.clone())
}
