//! The checked whole: [`CrmConfig::from_lookup`] reads every key, lays the mapping document
//! over them, and refuses a mapping onto a column cosell writes itself — which needs the rows
//! cosell writes ([`crate::crm`]), so it lives apart from the plain settings they are built from.

use std::collections::BTreeSet;

use super::{CrmConfig, HelpOptions, ServicesColumns, keys};
use crate::custom::country::TextColumn;
use crate::custom::{Country, Mapping, Table};
use crate::error::ConfigError;

impl CrmConfig {
    /// Reads the `COSELL_*` keys (table in the [module docs](super)) through `lookup`, e.g.
    /// `CrmConfig::from_lookup(|key| std::env::var(key).ok())`. Unset or empty keys keep their
    /// default; the first unusable value is an error naming its key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let mut config = Self::default();

        if let Some(value) = get(keys::SHOW_CHECKMARK) {
            config.check_mark_in_name = parse_bool(keys::SHOW_CHECKMARK, &value)?;
        }
        let names = [
            (keys::DEAL_VALUE_COLUMN, &mut config.deal_value_column),
            (keys::COUNTRY_COLUMN, &mut config.country_code_column),
            (keys::COLUMN_SYNC, &mut config.columns.sync),
            (keys::COLUMN_REFERRAL_ID, &mut config.columns.referral_id),
            (
                keys::COLUMN_REFERRAL_LINK,
                &mut config.columns.referral_link,
            ),
            (keys::COLUMN_HELP, &mut config.columns.help),
            (keys::COLUMN_VISIBILITY, &mut config.columns.visibility),
            (keys::COLUMN_MSX_ID, &mut config.columns.msx_id),
            (keys::COLUMN_AUDIT, &mut config.columns.audit),
            (keys::SOLUTIONS_TABLE, &mut config.solutions_table),
            (
                keys::SOLUTIONS_RELATIONSHIP,
                &mut config.solutions.relationship,
            ),
            (keys::SOLUTION_ID_COLUMN, &mut config.solutions.id),
            (keys::SOLUTION_NAME_COLUMN, &mut config.solutions.name),
        ];
        for (key, slot) in names {
            if let Some(value) = get(key) {
                *slot = parse_logical_name(key, &value)?;
            }
        }
        let optional = [
            (
                keys::SOLUTION_PUBLISHER_COLUMN,
                &mut config.solutions.publisher,
            ),
            (
                keys::SOLUTION_TYPE_COLUMN,
                &mut config.solutions.solution_type,
            ),
            (keys::PARTNER_ROLE_COLUMN, &mut config.services.partner_role),
            (
                keys::SOLUTION_AREA_COLUMN,
                &mut config.services.solution_area,
            ),
            (
                keys::SOLUTION_PLAY_COLUMN,
                &mut config.services.solution_play,
            ),
            (
                keys::MARKETPLACE_INTENT_COLUMN,
                &mut config.marketplace_intent_column,
            ),
            (keys::CUSTOMER_SIZE_COLUMN, &mut config.customer_size_column),
        ];
        for (key, slot) in optional {
            if let Some(value) = get(key) {
                *slot = Some(parse_logical_name(key, &value)?);
            }
        }
        if let Some(value) = get(keys::HELP_OPTIONS) {
            config.help_options = HelpOptions::parse(&value)?;
        }
        if let Some(value) = get(keys::SERVICES_TAXONOMY) {
            let taxonomy = serde_json::from_str(&value).map_err(|error| ConfigError::Mapping {
                key: keys::SERVICES_TAXONOMY.to_owned(),
                problem: format!(
                    "must be JSON {{\"fiscalYear\": \"FY27\", \"partnerRole\": […], \"solutionArea\": […], \"solutionPlay\": […]}}: {error}"
                ),
            })?;
            config.services_taxonomy = Some(taxonomy);
        }
        if let Some(value) = get(keys::CONSENT_TO_CONTACT) {
            config.consent.to_contact = parse_bool(keys::CONSENT_TO_CONTACT, &value)?;
        }
        if let Some(value) = get(keys::CONSENT_TO_SHARE_INFO) {
            config.consent.share_info_with_others =
                parse_bool(keys::CONSENT_TO_SHARE_INFO, &value)?;
        }
        if let Some(value) = get(keys::RESPOND_TASKS) {
            config.respond.tasks = parse_bool(keys::RESPOND_TASKS, &value)?;
        }
        if let Some(value) = get(keys::RESPOND_DAYS_BEFORE) {
            config.respond.days_before = value
                .trim()
                .parse()
                .ok()
                .filter(|days| *days <= 13)
                .ok_or_else(|| ConfigError::Mapping {
                    key: keys::RESPOND_DAYS_BEFORE.to_owned(),
                    problem: format!(
                        "must be a whole number of days from 0 to 13 (a referral expires after 14), got '{value}'"
                    ),
                })?;
        }
        if let Some(value) = get(keys::COLUMN_EXPIRES) {
            config.respond.expiry_column = Some(parse_logical_name(keys::COLUMN_EXPIRES, &value)?);
        }
        if let Some(value) = get(keys::MAPPING) {
            config = config.with_mapping(Mapping::parse(&value)?)?;
        }
        Ok(config)
    }

    /// These settings under `mapping`: its deal-value, country, services and help entries
    /// replace the settings' own. Refused, naming the entry, when a default or a mapped field
    /// targets a column cosell writes itself (the document alone cannot know the configured
    /// co-sell columns; `cosell check` also reads it against the environment).
    pub fn with_mapping(self, mapping: Mapping) -> Result<Self, ConfigError> {
        let config = self.laid_over(mapping);
        config.refuse_built_in_targets()?;
        Ok(config)
    }

    /// The columns cosell writes itself on `table` (`opportunity`, `lead`, `account`, `contact`)
    /// under these settings, as logical names (a lookup by its own name); the mapping's fields
    /// aside. Start-up and `cosell check` refuse a mapping onto one of them.
    pub fn written_columns(&self, table: &str) -> BTreeSet<String> {
        use crate::crm::{Account, Contact, CrmRow, Lead, Opportunity};
        let plain = Self {
            mapping: Mapping::default(),
            ..self.clone()
        };
        let columns = match table {
            "opportunity" => Opportunity::columns(&plain),
            "lead" => Lead::columns(&plain),
            "account" => Account::columns(&plain),
            "contact" => Contact::columns(&plain),
            _ => Vec::new(),
        };
        let mut written: BTreeSet<String> = columns
            .into_iter()
            .map(
                |c| match c.strip_prefix('_').and_then(|c| c.strip_suffix("_value")) {
                    Some(lookup) => lookup.to_owned(),
                    None => c,
                },
            )
            .collect();
        // The owner a create picks (crate::respond), and the expiry column.
        if matches!(table, "opportunity" | "lead") {
            written.insert("ownerid".into());
        }
        if table == "opportunity" {
            written.extend(self.respond.expiry_column.clone());
        }
        written
    }

    fn refuse_built_in_targets(&self) -> Result<(), ConfigError> {
        let refuse = |key: String, column: &str| ConfigError::Mapping {
            key,
            problem: format!("cosell writes '{column}' itself; map another column"),
        };
        for (table, defaults) in self.mapping.defaults.tables() {
            let written = self.written_columns(table);
            if let Some(column) = defaults
                .keys()
                .find(|c| written.contains(&c.to_ascii_lowercase()))
            {
                return Err(refuse(format!("mapping.defaults.{table}.{column}"), column));
            }
        }
        for (index, field) in self.mapping.fields.iter().enumerate() {
            let written = self.written_columns(field.table.logical_name());
            if written.contains(&field.column.to_ascii_lowercase()) {
                return Err(refuse(format!("mapping.fields[{index}]"), &field.column));
            }
        }
        Ok(())
    }

    fn laid_over(mut self, mapping: Mapping) -> Self {
        if let Some(column) = &mapping.deal_value {
            self.deal_value_column.clone_from(column);
        }
        if let Some(Country::Column(TextColumn { column })) = &mapping.country {
            self.country_code_column.clone_from(column);
        }
        if let Some(services) = &mapping.services {
            self.services = ServicesColumns {
                partner_role: services.partner_role.clone(),
                solution_area: services.solution_area.clone(),
                solution_play: services.solution_play.clone(),
            };
        }
        // Checked by `Mapping::parse`/`validate`; a document built by hand with a bad table
        // keeps the settings' options.
        if let Ok(Some(help)) = mapping.help_options() {
            self.help_options = help;
        }
        self.mapping = owner_from_defaults(mapping);
        self
    }
}

