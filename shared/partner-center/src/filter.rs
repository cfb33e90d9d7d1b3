//! `$filter` for the referral list, built from typed clauses so a value can never break out of
//! its string literal: single quotes are doubled (`O'Bryan` → `'O''Bryan'`).

use std::fmt;

/// The fields Microsoft documents as filterable (partner-rest's get-a-list-of-referrals and the
/// contract): `eq` on these, joined by `and`; `ne` is not documented, so this builder cannot write
/// it. partner-rest lists `updatedDateTime` among the filter parameters without an operator:
/// [`Filter::after`] writes the range a sweep tries first and gives up when it is refused
/// ([`crate::changes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EngagementId,
    Status,
    Substatus,
    Qualification,
    Type,
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
            Field::Type => "type",
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
    pub fn eq(mut self, field: Field, value: impl fmt::Display) -> Self {
        let literal = quote(&value.to_string());
        self.clauses
            .push(format!("{} eq {literal}", field.as_str()));
        self
    }

    /// `field gt <at>`: an OData date literal, unquoted.
    pub fn after(mut self, field: Field, at: time::OffsetDateTime) -> Self {
        self.clauses.push(format!(
            "{} gt {}",
            field.as_str(),
            cosell_mapping::timestamp::format(at)
        ));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
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

    #[test]
    fn builds_the_contract_examples() {
        let filter = Filter::new()
            .eq(Field::Status, Status::New)
            .eq(Field::Qualification, Qualification::SalesQualified);
        assert_eq!(
            filter.to_string(),
            "status eq 'New' and qualification eq 'SalesQualified'"
        );
    }

    #[test]
    fn escapes_quotes() {
        let filter = Filter::new().eq(Field::EngagementId, "O'Bryan's");
        assert_eq!(filter.to_string(), "engagementId eq 'O''Bryan''s'");
    }
}
