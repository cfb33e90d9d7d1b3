//! What the partner's Dataverse says about the columns the settings name: the help column's
//! options and the navigation properties from opportunity to the solutions table. Read from
//! table metadata (no one publishes the co-sell solution's schema), kept with an age, and laid
//! over the settings: the settings stay the fallback whenever metadata is missing or unclear.

use serde::{Deserialize, Serialize};

use crate::config::CrmConfig;

/// The metadata read, as cached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Discovered {
    /// The help column's options. Matched to codes by value: labels are localised.
    pub help_options: Vec<DiscoveredOption>,
    /// Collection-valued navigation properties from opportunity to the solutions table.
    pub solutions_relationships: Vec<String>,
    /// `MaxLength` of the text columns of the tables the inbound sync writes, by
    /// `table.column` ([`crate::limits`]); empty in a cache written before they were read.
    pub lengths: std::collections::BTreeMap<String, usize>,
    /// The options of each Services co-sell column that is a choice, by column; the label is
    /// the English one when the option has it ([`crate::config::ServicesColumns`]).
    pub services_choices: std::collections::BTreeMap<String, Vec<DiscoveredOption>>,
}

/// One option of a choice column (the help column, a Services column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredOption {
    pub value: i64,
    /// In the reading user's language: for people, never for matching.
    #[serde(default)]
    pub label: Option<String>,
}

impl Discovered {
    /// The settings with what metadata settles: the solutions relationship, when the configured
    /// one does not exist and exactly one does (anything less certain keeps the settings), and
    /// the column lengths read.
    pub fn apply(&self, config: &CrmConfig) -> CrmConfig {
        let mut config = config.clone();
        if let Some(found) = self.solutions_relationship(&config) {
            config.solutions.relationship = found.to_owned();
        }
        config.limits = config.limits.with_lengths(&self.lengths);
        config.services_choices = self
            .services_choices
            .iter()
            .map(|(column, options)| {
                let labels = options
                    .iter()
                    .filter_map(|o| Some((o.value, o.label.clone()?)))
                    .collect();
                (column.clone(), labels)
            })
            .collect();
        config
    }

    /// The relationship metadata would use instead of the configured one, if any.
    pub fn solutions_relationship(&self, config: &CrmConfig) -> Option<&str> {
        let found = &self.solutions_relationships;
        let configured = &config.solutions.relationship;
        match found.as_slice() {
            [only] if !only.eq_ignore_ascii_case(configured) => Some(only),
            _ => None,
        }
    }

    /// Options of the help column the settings give no code: a seller choosing one gets an
    /// error until `COSELL_HELP_OPTIONS` names it.
    pub fn unmapped_help_options<'a>(&'a self, config: &CrmConfig) -> Vec<&'a DiscoveredOption> {
        self.help_options
            .iter()
            .filter(|o| config.help_options.code(o.value).is_none())
            .collect()
    }
}
