//! Respond-by: a referral Microsoft sent that nobody answers closes as Expired, so while it waits
//! its owner has a Dataverse task due some days before (the rules: [`cosell_mapping::respond`]),
//! and the store has a due item, `respond:<referral id>`, because an unanswered referral is never
//! updated and so never listed by the sweep.
//!
//! - **create**: the inbound create stores the item ([`RespondBy::begin`]) *before* its change
//!   set, which creates the task with the record (no request more); a failed change set leaves
//!   an item whose task does not exist, which closing treats as deleted.
//! - **answer**: whichever path sees the referral answered — the inbound sync, the outbound sync
//!   that sent the seller's accept (its echo webhook writes nothing), the item coming due —
//!   closes the task with a must-exist write and removes the item ([`RespondBy::settle`]). A task
//!   the seller deleted is not recreated: the write answers 404 and the item goes.
//! - **due**: the item comes due `days_before` the expiry ([`RespondBy::redo`]): the referral is
//!   read; still waiting, the "expiring" alert is raised once and the item waits for the expiry;
//!   answered, the task is closed; past its expiry and still New three days on, the task is
//!   cancelled as expired.
//! - **upgrade**: referrals already waiting when this shipped have no item;
//!   [`RespondBy::ensure`] gives a linked one its task and item (the reconcile job runs it once
//!   over Partner Center's waiting referrals, and `cosell backfill --waiting` on demand).
//!
//! A retry-scheduler older than this parks a `respond:` (or `alert:`) item dead as unknown work
//! when it comes due; this version leaves an unknown kind pending and revives what an older one
//! killed ([`crate::retry`]), so deploying, rolling back and deploying again loses no reminder.

pub mod owner;

use std::sync::Arc;

use cosell_dataverse::{DataverseError, Precondition};
use cosell_mapping::Referral;
use cosell_mapping::respond::{
    Answer, Regarding, RespondConfig, TASKS, closing_row, task_id, task_row, waiting as expiry_of,
};
use cosell_store::{CrmKind, Link, ReferralId, RetryItem, RetryState, StoreError, SyncStore};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::alerts::{Alert, Alerts, Event};
use crate::backoff::Backoff;
use crate::ports::{Crm, ReferralSource};
use crate::record::WorkKey;
use crate::record::park::{Cause, park};

/// How long after its expiry a referral still New is waited on before its task is cancelled
/// as expired (Microsoft closes it; the webhook of that usually comes first).
const AFTER_EXPIRY: Duration = Duration::days(3);
/// How often a referral past its expiry is read again meanwhile.
const RECHECK: Duration = Duration::hours(6);

/// What a `respond:` item holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The deal's name, for the alert.
    pub deal: String,
    pub kind: CrmKind,
    pub record: Uuid,
    /// The "expiring" reminder went out.
    #[serde(default)]
    pub reminded: bool,
}

impl Waiting {
    pub fn regarding(&self) -> Regarding {
        match self.kind {
            CrmKind::Opportunity => Regarding::Opportunity(self.record),
            CrmKind::Lead => Regarding::Lead(self.record),
        }
    }

    /// Whole days from `now` to the expiry (0 on its last day).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.expires - now).whole_days()
    }

    fn of(item: &RetryItem) -> Option<Self> {
        serde_json::from_value(item.payload.clone()).ok()
    }
}

/// What handling a `respond:` item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reminded {
    /// Still waiting; due again at the expiry (`reminded`: the reminder went out now).
    Waiting { reminded: bool },
    /// Answered (or expired): the task is closed (or was deleted) and the item gone.
    Closed { answer: Answer },
    /// Nothing to remind of (no longer a referral sent to us, an unreadable item): item gone.
    Gone,
    /// Failed; the item waits for another attempt, or is dead (`permanent`).
    Parked { message: String, permanent: bool },
}

