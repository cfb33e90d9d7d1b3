//! [`plan_create`]: validation, then the referral to `POST`.

use rust_decimal::Decimal;
use time::{Date, OffsetDateTime, Time};

use super::country::iso_code;
use super::{CreatePlan, DealKind, InvalidOpportunity, OpportunityProblem, OutboundInput};
use crate::category::MICROSOFT_ORGANIZATION_ID;
use crate::config::CrmConfig;
use crate::custom::Country;
use crate::deal::{DealState, DealStatus};
use crate::enums::{
    AssistanceRequestCode, Qualification, ReferralType, Status, Substatus, TargetType,
};
use crate::referral::{
    AdditionalRequirements, Address, Attribute, Consent, CustomerProfile, Details, InviteContext,
    Member, Referral, Requirements, Solution, Target,
};

impl DealKind {
    /// The contract's table: help chosen → co-sell; else visible → partner-led; else private.
    pub fn of(input: &OutboundInput) -> Self {
        let opportunity = &input.opportunity;
        match (&opportunity.help, opportunity.visible) {
            (Some(code), _) if *code != AssistanceRequestCode::Unknown => Self::CoSell,
            (_, Some(true)) => Self::PartnerLed,
            _ => Self::Private,
        }
    }

    /// `consentToShareReferralWithMicrosoftSellers` on create.
    pub fn shared_with_microsoft_sellers(self) -> bool {
        !matches!(self, Self::Private)
    }

    /// `type` on create.
    pub fn referral_type(self) -> ReferralType {
        match self {
            Self::CoSell => ReferralType::Shared,
            Self::Private | Self::PartnerLed => ReferralType::Independent,
        }
    }
}

