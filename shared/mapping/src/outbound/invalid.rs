//! Why an opportunity cannot be sent to Partner Center, in sentences a seller can act on. They
//! reproduce the Microsoft connector's user-facing errors (contract `partner-center.md` §5) where
//! it has one, so a partner moving off Power Automate recognises them.

use uuid::Uuid;

/// One thing wrong with an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpportunityProblem {
    /// "How can Microsoft help?" is chosen (co-sell) but the opportunity has no contact.
    #[error(
        "a customer contact is required when \"How can Microsoft help?\" is chosen: set the opportunity's contact"
    )]
    NoContact,
    /// No solution row with a solution id is related to the opportunity.
    #[error(
        "Solution ID is required: relate at least one Microsoft Partner Center solution to the opportunity"
    )]
    NoSolution,
    /// The account's country column holds no two-letter ISO 3166 code.
    #[error(
        "customer account country code is missing: the account's {column} must hold a two-letter ISO 3166 code{}",
        found(.value)
    )]
    BadCountry {
        column: String,
        value: Option<String>,
    },
    /// No currency (or one that is not three letters).
    #[error("currency is missing: set the opportunity's currency{}", found(.value))]
    NoCurrency { value: Option<String> },
    /// Closing the deal (won or lost) without the revenue and close date Partner Center needs.
    #[error(
        "closing a lead requires revenue and a close date: set the opportunity's {column} and estimated close date"
    )]
    ClosingWithoutRevenueAndCloseDate { column: String },
    /// The opportunity has no account to name the customer after.
    #[error("a customer account is required: set the opportunity's account")]
    NoAccount,
    /// The opportunity has no name.
    #[error("the opportunity has no name")]
    NoName,
    /// A negative deal value.
    #[error("the deal value {value} is negative ({column})")]
    NegativeDealValue { column: String, value: String },
    /// A mapped column holds a value its value map does not list, so there is nothing to send.
    #[error(
        "the mapped column {column} holds {value}, which the mapping's values for {pointer} do not list: choose a listed value or add it to the mapping"
    )]
    UnmappedValue {
        column: String,
        pointer: String,
        value: String,
    },
}

fn found(value: &Option<String>) -> String {
    match value {
        Some(value) => format!(" (found '{value}')"),
        None => String::new(),
    }
}

/// An opportunity that cannot be sent, with every problem found. Display is the sentences, one
/// after the other, as they go into the Audit column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", sentences(.problems))]
pub struct InvalidOpportunity {
    pub opportunity_id: Option<Uuid>,
    pub problems: Vec<OpportunityProblem>,
}

impl InvalidOpportunity {
    /// Each problem as its own sentence, capitalised and with a full stop, as written to Audit.
    pub fn sentences(&self) -> Vec<String> {
        self.problems.iter().map(sentence).collect()
    }
}

fn sentence(problem: &OpportunityProblem) -> String {
    let text = problem.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => text,
    }
}

fn sentences(problems: &[OpportunityProblem]) -> String {
    problems.iter().map(sentence).collect::<Vec<_>>().join(" ")
}
