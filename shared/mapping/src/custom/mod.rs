//! The partner's customisations as one document: what new rows get, which referral fields go to
//! which columns (and back), how a customer's account is found, whether leads are written at all,
//! and where the country lives. Every function and the CLI read it the same way
//! ([`Mapping::parse`], JSON) and refuse it whole when any entry is wrong — never half-applied.
//!
//! The document is the `[mapping]` table of `cosell.toml` (the CLI hands it on as JSON in
//! `COSELL_MAPPING`), or in AWS the store item `cosell mapping push` writes (see
//! `cosell_sync::mapping`). Its shape, with every key optional:
//!
//! ```toml
//! [mapping]
//! version = 2                  # raise it with every change: a process never syncs a record
//!                              # a newer version last wrote (no ping-pong between versions)
//! leads = true                 # false: marketplace and qualified leads are left out
//! owner = "<systemuserid>"     # owns new records when no seller the referral names is a user
//! deal_value = "estimatedvalue"          # = COSELL_DEAL_VALUE_COLUMN
//! services = { partner_role = "new_partnerrole", solution_area = "new_solutionarea", solution_play = "new_solutionplay" }
//! help = { "100000000" = "WorkloadSpecificValueProposition", "100000005" = "GeneralOrOther" }  # = COSELL_HELP_OPTIONS
//! country = { column = "address1_country" }                  # = COSELL_COUNTRY_COLUMN, or
//! # country = { lookup = "new_countryid", table = "new_countries", code = "new_isocode" }
//!
//! [mapping.defaults.opportunity]         # written on create only; also .lead .account .contact
//! new_region = { option = 100000001 }
//! new_source = "Microsoft co-sell"
//! new_territoryid = { bind = "territories(name='EMEA')" }
//!
//! [[mapping.fields]]
//! referral = "/details/requirements/industries/0/id"
//! column = "new_industry"
//! values = { Retail = 100000001, Healthcare = 100000002 }
//!
//! [[mapping.accounts]]                   # tried in order; the first single match wins
//! rule = "external_id"
//! kind = "Duns"
//! column = "accountnumber"
//! [[mapping.accounts]]
//! rule = "name_postal_code"
//! ```

mod accounts;
mod constant;
pub mod country;
pub mod field;
mod help;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use accounts::AccountRule;
pub use constant::Constant;
pub use country::Country;
pub use field::{FieldMapping, Flow, MappedValues, Table};
pub use help::HelpOptions;

use crate::error::ConfigError;

/// The document. `Default` is the behaviour before there was one: no defaults, no mapped
/// fields, leads written, the account matched by name and postal code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Raised with every change; stored on each link a sync writes.
    pub version: u64,
    /// Whether marketplace and qualified leads are written (as leads).
    pub leads: bool,
    /// The opportunity's deal-value column; overrides `COSELL_DEAL_VALUE_COLUMN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_value: Option<String>,
    /// Where an account's ISO country is; overrides `COSELL_COUNTRY_COLUMN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// The Services co-sell columns; overrides `COSELL_PARTNER_ROLE_COLUMN`,
    /// `COSELL_SOLUTION_AREA_COLUMN` and `COSELL_SOLUTION_PLAY_COLUMN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<ServicesEntry>,
    /// "How can Microsoft help?": option value → `assistanceRequestCode`; replaces
    /// `COSELL_HELP_OPTIONS` as a whole.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub help: BTreeMap<String, String>,
    /// Constants for new rows, by table then column.
    pub defaults: Defaults,
    /// Referral fields and their columns.
    pub fields: Vec<FieldMapping>,
    /// How a customer's account is searched for, in order.
    pub accounts: Vec<AccountRule>,
    /// Who owns a new opportunity or lead when no seller the referral names is an enabled
    /// Dynamics 365 user: a `systemuserid`. Without it, the application user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<uuid::Uuid>,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            version: 0,
            leads: true,
            deal_value: None,
            country: None,
            services: None,
            help: BTreeMap::new(),
            defaults: Defaults::default(),
            fields: Vec::new(),
            accounts: vec![AccountRule::NamePostalCode],
            owner: None,
        }
    }
}

/// The opportunity's text columns of the Services co-sell fields (`partnerRole`,
/// `solutionArea`, `solutionPlay`), sent on a co-sell create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesEntry {
    pub partner_role: Option<String>,
    pub solution_area: Option<String>,
    pub solution_play: Option<String>,
}

/// Constants written when a row is created, never on updates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    pub opportunity: BTreeMap<String, Constant>,
    pub lead: BTreeMap<String, Constant>,
    pub account: BTreeMap<String, Constant>,
    pub contact: BTreeMap<String, Constant>,
}

impl Defaults {
    /// `(table, its defaults)` for each of the four tables.
    pub fn tables(&self) -> [(&'static str, &BTreeMap<String, Constant>); 4] {
        [
            ("opportunity", &self.opportunity),
            ("lead", &self.lead),
            ("account", &self.account),
            ("contact", &self.contact),
        ]
    }
}

/// The four tables defaults are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewRow {
    Opportunity,
    Lead,
    Account,
    Contact,
}