/// A document written before `owner` existed set the owner of new rows as a default,
/// `ownerid = { bind = "systemusers(<guid>)" }`: that user is the default owner now, so the
/// seller the referral names can take precedence and Audit can say who owns the record.
fn owner_from_defaults(mut mapping: Mapping) -> Mapping {
    use crate::custom::Constant;
    let user =
        |defaults: &std::collections::BTreeMap<String, Constant>| match defaults.get("ownerid") {
            Some(Constant::Bind(bind)) => {
                let id = bind
                    .bind
                    .trim_start_matches('/')
                    .strip_prefix("systemusers(")?;
                uuid::Uuid::try_parse(id.strip_suffix(')')?).ok()
            }
            _ => None,
        };
    for table in [Table::Opportunity, Table::Lead] {
        let defaults = match table {
            Table::Opportunity => &mut mapping.defaults.opportunity,
            Table::Lead => &mut mapping.defaults.lead,
        };
        if let Some(id) = user(defaults) {
            defaults.remove("ownerid");
            mapping.owner.get_or_insert(id);
        }
    }
    mapping
}

fn parse_bool(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::InvalidBool {
            key,
            value: value.to_owned(),
        }),
    }
}

fn parse_logical_name(key: &'static str, value: &str) -> Result<String, ConfigError> {
    let name = value.trim().to_ascii_lowercase();
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(ConfigError::InvalidLogicalName {
            key,
            value: value.to_owned(),
        })
    }
}
