//! [`plan`]: a referral and the settings in, an [`InboundPlan`] out — validate, then the lead row,
//! or the account plan and the opportunity row, then the hash of what it writes.

use cosell_ids::{IdError, ReferralId};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    AccountPlan, ContactPlan, InboundPlan, InvalidReferral, RecordPlan, ReferralProblem,
    StatusAction, normalise, record_id,
};
use crate::category::Category;
use crate::config::CrmConfig;
use crate::crm::{Account, Contact, CrmRow, Lead, Opportunity};
use crate::custom::Table;
use crate::deal::DealState;
use crate::enums::{AssistanceRequestCode, Direction};
use crate::limits::{Cut, EARLIEST_DATE, LATEST_DATE, Limits, cut, fit, fit_leaving, is_email};
use crate::marks::{MARK_OK, base_name, decorate_name};
use crate::referral::{Address, CustomerProfile, Member, Referral};

/// What every row of the plan is built from, once the referral is known to be writable.
struct Valid<'a> {
    referral: &'a Referral,
    referral_id: ReferralId,
    category: Category,
    name: String,
    customer_name: Option<&'a str>,
    currency_code: Option<String>,
    country: Option<String>,
    deal_value: Option<Decimal>,
    help: Option<AssistanceRequestCode>,
}

/// Plans the inbound sync of `referral`.
pub fn plan(referral: &Referral, config: &CrmConfig) -> Result<InboundPlan, InvalidReferral> {
    let mut valid = validate(referral, config)?;
    let mut notes = Vec::new();
    let mut cuts = Vec::new();
    // The name is cut before its mark is added, so the marked name fits too.
    let (table, column, mark) = if valid.category.is_lead() {
        ("lead", "subject", 0)
    } else {
        let marked = decorate_name(&valid.name, MARK_OK, config).chars().count();
        ("opportunity", "name", marked - valid.name.chars().count())
    };
    let limits = &config.limits;
    fit_leaving(&mut valid.name, mark, limits, table, column, &mut cuts);
    let incoming = referral.direction.as_ref() != Some(&Direction::Outgoing);
    let (status, substatus) = referral.state();
    let status_action = match StatusAction::of(&status, &substatus) {
        // Only a referral sent *to* us waits on hold; our own new referral leaves the seller's
        // status alone.
        StatusAction::OnHold if !incoming => StatusAction::Keep,
        action => action,
    };
    let (account, contact, record) = if valid.category.is_lead() {
        let mut row = lead_row(&valid, &mut notes);
        fit_lead(&mut row, limits, &mut cuts);
        (None, None, RecordPlan::Lead { row })
    } else {
        let (mut account, mut contact) = customer_plan(&valid, &mut notes);
        fit_account(&mut account.new_row, limits, &mut cuts);
        if let Some(contact) = &mut contact {
            fit_contact(&mut contact.new_row, limits, &mut cuts);
        }
        let mut row = opportunity_row(&valid, status_action, config);
        fit(
            &mut row.description,
            limits,
            "opportunity",
            "description",
            &mut cuts,
        );
        (Some(account), contact, RecordPlan::Opportunity { row })
    };
    notes.extend(cuts.iter().map(ToString::to_string));
    let mut plan = InboundPlan {
        referral_id: valid.referral_id,
        category: valid.category,
        status: if valid.category.is_lead() {
            StatusAction::Keep
        } else {
            status_action
        },
        hash: String::new(),
        name: valid.name,
        account,
        contact,
        record,
        currency_code: valid.currency_code,
        external_record: referral
            .external_reference_id
            .as_deref()
            .filter(|_| !incoming)
            .and_then(|id| Uuid::try_parse(id.trim()).ok()),
        notes,
        deal: DealState::from_referral(referral).with_mapped(
            referral,
            &config.mapping,
            if valid.category.is_lead() {
                Table::Lead
            } else {
                Table::Opportunity
            },
        ),
    };
    // The agreed deal holds what was written: a cut name or description then reads as agreed
    // on the other side too, never as a seller's edit to send back.
    if !cuts.is_empty() {
        plan.deal.name = Some(plan.name.clone());
        plan.deal.notes = match &plan.record {
            RecordPlan::Opportunity { row } => row.description.clone(),
            RecordPlan::Lead { row } => row.description.clone(),
        };
    }
    // Mapped columns are written with the record: what a create writes (every value), and a
    // lead's (it is written whole); an opportunity's update picks the moved ones itself.
    let present = plan
        .deal
        .mapped
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(column, value)| (column.clone(), value.clone()));
    match &mut plan.record {
        RecordPlan::Opportunity { row } => row.mapped = present.collect(),
        RecordPlan::Lead { row } => row.mapped = plan.deal.mapped.clone(),
    }
    plan.hash = hash(&plan, config).map_err(|problem| InvalidReferral {
        referral_id: Some(plan.referral_id.to_string()),
        problems: vec![problem],
    })?;
    Ok(plan)
}

