//! Inbound: what a Partner Center referral becomes in Dynamics 365, as a [`InboundPlan`].
//!
//! [`plan`] is pure: a referral and the settings in, a plan out (or every reason the referral
//! cannot be written). The use case in `cosell-sync` carries the plan out: it matches the account
//! and contact, looks the currency up, and writes the rows in one change set.
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
//! Rows created for a referral get deterministic ids ([`ids::record_id`]), so a retried create
//! lands on the same row. [`InboundPlan::hash`] covers exactly what is written (the audit line
//! aside), so a referral that changed nowhere we look writes nothing.

pub mod ids;
mod invalid;
pub mod normalise;
pub mod status;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use crate::audit::line as audit_line;
pub use ids::record_id;
pub use invalid::{InvalidReferral, Problem};
pub use status::{StatusAction, hash_says_closed};

use crate::category::Category;
use crate::config::CrmConfig;
use crate::crm::{Account, Contact, CrmRow, Customer, Lead, Opportunity};
use crate::deal::DealState;
use crate::enums::{AssistanceRequestCode, Direction};
use crate::referral::{Member, Referral};

/// The check mark shown in an opportunity's name after a sync.
pub const MARK_OK: char = '✔';
/// The mark shown after a failed sync.
pub const MARK_FAILED: char = '✖';

/// Everything an inbound sync of one referral writes.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPlan {
    pub referral_id: String,
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
    /// The deal as the referral states it: what both sides agree on once this plan is written.
    pub deal: DealState,
}

/// The account side of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPlan {
    /// The customer name, normalised ([`normalise::company_name`]).
    pub match_name: String,
    /// The postal code as the referral gives it (what the match query filters on).
    pub postal_code: Option<String>,
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

/// The deal fields that differ between two [`DealState`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangedFields {
    pub name: bool,
    pub deal_value: bool,
    pub currency: bool,
    pub close_date: bool,
    pub notes: bool,
    pub visible: bool,
    pub status: bool,
}

impl ChangedFields {
    pub const ALL: ChangedFields = ChangedFields {
        name: true,
        deal_value: true,
        currency: true,
        close_date: true,
        notes: true,
        visible: true,
        status: true,
    };
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

