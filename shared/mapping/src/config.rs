//! The settings a partner customises, mirroring the Microsoft co-sell solution's environment
//! variables so a partner moving off Power Automate recognises them. The co-sell columns' logical
//! names are not public (contract `dataverse.md` §5), so every one of them is a setting: code
//! never names a co-sell column literally.
//!
//! [`CrmConfig::from_lookup`] reads these keys; an unset or empty key takes the default.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `COSELL_SHOW_CHECKMARK` | `true` | show ✔/✖ in the opportunity name (`true` or `false`) |
//! | `COSELL_DEAL_VALUE_COLUMN` | `estimatedvalue` | opportunity column holding the deal value |
//! | `COSELL_COUNTRY_COLUMN` | `address1_country` | account column holding the ISO 3166 alpha-2 country |
//! | `COSELL_COLUMN_SYNC` | `msft_microsoftpartnercenterreferralsync` | "Sync with Partner Center" (yes/no) |
//! | `COSELL_COLUMN_REFERRAL_ID` | `msft_microsoftpartnercenterreferralidentifier` | "Referral Identifier" |
//! | `COSELL_COLUMN_REFERRAL_LINK` | `msft_microsoftpartnercenterreferrallink` | "Referral Link" |
//! | `COSELL_COLUMN_HELP` | `msft_microsoftpartnercenterhelp` | "How can Microsoft help?" (choice) |
//! | `COSELL_COLUMN_VISIBILITY` | `msft_microsoftpartnercenterreferralvisible` | "Referral Visibility" (yes/no) |
//! | `COSELL_COLUMN_MSX_ID` | `msft_microsoftcrmidentifier` | "Microsoft CRM Identifier" |
//! | `COSELL_COLUMN_AUDIT` | `msft_microsoftpartnercenterreferralsyncaudit` | "Audit" (sync log) |
//! | `COSELL_SOLUTIONS_TABLE` | `msft_microsoftpartnercentersolutions` | table of the solutions to share |
//! | `COSELL_SOLUTIONS_RELATIONSHIP` | `msft_opportunity_msft_microsoftpartnercentersolutions` | navigation property from opportunity to its solutions (for `$expand`) |
//! | `COSELL_SOLUTION_ID_COLUMN` | `msft_solutionid` | solution column holding the Partner Center solution id (`SOL-…`) |
//! | `COSELL_SOLUTION_NAME_COLUMN` | `msft_name` | solution column holding its name |
//! | `COSELL_SOLUTION_PUBLISHER_COLUMN` | unset | solution column holding its publisher (`publisherName`) |
//! | `COSELL_SOLUTION_TYPE_COLUMN` | unset | solution column holding its `solutionType` (e.g. `3P`) |
//! | `COSELL_PARTNER_ROLE_COLUMN` | unset | opportunity text or choice column holding `partnerRole` (Services co-sell; a choice sends its label) |
//! | `COSELL_SOLUTION_AREA_COLUMN` | unset | opportunity text or choice column holding `solutionArea` (Services co-sell) |
//! | `COSELL_SOLUTION_PLAY_COLUMN` | unset | opportunity text or choice column holding `solutionPlay` (Services co-sell) |
//! | `COSELL_SERVICES_TAXONOMY` | unset | the current fiscal year's Services values as JSON ([`ServicesTaxonomy`]): `cosell check` warns about a choice option outside them |
//! | `COSELL_MARKETPLACE_INTENT_COLUMN` | unset | opportunity text column holding the customer's marketplace purchase intent (e.g. `HaveNotDecided`) |
//! | `COSELL_CUSTOMER_SIZE_COLUMN` | unset | account column holding the customer's number of employees (bucketed) or a published size such as `10to50employees`, sent as `customerProfile.size` |
//! | `COSELL_CONSENT_TO_CONTACT` | `true` | `consent.consentToContact` on every referral cosell creates: the customer contact it carries is there to be contacted |
//! | `COSELL_CONSENT_TO_SHARE_INFO` | `false` | `consent.consentToToShareInfoWithOthers`: sharing the customer's personal data beyond the engagement is the partner's explicit choice |
//! | `COSELL_MAPPING` | none | the mapping document as JSON ([`crate::custom`]); its `deal_value`, `country`, `services` and `help` entries win over the keys they name, which stay for partners who set only them |
//! | `COSELL_HELP_OPTIONS` | see [`HelpOptions::default`] | option value → `assistanceRequestCode`, as `100000000=WorkloadSpecificValueProposition,100000001=…`; replaces the whole table |
//!
//! Column and table names are Dataverse logical names: they are trimmed and lower-cased, then
//! must be letters, digits and `_` (this also keeps them safe inside `$select`).

use std::collections::BTreeSet;

