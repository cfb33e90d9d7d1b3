//! Where an account's ISO 3166 alpha-2 country is: a text column, or a lookup to a table of
//! countries whose code column is an alternate key.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::constant::is_identifier;
use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Country {
    /// `{ column = "address1_country" }`: a text column holding the code.
    Column(TextColumn),
    /// `{ lookup = "new_countryid", table = "new_countries", code = "new_isocode" }`: the account's
    /// lookup (its navigation property), the entity set it points to, and that table's code
    /// column. An inbound create binds the lookup by the code (`/new_countries(new_isocode='US')`,
    /// no extra request); outbound reads the code through the lookup.
    Lookup(CountryLookup),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextColumn {
    pub column: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryLookup {
    pub lookup: String,
    pub table: String,
    pub code: String,
}

impl Country {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Column(TextColumn { column }) => {
                super::logical_name("mapping.country.column", column)
            }
            Self::Lookup(CountryLookup {
                lookup,
                table,
                code,
            }) => {
                if !is_identifier(lookup) {
                    return Err(ConfigError::Mapping {
                        key: "mapping.country.lookup".into(),
                        problem: format!("'{lookup}' is not a navigation property name"),
                    });
                }
                super::logical_name("mapping.country.table", table)?;
                super::logical_name("mapping.country.code", code)
            }
        }
    }

    /// Writes `code` into a new account row.
    pub fn write(&self, code: &str, row: &mut Map<String, Value>) {
        match self {
            Self::Column(TextColumn { column }) => {
                row.insert(column.clone(), Value::String(code.to_owned()));
            }
            Self::Lookup(CountryLookup {
                lookup,
                table,
                code: column,
            }) => {
                // Codes are two ASCII letters (checked by the inbound plan): nothing to escape.
                let reference = format!("/{table}({column}='{code}')");
                row.insert(format!("{lookup}@odata.bind"), Value::String(reference));
            }
        }
    }
}
