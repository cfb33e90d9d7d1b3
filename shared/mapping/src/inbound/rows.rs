//! The rows an inbound sync writes, whole: from the plan and what the sync learned (the
//! currency's row, the customer matched or not, the owner, the answer-by date), the record with
//! its owner, defaults and Audit line, the customer rows to create, the closing action and the
//! seller's task — in the order one change set sends them. Pure: the sync sends them and records
//! the outcome.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{InboundPlan, RecordPlan, StatusAction};
use crate::audit;
use crate::config::CrmConfig;
use crate::crm::{CrmRow, Row};
use crate::custom::NewRow;
use crate::deal::DealState;
use crate::error::MappingError;
use crate::respond::{Regarding, TASKS, owner_bind, task_id, task_row};

/// One row written by its id: an upsert at a deterministic id (a create), or an update of a row
/// that must exist.
#[derive(Debug, Clone, PartialEq)]
pub struct RowWrite {
    pub set: &'static str,
    pub id: Uuid,
    pub row: Row,
    pub must_exist: bool,
}

/// Win or lose the opportunity, after its row is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    pub id: Uuid,
    pub won: bool,
    pub reason: String,
}

/// A whole inbound write.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// In the order they are sent: the customer's rows, the record, the task.
    pub writes: Vec<RowWrite>,
    /// Which of `writes` is the record.
    pub record: usize,
    /// Sent right after the record.
    pub closing: Option<Closing>,
    /// What the Audit line says: the outcome and every note.
    pub message: String,
    /// The record's Audit log as written (empty for a lead, which has no Audit column).
    pub audit: Vec<String>,
}

impl Rows {
    /// The record's id.
    pub fn record_id(&self) -> Uuid {
        self.writes[self.record].id
    }
}

/// Who a new opportunity's customer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerMatch {
    /// An account one of the mapping's rules found (`by` describes the rule), and a contact
    /// under it with the referral's email, if one is there.
    Found {
        account: Uuid,
        by: String,
        contact: Option<Uuid>,
    },
    /// None: the plan's account (and contact) are created.
    NotFound,
}

/// What a new record needs beyond the plan, all learned by the sync.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The referral's `status/substatus`, for the Audit line.
    pub state: String,
    /// The currency's row (an opportunity's).
    pub currency: Option<Uuid>,
    /// An opportunity's customer; not read for a lead.
    pub customer: CustomerMatch,
    /// The record's owner; `None`: the application user.
    pub owner: Option<Uuid>,
    /// What Audit says before the plan's own notes (who owns it and why, the answer-by date).
    pub notes: Vec<String>,
    /// When the referral expires unanswered (the expiry column, when configured).
    pub expires: Option<OffsetDateTime>,
    /// Whether the seller's task is written (a waiting referral, tasks on).
    pub task: bool,
    pub now: OffsetDateTime,
}

/// What an update needs beyond the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing<'a> {
    /// The record the referral is linked to (or the one it was created from).
    pub id: Uuid,
    /// The referral's `status/substatus`, for the Audit line.
    pub state: String,
    pub currency: Option<Uuid>,
    /// The Audit log the link holds.
    pub audit: &'a [String],
    /// The deal both sides last agreed on.
    pub agreed: Option<&'a DealState>,
    /// Write the name whatever changed (an earlier ✖ becomes ✔).
    pub rewrite_name: bool,
    pub now: OffsetDateTime,
}

impl InboundPlan {
    /// The rows creating the record: the customer's account and contact unless found, the
    /// record owned by `new.owner` with the mapping's defaults (and Win or Lose), the seller's
    /// task.
    pub fn rows_to_create(
        &self,
        new: &NewRecord,
        config: &CrmConfig,
    ) -> Result<Rows, MappingError> {
        let defaults = &config.mapping.defaults;
        let record_id = self.record.new_id();
        let mut writes = Vec::new();
        let create = |set, id, row| RowWrite {
            set,
            id,
            row,
            must_exist: false,
        };
        let kind = self.record.logical_name();
        let customer = match &self.record {
            RecordPlan::Lead { .. } => None,
            RecordPlan::Opportunity { .. } => {
                Some(self.customer(&new.customer, config, &mut writes)?)
            }
        };
        let (id, state) = (&self.referral_id, &new.state);
        let notes = new.notes.iter().chain(&self.notes).cloned();
        let notes = notes.collect::<Vec<_>>().join("; ");
        let message = match &customer {
            Some((_, _, found)) => format!(
                "✔ Created {kind} from Partner Center referral {id} ({state}): {found}; {notes}"
            ),
            None => {
                format!("✔ Created {kind} from Partner Center referral {id} ({state}); {notes}")
            }
        };
        let (mut row, audit) = match &self.record {
            RecordPlan::Lead { row } => {
                let mut row = row.to_row(config)?;
                defaults.apply(NewRow::Lead, &mut row);
                (row, Vec::new())
            }
            RecordPlan::Opportunity { .. } => {
                let (account, contact, _) = customer.expect("an opportunity's customer");
                let audit = audit::prepend(audit::line(new.now, &message), &[]);
                let rendered = audit::render(&audit);
                let opportunity =
                    self.opportunity_to_create(account, contact, new.currency, &rendered);
                let mut row = opportunity.expect("an opportunity plan").to_row(config)?;
                defaults.apply(NewRow::Opportunity, &mut row);
                if let (Some(column), Some(at)) = (&config.respond.expiry_column, new.expires) {
                    row.insert(column.clone(), crate::timestamp::format(at).into());
                }
                (row, audit)
            }
        };
        if let Some(user) = new.owner {
            row.insert("ownerid@odata.bind".into(), owner_bind(user).into());
        }
        writes.push(create(self.record.entity_set(), record_id, row));
        let record = writes.len() - 1;
        if let Some(at) = new.expires.filter(|_| new.task) {
            let regarding = match self.record {
                RecordPlan::Lead { .. } => Regarding::Lead(record_id),
                RecordPlan::Opportunity { .. } => Regarding::Opportunity(record_id),
            };
            // Regarding the record by its id (known before the change set): Microsoft documents
            // `$n` only for a row *created* earlier in the change set, and the record is an upsert.
            let row = task_row(id, &self.name, at, regarding, new.owner, &config.respond);
            writes.push(create(TASKS, task_id(id), row));
        }
        let closing = self.closing(record_id);
        Ok(Rows {
            writes,
            record,
            closing,
            message,
            audit,
        })
    }

