//! Inbound: a verified Partner Center webhook event → the referral's account, contact and
//! opportunity (or lead) in Dataverse, exactly once.
//!
//! [`InboundSync::handle`] does, in order:
//! 1. **claim** the delivery ([`SyncStore::claim_event`]); one already done does nothing, one
//!    another invocation is handling is answered "deliver again" ([`Handled::InFlight`]);
//! 2. **lock** the deal ([`locks`]): the referral's lease (`inbound:<referral id>`) and, for a
//!    deal linked to an opportunity, that opportunity's (`outbound:<id>`) before it — the one
//!    order both directions take them in ([`crate::record`]) — waiting a little for a
//!    concurrent sync to finish;
//! 3. **read** the referral from Partner Center and **plan** it ([`cosell_mapping::inbound`]);
//! 4. if the link's `inbound_hash` equals the plan's hash, **write nothing** (0 Dataverse requests);
//! 5. for a new referral, **one match query** (accounts at the postal code, contacts of the email
//!    expanded; names compared normalised here) and **one `$batch` change set** PATCH-upserting
//!    account + contact + opportunity at deterministic ids, plus Win/Lose when the status says so
//!    — at most 2 requests once the currency cache is warm; several matching accounts write
//!    nothing and park the event with a message naming them ([`write`]);
//! 6. for a linked referral, **one change set** updating the record (and closing it) — 1 request;
//!    only the deal fields Microsoft changed since the agreed deal are written. A referral that
//!    names one of our opportunities but has no link is synced under the opportunity's lease
//!    too; while that opportunity's create intent exists (the `POST`'s answer was lost), the
//!    deal it posted is the agreed one, so a seller's edit made since survives;
//! 7. store the link (conditional on its version).
//!
//! A failure parks the referral as a retry item (`inbound:<referral id>`, payload = the
//! envelope) and, when a record exists, puts ✖ in its name and a line in its Audit ([`park`]);
//! so does running out of the invocation's time ([`cosell_transport::deadline`]). The event is
//! marked done ([`SyncStore::finish_event`]) only once its outcome is durable — synced, or the
//! retry item stored: a handler that dies before leaves a claim whose hold passes, and Partner
//! Center's redelivery syncs it. When even the retry item cannot be stored the claim is
//! forgotten and [`NotStored`] tells the caller to answer 5xx, so Partner Center redelivers.

mod currency;
pub mod envelope;
mod failure;
mod locks;
mod matching;
mod park;
mod planned;
mod sync;
mod write;

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::WebhookEnvelope;
use cosell_store::{CrmKind, EventClaim, ReferralId, StoreError, SyncStore};
use cosell_transport::deadline;
use time::OffsetDateTime;
use uuid::Uuid;

pub use failure::{Failure, InboundError, RecordRef};

use crate::NotStored;
use crate::activity::{self, SyncDirection};
use crate::alerts::Alerts;
use crate::backoff::Backoff;
use crate::ports::{Crm, ReferralSource};
use crate::record::WorkKey;
use crate::respond::RespondBy;
use crate::respond::owner::Owners;
use currency::CurrencyCache;

/// Timings of the inbound sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSettings {
    /// How long a delivery is remembered for dedupe. Partner Center's redeliveries span hours.
    pub event_ttl: Duration,
    /// How long a delivery being handled is held from a redelivery when the invocation has no
    /// deadline ([`deadline`]); with one, the time left. A handler that died leaves a hold that
    /// passes, and the redelivery then syncs.
    pub event_hold: Duration,
    /// How long one sync may hold a referral before another may take it over.
    pub lease_ttl: Duration,
    /// How long an event waits for a concurrent sync of the same referral before it is parked.
    pub lease_wait: Duration,
    /// When parked work is due again, and when it is given up.
    pub backoff: Backoff,
    /// The alert channels configured (`teams`, `slack`); none: no alerts ([`crate::alerts`]).
    pub alerts: Vec<String>,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            event_ttl: Duration::from_secs(48 * 3600),
            event_hold: Duration::from_secs(15 * 60),
            lease_ttl: Duration::from_secs(60),
            lease_wait: Duration::from_secs(5),
            backoff: Backoff::default(),
            alerts: Vec::new(),
        }
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A delivery seen before: nothing done.
    Duplicate,
    /// A delivery another invocation is handling until `until`: nothing done; the caller is
    /// asked to deliver it again (503), since that handler may yet die.
    InFlight { until: OffsetDateTime },
    /// Not a referral event (`test-created`, no id in `ResourceUri`): nothing to sync.
    Ignored { reason: String },
    /// The referral equals what was last written: nothing written.
    Unchanged { referral_id: ReferralId },
    /// An earlier sync closed the record (won or lost): a closed opportunity is not edited.
    AlreadyClosed {
        referral_id: ReferralId,
        crm_id: Uuid,
    },
    /// Written to Dataverse.
    Synced {
        referral_id: ReferralId,
        kind: CrmKind,
        crm_id: Uuid,
        created: bool,
        message: String,
    },
    /// Not synced now; the retry item `retry_id` holds it — pending, or dead (kept for the
    /// operator) when retrying cannot help (`permanent`).
    Parked {
        referral_id: ReferralId,
        retry_id: String,
        message: String,
        permanent: bool,
    },
}

