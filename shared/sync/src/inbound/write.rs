//! The write: one change set creating the record (after one account match query), or one
//! updating it — with Win or Lose in the same change set when the status says so.

use cosell_dataverse::{
    ChangeSet, Id, Key, OpportunityClose, PartOutcome, Precondition, Reference,
};
use cosell_mapping::custom::NewRow;
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound::{InboundPlan, RecordPlan, StatusAction, audit_line};
use cosell_mapping::respond::{self, Regarding, TASKS, owner_bind, task_id, task_row};
use cosell_mapping::{CrmRow, Opportunity, audit};
use cosell_store::CrmKind;
use time::OffsetDateTime;
use uuid::Uuid;

use super::matching::{self, AccountMatch};
use super::sync::Loaded;
use super::{Failure, InboundError, InboundSync};
use crate::respond::Waiting;

/// What a change set wrote.
pub(super) struct Written {
    pub id: Uuid,
    pub etag: Option<String>,
    pub message: String,
    /// The record's Audit log as written (empty for a lead).
    pub audit: Vec<String>,
    /// A new record (not one the referral was linked to or named).
    pub created: bool,
}

impl InboundSync {
    /// Writes the loaded referral: an update of the record it is linked to (or, without a link,
    /// the opportunity it was created from), else a new record.
    pub(super) async fn write(
        &self,
        loaded: &Loaded,
        now: OffsetDateTime,
    ) -> Result<Written, Failure> {
        let plan = &loaded.plan;
        let planned = loaded.kind();
        let currency = match &plan.currency_code {
            Some(code) if planned == CrmKind::Opportunity => Some(
                self.currencies
                    .id(self.crm.as_ref(), code)
                    .await
                    .map_err(|e| loaded.fail(e))?,
            ),
            _ => None,
        };
        let target = match (&loaded.link, plan.external_record) {
            (Some(link), _) if link.crm_kind != planned => {
                let linked = link.crm_kind;
                return Err(loaded.fail(InboundError::KindChanged { linked, planned }));
            }
            (Some(_), _) => loaded.record().map(|r| r.id),
            // A referral we created outbound names our record before its link is stored.
            (None, Some(external)) if planned == CrmKind::Opportunity => Some(external),
            (None, _) => None,
        };
        match target {
            Some(id) => self.update(loaded, id, currency, now).await,
            None => self.create(loaded, currency, now).await,
        }
        .map_err(|e| loaded.fail(e))
    }

