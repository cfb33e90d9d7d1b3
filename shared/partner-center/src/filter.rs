//! `$filter` for the referral list, built from typed clauses so a value can never break out of
//! its string literal: single quotes are doubled (`O'Bryan` → `'O''Bryan'`).

use std::fmt;

use time::OffsetDateTime;

/// The fields the contract documents as filterable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EngagementId,
    Status,
    Substatus,
    Qualification,
    Direction,
    /// `customerProfile/address/country` (ISO 3166 alpha-2).
    CustomerCountry,
    UpdatedDateTime,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::EngagementId => "engagementId",
            Field::Status => "status",
            Field::Substatus => "substatus",
            Field::Qualification => "qualification",
            Field::Direction => "direction",
            Field::CustomerCountry => "customerProfile/address/country",
            Field::UpdatedDateTime => "updatedDateTime",
        }
    }
}

/// Clauses joined by `and`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    clauses: Vec<String>,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `field eq 'value'`. Enums from `cosell-mapping` (`Status::New`…) display as the service
    /// spells them.
    pub fn eq(self, field: Field, value: impl fmt::Display) -> Self {
        self.clause(field, "eq", quote(&value.to_string()))
    }

    /// `field ne 'value'`.
    pub fn ne(self, field: Field, value: impl fmt::Display) -> Self {
        self.clause(field, "ne", quote(&value.to_string()))
    }

    /// `updatedDateTime gt <at>`: what changed after `at` (the reconciliation sweep).
    pub fn updated_after(self, at: OffsetDateTime) -> Self {
        self.clause(
            Field::UpdatedDateTime,
            "gt",
            cosell_mapping::timestamp::format(at),
        )
    }

    /// `updatedDateTime ge <at>`.
    pub fn updated_since(self, at: OffsetDateTime) -> Self {
        self.clause(
            Field::UpdatedDateTime,
            "ge",
            cosell_mapping::timestamp::format(at),
        )
    }

    /// `updatedDateTime lt <at>`.
    pub fn updated_before(self, at: OffsetDateTime) -> Self {
        self.clause(
            Field::UpdatedDateTime,
            "lt",
            cosell_mapping::timestamp::format(at),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    fn clause(mut self, field: Field, op: &str, literal: String) -> Self {
        self.clauses
            .push(format!("{} {op} {literal}", field.as_str()));
        self
    }
}

/// The `$filter` text.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.clauses.join(" and "))
    }
}

/// An OData string literal.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosell_mapping::{Qualification, Status};
    use time::macros::datetime;

    #[test]
    fn builds_the_contract_examples() {
        let filter = Filter::new()
            .eq(Field::Status, Status::New)
            .eq(Field::Qualification, Qualification::SalesQualified);
        assert_eq!(
            filter.to_string(),
            "status eq 'New' and qualification eq 'SalesQualified'"
        );
        let filter = Filter::new().updated_after(datetime!(2024-01-01 00:00 UTC));
        assert_eq!(
            filter.to_string(),
            "updatedDateTime gt 2024-01-01T00:00:00Z"
        );
    }

    #[test]
    fn escapes_quotes() {
        let filter = Filter::new().eq(Field::EngagementId, "O'Bryan's");
        assert_eq!(filter.to_string(), "engagementId eq 'O''Bryan''s'");
    }
}
