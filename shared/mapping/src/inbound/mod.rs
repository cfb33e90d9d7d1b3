//! Inbound: what a Partner Center referral becomes in Dynamics 365, as a [`InboundPlan`].
//!
//! [`plan`] is pure: a referral and the settings in, a plan out (or every reason the referral
//! cannot be written). The use case in `cosell-sync` learns what the plan cannot know — the
//! account and contact matched, the currency's row, the owner — and [`rows`] turns the plan and
//! those facts into the rows ready to write, which the use case sends in one change set.
//!
//! | referral | Dataverse |
//! |---|---|
//! | category ([`Category::of`]) | co-sell opportunity → `opportunities`; marketplace or qualified lead → `leads` |
//! | `customerProfile.name`, `.address` | the account to match (normalised name + postal code, see [`normalise`]) or create, with the ISO country in the configured country column |
//! | `customerProfile.team[0]` | the contact to match (by email, under the account) or create |
//! | `name` (else the customer name) | opportunity `name`, with ` ✔` when `COSELL_SHOW_CHECKMARK` is on; lead `subject` |
//! | `details.dealValue` | the configured deal-value column (lead: `estimatedamount`) |
//! | `details.currency` | `transactioncurrencyid`, looked up by `isocurrencycode` |
//! | `details.closingDateTime` | `estimatedclosedate` (its UTC date) |
//! | `details.notes` | `description` |
//! | co-sell columns | sync = yes, referral id, referral link (`links.self.uri`), help = `inviteContext.assistanceRequestCode`, visibility = `consent.consentToShareReferralWithMicrosoftSellers`, Microsoft CRM id = `trackingInfo.microsoftMsxId`, Audit = one line |
//! | `status`/`substatus` | see [`status`]; an *outgoing* referral (ours) that is still New leaves the status alone |
//! | `externalReferenceId` of an outgoing referral | the record it was created from: updated, never duplicated |
//!
//! Rows created for a referral get deterministic ids ([`record_id`]), so a retried create
//! lands on the same row. [`InboundPlan::hash`] covers exactly what is written (the audit line
//! aside), so a referral that changed nowhere we look writes nothing.

mod invalid;
pub mod normalise;
mod plan;
pub mod rows;
pub mod status;

use cosell_ids::ReferralId;
use uuid::Uuid;

pub use crate::audit::line as audit_line;
pub use crate::crm::ids::record_id;
pub use invalid::{InvalidReferral, ReferralProblem};
pub use plan::plan;
pub use rows::{Closing, CustomerMatch, Existing, NewRecord, RowWrite, Rows};
pub use status::{StatusAction, hash_says_closed};

use crate::category::Category;
use crate::crm::{Account, Contact, CrmRow, Customer, Lead, Opportunity};
use crate::deal::{ChangedFields, DealState};
use crate::referral::CustomerIds;

/// Everything an inbound sync of one referral writes.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPlan {
    pub referral_id: ReferralId,
    pub category: Category,
    pub status: StatusAction,
    /// `"<open|won|lost>:<sha-256 hex>"` of what the plan writes; stored in the link as
    /// `inbound_hash`. The tag says whether the record was left closed ([`hash_says_closed`]).
    pub hash: String,
    /// The record's name before any mark.
    pub name: String,
    /// The account to match or create; `None` for a lead.
    pub account: Option<AccountPlan>,
    /// The contact to match or create; `None` for a lead or when `team[0]` has no email.
    pub contact: Option<ContactPlan>,
    pub record: RecordPlan,
    /// ISO 4217, upper case.
    pub currency_code: Option<String>,
    /// `externalReferenceId` of an outgoing referral, when it holds a GUID: the CRM record the
    /// referral was created from (outbound), which it already belongs to.
    pub external_record: Option<Uuid>,
    /// The deal as the referral states it: what both sides agree on once this plan is written
    /// (with any text cut to fit, as written).
    pub deal: DealState,
    /// What the Audit line must say besides the outcome: text cut to Dataverse's limits, an
    /// email left out.
    pub notes: Vec<String>,
}

/// The account side of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPlan {
    /// The customer name, normalised ([`normalise::company_name`]).
    pub match_name: String,
    /// The postal code as the referral gives it (what the match query filters on).
    pub postal_code: Option<String>,
    /// ISO 3166 alpha-2, upper case (the `name_country` rule).
    pub country: Option<String>,
    /// `customerProfile.ids` (the `external_id` rule).
    pub ids: Option<CustomerIds>,
    /// The account to create when none matches, with its deterministic id in `id`.
    pub new_row: Account,
}

impl AccountPlan {
    /// The deterministic id of the account created for this referral.
    pub fn new_id(&self) -> Uuid {
        self.new_row.id.unwrap_or_default()
    }

    /// Whether an existing account with this name and postal code is the customer.
    pub fn matches(&self, name: Option<&str>, postal_code: Option<&str>) -> bool {
        let norm = |code: Option<&str>| {
            code.map(normalise::postal_code)
                .filter(|code| !code.is_empty())
        };
        name.is_some_and(|name| normalise::company_name(name) == self.match_name)
            && norm(postal_code) == norm(self.postal_code.as_deref())
    }
}

/// The contact side of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPlan {
    /// What an existing contact is matched on, under the account.
    pub email: String,
    /// The contact to create when none matches (its parent is set once the account is known).
    pub new_row: Contact,
}

