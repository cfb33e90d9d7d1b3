//! The write: what the plan cannot know learned (the currency's row, the customer matched, the
//! owner), the rows the plan makes of it sent in one change set — creating the record or
//! updating it, with Win or Lose when the status says so — and what was written told.

use cosell_dataverse::{
    ChangeSet, Id, Key, OpportunityClose, PartOutcome, Precondition, Reference,
};
use cosell_mapping::inbound::{Closing, CustomerMatch, Existing, InboundPlan, NewRecord, Rows};
use cosell_mapping::respond;
use cosell_store::{CrmKind, RetryItem, RetryState};
use time::OffsetDateTime;
use uuid::Uuid;

use super::matching::{self, AccountMatch};
use super::planned::Planned;
use super::{Failure, InboundError, InboundSync};
use crate::intent::Intent;
use crate::record::WorkKey;
use crate::respond::Waiting;

/// What a change set wrote.
pub(super) struct RecordWritten {
    pub id: Uuid,
    pub etag: Option<String>,
    pub message: String,
    /// The record's Audit log as written (empty for a lead).
    pub audit: Vec<String>,
    /// A new record (not one the referral was linked to or named).
    pub created: bool,
}

impl InboundSync {
    /// Writes the planned referral: an update of the record it is linked to (or, without a link,
    /// the opportunity it was created from), else a new record.
    pub(super) async fn write(
        &self,
        planned: &Planned,
        now: OffsetDateTime,
    ) -> Result<RecordWritten, Failure> {
        let plan = &planned.plan;
        let kind = planned.kind();
        let currency = match &plan.currency_code {
            Some(code) if kind == CrmKind::Opportunity => Some(
                self.currencies
                    .id(self.crm.as_ref(), code)
                    .await
                    .map_err(|e| planned.fail(e))?,
            ),
            _ => None,
        };
        let target = match (&planned.link, plan.external_record) {
            (Some(link), _) if link.crm_kind != kind => {
                let linked = link.crm_kind;
                let changed = InboundError::KindChanged {
                    linked,
                    planned: kind,
                };
                return Err(planned.fail(changed));
            }
            (Some(_), _) => planned.record().map(|r| r.id),
            // A referral we created outbound names our record before its link is stored.
            (None, Some(external)) if kind == CrmKind::Opportunity => Some(external),
            (None, _) => None,
        };
        match target {
            Some(id) => self.update(planned, id, currency, now).await,
            // An earlier create may have made the record: updated if it is there.
            None if planned.creating => {
                let id = plan.record.new_id();
                match self.update(planned, id, currency, now).await {
                    Err(InboundError::Crm(error)) if error.is_not_found() => {
                        self.create(planned, currency, now).await
                    }
                    updated => updated,
                }
            }
            None => self.create(planned, currency, now).await,
        }
        .map_err(|e| planned.fail(e))
    }