use crate::custom::country::TextColumn;
use crate::custom::{Country, Mapping, Table};
use crate::enums::AssistanceRequestCode;
use crate::error::ConfigError;
use crate::respond::RespondConfig;

/// The `COSELL_*` keys read by [`CrmConfig::from_lookup`].
pub mod keys {
    pub const SHOW_CHECKMARK: &str = "COSELL_SHOW_CHECKMARK";
    pub const DEAL_VALUE_COLUMN: &str = "COSELL_DEAL_VALUE_COLUMN";
    pub const COUNTRY_COLUMN: &str = "COSELL_COUNTRY_COLUMN";
    pub const COLUMN_SYNC: &str = "COSELL_COLUMN_SYNC";
    pub const COLUMN_REFERRAL_ID: &str = "COSELL_COLUMN_REFERRAL_ID";
    pub const COLUMN_REFERRAL_LINK: &str = "COSELL_COLUMN_REFERRAL_LINK";
    pub const COLUMN_HELP: &str = "COSELL_COLUMN_HELP";
    pub const COLUMN_VISIBILITY: &str = "COSELL_COLUMN_VISIBILITY";
    pub const COLUMN_MSX_ID: &str = "COSELL_COLUMN_MSX_ID";
    pub const COLUMN_AUDIT: &str = "COSELL_COLUMN_AUDIT";
    pub const SOLUTIONS_TABLE: &str = "COSELL_SOLUTIONS_TABLE";
    pub const SOLUTIONS_RELATIONSHIP: &str = "COSELL_SOLUTIONS_RELATIONSHIP";
    pub const SOLUTION_ID_COLUMN: &str = "COSELL_SOLUTION_ID_COLUMN";
    pub const SOLUTION_NAME_COLUMN: &str = "COSELL_SOLUTION_NAME_COLUMN";
    pub const HELP_OPTIONS: &str = "COSELL_HELP_OPTIONS";
    pub const SOLUTION_PUBLISHER_COLUMN: &str = "COSELL_SOLUTION_PUBLISHER_COLUMN";
    pub const SOLUTION_TYPE_COLUMN: &str = "COSELL_SOLUTION_TYPE_COLUMN";
    pub const PARTNER_ROLE_COLUMN: &str = "COSELL_PARTNER_ROLE_COLUMN";
    pub const SOLUTION_AREA_COLUMN: &str = "COSELL_SOLUTION_AREA_COLUMN";
    pub const SOLUTION_PLAY_COLUMN: &str = "COSELL_SOLUTION_PLAY_COLUMN";
    pub const MARKETPLACE_INTENT_COLUMN: &str = "COSELL_MARKETPLACE_INTENT_COLUMN";
    pub const CUSTOMER_SIZE_COLUMN: &str = "COSELL_CUSTOMER_SIZE_COLUMN";
    pub const CONSENT_TO_CONTACT: &str = "COSELL_CONSENT_TO_CONTACT";
    pub const CONSENT_TO_SHARE_INFO: &str = "COSELL_CONSENT_TO_SHARE_INFO";
    pub const SERVICES_TAXONOMY: &str = "COSELL_SERVICES_TAXONOMY";
    pub const MAPPING: &str = "COSELL_MAPPING";
    pub const RESPOND_TASKS: &str = "COSELL_RESPOND_TASKS";
    pub const RESPOND_DAYS_BEFORE: &str = "COSELL_RESPOND_DAYS_BEFORE";
    pub const COLUMN_EXPIRES: &str = "COSELL_COLUMN_EXPIRES";
}

/// How the partner's Dataverse is laid out. `Default` is the Microsoft solution's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmConfig {
    /// Show ✔/✖ in the opportunity name once the referral is created or fails.
    pub check_mark_in_name: bool,
    /// Opportunity column holding the deal value.
    pub deal_value_column: String,
    /// Account column holding the ISO 3166 alpha-2 country code.
    pub country_code_column: String,
    /// The co-sell columns on opportunity.
    pub columns: CoSellColumns,
    /// Logical name of the table holding the solutions to share.
    pub solutions_table: String,
    /// The solutions table's columns, and how an opportunity reaches its rows. None of these
    /// names is documented, so each is a setting.
    pub solutions: SolutionColumns,
    /// Option values of the help column.
    pub help_options: HelpOptions,
    /// Where the Services co-sell fields are, if the partner keeps them.
    pub services: ServicesColumns,
    /// The labels of the Services columns that are choices, by column and option value, from
    /// Dataverse metadata (the cache laid over the settings): a choice sends its label.
    pub services_choices:
        std::collections::BTreeMap<String, std::collections::BTreeMap<i64, String>>,
    /// The current fiscal year's Services values, when the partner lists them: `cosell check`
    /// warns about a choice option outside them.
    pub services_taxonomy: Option<ServicesTaxonomy>,
    /// Opportunity column holding the customer's marketplace purchase intent, sent on create as
    /// `details.requirements.additionalRequirements.attributes[{type: CustomerMarketplaceIntent}]`.
    pub marketplace_intent_column: Option<String>,
    /// Account column holding the customer's size (`customerProfile.size`,
    /// [`crate::customer_size`]).
    pub customer_size_column: Option<String>,
    /// The customer's consent sent on every referral cosell creates.
    pub consent: CustomerConsent,
    /// The partner's mapping document: defaults, mapped fields, account rules, leads.
    pub mapping: Mapping,
    /// A waiting referral's task and expiry ([`crate::respond`]).
    pub respond: RespondConfig,
    /// Dataverse's column lengths and money ranges: published, or read from metadata.
    pub limits: crate::limits::Limits,
}

