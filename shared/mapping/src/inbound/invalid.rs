//! Why a referral cannot be written to the CRM, in sentences a seller or operator can act on.

/// One thing wrong with a referral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferralProblem {
    #[error("the referral has no id")]
    NoId,
    #[error("the referral's id '{0}' holds a character a URL path or a store key cannot carry")]
    UnsafeId(String),
    #[error("the referral names no customer company (customerProfile.name)")]
    NoCustomerName,
    #[error("the referral has no name and no customer name to name the record after")]
    NoName,
    #[error("'{0}' is not an ISO 4217 currency code (details.currency)")]
    BadCurrency(String),
    #[error("'{0}' is not an ISO 3166 two-letter country code (customerProfile.address.country)")]
    BadCountry(String),
    #[error("the deal value {0} is negative (details.dealValue)")]
    NegativeDealValue(String),
    #[error(
        "the deal value {value} is outside what Dataverse's {column} holds, {min} to {max} (details.dealValue)"
    )]
    DealValueOutOfRange {
        value: String,
        column: String,
        min: String,
        max: String,
    },
    #[error(
        "the close date {0} is outside the dates Dataverse stores, 1753-01-01 to 9999-12-31 (details.closingDateTime)"
    )]
    CloseDateOutOfRange(String),
    #[error(
        "\"How can Microsoft help?\" is '{code}', which has no option value in COSELL_HELP_OPTIONS"
    )]
    UnmappedHelp { code: String },
}

/// A referral that cannot be synced inbound, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("referral {} cannot be written to Dynamics 365: {}", .referral_id.as_deref().unwrap_or("(no id)"), sentences(.problems))]
pub struct InvalidReferral {
    pub referral_id: Option<String>,
    pub problems: Vec<ReferralProblem>,
}

fn sentences(problems: &[ReferralProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