impl Defaults {
    /// Adds `table`'s defaults to a row being created; a column the row already sets keeps its
    /// value (check refuses a default on a column cosell writes, so this is only a safeguard).
    pub fn apply(&self, table: NewRow, row: &mut serde_json::Map<String, serde_json::Value>) {
        let defaults = match table {
            NewRow::Opportunity => &self.opportunity,
            NewRow::Lead => &self.lead,
            NewRow::Account => &self.account,
            NewRow::Contact => &self.contact,
        };
        for (column, constant) in defaults {
            let mut value = serde_json::Map::new();
            constant.write(column, &mut value);
            for (key, value) in value {
                row.entry(key).or_insert(value);
            }
        }
    }
}

impl Mapping {
    /// Reads the document from JSON and checks it on its own (see [`Self::validate`]).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        // The entry's path, not a position in the JSON: the document was written as TOML.
        let json = &mut serde_json::Deserializer::from_str(text);
        let mapping: Self = serde_path_to_error::deserialize(json).map_err(|error| {
            let path = error.path().to_string();
            let key = match path.as_str() {
                "." | "" => "mapping".to_owned(),
                path => format!("mapping.{path}"),
            };
            let problem = error.into_inner().to_string();
            let problem = match problem.rfind(" at line ") {
                Some(at) => problem[..at].to_owned(),
                None => problem,
            };
            ConfigError::Mapping { key, problem }
        })?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// The document as `COSELL_MAPPING` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }

    /// Every rule that needs no environment: names are logical names, pointers read a referral
    /// field, binds name a row, no two mappings share a column, `out` only where Partner Center
    /// takes an update. The first problem is the error, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(column) = &self.deal_value {
            logical_name("mapping.deal_value", column)?;
        }
        if let Some(country) = &self.country {
            country.validate()?;
        }
        if let Some(services) = &self.services {
            let columns = [
                ("partner_role", &services.partner_role),
                ("solution_area", &services.solution_area),
                ("solution_play", &services.solution_play),
            ];
            for (name, column) in columns {
                if let Some(column) = column {
                    logical_name(&format!("mapping.services.{name}"), column)?;
                }
            }
        }
        self.help_options()?;
        for (table, defaults) in self.defaults.tables() {
            for (column, constant) in defaults {
                let key = format!("mapping.defaults.{table}.{column}");
                constant.validate(&key, column)?;
            }
        }
        let mut targets = BTreeSet::new();
        for (index, field) in self.fields.iter().enumerate() {
            let key = format!("mapping.fields[{index}]");
            field.validate(&key)?;
            let defaults = match field.table {
                Table::Opportunity => &self.defaults.opportunity,
                Table::Lead => &self.defaults.lead,
            };
            if defaults.contains_key(&field.column) {
                return Err(ConfigError::Mapping {
                    key,
                    problem: format!("maps '{}', which has a default too: keep one", field.column),
                });
            }
            if !targets.insert((field.table, field.column.clone())) {
                return Err(ConfigError::Mapping {
                    key,
                    problem: format!(
                        "maps '{}' again: each column takes one referral field",
                        field.column
                    ),
                });
            }
        }
        if self.accounts.is_empty() {
            return Err(ConfigError::Mapping {
                key: "mapping.accounts".into(),
                problem: "lists no rule; leave it out for the default (name and postal code)"
                    .into(),
            });
        }
        for (index, rule) in self.accounts.iter().enumerate() {
            rule.validate(&format!("mapping.accounts[{index}]"))?;
        }
        Ok(())
    }

    /// The `help` entry as help options, or `None` when the document has none.
    pub fn help_options(&self) -> Result<Option<HelpOptions>, ConfigError> {
        if self.help.is_empty() {
            return Ok(None);
        }
        let text: Vec<String> = self.help.iter().map(|(v, c)| format!("{v}={c}")).collect();
        HelpOptions::parse(&text.join(","))
            .map(Some)
            .map_err(|error| ConfigError::Mapping {
                key: "mapping.help".into(),
                problem: error.to_string(),
            })
    }

    /// The mapped fields of one table that come in from Partner Center.
    pub fn inbound(&self, table: Table) -> impl Iterator<Item = &FieldMapping> {
        self.fields
            .iter()
            .filter(move |f| f.table == table && f.flow.comes_in())
    }

    /// The mapped fields of one table sent to Partner Center.
    pub fn outbound(&self, table: Table) -> impl Iterator<Item = &FieldMapping> {
        self.fields
            .iter()
            .filter(move |f| f.table == table && f.flow.goes_out())
    }
}

/// A Dataverse logical name: letters, digits and `_`, lower case (also safe in `$select`).
pub(crate) fn logical_name(key: &str, value: &str) -> Result<(), ConfigError> {
    let valid = value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Mapping {
            key: key.to_owned(),
            problem: format!(
                "'{value}' is not a Dataverse logical name (lowercase letters, digits and _)"
            ),
        })
    }
}
