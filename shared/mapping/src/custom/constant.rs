//! A default: a constant a new row gets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// `"text"`, `3`, `true`, `{ option = 100000001 }` or `{ bind = "territories(name='EMEA')" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Constant {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
    /// A choice column's option value.
    Option(OptionValue),
    /// A lookup to a row named by id (`systemusers(<guid>)`) or by alternate key
    /// (`territories(name='EMEA')`), written as `<column>@odata.bind`: the column is then the
    /// lookup's navigation property, as Dataverse names it (case kept).
    Bind(Bind),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionValue {
    pub option: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    pub bind: String,
}

impl Constant {
    /// Checks the column's name and, for a bind, the row reference.
    pub(crate) fn validate(&self, key: &str, column: &str) -> Result<(), ConfigError> {
        let bad = |problem: String| ConfigError::Mapping {
            key: key.to_owned(),
            problem,
        };
        match self {
            Self::Bind(Bind { bind }) => {
                if !is_identifier(column) {
                    return Err(bad(format!("'{column}' is not a navigation property name")));
                }
                let reference = bind.trim().trim_start_matches('/');
                let well_formed = reference.split_once('(').is_some_and(|(set, rest)| {
                    is_identifier(set) && rest.len() > 1 && rest.ends_with(')')
                });
                if !well_formed {
                    return Err(bad(format!(
                        "bind '{bind}' must name a row as <entity set>(<id>) or <entity set>(<key>='<value>')"
                    )));
                }
                Ok(())
            }
            _ => super::logical_name(key, column),
        }
    }

    /// Puts the constant into a row being created.
    pub fn write(&self, column: &str, row: &mut Map<String, Value>) {
        match self {
            Self::Bool(value) => {
                row.insert(column.to_owned(), Value::Bool(*value));
            }
            Self::Number(value) => {
                row.insert(column.to_owned(), Value::Number(value.clone()));
            }
            Self::Text(value) => {
                row.insert(column.to_owned(), Value::String(value.clone()));
            }
            Self::Option(OptionValue { option }) => {
                row.insert(column.to_owned(), Value::from(*option));
            }
            Self::Bind(Bind { bind }) => {
                let reference = format!("/{}", bind.trim().trim_start_matches('/'));
                row.insert(format!("{column}@odata.bind"), Value::String(reference));
            }
        }
    }

    /// The Dataverse attribute types this constant can be written to (`AttributeType` in
    /// metadata).
    pub fn fits(&self) -> &'static [&'static str] {
        match self {
            Self::Bool(_) => &["Boolean"],
            Self::Number(_) => &["Integer", "BigInt", "Decimal", "Double", "Money"],
            Self::Text(_) => &["String", "Memo"],
            Self::Option(_) => &["Picklist", "State", "Status"],
            Self::Bind(_) => &["Lookup", "Customer", "Owner"],
        }
    }
}

/// Letters, digits and `_`, not starting with a digit.
pub(crate) fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_writes_its_json() {
        let mut row = Map::new();
        let parse = |text: &str| serde_json::from_str::<Constant>(text).unwrap();
        parse("\"Co-sell\"").write("new_source", &mut row);
        parse("3").write("new_priority", &mut row);
        parse("true").write("new_strategic", &mut row);
        parse(r#"{"option": 100000001}"#).write("new_region", &mut row);
        parse(r#"{"bind": "territories(name='EMEA')"}"#).write("territoryid", &mut row);
        assert_eq!(
            Value::Object(row),
            serde_json::json!({
                "new_source": "Co-sell",
                "new_priority": 3,
                "new_strategic": true,
                "new_region": 100000001,
                "territoryid@odata.bind": "/territories(name='EMEA')",
            })
        );
    }

    #[test]
    fn a_bind_must_name_a_row_and_an_option_takes_nothing_else() {
        let bind = Constant::Bind(Bind {
            bind: "territories".into(),
        });
        let error = bind
            .validate("mapping.defaults.opportunity.t", "t")
            .unwrap_err();
        assert!(error.to_string().contains("mapping.defaults.opportunity.t"));
        assert!(serde_json::from_str::<Constant>(r#"{"option": 1, "label": "x"}"#).is_err());
    }
}
