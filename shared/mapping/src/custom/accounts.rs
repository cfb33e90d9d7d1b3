//! How a customer's account is searched for: ordered rules, each its own query.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One rule. Each is one bounded query (plus a page per 50 further candidates, so a page limit
/// never hides a match); the first rule with exactly one match wins, several matches stop the
/// search with the candidates named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum AccountRule {
    /// The normalised company name at the referral's postal code (an account without a postal
    /// code when the referral has none). The default.
    NamePostalCode,
    /// The normalised company name in the referral's country (the configured country column).
    NameCountry,
    /// `customerProfile.ids[kind]` (e.g. `Duns`, `External`) equal to an account column.
    ExternalId { kind: String, column: String },
    /// The normalised company name alone.
    Name,
}

impl AccountRule {
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            Self::ExternalId { kind, column } => {
                if kind.trim().is_empty() {
                    return Err(ConfigError::Mapping {
                        key: format!("{key}.kind"),
                        problem: "names no id kind (e.g. Duns or External)".into(),
                    });
                }
                super::logical_name(&format!("{key}.column"), column)
            }
            _ => Ok(()),
        }
    }

    /// What the rule compares, for Audit and `check`.
    pub fn describe(&self) -> String {
        match self {
            Self::NamePostalCode => "name and postal code".into(),
            Self::NameCountry => "name and country".into(),
            Self::ExternalId { kind, column } => format!("{kind} id in {column}"),
            Self::Name => "name".into(),
        }
    }
}