/// The inbound use case. Cheap to share (`Arc` it); holds the currency cache.
pub struct InboundSync {
    store: Arc<dyn SyncStore>,
    referrals: Arc<dyn ReferralSource>,
    crm: Arc<dyn Crm>,
    config: CrmConfig,
    settings: InboundSettings,
    currencies: CurrencyCache,
    /// Users by email, for a new record's owner.
    owners: Owners,
    respond: RespondBy,
    alerts: Alerts,
    /// When this process last noted a webhook's arrival: the `WebhookAge` gauge needs minutes,
    /// not two store writes per delivery.
    webhook_noted: std::sync::Mutex<Option<OffsetDateTime>>,
}

/// Added to the time left when holding a delivery: the reserve in which the invocation stores
/// what it could not finish and answers.
const HOLD_MARGIN: Duration = Duration::from_secs(5);

/// How often a delivery being handled elsewhere is looked at again.
const CLAIM_POLL: Duration = Duration::from_millis(100);

/// How often one process notes that webhooks are arriving.
const NOTE_WEBHOOKS_EVERY: time::Duration = time::Duration::seconds(60);

impl InboundSync {
    pub fn new(
        store: Arc<dyn SyncStore>,
        referrals: Arc<dyn ReferralSource>,
        crm: Arc<dyn Crm>,
        config: CrmConfig,
        settings: InboundSettings,
    ) -> Self {
        // In a bulk group its queries and change sets go with the group's batches; else as ever.
        let crm: Arc<dyn Crm> = Arc::new(crate::bulk::Grouped::new(crm));
        let (respond, alerts) = RespondBy::for_sync(
            &store,
            &crm,
            referrals.clone(),
            &config.respond,
            settings.backoff,
            &settings.alerts,
        );
        Self {
            store,
            referrals,
            crm,
            config,
            settings,
            currencies: CurrencyCache::default(),
            owners: Owners::default(),
            respond,
            alerts,
            webhook_noted: std::sync::Mutex::new(None),
        }
    }

    pub fn config(&self) -> &CrmConfig {
        &self.config
    }

    pub fn settings(&self) -> &InboundSettings {
        &self.settings
    }

    /// The respond-by use case this sync keeps waiting referrals' tasks with.
    pub fn respond(&self) -> &RespondBy {
        &self.respond
    }

    /// Handles one verified webhook event (see the [module docs](self)).
    pub async fn handle(
        &self,
        envelope: &WebhookEnvelope,
        now: OffsetDateTime,
    ) -> Result<Handled, NotStored> {
        self.note_webhook(now).await;
        let key = envelope.dedupe_key();
        // Until the invocation is surely over, and its referral lease free for the redelivery.
        let hold = deadline::remaining()
            .map_or(self.settings.event_hold, |left| left + HOLD_MARGIN)
            .max(self.settings.lease_ttl);
        match self.claim(&key, now, hold).await.map_err(NotStored)? {
            EventClaim::Claimed => {}
            EventClaim::Done => {
                tracing::info!(event = %envelope.event_name, "duplicate webhook delivery ignored");
                return Ok(Handled::Duplicate);
            }
            EventClaim::InFlight { until } => {
                tracing::info!(event = %envelope.event_name, %until, "delivery still being handled elsewhere");
                return Ok(Handled::InFlight { until });
            }
        }
        let named = envelope.referral_id();
        let named = named.filter(|_| envelope.event_name.contains("referral"));
        let referral_id = match named.map(ReferralId::new) {
            Some(Ok(id)) => id,
            unusable => {
                let event = &envelope.event_name;
                let reason = match unusable {
                    Some(Err(error)) => {
                        format!("event '{event}' names no usable referral: {error}")
                    }
                    _ => format!("event '{event}' names no referral"),
                };
                tracing::info!(%reason, "webhook event ignored");
                self.finish_event(&key).await;
                return Ok(Handled::Ignored { reason });
            }
        };
        let payload = envelope::to_payload(envelope);
        let handled = match self.sync_in_time(&referral_id, now).await {
            Ok(handled) => {
                self.forget_parked(&referral_id, &handled, now).await;
                handled
            }
            Err(failure) => match self.park(&referral_id, payload, failure, now).await {
                Ok(parked) => parked,
                Err(error) => {
                    if let Err(forget) = self.store.forget_event(&key).await {
                        tracing::error!(error = %forget, "dedupe row not forgotten; a redelivery is taken once its hold passes");
                    }
                    return Err(NotStored(error));
                }
            },
        };
        self.finish_event(&key).await;
        Ok(handled)
    }