    /// A referral with no record yet: the match queries, then one change set — creating the
    /// record owned by its seller and, for a referral waiting for an answer, the seller's task.
    /// Dataverse refusing the owner or the task (`400`/`403`: the application user may not
    /// assign, or create tasks) never costs the referral: the change set is sent once more
    /// without them, and Audit says so.
    async fn create(
        &self,
        planned: &Planned,
        currency: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<RecordWritten, InboundError> {
        let plan = &planned.plan;
        let mut new = self.new_record(planned, currency, now).await?;
        if let Some(expires) = new.expires.filter(|_| new.task) {
            // The item first: a change set that fails leaves an item whose task does not
            // exist (closing it finds nothing), never a task nothing will close.
            let (deal, kind, record) = (plan.name.clone(), planned.kind(), plan.record.new_id());
            let waiting = Waiting {
                expires,
                deal,
                kind,
                record,
                reminded: false,
            };
            let begun = self.respond.begin(&plan.referral_id, &waiting, now).await;
            begun.map_err(InboundError::Store)?;
        }
        let mut rows = plan.rows_to_create(&new, &self.config)?;
        self.intend(planned, now).await?;
        let outcomes = match self.send(&rows).await {
            Err(error) if (new.owner.is_some() || new.task) && refuses_extras(&error) => {
                tracing::warn!(%error, referral = %plan.referral_id, "owner or task refused; created without them");
                (new.owner, new.task) = (None, false);
                new.notes = vec![without_extras(&error, plan.record.logical_name())];
                rows = plan.rows_to_create(&new, &self.config)?;
                self.send(&rows).await?
            }
            sent => sent?,
        };
        Ok(RecordWritten::of(rows, &outcomes, true))
    }

    /// Before a create's change set: its intent on the referral's retry item, holding the deal
    /// it writes. A process that dies (or runs out of time) after the change set and before the
    /// link leaves the item: the retry scheduler, a redelivery or the sweep then finds the
    /// record made and merges against that deal instead of writing over a seller's edit.
    /// Success removes the item with the rest of the referral's parked work.
    async fn intend(&self, planned: &Planned, now: OffsetDateTime) -> Result<(), InboundError> {
        let key = WorkKey::inbound(&planned.referral_id).to_string();
        let intent = Intent {
            since: now,
            posted: Some(planned.plan.deal.clone()),
        };
        let previous = self.store.retry(&key).await.map_err(InboundError::Store)?;
        let item = match previous {
            Some(item) => RetryItem {
                payload: intent.mark(item.payload),
                ..item
            },
            None => RetryItem {
                id: key,
                payload: intent.mark(serde_json::json!({})),
                due_at: now + self.settings.backoff.delay(1),
                attempts: 0,
                last_error: None,
                state: RetryState::Pending,
            },
        };
        self.store
            .put_retry(&item)
            .await
            .map_err(InboundError::Store)
    }

    /// What a new record needs that the plan cannot know: its owner (the seller the referral
    /// names, as the mapping says), the customer matched, whether the seller gets a task.
    async fn new_record(
        &self,
        planned: &Planned,
        currency: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<NewRecord, InboundError> {
        let (plan, referral) = (&planned.plan, &planned.referral);
        let owner = self
            .owners
            .choose(self.crm.as_ref(), referral, self.config.mapping.owner);
        let owner = owner.await;
        let customer = match plan.account {
            Some(_) => self.customer(plan).await?,
            None => CustomerMatch::NotFound,
        };
        let expires = respond::waiting(referral);
        let answer_by = expires.map(|at| respond::answer_by(at, &self.config.respond));
        Ok(NewRecord {
            state: state(referral),
            currency,
            customer,
            owner: owner.user,
            notes: std::iter::once(owner.why).chain(answer_by).collect(),
            expires,
            task: expires.is_some() && self.config.respond.tasks,
            now,
        })
    }

    /// The new opportunity's customer, matched by the mapping's rules (one query each, in order,
    /// until one finds it); several accounts matching is for a person to settle.
    async fn customer(&self, plan: &InboundPlan) -> Result<CustomerMatch, InboundError> {
        let account = plan
            .account
            .as_ref()
            .expect("an opportunity plan has an account");
        let contact = plan.contact.as_ref();
        for rule in &self.config.mapping.accounts {
            let Some(query) = matching::query(rule, account, contact, &self.config) else {
                continue;
            };
            let records = self.crm.query_all(matching::ACCOUNTS, &query).await?;
            match matching::interpret(rule, &records, account, contact) {
                AccountMatch::None => {}
                AccountMatch::One { account, contact } => {
                    let by = rule.describe();
                    return Ok(CustomerMatch::Found {
                        account,
                        by,
                        contact,
                    });
                }
                AccountMatch::Several(candidates) => {
                    let id = &plan.referral_id;
                    let message = matching::ambiguity_message(id, rule, account, &candidates);
                    return Err(InboundError::Ambiguous(message));
                }
            }
        }
        Ok(CustomerMatch::NotFound)
    }

    /// A linked referral (or one naming our opportunity): one change set updating (and maybe
    /// closing) the record. Only the deal fields Microsoft changed since the agreed deal are
    /// written; without a link, the deal an outbound create posted is the agreed one, so the
    /// seller's edits made since stay.
    async fn update(
        &self,
        planned: &Planned,
        id: Uuid,
        currency: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<RecordWritten, InboundError> {
        let link = planned.link.as_ref();
        let agreed = planned.agreed();
        let existing = Existing {
            id,
            state: state(&planned.referral),
            currency,
            audit: link.map_or(&[][..], |l| l.audit.as_slice()),
            agreed: agreed.as_ref(),
            // After a failed sync the name may carry ✖: write it again with ✔.
            rewrite_name: link
                .and_then(|l| l.last_outcome.as_ref())
                .is_some_and(|o| !o.ok),
            now,
        };
        let rows = planned.plan.rows_to_update(&existing, &self.config)?;
        let outcomes = self.send(&rows).await?;
        Ok(RecordWritten::of(rows, &outcomes, false))
    }

    /// The rows in one change set, in order; each part's outcome.
    async fn send(
        &self,
        rows: &Rows,
    ) -> Result<Vec<PartOutcome>, cosell_dataverse::DataverseError> {
        self.crm.execute(&change_set(rows).0).await
    }
}

impl RecordWritten {
    /// What `rows` wrote, told by the parts' `outcomes`.
    fn of(rows: Rows, outcomes: &[PartOutcome], created: bool) -> RecordWritten {
        let record = change_set(&rows).1;
        RecordWritten {
            id: rows.record_id(),
            etag: etag_of(outcomes, record, rows.closing.is_some()),
            message: rows.message,
            audit: rows.audit,
            created,
        }
    }
}

/// `rows` as one change set, and the reference of the record's part.
fn change_set(rows: &Rows) -> (ChangeSet, Reference) {
    let mut changes = ChangeSet::new();
    let mut record = None;
    for (at, write) in rows.writes.iter().enumerate() {
        let precondition = match write.must_exist {
            true => Precondition::MustExist,
            false => Precondition::None,
        };
        let key = Key::from(write.id);
        let reference = changes.update(write.set, key, write.row.clone(), precondition);
        if at == rows.record {
            record = Some(reference);
            match &rows.closing {
                Some(Closing {
                    id,
                    won: true,
                    reason,
                }) => {
                    changes.win_opportunity(Id(*id), &OpportunityClose::won(reason.clone()));
                }
                Some(Closing {
                    id,
                    won: false,
                    reason,
                }) => {
                    let close = OpportunityClose::canceled(reason.clone());
                    changes.lose_opportunity(Id(*id), &close);
                }
                None => {}
            }
        }
    }
    (changes, record.expect("the rows hold the record"))
}

/// `status/substatus`, for the Audit line.
fn state(referral: &cosell_mapping::Referral) -> String {
    let (status, substatus) = referral.state();
    format!("{status}/{substatus}")
}

/// Whether Dataverse refused a change set for what the application user may not do.
fn refuses_extras(error: &cosell_dataverse::DataverseError) -> bool {
    matches!(error.status(), Some(400 | 403))
}

/// The Audit note of a create sent again without its owner and task.
fn without_extras(error: &cosell_dataverse::DataverseError, kind: &str) -> String {
    let status = error.status().unwrap_or_default();
    let why = error
        .message()
        .map(|m| {
            format!(
                ": {}",
                cosell_mapping::limits::cut(m, 300).unwrap_or_else(|| m.to_owned())
            )
        })
        .unwrap_or_default();
    format!(
        "owner and task not set: Dataverse refused the change set with them (HTTP {status}{why}; the application user may need Assign on {kind} and Create and Assign on Task)"
    )
}

/// The record's ETag after the write; unknown once a closing action changed it again.
fn etag_of(outcomes: &[PartOutcome], reference: Reference, closed: bool) -> Option<String> {
    if closed {
        return None;
    }
    outcomes
        .iter()
        .find(|o| o.content_id == reference.content_id())
        .and_then(|o| o.etag.as_ref())
        .map(|e| e.0.clone())
}