    /// The rows updating the linked record: only the deal fields Microsoft changed since the
    /// agreed deal (see [`InboundPlan::opportunity_to_update`]), Win or Lose when the status
    /// moved there, and the Audit line on top of the link's.
    pub fn rows_to_update(
        &self,
        existing: &Existing,
        config: &CrmConfig,
    ) -> Result<Rows, MappingError> {
        let (id, state) = (&self.referral_id, &existing.state);
        let mut message = format!("✔ Updated from Partner Center referral {id} ({state})");
        for note in &self.notes {
            message += &format!("; {note}");
        }
        let log = audit::prepend(audit::line(existing.now, &message), existing.audit);
        let (row, closing, audit) = match &self.record {
            RecordPlan::Lead { row } => (row.to_row(config)?, None, Vec::new()),
            RecordPlan::Opportunity { .. } => {
                let (currency, agreed) = (existing.currency, existing.agreed);
                let rendered = audit::render(&log);
                let update =
                    self.opportunity_to_update(currency, &rendered, agreed, existing.rewrite_name);
                // A status the CRM already holds (the seller closed it and outbound sent that)
                // is not closed a second time.
                let closes = self.changed_since(agreed).status;
                let closing = self.closing(existing.id).filter(|_| closes);
                let row = update.expect("an opportunity plan").to_row(config)?;
                (row, closing, log)
            }
        };
        let write = RowWrite {
            set: self.record.entity_set(),
            id: existing.id,
            row,
            must_exist: true,
        };
        Ok(Rows {
            writes: vec![write],
            record: 0,
            closing,
            message,
            audit,
        })
    }

    /// Win or Lose for this status, with the reason Dynamics 365 shows.
    fn closing(&self, id: Uuid) -> Option<Closing> {
        let referral = &self.referral_id;
        let (won, reason) = match (&self.record, self.status) {
            (RecordPlan::Lead { .. }, _) => return None,
            (_, StatusAction::Win) => {
                (true, format!("Won in Partner Center (referral {referral})"))
            }
            (_, StatusAction::Lose) => (
                false,
                format!("Closed in Partner Center (referral {referral})"),
            ),
            (_, StatusAction::OnHold | StatusAction::InProgress | StatusAction::Keep) => {
                return None;
            }
        };
        Some(Closing { id, won, reason })
    }

    /// The new opportunity's account and contact — found, or their rows added to `writes` with
    /// the mapping's defaults — and what was done, for the Audit line.
    fn customer(
        &self,
        matched: &CustomerMatch,
        config: &CrmConfig,
        writes: &mut Vec<RowWrite>,
    ) -> Result<(Uuid, Option<Uuid>, String), MappingError> {
        let defaults = &config.mapping.defaults;
        let account_plan = self
            .account
            .as_ref()
            .expect("an opportunity plan has an account");
        let mut create = |set, id, row| {
            writes.push(RowWrite {
                set,
                id,
                row,
                must_exist: false,
            })
        };
        let (account, found_contact, account_note) = match matched {
            CustomerMatch::Found {
                account,
                by,
                contact,
            } => (
                *account,
                *contact,
                format!("matched account {account} by {by}"),
            ),
            CustomerMatch::NotFound => {
                let account = account_plan.new_id();
                let mut row = account_plan.new_row.to_row(config)?;
                defaults.apply(NewRow::Account, &mut row);
                create(ACCOUNTS, account, row);
                (account, None, format!("created account {account}"))
            }
        };
        let (contact, contact_note) = match (&self.contact, found_contact) {
            (Some(_), Some(found)) => (Some(found), format!(", matched contact {found}")),
            (Some(contact), None) => {
                let mut row = contact.row_under(account).to_row(config)?;
                defaults.apply(NewRow::Contact, &mut row);
                create(CONTACTS, contact.new_id(), row);
                (
                    Some(contact.new_id()),
                    format!(", created contact {}", contact.new_id()),
                )
            }
            (None, _) => (None, ", no contact email".to_owned()),
        };
        Ok((account, contact, format!("{account_note}{contact_note}")))
    }
}

/// The entity sets of the customer's rows.
pub const ACCOUNTS: &str = "accounts";
pub const CONTACTS: &str = "contacts";