/// Every reason the referral cannot be written, or what its rows are built from.
fn validate<'a>(referral: &'a Referral, config: &CrmConfig) -> Result<Valid<'a>, InvalidReferral> {
    let mut problems = Vec::new();
    let referral_id = match referral.id.as_deref().map(ReferralId::new) {
        Some(Ok(id)) => Some(id),
        Some(Err(IdError::UnsafeReferral(id))) => {
            problems.push(ReferralProblem::UnsafeId(id));
            None
        }
        None | Some(Err(_)) => {
            problems.push(ReferralProblem::NoId);
            None
        }
    };
    let category = Category::of(referral);
    let customer_name = customer(referral)
        .and_then(|c| c.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if customer_name.is_none() && !category.is_lead() {
        problems.push(ReferralProblem::NoCustomerName);
    }
    let name = referral
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(customer_name)
        .map(|n| base_name(n).to_owned());
    if name.is_none() {
        problems.push(ReferralProblem::NoName);
    }
    let details = referral.details.as_ref();
    let currency = details.and_then(|d| d.currency.as_deref());
    let currency_code = checked_code(currency, 3, ReferralProblem::BadCurrency, &mut problems);
    let country = address(referral).and_then(|a| a.country.as_deref());
    let country = checked_code(country, 2, ReferralProblem::BadCountry, &mut problems);
    let deal_value = details.and_then(|d| d.deal_value);
    if let Some(value) = deal_value.filter(Decimal::is_sign_negative) {
        problems.push(ReferralProblem::NegativeDealValue(value.to_string()));
    }
    let (table, column) = if category.is_lead() {
        ("lead", "estimatedamount")
    } else {
        ("opportunity", config.deal_value_column.as_str())
    };
    let (min, max) = config.limits.money(table, column);
    if let Some(value) = deal_value.filter(|v| *v < min || *v > max) {
        problems.push(ReferralProblem::DealValueOutOfRange {
            value: value.to_string(),
            column: format!("{table}.{column}"),
            min: min.to_string(),
            max: max.to_string(),
        });
    }
    if let Some(date) = close_date(referral).filter(|d| *d < EARLIEST_DATE || *d > LATEST_DATE) {
        problems.push(ReferralProblem::CloseDateOutOfRange(date.to_string()));
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
        let code = code.to_string();
        problems.push(ReferralProblem::UnmappedHelp { code });
    }
    match (referral_id, name, problems.is_empty()) {
        (Some(referral_id), Some(name), true) => Ok(Valid {
            referral,
            referral_id,
            category,
            name,
            customer_name,
            currency_code,
            country,
            deal_value,
            help,
        }),
        _ => Err(InvalidReferral {
            referral_id: referral.id.clone(),
            problems,
        }),
    }
}