    pub fn entity_set(&self) -> &'static str {
        match self {
            Self::Opportunity { .. } => Opportunity::ENTITY_SET,
            Self::Lead { .. } => Lead::ENTITY_SET,
        }
    }
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
            ..Opportunity::default()
        })
    }

    /// Which deal fields the referral changed since `agreed` (all of them without one).
    pub fn changed_since(&self, agreed: Option<&DealState>) -> ChangedFields {
        let now = self.deal.normalised();
        let Some(agreed) = agreed.map(DealState::normalised) else {
            return ChangedFields::ALL;
        };
        ChangedFields {
            name: agreed.name != now.name,
            deal_value: agreed.deal_value != now.deal_value,
            currency: agreed.currency != now.currency,
            close_date: agreed.close_date != now.close_date,
            notes: agreed.notes != now.notes,
            visible: agreed.visible != now.visible,
            status: agreed.status != now.status,
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

impl InboundPlan {
    /// What a sync would write when nothing matches yet, one object per entity set keyed by
    /// Dataverse logical column names (for `cosell preview inbound`). The currency is shown bound
    /// by its alternate key, since its row id is only known to Dataverse.
    pub fn preview(&self, config: &CrmConfig, audit: &str) -> Result<Value, crate::MappingError> {
        let mut tables = serde_json::Map::new();
        let with_id = |key: &str, id: Uuid, mut row: crate::crm::Row| {
            row.insert(key.to_owned(), Value::String(id.to_string()));
            Value::Object(row)
        };
        match &self.record {
            RecordPlan::Lead { row } => {
                tables.insert(
                    Lead::ENTITY_SET.into(),
                    with_id(Lead::KEY, self.record.new_id(), row.to_row(config)?),
                );
            }
            RecordPlan::Opportunity { .. } => {
                let account = self
                    .account
                    .as_ref()
                    .map(AccountPlan::new_id)
                    .unwrap_or_default();
                if let Some(plan) = &self.account {
                    tables.insert(
                        Account::ENTITY_SET.into(),
                        with_id(Account::KEY, account, plan.new_row.to_row(config)?),
                    );
                }
                if let Some(plan) = &self.contact {
                    tables.insert(
                        Contact::ENTITY_SET.into(),
                        with_id(
                            Contact::KEY,
                            plan.new_id(),
                            plan.row_under(account).to_row(config)?,
                        ),
                    );
                }
                let contact = self.contact.as_ref().map(ContactPlan::new_id);
                let opportunity = self
                    .opportunity_to_create(account, contact, None, audit)
                    .unwrap_or_default();
                let mut row = opportunity.to_row(config)?;
                if let Some(code) = &self.currency_code {
                    row.insert(
                        "transactioncurrencyid@odata.bind".into(),
                        Value::String(format!("/transactioncurrencies(isocurrencycode='{code}')")),
                    );
                }
                tables.insert(
                    Opportunity::ENTITY_SET.into(),
                    with_id(Opportunity::KEY, self.record.new_id(), row),
                );
                let close = match self.status {
                    StatusAction::Win => Some("WinOpportunity"),
                    StatusAction::Lose => Some("LoseOpportunity"),
                    _ => None,
                };
                if let Some(action) = close {
                    tables.insert("action".into(), Value::String(action.into()));
                }
            }
        }
        Ok(Value::Object(tables))
    }
}

/// `"<name> ✔"` (or ✖) when the check-mark setting is on, else the name; a mark already at the
/// end of `name` is replaced, never doubled.
pub fn decorate_name(name: &str, mark: char, config: &CrmConfig) -> String {
    let base = base_name(name);
    if config.check_mark_in_name {
        format!("{base} {mark}")
    } else {
        base.to_owned()
    }
}

/// The name without a trailing ✔/✖.
pub fn base_name(name: &str) -> &str {
    name.trim_end()
        .trim_end_matches([MARK_OK, MARK_FAILED])
        .trim_end()
}

/// Plans the inbound sync of `referral`.
pub fn plan(referral: &Referral, config: &CrmConfig) -> Result<InboundPlan, InvalidReferral> {
    let mut problems = Vec::new();
    let referral_id = referral.id.clone().filter(|id| !id.trim().is_empty());
    if referral_id.is_none() {
        problems.push(Problem::NoId);
    }
    let category = Category::of(referral);
    let customer = referral.customer_profile.as_ref();
    let customer_name = customer
        .and_then(|c| c.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if customer_name.is_none() && !category.is_lead() {
        problems.push(Problem::NoCustomerName);
    }
    let name = referral
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(customer_name)
        .map(|n| base_name(n).to_owned());
    if name.is_none() {
        problems.push(Problem::NoName);
    }
    let details = referral.details.as_ref();
    let currency_code = checked_code(
        details.and_then(|d| d.currency.as_deref()),
        3,
        Problem::BadCurrency,
        &mut problems,
    );
    let address = customer.and_then(|c| c.address.as_ref());
    let country = checked_code(
        address.and_then(|a| a.country.as_deref()),
        2,
        Problem::BadCountry,
        &mut problems,
    );
    let deal_value = details.and_then(|d| d.deal_value);
    if let Some(value) = deal_value.filter(Decimal::is_sign_negative) {
        problems.push(Problem::NegativeDealValue(value.to_string()));
    }
    let help = referral
        .invite_context
        .as_ref()
        .and_then(|i| i.assistance_request_code.clone());
    if let Some(code) = &help
        && !category.is_lead()
        && *code != AssistanceRequestCode::Unknown
        && config.help_options.value(code).is_none()
    {
        problems.push(Problem::UnmappedHelp {
            code: code.to_string(),
        });
    }
    let (Some(referral_id), Some(name), true) = (referral_id, name, problems.is_empty()) else {
        return Err(InvalidReferral {
            referral_id: referral.id.clone(),
            problems,
        });
    };

    let text =
        |value: Option<&String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let postal_code = text(address.and_then(|a| a.postal_code.as_ref()));
    let person = customer.and_then(|c| c.team.first());
    let email = person.and_then(|p| text(p.email.as_ref()));
    let close_date = details
        .and_then(|d| d.closing_date_time)
        .map(|at| at.to_offset(time::UtcOffset::UTC).date());
    let notes = text(details.and_then(|d| d.notes.as_ref()));
    let (status, substatus) = referral.state();
    let incoming = referral.direction.as_ref() != Some(&Direction::Outgoing);
    let status_action = match StatusAction::of(&status, &substatus) {
        // Only a referral sent *to* us waits on hold; our own new referral leaves the seller's
        // status alone.
        StatusAction::OnHold if !incoming => StatusAction::Keep,
        action => action,
    };

    let (account, contact, record) = if category.is_lead() {
        let lead = Lead {
            id: Some(record_id(Lead::ENTITY_SET, &referral_id)),
            subject: Some(name.clone()),
            first_name: person.and_then(|p| text(p.first_name.as_ref())),
            last_name: person.and_then(|p| text(p.last_name.as_ref())),
            company_name: customer_name.map(str::to_owned),
            email: email.clone(),
            telephone: person.and_then(|p| text(p.phone_number.as_ref())),
            address_line1: text(address.and_then(|a| a.address_line1.as_ref())),
            city: text(address.and_then(|a| a.city.as_ref())),
            state_or_province: text(address.and_then(|a| a.state.as_ref())),
            postal_code: postal_code.clone(),
            country: country.clone(),
            estimated_amount: deal_value,
            estimated_close_date: close_date,
            description: notes,
            ..Lead::default()
        };
        (None, None, RecordPlan::Lead { row: lead })
    } else {
        let customer_name = customer_name.unwrap_or_default();
        let account = AccountPlan {
            match_name: normalise::company_name(customer_name),
            postal_code: postal_code.clone(),
            new_row: Account {
                id: Some(record_id(Account::ENTITY_SET, &referral_id)),
                name: Some(customer_name.to_owned()),
                address_line1: text(address.and_then(|a| a.address_line1.as_ref())),
                city: text(address.and_then(|a| a.city.as_ref())),
                state_or_province: text(address.and_then(|a| a.state.as_ref())),
                postal_code: postal_code.clone(),
                country_code: country.clone(),
                ..Account::default()
            },
        };
        let contact = email.clone().map(|email| ContactPlan {
            new_row: contact_row(&referral_id, person, &email),
            email,
        });
        let opportunity = Opportunity {
            id: Some(record_id(Opportunity::ENTITY_SET, &referral_id)),
            name: Some(decorate_name(&name, MARK_OK, config)),
            deal_value,
            estimated_close_date: close_date,
            description: notes,
            status_reason: status_action.open_status_reason(),
            sync: Some(true),
            referral_id: Some(referral_id.clone()),
            referral_link: referral
                .links
                .as_ref()
                .and_then(|l| l.self_link.as_ref())
                .and_then(|l| text(l.uri.as_ref())),
            help,
            visible: referral
                .consent
                .as_ref()
                .and_then(|c| c.consent_to_share_referral_with_microsoft_sellers),
            microsoft_crm_id: referral
                .tracking_info
                .as_ref()
                .and_then(|t| text(t.microsoft_msx_id.as_ref())),
            ..Opportunity::default()
        };
        (
            Some(account),
            contact,
            RecordPlan::Opportunity { row: opportunity },
        )
    };

    let mut plan = InboundPlan {
        referral_id,
        category,
        status: if category.is_lead() {
            StatusAction::Keep
        } else {
            status_action
        },
        hash: String::new(),
        name,
        account,
        contact,
        record,
        currency_code,
        external_record: referral
            .external_reference_id
            .as_deref()
            .filter(|_| !incoming)
            .and_then(|id| Uuid::try_parse(id.trim()).ok()),
        deal: DealState::from_referral(referral),
    };
    plan.hash = hash(&plan, config).map_err(|problem| InvalidReferral {
        referral_id: Some(plan.referral_id.clone()),
        problems: vec![problem],
    })?;
    Ok(plan)
}

fn contact_row(referral_id: &str, person: Option<&Member>, email: &str) -> Contact {
    let text =
        |value: Option<&String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Contact {
        id: Some(record_id(Contact::ENTITY_SET, referral_id)),
        first_name: person.and_then(|p| text(p.first_name.as_ref())),
        last_name: person.and_then(|p| text(p.last_name.as_ref())),
        email: Some(email.to_owned()),
        telephone: person.and_then(|p| text(p.phone_number.as_ref())),
        ..Contact::default()
    }
}

/// An ISO code of `len` ASCII letters, upper-cased; a problem when it is anything else.
fn checked_code(
    value: Option<&str>,
    len: usize,
    problem: fn(String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.len() == len && value.chars().all(|c| c.is_ascii_alphabetic()) {
        Some(value.to_ascii_uppercase())
    } else {
        problems.push(problem(value.to_owned()));
        None
    }
}

/// The hash of every row the plan writes (the audit line aside), tagged with the status it
/// leaves the record in.
fn hash(plan: &InboundPlan, config: &CrmConfig) -> Result<String, Problem> {
    let unmapped = |error: crate::MappingError| Problem::UnmappedHelp {
        code: error.to_string(),
    };
    let record = match &plan.record {
        RecordPlan::Opportunity { row } => row.to_row(config).map_err(unmapped)?,
        RecordPlan::Lead { row } => row.to_row(config).map_err(unmapped)?,
    };
    let account = match &plan.account {
        Some(account) => Value::Object(account.new_row.to_row(config).map_err(unmapped)?),
        None => Value::Null,
    };
    let contact = match &plan.contact {
        Some(contact) => Value::Object(contact.new_row.to_row(config).map_err(unmapped)?),
        None => Value::Null,
    };
    let state = json!({
        "v": 1,
        "category": format!("{:?}", plan.category),
        "status": plan.status.tag(),
        "action": format!("{:?}", plan.status),
        "record": record,
        "account": account,
        "contact": contact,
        "currency": plan.currency_code,
    });
    let digest = Sha256::digest(state.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}:{hex}", plan.status.tag()))
}

#[cfg(test)]
mod tests;