/// The consent flags of a created referral beside `consentToShareReferralWithMicrosoftSellers`
/// (which follows the deal kind). Microsoft publishes no default; these are cosell's, stated in
/// the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerConsent {
    /// `consentToContact`.
    pub to_contact: bool,
    /// `consentToToShareInfoWithOthers`.
    pub share_info_with_others: bool,
}

impl Default for CustomerConsent {
    fn default() -> Self {
        Self {
            to_contact: true,
            share_info_with_others: false,
        }
    }
}

/// Microsoft's Services co-sell values for one fiscal year (`COSELL_SERVICES_TAXONOMY`, JSON:
/// `{"fiscalYear": "FY27", "partnerRole": […], "solutionArea": […], "solutionPlay": […]}`).
/// The taxonomy changes yearly and is not published as data, so the partner keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicesTaxonomy {
    pub fiscal_year: String,
    #[serde(default)]
    pub partner_role: Vec<String>,
    #[serde(default)]
    pub solution_area: Vec<String>,
    #[serde(default)]
    pub solution_play: Vec<String>,
}

impl ServicesTaxonomy {
    /// The values listed for `field` (`partnerRole`, `solutionArea`, `solutionPlay`).
    pub fn values(&self, field: &str) -> &[String] {
        match field {
            "partnerRole" => &self.partner_role,
            "solutionArea" => &self.solution_area,
            "solutionPlay" => &self.solution_play,
            _ => &[],
        }
    }
}

/// The opportunity's text or choice columns holding the fields Partner Center requires for
/// Services co-sell referrals only (create-a-referral); a choice sends its label. Their values are Microsoft's Solution Areas and
/// Plays taxonomy, which changes yearly: the CRM holds them, code never does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicesColumns {
    /// `partnerRole`.
    pub partner_role: Option<String>,
    /// `solutionArea`.
    pub solution_area: Option<String>,
    /// `solutionPlay`.
    pub solution_play: Option<String>,
}

impl ServicesColumns {
    /// Each field with the setting that names its column, and the column if set.
    pub fn fields(&self) -> [(&'static str, &'static str, Option<&str>); 3] {
        [
            (
                "partnerRole",
                keys::PARTNER_ROLE_COLUMN,
                self.partner_role.as_deref(),
            ),
            (
                "solutionArea",
                keys::SOLUTION_AREA_COLUMN,
                self.solution_area.as_deref(),
            ),
            (
                "solutionPlay",
                keys::SOLUTION_PLAY_COLUMN,
                self.solution_play.as_deref(),
            ),
        ]
    }
}

/// Where an opportunity's solutions are: the navigation property to `$expand` and the columns
/// read from each solution row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolutionColumns {
    /// The collection-valued navigation property from opportunity to the solutions table.
    pub relationship: String,
    /// The column holding the Partner Center solution id (`SOL-…`).
    pub id: String,
    /// The column holding the solution's name.
    pub name: String,
    /// The column holding its publisher (`publisherName`), if kept.
    pub publisher: Option<String>,
    /// The column holding its `solutionType` (`3P`, …), if kept.
    pub solution_type: Option<String>,
}

impl Default for SolutionColumns {
    fn default() -> Self {
        Self {
            relationship: "msft_opportunity_msft_microsoftpartnercentersolutions".into(),
            id: "msft_solutionid".into(),
            name: "msft_name".into(),
            publisher: None,
            solution_type: None,
        }
    }
}