impl ContactPlan {
    pub fn new_id(&self) -> Uuid {
        self.new_row.id.unwrap_or_default()
    }

    /// The new contact under `account`.
    pub fn row_under(&self, account: Uuid) -> Contact {
        Contact {
            parent_customer: Some(Customer::Account(account)),
            ..self.new_row.clone()
        }
    }
}

/// The opportunity or lead.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordPlan {
    /// `row` carries no customer, contact or currency: the use case adds them once known.
    Opportunity {
        row: Opportunity,
    },
    Lead {
        row: Lead,
    },
}

impl RecordPlan {
    /// The deterministic id the record is created with.
    pub fn new_id(&self) -> Uuid {
        match self {
            Self::Opportunity { row } => row.id,
            Self::Lead { row } => row.id,
        }
        .unwrap_or_default()
    }

    /// The table's logical name: `opportunity`, `lead`.
    pub fn logical_name(&self) -> &'static str {
        match self {
            Self::Opportunity { .. } => "opportunity",
            Self::Lead { .. } => "lead",
        }
    }

    pub fn entity_set(&self) -> &'static str {
        match self {
            Self::Opportunity { .. } => Opportunity::ENTITY_SET,
            Self::Lead { .. } => Lead::ENTITY_SET,
        }
    }
}

/// Why the referral is not written at all, when the mapping leaves its kind out (leads with
/// `leads = false`).
pub fn left_out(referral: &crate::Referral, config: &crate::CrmConfig) -> Option<String> {
    let category = Category::of(referral);
    (category.is_lead() && !config.mapping.leads)
        .then(|| format!("a {category:?} referral; the mapping leaves leads out (leads = false)"))
}

impl InboundPlan {
    /// The opportunity as created: every mapped column, bound to its account, contact and
    /// currency; `None` for a lead.
    pub fn opportunity_to_create(
        &self,
        account: Uuid,
        contact: Option<Uuid>,
        currency: Option<Uuid>,
        audit: &str,
    ) -> Option<Opportunity> {
        let RecordPlan::Opportunity { row } = &self.record else {
            return None;
        };
        Some(Opportunity {
            customer: Some(Customer::Account(account)),
            parent_account: Some(account),
            parent_contact: contact,
            currency,
            audit: Some(audit.to_owned()),
            ..row.clone()
        })
    }

    /// The opportunity as updated: the fields Partner Center keeps in sync after creation
    /// (name and mark, deal value, currency, close date, notes, status, help, Microsoft's CRM id,
    /// visibility only ever to yes) and the audit line. The seller's "Sync" choice, the account
    /// and the contact are left alone. `None` for a lead.
    ///
    /// Of the deal fields, only those Microsoft changed since `agreed` (the deal both sides last
    /// agreed on) are written, so a seller's edit of another field that outbound has not sent
    /// yet survives and goes out on the next poll; with no agreed deal, all of them. A field both
    /// sides changed takes Microsoft's value (the later write). `rewrite_name` writes the name
    /// whatever changed, to replace an earlier ✖ with ✔.
    pub fn opportunity_to_update(
        &self,
        currency: Option<Uuid>,
        audit: &str,
        agreed: Option<&DealState>,
        rewrite_name: bool,
    ) -> Option<Opportunity> {
        let RecordPlan::Opportunity { row } = &self.record else {
            return None;
        };
        let changed = self.changed_since(agreed);
        let mapped = match agreed {
            Some(_) => self.deal.mapped_changed(agreed, false),
            None => self.deal.mapped_changed(None, true),
        };
        Some(Opportunity {
            id: row.id,
            name: row.name.clone().filter(|_| rewrite_name || changed.name),
            deal_value: row.deal_value.filter(|_| changed.deal_value),
            estimated_close_date: row.estimated_close_date.filter(|_| changed.close_date),
            description: row.description.clone().filter(|_| changed.notes),
            currency: currency.filter(|_| changed.currency),
            status_reason: row.status_reason.filter(|_| changed.status),
            help: row.help.clone(),
            visible: row.visible.filter(|visible| *visible && changed.visible),
            microsoft_crm_id: row.microsoft_crm_id.clone(),
            audit: Some(audit.to_owned()),
            mapped: mapped
                .into_iter()
                .map(|column| {
                    let value = self.deal.mapped.get(&column).cloned().unwrap_or_default();
                    (column, value)
                })
                .collect(),
            ..Opportunity::default()
        })
    }

    /// Whether a linked record needs no write: the rows hash the same and no mapped column
    /// moved since `agreed`.
    pub fn unchanged_since(&self, hash: &str, agreed: Option<&DealState>) -> bool {
        self.hash == hash && self.deal.mapped_changed(agreed, false).is_empty()
    }

    /// Which deal fields the referral changed since `agreed` (all of them without one).
    pub fn changed_since(&self, agreed: Option<&DealState>) -> ChangedFields {
        match agreed {
            Some(agreed) => self.deal.normalised().changed_from(&agreed.normalised()),
            None => ChangedFields::ALL,
        }
    }

    /// The lead as written (create or update); `None` for an opportunity.
    pub fn lead(&self) -> Option<&Lead> {
        match &self.record {
            RecordPlan::Lead { row } => Some(row),
            RecordPlan::Opportunity { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