    /// Claims the delivery; one being handled elsewhere is waited for a little (`lease_wait`), so
    /// that a burst of the same delivery is answered "duplicate" once the first is done.
    async fn claim(
        &self,
        key: &str,
        now: OffsetDateTime,
        hold: Duration,
    ) -> Result<EventClaim, StoreError> {
        let ttl = self.settings.event_ttl;
        let waited = std::time::Instant::now();
        loop {
            let claim = self.store.claim_event(key, now, hold, ttl).await?;
            if !matches!(claim, EventClaim::InFlight { .. })
                || waited.elapsed() >= self.settings.lease_wait
            {
                return Ok(claim);
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// The sync, stopped at the invocation's deadline ([`deadline`]) so that what is left is
    /// parked while there is time to store it, rather than killed with the invocation.
    async fn sync_in_time(
        &self,
        referral_id: &ReferralId,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let sync = self.sync_referral(referral_id, now);
        let Some(deadline) = deadline::current() else {
            return sync.await;
        };
        match tokio::time::timeout_at(deadline.into(), sync).await {
            Ok(result) => result,
            Err(_) => Err(Failure::new(InboundError::OutOfTime, None)),
        }
    }

    /// The outcome is durable: a redelivery is a duplicate from now on. A failure here is only
    /// logged — the claim's hold passes and a redelivery syncs again, which writes nothing new.
    async fn finish_event(&self, key: &str) {
        if let Err(error) = self.store.finish_event(key).await {
            tracing::warn!(%error, "event not marked done; a redelivery will sync again");
        }
    }

    /// Notes that webhooks are arriving, at most once a minute per process.
    async fn note_webhook(&self, now: OffsetDateTime) {
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
    }

    /// Writes the referral's mapped values the link never agreed on, or that moved (a mapping
    /// changed or added a field): the sync as usual otherwise, so a referral whose mapped values
    /// all stand costs no Dataverse request. Failures park as in [`Self::redo`].
    pub async fn resync_mapped(
        &self,
        referral_id: &ReferralId,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        match self.sync_under_lock(referral_id, true, now).await {
            Ok(handled) => {
                self.forget_parked(referral_id, &handled, now).await;
                Ok(handled)
            }
            Err(failure) => {
                let payload = serde_json::Value::Null;
                self.park(referral_id, payload, failure, now).await
            }
        }
    }

    /// Redoes parked work on the referral (a due retry item, a replay, the reconciliation
    /// sweep): the sync as it is now; success removes the item, failure parks it again with one
    /// more attempt. `payload` is kept on the item (the envelope that first brought the work).
    pub async fn redo(
        &self,
        referral_id: &ReferralId,
        payload: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        match self.sync_referral(referral_id, now).await {
            Ok(handled) => {
                let item = WorkKey::inbound(referral_id).to_string();
                self.store.delete_retry(&item).await?;
                if matches!(handled, Handled::Synced { .. }) {
                    activity::note(&*self.store, SyncDirection::Inbound, now).await;
                }
                Ok(handled)
            }
            Err(failure) => self.park(referral_id, payload, failure, now).await,
        }
    }

    /// Parks a listed referral that cannot be read, dead at once with the field and value in
    /// the reason: the reconciliation sweep and backfill go on past it.
    pub async fn park_unreadable(
        &self,
        referral_id: &ReferralId,
        unreadable: &cosell_partner_center::Unreadable,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        let payload = serde_json::json!({
            "source": "a referral listing",
            "referralId": referral_id,
        });
        let problem = InboundError::Referral(unreadable.clone().into());
        self.park(referral_id, payload, Failure::new(problem, None), now)
            .await
    }

    /// A sync that wrote makes an older parked item of the same referral stale: remove it, so
    /// the operator's dead list shows only what is still wrong. Best effort.
    async fn forget_parked(
        &self,
        referral_id: &ReferralId,
        handled: &Handled,
        now: OffsetDateTime,
    ) {
        if !matches!(handled, Handled::Synced { .. }) {
            return;
        }
        let item = WorkKey::inbound(referral_id).to_string();
        if let Err(error) = self.store.delete_retry(&item).await {
            tracing::warn!(%error, referral = %referral_id, "stale retry item not removed");
        }
        activity::note(&*self.store, SyncDirection::Inbound, now).await;
    }
}