/// Logical names of the co-sell columns the Microsoft solution adds to opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoSellColumns {
    /// "Sync with Partner Center" (yes/no).
    pub sync: String,
    /// "Referral Identifier".
    pub referral_id: String,
    /// "Referral Link".
    pub referral_link: String,
    /// "How can Microsoft help?" (choice).
    pub help: String,
    /// "Referral Visibility" (yes/no; once yes, never back to no).
    pub visibility: String,
    /// "Microsoft CRM Identifier" (`trackingInfo.microsoftMsxId`).
    pub msx_id: String,
    /// "Audit": the sync log.
    pub audit: String,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            check_mark_in_name: true,
            deal_value_column: "estimatedvalue".into(),
            country_code_column: "address1_country".into(),
            columns: CoSellColumns::default(),
            solutions_table: "msft_microsoftpartnercentersolutions".into(),
            solutions: SolutionColumns::default(),
            help_options: HelpOptions::default(),
            services: ServicesColumns::default(),
            services_choices: Default::default(),
            services_taxonomy: None,
            marketplace_intent_column: None,
            customer_size_column: None,
            consent: CustomerConsent::default(),
            mapping: Mapping::default(),
            respond: RespondConfig::default(),
            limits: crate::limits::Limits::documented(),
        }
    }
}

impl Default for CoSellColumns {
    fn default() -> Self {
        Self {
            sync: "msft_microsoftpartnercenterreferralsync".into(),
            referral_id: "msft_microsoftpartnercenterreferralidentifier".into(),
            referral_link: "msft_microsoftpartnercenterreferrallink".into(),
            help: "msft_microsoftpartnercenterhelp".into(),
            visibility: "msft_microsoftpartnercenterreferralvisible".into(),
            msx_id: "msft_microsoftcrmidentifier".into(),
            audit: "msft_microsoftpartnercenterreferralsyncaudit".into(),
        }
    }
}

impl CrmConfig {
    /// Reads the `COSELL_*` keys (table in the [module docs](self)) through `lookup`, e.g.
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

    /// Where an account's country is: the mapping's entry, else the country column setting.
    pub fn country(&self) -> Country {
        self.mapping.country.clone().unwrap_or_else(|| {
            Country::Column(TextColumn {
                column: self.country_code_column.clone(),
            })
        })
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

/// The option values of the "How can Microsoft help?" choice column. They are not public, so
/// the table is a setting (`COSELL_HELP_OPTIONS`); each value and each code appears at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpOptions {
    entries: Vec<(i64, AssistanceRequestCode)>,
}

impl Default for HelpOptions {
    /// The values seen in exported environments of the Microsoft solution.
    fn default() -> Self {
        use AssistanceRequestCode::*;
        Self {
            entries: vec![
                (100_000_000, WorkloadSpecificValueProposition),
                (100_000_001, CustomerTechnicalArchitecture),
                (100_000_002, ProofOfConceptOrDemo),
                (100_000_003, QuotesOrLicensing),
                (100_000_004, PostSalesCustomerSuccess),
                (100_000_005, GeneralOrOther),
            ],
        }
    }
}

impl HelpOptions {
    /// Reads `"<option value>=<code>,…"`, e.g. `"100000000=WorkloadSpecificValueProposition"`.
    /// Codes must be ones this version knows (a typo is an error, not a new code).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = |entry: &str, problem: String| ConfigError::InvalidHelpOption {
            key: keys::HELP_OPTIONS,
            entry: entry.to_owned(),
            problem,
        };
        let mut entries: Vec<(i64, AssistanceRequestCode)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (value, code) = entry
                .split_once('=')
                .ok_or_else(|| bad(entry, "must be <option value>=<code>".into()))?;
            let value: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad(entry, format!("has '{}', not a number", value.trim())))?;
            let code = AssistanceRequestCode::from(code.trim());
            if !code.is_known() {
                let known: Vec<&str> = AssistanceRequestCode::KNOWN
                    .iter()
                    .map(AssistanceRequestCode::as_str)
                    .collect();
                return Err(bad(
                    entry,
                    format!("names no known code (one of {})", known.join(", ")),
                ));
            }
            if entries.iter().any(|(v, c)| *v == value || *c == code) {
                return Err(bad(entry, "repeats an option value or code".into()));
            }
            entries.push((value, code));
        }
        if entries.is_empty() {
            return Err(bad(
                text,
                "lists no option; give at least one <option value>=<code>".into(),
            ));
        }
        Ok(Self { entries })
    }

    /// The code an option value stands for.
    pub fn code(&self, value: i64) -> Option<&AssistanceRequestCode> {
        self.entries
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, c)| c)
    }

    /// The option value of a code.
    pub fn value(&self, code: &AssistanceRequestCode) -> Option<i64> {
        self.entries
            .iter()
            .find(|(_, c)| c == code)
            .map(|(v, _)| *v)
    }

    /// Every `(option value, code)` pair, in the order configured.
    pub fn entries(&self) -> &[(i64, AssistanceRequestCode)] {
        &self.entries
    }
}