/// Plans the referral for a new opportunity: every validation first (all problems reported at
/// once), then the `POST` body. See the [module docs](super) for the mapping.
pub fn plan_create(
    input: &OutboundInput,
    cfg: &CrmConfig,
) -> Result<CreatePlan, InvalidOpportunity> {
    let opportunity = &input.opportunity;
    let kind = DealKind::of(input);
    let crm = input.deal();
    let mut problems = Vec::new();

    if crm.name.is_none() {
        problems.push(OpportunityProblem::NoName);
    }
    let account = input.account.as_ref();
    let customer_name = account.and_then(|a| text(a.name.as_deref()));
    if customer_name.is_none() {
        problems.push(OpportunityProblem::NoAccount);
    }
    let country = checked_country(input, cfg, &mut problems);
    let contact = input.contact.as_ref();
    if kind == DealKind::CoSell && contact.is_none() {
        problems.push(OpportunityProblem::NoContact);
    }
    let solutions: Vec<Solution> = input
        .solutions
        .iter()
        .filter_map(|row| {
            // Microsoft's minimal create sample sends `"type": "Name"` with the publisher and
            // `solutionType`; they go where the CRM holds them.
            Some(Solution {
                id: Some(row.solution_id.clone()?),
                name: row.name.clone(),
                kind: Some("Name".to_owned()),
                publisher_name: row.publisher.clone(),
                solution_type: row.solution_type.clone(),
                ..Solution::default()
            })
        })
        .collect();
    if solutions.is_empty() {
        problems.push(OpportunityProblem::NoSolution);
    }
    let currency = checked_currency(input, &mut problems);
    let mapped = super::mapped::values(cfg, &crm.mapped, |_| true, &mut problems);
    check_deal_value(&crm, cfg, &mut problems);
    check_closing(&crm, cfg, &mut problems);
    if !problems.is_empty() {
        return Err(InvalidOpportunity {
            opportunity_id: opportunity.id,
            problems,
        });
    }

    let target = match kind {
        DealKind::CoSell => solutions
            .iter()
            .map(|solution| Target {
                kind: Some(TargetType::SolutionProfile),
                id: solution.id.clone(),
                ..Target::default()
            })
            .collect(),
        DealKind::Private | DealKind::PartnerLed => Vec::new(),
    };
    let address = account.map(|a| Address {
        address_line1: text(a.address_line1.as_deref()),
        city: text(a.city.as_deref()),
        state: text(a.state_or_province.as_deref()),
        postal_code: text(a.postal_code.as_deref()),
        country: country.clone(),
        ..Address::default()
    });
    let referral = Referral {
        name: crm.name.clone(),
        external_reference_id: opportunity.id.map(|id| id.to_string()),
        status: Some(Status::New),
        substatus: Some(Substatus::Pending),
        kind: Some(kind.referral_type()),
        qualification: Some(Qualification::SalesQualified),
        target,
        customer_profile: Some(CustomerProfile {
            name: customer_name,
            address,
            size: account.and_then(|a| a.size).map(str::to_owned),
            team: contact.map(member).into_iter().collect(),
            ..CustomerProfile::default()
        }),
        consent: Some(Consent {
            consent_to_share_referral_with_microsoft_sellers: Some(
                kind.shared_with_microsoft_sellers(),
            ),
            consent_to_contact: Some(cfg.consent.to_contact),
            consent_to_share_info_with_others: Some(cfg.consent.share_info_with_others),
            ..Consent::default()
        }),
        // The partner's own team: the opportunity's owner, who a Microsoft seller talks to.
        team: input.owner.as_ref().and_then(seller).into_iter().collect(),
        details: Some(Details {
            notes: crm.notes.clone(),
            deal_value: crm.deal_value,
            currency,
            closing_date_time: crm.close_date.map(midnight_utc),
            requirements: Some(Requirements {
                solutions,
                additional_requirements: opportunity.marketplace_intent.as_ref().map(|intent| {
                    AdditionalRequirements {
                        attributes: vec![Attribute {
                            id: Some(intent.clone()),
                            kind: Some(MARKETPLACE_INTENT.to_owned()),
                            ..Attribute::default()
                        }],
                        ..AdditionalRequirements::default()
                    }
                }),
                ..Requirements::default()
            }),
            ..Details::default()
        }),
        invite_context: match kind {
            DealKind::CoSell => Some(InviteContext {
                assistance_request_code: opportunity.help.clone(),
                ..InviteContext::default()
            }),
            DealKind::Private | DealKind::PartnerLed => None,
        },
        // Only co-sell asks Microsoft for help; the Services fields mean nothing on the others.
        partner_role: services(kind, &opportunity.services.partner_role),
        solution_area: services(kind, &opportunity.services.solution_area),
        solution_play: services(kind, &opportunity.services.solution_play),
        ..Referral::default()
    };
    let mut referral = referral;
    // Mapped fields that go out are top-level members the referral type keeps as extras.
    for (field, value) in mapped.into_iter().filter(|(_, v)| !v.is_null()) {
        referral.extra.insert(field.member().to_owned(), value);
    }

    // What both sides hold once the referral exists: the CRM's deal, except a status the
    // create did not send (a deal already won or lost is created New and closed by the next
    // update, so the agreed state must not claim it is closed yet).
    let deal = DealState {
        status: match crm.status {
            Some(status) if status.is_closed() => Some(DealStatus::InProgress),
            status => status,
        },
        ..crm
    };
    Ok(CreatePlan {
        kind,
        referral,
        deal,
    })
}

/// The connected referral for Microsoft, co-sell's second `POST`: the partner's referral as
/// planned, with the `engagementId` Partner Center gave the first one and the target
/// `[{type: BusinessProfileLocation, id: "msft"}]`. It keeps the same `externalReferenceId`: it
/// is the same CRM deal.
pub fn microsoft_referral(created: &Referral, plan: &CreatePlan) -> Referral {
    Referral {
        engagement_id: created.engagement_id.clone(),
        kind: Some(ReferralType::Shared),
        target: vec![Target {
            kind: Some(TargetType::BusinessProfileLocation),
            id: Some(MICROSOFT_ORGANIZATION_ID.to_owned()),
            ..Target::default()
        }],
        ..plan.referral.clone()
    }
}

/// The `type` of the marketplace purchase-intent attribute (create-a-referral's sample).
pub const MARKETPLACE_INTENT: &str = "CustomerMarketplaceIntent";