/// A marketplace or qualified lead's row.
fn lead_row(valid: &Valid<'_>, said: &mut Vec<String>) -> Lead {
    let address = address(valid.referral);
    let person = person(valid.referral);
    Lead {
        id: Some(record_id(Lead::ENTITY_SET, &valid.referral_id)),
        subject: Some(valid.name.clone()),
        first_name: person.and_then(|p| text(p.first_name.as_ref())),
        last_name: person.and_then(|p| text(p.last_name.as_ref())),
        company_name: valid.customer_name.map(str::to_owned),
        email: email(valid.referral, said),
        telephone: person.and_then(|p| text(p.phone_number.as_ref())),
        address_line1: text(address.and_then(|a| a.address_line1.as_ref())),
        city: text(address.and_then(|a| a.city.as_ref())),
        state_or_province: text(address.and_then(|a| a.state.as_ref())),
        postal_code: postal_code(valid.referral),
        country: valid.country.clone(),
        estimated_amount: valid.deal_value,
        estimated_close_date: close_date(valid.referral),
        description: notes(valid.referral),
        ..Lead::default()
    }
}

/// The co-sell customer: the account to match or create, and the contact (`team[0]`) when it
/// has an email.
fn customer_plan(valid: &Valid<'_>, said: &mut Vec<String>) -> (AccountPlan, Option<ContactPlan>) {
    let customer_name = valid.customer_name.unwrap_or_default();
    let address = address(valid.referral);
    let account = AccountPlan {
        match_name: normalise::company_name(customer_name),
        postal_code: postal_code(valid.referral),
        country: valid.country.clone(),
        ids: customer(valid.referral).and_then(|c| c.ids.clone()),
        new_row: Account {
            id: Some(record_id(Account::ENTITY_SET, &valid.referral_id)),
            name: Some(customer_name.to_owned()),
            address_line1: text(address.and_then(|a| a.address_line1.as_ref())),
            city: text(address.and_then(|a| a.city.as_ref())),
            state_or_province: text(address.and_then(|a| a.state.as_ref())),
            postal_code: postal_code(valid.referral),
            country_code: valid.country.clone(),
            ..Account::default()
        },
    };
    let person = person(valid.referral);
    let contact = email(valid.referral, said).map(|email| ContactPlan {
        new_row: contact_row(&valid.referral_id, person, &email),
        email,
    });
    (account, contact)
}

/// The co-sell opportunity's row, before its account, contact and currency are known.
fn opportunity_row(valid: &Valid<'_>, status: StatusAction, config: &CrmConfig) -> Opportunity {
    let referral = valid.referral;
    Opportunity {
        id: Some(record_id(Opportunity::ENTITY_SET, &valid.referral_id)),
        name: Some(decorate_name(&valid.name, MARK_OK, config)),
        deal_value: valid.deal_value,
        estimated_close_date: close_date(referral),
        description: notes(referral),
        status_reason: status.open_status_reason(),
        sync: Some(true),
        referral_id: Some(valid.referral_id.to_string()),
        referral_link: referral
            .links
            .as_ref()
            .and_then(|l| l.self_link.as_ref())
            .and_then(|l| text(l.uri.as_ref())),
        help: valid.help.clone(),
        visible: referral
            .consent
            .as_ref()
            .and_then(|c| c.consent_to_share_referral_with_microsoft_sellers),
        microsoft_crm_id: referral
            .tracking_info
            .as_ref()
            .and_then(|t| text(t.microsoft_msx_id.as_ref())),
        ..Opportunity::default()
    }
}

fn contact_row(referral_id: &str, person: Option<&Member>, email: &str) -> Contact {
    Contact {
        id: Some(record_id(Contact::ENTITY_SET, referral_id)),
        first_name: person.and_then(|p| text(p.first_name.as_ref())),
        last_name: person.and_then(|p| text(p.last_name.as_ref())),
        email: Some(email.to_owned()),
        telephone: person.and_then(|p| text(p.phone_number.as_ref())),
        ..Contact::default()
    }
}

fn customer(referral: &Referral) -> Option<&CustomerProfile> {
    referral.customer_profile.as_ref()
}

fn address(referral: &Referral) -> Option<&Address> {
    customer(referral).and_then(|c| c.address.as_ref())
}

/// `customerProfile.team[0]`: the customer's contact.
fn person(referral: &Referral) -> Option<&Member> {
    customer(referral).and_then(|c| c.team.first())
}