/// Why respond-by work failed.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error("reading the referral from Partner Center failed: {0}")]
    Referral(#[source] cosell_partner_center::Error),
    #[error("writing the referral's task to Dataverse failed: {0}")]
    Crm(#[source] DataverseError),
    #[error("the sync state store failed: {0}")]
    Store(#[from] StoreError),
}

impl Cause for RespondError {
    fn is_permanent(&self) -> bool {
        let refused = |status: Option<u16>| matches!(status, Some(400 | 403));
        match self {
            Self::Referral(error) => error.is_mfa_required() || refused(error.status()),
            Self::Crm(error) => refused(error.status()),
            Self::Store(_) => false,
        }
    }
}

/// The respond-by use case, shared by both directions and the scheduler.
pub struct RespondBy {
    store: Arc<dyn SyncStore>,
    crm: Arc<dyn Crm>,
    referrals: Arc<dyn ReferralSource>,
    config: RespondConfig,
    alerts: Alerts,
    backoff: Backoff,
}

impl RespondBy {
    /// What a sync holds: its alerts (queued for `channels`) and a respond-by raising the
    /// "expiring" alert through them.
    pub(crate) fn for_sync(
        store: &Arc<dyn SyncStore>,
        crm: &Arc<dyn Crm>,
        referrals: Arc<dyn ReferralSource>,
        config: &RespondConfig,
        backoff: Backoff,
        channels: &[String],
    ) -> (Self, Alerts) {
        let alerts = Alerts::new(store.clone(), channels.to_vec());
        let respond = Self {
            store: store.clone(),
            crm: crm.clone(),
            referrals,
            config: config.clone(),
            alerts: alerts.clone(),
            backoff,
        };
        (respond, alerts)
    }

    /// Before the change set that creates the record and its task: the item, due when the
    /// reminder is (now, when that is past).
    pub async fn begin(
        &self,
        referral_id: &ReferralId,
        waiting: &Waiting,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let item = RetryItem {
            id: WorkKey::Respond(referral_id.clone()).to_string(),
            payload: serde_json::to_value(waiting).unwrap_or_default(),
            due_at: self.config.due(waiting.expires).max(now),
            attempts: 0,
            last_error: None,
            state: RetryState::Pending,
        };
        self.store.put_retry(&item).await
    }

    /// The referral as a sync just saw it: when it is answered and its task still open, the
    /// task is closed and the item removed. Best effort — a failure leaves the item, which
    /// closes the task when it comes due. Returns the Audit words for what was done.
    pub async fn settle(
        &self,
        referral_id: &ReferralId,
        referral: &Referral,
        now: OffsetDateTime,
    ) -> Option<String> {
        let answer = Answer::of(referral)?;
        let id = WorkKey::Respond(referral_id.clone()).to_string();
        let item = match self.store.retry(&id).await {
            Ok(item) => item?,
            Err(error) => {
                tracing::warn!(%error, referral = %referral_id, "respond item not read");
                return None;
            }
        };
        match self.close(referral_id, answer, &item, now).await {
            Ok(Reminded::Closed { .. }) => Some(format!("task {}", closed_words(answer))),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, referral = %referral_id, "task not closed");
                None
            }
        }
    }

    /// Closes the task for `answer` (must exist: a deleted task stays deleted) and removes the
    /// item; a failure parks the item.
    async fn close(
        &self,
        referral_id: &ReferralId,
        answer: Answer,
        item: &RetryItem,
        now: OffsetDateTime,
    ) -> Result<Reminded, StoreError> {
        let row = closing_row(answer);
        let task = task_id(referral_id);
        match self
            .crm
            .update_row(TASKS, task, &row, Precondition::MustExist)
            .await
        {
            Ok(()) => {
                tracing::info!(referral = %referral_id, %task, answer = answer.describe(), "task closed")
            }
            Err(error) if error.is_not_found() => {
                tracing::info!(referral = %referral_id, %task, "task deleted in the CRM; not recreated");
            }
            // Dataverse may refuse to move a task the seller closed already: theirs stands.
            Err(error) if error.status() == Some(400) && self.closed_already(task).await => {
                tracing::info!(referral = %referral_id, %task, "task closed in the CRM already");
            }
            Err(error) => {
                return self
                    .park(referral_id, item, RespondError::Crm(error), now)
                    .await;
            }
        }
        self.store.delete_retry(&item.id).await?;
        Ok(Reminded::Closed { answer })
    }

    /// Whether the task is no longer open (the seller completed or cancelled it).
    async fn closed_already(&self, task: Uuid) -> bool {
        match self.crm.read_row(TASKS, task, &["statecode"]).await {
            Ok(Some(row)) => row.get("statecode").and_then(|v| v.as_i64()) != Some(0),
            _ => false,
        }
    }

    /// A due `respond:` item (see the module docs).
    pub async fn redo(
        &self,
        referral_id: &ReferralId,
        item: RetryItem,
        now: OffsetDateTime,
    ) -> Result<Reminded, StoreError> {
        let Some(mut waiting) = Waiting::of(&item) else {
            tracing::error!(item = %item.id, "respond item unreadable; dropped");
            self.store.delete_retry(&item.id).await?;
            return Ok(Reminded::Gone);
        };
        let referral = match self.referrals.referral(referral_id).await {
            Ok(referral) => referral,
            Err(error) => {
                return self
                    .park(referral_id, &item, RespondError::Referral(error), now)
                    .await;
            }
        };
        if let Some(answer) = Answer::of(&referral) {
            return self.close(referral_id, answer, &item, now).await;
        }
        let Some(expires) = expiry_of(&referral) else {
            self.store.delete_retry(&item.id).await?;
            return Ok(Reminded::Gone);
        };
        waiting.expires = expires;
        if now >= expires + AFTER_EXPIRY {
            return self.close(referral_id, Answer::Expired, &item, now).await;
        }
        let reminded = !waiting.reminded && now >= self.config.due(expires);
        if reminded {
            self.remind(referral_id, &mut waiting, now).await;
        }
        match self.reschedule(item, &waiting, now).await? {
            true => Ok(Reminded::Waiting { reminded }),
            false => Ok(Reminded::Gone),
        }
    }

    /// The seller's reminder that the referral expires soon, unanswered.
    async fn remind(&self, referral_id: &ReferralId, waiting: &mut Waiting, now: OffsetDateTime) {
        let alert = Alert {
            deal: Some(waiting.deal.clone()),
            referral_id: Some(referral_id.to_string()),
            record: Some((waiting.kind, waiting.record)),
            days_left: Some(waiting.days_left(now)),
            ..Alert::new(Event::Expiring, referral_id.to_string())
        };
        self.alerts.raise(alert, now).await;
        waiting.reminded = true;
        tracing::info!(
            referral = %referral_id,
            days_left = waiting.days_left(now),
            "referral expiring unanswered; reminded"
        );
    }

    /// The item due again: at the reminder, then at the expiry, then every [`RECHECK`]; `false`
    /// when it is gone meanwhile.
    async fn reschedule(
        &self,
        item: RetryItem,
        waiting: &Waiting,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let due_at = match now < waiting.expires {
            true if waiting.reminded => waiting.expires,
            true => self.config.due(waiting.expires),
            false => now + RECHECK,
        };
        let next = RetryItem {
            payload: serde_json::to_value(waiting).unwrap_or_default(),
            due_at,
            attempts: 0,
            last_error: None,
            state: RetryState::Pending,
            ..item
        };
        // A sync that saw the answer meanwhile removed the item and closed the task: not
        // written back. (The narrow window left between this read and the write costs at most
        // one reminder too many; the next due run reads the referral answered and closes.)
        if self.store.retry(&next.id).await?.is_none() {
            return Ok(false);
        }
        self.store.put_retry(&next).await?;
        Ok(true)
    }

    /// A waiting referral linked to a record but without an item (it was waiting before this
    /// version): its task — owned by the record's owner — and its item. `Ok(false)` when it
    /// needs none (not waiting, tasks off, an item exists).
    pub async fn ensure(
        &self,
        referral: &Referral,
        link: &Link,
        now: OffsetDateTime,
    ) -> Result<bool, RespondError> {
        let Some(expires) = expiry_of(referral).filter(|_| self.config.tasks) else {
            return Ok(false);
        };
        let id = WorkKey::Respond(link.referral_id.clone()).to_string();
        if self.store.retry(&id).await?.is_some() {
            return Ok(false);
        }
        let record = link.crm_id.uuid();
        let set = match link.crm_kind {
            CrmKind::Opportunity => "opportunities",
            CrmKind::Lead => "leads",
        };
        let owner = self.owning_user(set, record).await?;
        let deal = referral.name.clone().unwrap_or_default();
        let waiting = Waiting {
            expires,
            deal: deal.clone(),
            kind: link.crm_kind,
            record,
            reminded: false,
        };
        self.begin(&link.referral_id, &waiting, now).await?;
        let row = task_row(
            &link.referral_id,
            &deal,
            expires,
            waiting.regarding(),
            owner,
            &self.config,
        );
        let task = task_id(&link.referral_id);
        match self
            .crm
            .update_row(TASKS, task, &row, Precondition::MustNotExist)
            .await
        {
            // 412: the task exists already (an earlier run got this far).
            Err(error) if error.status() != Some(412) => {
                let _ = self.store.delete_retry(&id).await;
                return Err(RespondError::Crm(error));
            }
            _ => {}
        }
        if link.crm_kind == CrmKind::Opportunity {
            self.write_expiry(set, record, expires, &link.referral_id)
                .await;
        }
        tracing::info!(referral = %link.referral_id, %task, "task created for a referral already waiting");
        Ok(true)
    }

    /// The record's owning user — `owninguser`, not `ownerid`: a record a team owns has no
    /// owning user, and its task is then the application user's.
    async fn owning_user(&self, set: &str, record: Uuid) -> Result<Option<Uuid>, RespondError> {
        let row = self.crm.read_row(set, record, &["_owninguser_value"]).await;
        let row = row.map_err(RespondError::Crm)?;
        Ok(row.and_then(|r| Uuid::try_parse(r.get_str("_owninguser_value")?).ok()))
    }

    /// The expiry column, when configured; a failure only logged (the task is what counts).
    async fn write_expiry(&self, set: &str, record: Uuid, expires: OffsetDateTime, referral: &str) {
        let Some(column) = &self.config.expiry_column else {
            return;
        };
        let mut row = serde_json::Map::new();
        row.insert(
            column.clone(),
            cosell_mapping::timestamp::format(expires).into(),
        );
        let written = self
            .crm
            .update_row(set, record, &row, Precondition::MustExist)
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, %referral, "expiry column not written");
        }
    }

    async fn park(
        &self,
        referral_id: &ReferralId,
        item: &RetryItem,
        problem: RespondError,
        now: OffsetDateTime,
    ) -> Result<Reminded, StoreError> {
        let key = WorkKey::Respond(referral_id.clone());
        let payload = item.payload.clone();
        let (_, verdict) = park(&*self.store, &key, &self.backoff, &problem, now, |_, _| {
            payload
        })
        .await?;
        tracing::warn!(referral = %referral_id, problem = %verdict.message, "respond-by work parked");
        Ok(Reminded::Parked {
            message: verdict.message,
            permanent: verdict.permanent,
        })
    }
}

fn closed_words(answer: Answer) -> &'static str {
    match answer {
        Answer::Accepted => "completed (referral accepted)",
        Answer::Declined => "cancelled (referral declined)",
        Answer::Expired => "cancelled (referral expired)",
    }
}