/// What to fill for the Services co-sell fields a co-sell create lacks, in the CRM admin's
/// words: the column to fill, or the setting naming none. Empty for other kinds, or when all
/// three are held. Partner Center's refusal of a create then says which to fill.
pub fn missing_services(input: &OutboundInput, cfg: &CrmConfig) -> Vec<String> {
    if DealKind::of(input) != DealKind::CoSell {
        return Vec::new();
    }
    let held = &input.opportunity.services;
    let values = [&held.partner_role, &held.solution_area, &held.solution_play];
    cfg.services
        .fields()
        .into_iter()
        .zip(values)
        .filter(|(_, value)| value.is_none())
        .map(|((field, key, column), _)| match column {
            Some(column) => format!("fill {column} ({field})"),
            None => format!("set {key} to the opportunity column holding {field}"),
        })
        .collect()
}

/// A Services co-sell field, sent on co-sell referrals when the CRM holds it.
fn services(kind: DealKind, value: &Option<String>) -> Option<String> {
    value.clone().filter(|_| kind == DealKind::CoSell)
}

/// The close date as Partner Center's `closingDateTime`: that day at 00:00Z.
pub(crate) fn midnight_utc(date: Date) -> OffsetDateTime {
    date.with_time(Time::MIDNIGHT).assume_utc()
}

/// The account's country as an ISO 3166 code, or the problem.
fn checked_country(
    input: &OutboundInput,
    cfg: &CrmConfig,
    problems: &mut Vec<OpportunityProblem>,
) -> Option<String> {
    let value = input
        .account
        .as_ref()
        .and_then(|a| text(a.country_code.as_deref()));
    let code = value.as_deref().and_then(iso_code);
    if code.is_none() {
        let column = match cfg.country() {
            Country::Column(text) => text.column,
            Country::Lookup(l) => format!("{} ({} of {})", l.lookup, l.code, l.table),
        };
        problems.push(OpportunityProblem::BadCountry { column, value });
    }
    code
}

/// The currency as three upper-case letters, or the problem.
pub(crate) fn checked_currency(
    input: &OutboundInput,
    problems: &mut Vec<OpportunityProblem>,
) -> Option<String> {
    let value = text(input.currency_code.as_deref());
    let code = value
        .as_deref()
        .filter(|v| v.len() == 3 && v.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase);
    if code.is_none() {
        problems.push(OpportunityProblem::NoCurrency { value });
    }
    code
}

/// A negative deal value.
pub(crate) fn check_deal_value(
    crm: &DealState,
    cfg: &CrmConfig,
    problems: &mut Vec<OpportunityProblem>,
) {
    if let Some(value) = crm.deal_value.filter(Decimal::is_sign_negative) {
        problems.push(OpportunityProblem::NegativeDealValue {
            column: cfg.deal_value_column.clone(),
            value: value.to_string(),
        });
    }
}

/// Closing (won or lost) without revenue and close date.
pub(crate) fn check_closing(
    crm: &DealState,
    cfg: &CrmConfig,
    problems: &mut Vec<OpportunityProblem>,
) {
    if crm.status.is_some_and(DealStatus::is_closed)
        && (crm.deal_value.is_none() || crm.close_date.is_none())
    {
        problems.push(OpportunityProblem::ClosingWithoutRevenueAndCloseDate {
            column: cfg.deal_value_column.clone(),
        });
    }
}

fn member(contact: &crate::crm::Contact) -> Member {
    Member {
        first_name: text(contact.first_name.as_deref()),
        last_name: text(contact.last_name.as_deref()),
        phone_number: text(contact.telephone.as_deref()),
        email: text(contact.email.as_deref()),
        ..Member::default()
    }
}

/// The owner as a team member; none when nothing names them.
fn seller(owner: &super::Seller) -> Option<Member> {
    let named = [&owner.first_name, &owner.last_name, &owner.email];
    named.iter().any(|v| v.is_some()).then(|| Member {
        first_name: owner.first_name.clone(),
        last_name: owner.last_name.clone(),
        phone_number: owner.phone.clone(),
        email: owner.email.clone(),
        ..Member::default()
    })
}

fn text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
