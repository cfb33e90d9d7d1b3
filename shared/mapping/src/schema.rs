//! Which co-sell schema an environment has: Microsoft's (its co-sell solution's columns, named by
//! the settings), or cosell's own, which `cosell setup` creates when Microsoft's solution is not
//! installed — the same columns under cosell's publisher prefix. Pure: the names, and the
//! settings a process runs with under each.

use serde::{Deserialize, Serialize};

use crate::config::CrmConfig;

/// The schema in use, as `cosell setup` records it in the sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// Microsoft's co-sell solution: the column names the settings give.
    Microsoft,
    /// cosell's own columns ([`names`]).
    Cosell,
}

impl Schema {
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Microsoft => "microsoft",
            Schema::Cosell => "cosell",
        }
    }

    pub fn parse(text: &str) -> Option<Schema> {
        match text.trim() {
            "microsoft" => Some(Schema::Microsoft),
            "cosell" => Some(Schema::Cosell),
            _ => None,
        }
    }
}

/// cosell's publisher prefix: every column and table it creates starts with it.
pub const PREFIX: &str = "cosell";

/// The logical names of cosell's own schema.
pub mod names {
    /// "Sync with Partner Center" (yes/no).
    pub const SYNC: &str = "cosell_sync";
    /// "Referral Identifier".
    pub const REFERRAL_ID: &str = "cosell_referralid";
    /// "Referral Link".
    pub const REFERRAL_LINK: &str = "cosell_referrallink";
    /// "How can Microsoft help?" (choice, the help options' default values).
    pub const HELP: &str = "cosell_help";
    /// "Referral Visibility" (yes/no).
    pub const VISIBILITY: &str = "cosell_visible";
    /// "Microsoft CRM Identifier".
    pub const MSX_ID: &str = "cosell_msxid";
    /// "Audit".
    pub const AUDIT: &str = "cosell_audit";
    /// "Answer by" (the referral's expiry).
    pub const EXPIRES: &str = "cosell_expires";
    /// The solutions table, its entity set, columns and lookup to opportunity.
    pub const SOLUTIONS_TABLE: &str = "cosell_solution";
    pub const SOLUTIONS_SET: &str = "cosell_solutions";
    pub const SOLUTION_NAME: &str = "cosell_name";
    pub const SOLUTION_ID: &str = "cosell_partnercenterid";
    pub const SOLUTION_OPPORTUNITY: &str = "cosell_opportunityid";
    /// The one-to-many relationship from opportunity to its solutions (and its navigation).
    pub const SOLUTIONS_RELATIONSHIP: &str = "cosell_opportunity_cosell_solution";
}

impl CrmConfig {
    /// These settings with `schema`'s co-sell names: unchanged for Microsoft's; cosell's own
    /// columns, solutions table and expiry column for cosell's.
    pub fn with_schema(mut self, schema: Schema) -> CrmConfig {
        if schema == Schema::Microsoft {
            return self;
        }
        let columns = &mut self.columns;
        columns.sync = names::SYNC.into();
        columns.referral_id = names::REFERRAL_ID.into();
        columns.referral_link = names::REFERRAL_LINK.into();
        columns.help = names::HELP.into();
        columns.visibility = names::VISIBILITY.into();
        columns.msx_id = names::MSX_ID.into();
        columns.audit = names::AUDIT.into();
        self.solutions_table = names::SOLUTIONS_TABLE.into();
        self.solutions.relationship = names::SOLUTIONS_RELATIONSHIP.into();
        self.solutions.id = names::SOLUTION_ID.into();
        self.solutions.name = names::SOLUTION_NAME.into();
        self.respond.expiry_column = Some(names::EXPIRES.into());
        self
    }

    /// The co-sell columns on opportunity these settings name, each with its setting key.
    pub fn cosell_columns(&self) -> [(&str, &'static str); 7] {
        use crate::config::keys;
        let c = &self.columns;
        [
            (c.sync.as_str(), keys::COLUMN_SYNC),
            (c.referral_id.as_str(), keys::COLUMN_REFERRAL_ID),
            (c.referral_link.as_str(), keys::COLUMN_REFERRAL_LINK),
            (c.help.as_str(), keys::COLUMN_HELP),
            (c.visibility.as_str(), keys::COLUMN_VISIBILITY),
            (c.msx_id.as_str(), keys::COLUMN_MSX_ID),
            (c.audit.as_str(), keys::COLUMN_AUDIT),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosells_schema_renames_every_co_sell_column_and_nothing_else() {
        let microsoft = CrmConfig::default();
        let cosell = microsoft.clone().with_schema(Schema::Cosell);
        for (column, _) in cosell.cosell_columns() {
            assert!(column.starts_with("cosell_"), "{column}");
        }
        assert_eq!(cosell.solutions.relationship, names::SOLUTIONS_RELATIONSHIP);
        assert_eq!(cosell.deal_value_column, microsoft.deal_value_column);
        assert_eq!(cosell.help_options, microsoft.help_options);
        assert_eq!(microsoft.clone().with_schema(Schema::Microsoft), microsoft);
        assert_eq!(Schema::parse(Schema::Cosell.as_str()), Some(Schema::Cosell));
        assert_eq!(Schema::parse("other"), None);
    }
}