    /// A referral with no record yet: the match query, then one change set — creating the
    /// record owned by its seller and, for a referral waiting for an answer, the seller's task.
    /// Dataverse refusing the owner or the task (`400`/`403`: the application user may not
    /// assign, or create tasks) never costs the referral: the change set is sent once more
    /// without them, and Audit says so.
    async fn create(
        &self,
        loaded: &Loaded,
        currency: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Written, InboundError> {
        let plan = &loaded.plan;
        let referral = &loaded.referral;
        let (status, substatus) = referral.state();
        let id = &plan.referral_id;
        let record_id = plan.record.new_id();
        let owner = self
            .owners
            .choose(self.crm.as_ref(), referral, self.config.mapping.owner)
            .await;
        let expires = respond::waiting(referral);
        let tasks = expires.filter(|_| self.config.respond.tasks);
        // The customer's rows (an opportunity's account and contact), matched or to create.
        let mut customer = ChangeSet::new();
        let (kind, found) = match &plan.record {
            RecordPlan::Lead { .. } => ("lead", None),
            RecordPlan::Opportunity { .. } => {
                let (account, contact, found) = self.customer(plan, &mut customer).await?;
                ("opportunity", Some((account, contact, found)))
            }
        };
        let message = |notes: &str| match &found {
            Some((_, _, found)) => format!(
                "✔ Created {kind} from Partner Center referral {id} ({status}/{substatus}): {found}; {notes}"
            ),
            None => format!(
                "✔ Created {kind} from Partner Center referral {id} ({status}/{substatus}); {notes}"
            ),
        };
        let mut notes = vec![owner.why.clone()];
        notes.extend(expires.map(|at| respond::answer_by(at, &self.config.respond)));
        notes.extend(plan.notes.iter().cloned());
        let full = message(&notes.join("; "));
        // The record (with Win or Lose) after the customer's rows, the task last.
        let changes = |message: &str, owner: Option<Uuid>, task: bool| {
            let mut changes = customer.clone();
            let mut row = match &plan.record {
                RecordPlan::Lead { row } => {
                    let mut row = row.to_row(&self.config)?;
                    self.config.mapping.defaults.apply(NewRow::Lead, &mut row);
                    row
                }
                RecordPlan::Opportunity { .. } => {
                    let (account, contact, _) = found.as_ref().expect("an opportunity's customer");
                    let audit = audit::render(&audit::prepend(audit_line(now, message), &[]));
                    let mut row = plan
                        .opportunity_to_create(*account, *contact, currency, &audit)
                        .expect("an opportunity plan")
                        .to_row(&self.config)?;
                    let defaults = &self.config.mapping.defaults;
                    defaults.apply(NewRow::Opportunity, &mut row);
                    if let (Some(column), Some(at)) = (&self.config.respond.expiry_column, expires)
                    {
                        row.insert(column.clone(), cosell_mapping::timestamp::format(at).into());
                    }
                    row
                }
            };
            if let Some(user) = owner {
                row.insert("ownerid@odata.bind".into(), owner_bind(user).into());
            }
            let set = plan.record.entity_set();
            let reference = changes.update(set, Key::from(record_id), row, Precondition::None);
            if matches!(plan.record, RecordPlan::Opportunity { .. }) {
                close(&mut changes, plan, record_id);
            }
            if let Some(at) = tasks.filter(|_| task) {
                let regarding = match plan.record {
                    RecordPlan::Lead { .. } => Regarding::Lead(record_id),
                    RecordPlan::Opportunity { .. } => Regarding::Opportunity(record_id),
                };
                let respond = &self.config.respond;
                // Regarding the record by its id (known before the change set): Microsoft
                // documents `$n` only for a row *created* earlier in the change set, and the
                // record here is an upsert.
                let row = task_row(id, &plan.name, at, regarding, owner, respond);
                changes.update(TASKS, Key::from(task_id(id)), row, Precondition::None);
            }
            Ok::<_, InboundError>((changes, reference))
        };
        if let Some(expires) = tasks {
            // The item first: a change set that fails leaves an item whose task does not
            // exist (closing it finds nothing), never a task nothing will close.
            let waiting = Waiting {
                expires,
                deal: plan.name.clone(),
                kind: loaded.kind(),
                record: record_id,
                reminded: false,
            };
            self.respond
                .begin(id, &waiting, now)
                .await
                .map_err(InboundError::Store)?;
        }
        let (first, reference) = changes(&full, owner.user, true)?;
        let extras = owner.user.is_some() || tasks.is_some();
        let (message, outcomes) = match self.crm.execute(&first).await {
            Ok(outcomes) => (full, outcomes),
            Err(error) if extras && matches!(error.status(), Some(400 | 403)) => {
                tracing::warn!(%error, referral = %id, "owner or task refused; created without them");
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
                let refused = format!(
                    "owner and task not set: Dataverse refused the change set with them (HTTP {status}{why}; the application user may need Assign on {kind} and Create and Assign on Task)"
                );
                let said: Vec<String> = std::iter::once(refused)
                    .chain(plan.notes.iter().cloned())
                    .collect();
                let message = message(&said.join("; "));
                let (second, _) = changes(&message, None, false)?;
                (message, self.crm.execute(&second).await?)
            }
            Err(error) => return Err(error.into()),
        };
        let audit = match plan.record {
            RecordPlan::Opportunity { .. } => audit::prepend(audit_line(now, &message), &[]),
            RecordPlan::Lead { .. } => Vec::new(), // a lead has no Audit column
        };
        Ok(Written {
            id: record_id,
            etag: etag_of(&outcomes, reference, plan.status.closes()),
            message,
            audit,
            created: true,
        })
    }

    /// The new opportunity's account and contact: matched by the mapping's rules (one query
    /// each, in order, until one finds the customer), or created in the same change set with
    /// the account defaults; and what was done, for the Audit line.
    async fn customer(
        &self,
        plan: &InboundPlan,
        changes: &mut ChangeSet,
    ) -> Result<(Uuid, Option<Uuid>, String), InboundError> {
        let account_plan = plan
            .account
            .as_ref()
            .expect("an opportunity plan has an account");
        let mut found = None;
        for rule in &self.config.mapping.accounts {
            let contact = plan.contact.as_ref();
            let Some(query) = matching::query(rule, account_plan, contact, &self.config) else {
                continue;
            };
            let records = self.crm.query_all(matching::ACCOUNTS, &query).await?;
            match matching::interpret(rule, &records, account_plan, contact) {
                AccountMatch::None => {}
                AccountMatch::One { account, contact } => {
                    found = Some((account, contact, rule));
                    break;
                }
                AccountMatch::Several(candidates) => {
                    let id = &plan.referral_id;
                    let message = matching::ambiguity_message(id, rule, account_plan, &candidates);
                    return Err(InboundError::Ambiguous(message));
                }
            }
        }
        let (account, found_contact, account_note) = match found {
            Some((account, contact, rule)) => {
                let by = rule.describe();
                (
                    account,
                    contact,
                    format!("matched account {account} by {by}"),
                )
            }
            None => {
                let account = account_plan.new_id();
                let mut row = account_plan.new_row.to_row(&self.config)?;
                self.config
                    .mapping
                    .defaults
                    .apply(NewRow::Account, &mut row);
                changes.update(
                    matching::ACCOUNTS,
                    Key::from(account),
                    row,
                    Precondition::None,
                );
                (account, None, format!("created account {account}"))
            }
        };
        let (contact, contact_note) = match (&plan.contact, found_contact) {
            (Some(_), Some(found)) => (Some(found), format!(", matched contact {found}")),
            (Some(contact), None) => {
                let mut row = contact.row_under(account).to_row(&self.config)?;
                self.config
                    .mapping
                    .defaults
                    .apply(NewRow::Contact, &mut row);
                let key = Key::from(contact.new_id());
                changes.update("contacts", key, row, Precondition::None);
                let note = format!(", created contact {}", contact.new_id());
                (Some(contact.new_id()), note)
            }
            (None, _) => (None, ", no contact email".to_owned()),
        };
        Ok((account, contact, format!("{account_note}{contact_note}")))
    }

    /// A linked referral (or one naming our opportunity): one change set updating (and maybe
    /// closing) the record. Only the deal fields Microsoft changed since the agreed deal are
    /// written; without a link, the deal an outbound create posted is the agreed one, so the
    /// seller's edits made since stay.
    async fn update(
        &self,
        loaded: &Loaded,
        id: Uuid,
        currency: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Written, InboundError> {
        let plan = &loaded.plan;
        let (status, substatus) = loaded.referral.state();
        let referral_id = &loaded.referral_id;
        let mut message =
            format!("✔ Updated from Partner Center referral {referral_id} ({status}/{substatus})");
        for note in &plan.notes {
            message += &format!("; {note}");
        }
        let link = loaded.link.as_ref();
        let earlier = link.map_or(&[][..], |l| l.audit.as_slice());
        let log = audit::prepend(audit_line(now, &message), earlier);
        let agreed: Option<DealState> = loaded.agreed();
        // After a failed sync the name may carry ✖: write it again with ✔.
        let rewrite_name = link
            .and_then(|l| l.last_outcome.as_ref())
            .is_some_and(|outcome| !outcome.ok);
        let audit = audit::render(&log);
        let closes = plan.status.closes() && plan.changed_since(agreed.as_ref()).status;
        let mut changes = ChangeSet::new();
        let key = Key::from(id);
        let reference = match &plan.record {
            RecordPlan::Lead { row } => {
                let row = row.to_row(&self.config)?;
                changes.update(plan.record.entity_set(), key, row, Precondition::MustExist)
            }
            RecordPlan::Opportunity { .. } => {
                let row = plan
                    .opportunity_to_update(currency, &audit, agreed.as_ref(), rewrite_name)
                    .expect("an opportunity plan")
                    .to_row(&self.config)?;
                let set = Opportunity::ENTITY_SET;
                let reference = changes.update(set, key, row, Precondition::MustExist);
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
            created: false,
        })
    }
}

/// Win or lose in the same change set, after the row is written.
fn close(changes: &mut ChangeSet, plan: &InboundPlan, id: Uuid) {
    let referral = &plan.referral_id;
    match plan.status {
        StatusAction::Win => {
            let reason = format!("Won in Partner Center (referral {referral})");
            changes.win_opportunity(Id(id), &OpportunityClose::won(reason));
        }
        StatusAction::Lose => {
            let reason = format!("Closed in Partner Center (referral {referral})");
            changes.lose_opportunity(Id(id), &OpportunityClose::canceled(reason));
        }
        StatusAction::OnHold | StatusAction::InProgress | StatusAction::Keep => {}
    }
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
