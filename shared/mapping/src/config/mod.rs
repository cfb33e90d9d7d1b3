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

pub use crate::custom::HelpOptions;
use crate::custom::country::TextColumn;
use crate::custom::{Country, Mapping};
use crate::respond::RespondConfig;

pub mod keys;
mod read;

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
/// docs/settings.md.
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
    /// Where an account's country is: the mapping's entry, else the country column setting.
    pub fn country(&self) -> Country {
        self.mapping.country.clone().unwrap_or_else(|| {
            Country::Column(TextColumn {
                column: self.country_code_column.clone(),
            })
        })
    }
}