/// The contact's email; one that is not an address is left out, with a note saying so (it
/// could match no one, and would name no one).
fn email(referral: &Referral, said: &mut Vec<String>) -> Option<String> {
    let email = person(referral).and_then(|p| text(p.email.as_ref()))?;
    if is_email(&email) && email.chars().count() <= EMAIL_MAX {
        return Some(email);
    }
    said.push(format!(
        "the contact email '{}' is not an email address (customerProfile.team[0].email): not written",
        cut(&email, 80).unwrap_or_else(|| email.clone())
    ));
    None
}

/// `emailaddress1`'s published length on contact and lead: a longer address is not cut (a cut
/// address is someone else's), it is left out.
const EMAIL_MAX: usize = 100;

fn fit_account(row: &mut Account, limits: &Limits, cuts: &mut Vec<Cut>) {
    fit(&mut row.name, limits, "account", "name", cuts);
    fit(
        &mut row.address_line1,
        limits,
        "account",
        "address1_line1",
        cuts,
    );
    fit(&mut row.city, limits, "account", "address1_city", cuts);
    fit(
        &mut row.state_or_province,
        limits,
        "account",
        "address1_stateorprovince",
        cuts,
    );
    fit(
        &mut row.postal_code,
        limits,
        "account",
        "address1_postalcode",
        cuts,
    );
}

fn fit_contact(row: &mut Contact, limits: &Limits, cuts: &mut Vec<Cut>) {
    fit(&mut row.first_name, limits, "contact", "firstname", cuts);
    fit(&mut row.last_name, limits, "contact", "lastname", cuts);
    fit(&mut row.telephone, limits, "contact", "telephone1", cuts);
}

fn fit_lead(row: &mut Lead, limits: &Limits, cuts: &mut Vec<Cut>) {
    fit(&mut row.first_name, limits, "lead", "firstname", cuts);
    fit(&mut row.last_name, limits, "lead", "lastname", cuts);
    fit(&mut row.company_name, limits, "lead", "companyname", cuts);
    fit(&mut row.telephone, limits, "lead", "telephone1", cuts);
    fit(
        &mut row.address_line1,
        limits,
        "lead",
        "address1_line1",
        cuts,
    );
    fit(&mut row.city, limits, "lead", "address1_city", cuts);
    fit(
        &mut row.state_or_province,
        limits,
        "lead",
        "address1_stateorprovince",
        cuts,
    );
    fit(
        &mut row.postal_code,
        limits,
        "lead",
        "address1_postalcode",
        cuts,
    );
    fit(&mut row.description, limits, "lead", "description", cuts);
}

fn postal_code(referral: &Referral) -> Option<String> {
    text(address(referral).and_then(|a| a.postal_code.as_ref()))
}

fn close_date(referral: &Referral) -> Option<time::Date> {
    let details = referral.details.as_ref();
    details
        .and_then(|d| d.closing_date_time)
        .map(|at| at.to_offset(time::UtcOffset::UTC).date())
}

fn notes(referral: &Referral) -> Option<String> {
    text(referral.details.as_ref().and_then(|d| d.notes.as_ref()))
}

/// Trimmed; empty reads as absent.
fn text(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An ISO code of `len` ASCII letters, upper-cased; a problem when it is anything else.
fn checked_code(
    value: Option<&str>,
    len: usize,
    problem: fn(String) -> ReferralProblem,
    problems: &mut Vec<ReferralProblem>,
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
fn hash(plan: &InboundPlan, config: &CrmConfig) -> Result<String, ReferralProblem> {
    let unmapped = |error: crate::MappingError| ReferralProblem::UnmappedHelp {
        code: error.to_string(),
    };
    // Mapped columns stay out: they are compared through the deal state, so mapping a field
    // moves no stored hash (no write storm on upgrade).
    let record = match &plan.record {
        RecordPlan::Opportunity { row } => Opportunity {
            mapped: Default::default(),
            ..row.clone()
        }
        .to_row(config)
        .map_err(unmapped)?,
        RecordPlan::Lead { row } => Lead {
            mapped: Default::default(),
            ..row.clone()
        }
        .to_row(config)
        .map_err(unmapped)?,
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
