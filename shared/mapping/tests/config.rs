//! `CrmConfig::from_lookup`: the Microsoft solution's defaults, every override, and bad values.

use std::collections::HashMap;

use cosell_mapping::config::{HelpOptions, keys};
use cosell_mapping::{AssistanceRequestCode, ConfigError, CrmConfig};

fn from(pairs: &[(&str, &str)]) -> Result<CrmConfig, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CrmConfig::from_lookup(|key| map.get(key).cloned())
}

#[test]
fn nothing_set_gives_the_microsoft_solution_defaults() {
    let config = from(&[]).unwrap();
    assert_eq!(config, CrmConfig::default());
    assert!(config.check_mark_in_name);
    assert_eq!(config.deal_value_column, "estimatedvalue");
    assert_eq!(config.country_code_column, "address1_country");
    let c = &config.columns;
    assert_eq!(c.sync, "msft_microsoftpartnercenterreferralsync");
    assert_eq!(
        c.referral_id,
        "msft_microsoftpartnercenterreferralidentifier"
    );
    assert_eq!(c.referral_link, "msft_microsoftpartnercenterreferrallink");
    assert_eq!(c.help, "msft_microsoftpartnercenterhelp");
    assert_eq!(c.visibility, "msft_microsoftpartnercenterreferralvisible");
    assert_eq!(c.msx_id, "msft_microsoftcrmidentifier");
    assert_eq!(c.audit, "msft_microsoftpartnercenterreferralsyncaudit");
    assert_eq!(
        config.solutions_table,
        "msft_microsoftpartnercentersolutions"
    );
    assert_eq!(
        config.solutions.relationship,
        "msft_opportunity_msft_microsoftpartnercentersolutions"
    );
    assert_eq!(config.solutions.id, "msft_solutionid");
    assert_eq!(config.solutions.name, "msft_name");

    use AssistanceRequestCode::*;
    assert_eq!(
        config.help_options.entries(),
        [
            (100000000, WorkloadSpecificValueProposition),
            (100000001, CustomerTechnicalArchitecture),
            (100000002, ProofOfConceptOrDemo),
            (100000003, QuotesOrLicensing),
            (100000004, PostSalesCustomerSuccess),
            (100000005, GeneralOrOther),
        ]
    );
}

#[test]
fn every_key_overrides_its_setting() {
    let config = from(&[
        (keys::SHOW_CHECKMARK, "FALSE"),
        (keys::DEAL_VALUE_COLUMN, "new_dealamount"),
        (keys::COUNTRY_COLUMN, "new_countrycode"),
        (keys::COLUMN_SYNC, "new_sync"),
        (keys::COLUMN_REFERRAL_ID, "new_referralid"),
        (keys::COLUMN_REFERRAL_LINK, "new_referrallink"),
        (keys::COLUMN_HELP, "new_help"),
        (keys::COLUMN_VISIBILITY, "new_visible"),
        (keys::COLUMN_MSX_ID, "new_msxid"),
        (keys::COLUMN_AUDIT, "new_audit"),
        (keys::SOLUTIONS_TABLE, "new_solutions"),
        (keys::SOLUTIONS_RELATIONSHIP, "new_Opportunity_Solutions"),
        (keys::SOLUTION_ID_COLUMN, "new_pcsolutionid"),
        (keys::SOLUTION_NAME_COLUMN, "new_title"),
        (
            keys::HELP_OPTIONS,
            "7=GeneralOrOther, 8=CustomerTechnicalArchitecture",
        ),
    ])
    .unwrap();
    assert!(!config.check_mark_in_name);
    assert_eq!(config.deal_value_column, "new_dealamount");
    assert_eq!(config.country_code_column, "new_countrycode");
    let c = &config.columns;
    assert_eq!(
        [
            &c.sync,
            &c.referral_id,
            &c.referral_link,
            &c.help,
            &c.visibility,
            &c.msx_id,
            &c.audit
        ],
        [
            "new_sync",
            "new_referralid",
            "new_referrallink",
            "new_help",
            "new_visible",
            "new_msxid",
            "new_audit"
        ]
    );
    assert_eq!(config.solutions_table, "new_solutions");
    assert_eq!(config.solutions.relationship, "new_opportunity_solutions");
    assert_eq!(config.solutions.id, "new_pcsolutionid");
    assert_eq!(config.solutions.name, "new_title");
    assert_eq!(
        config.help_options.entries(),
        [
            (7, AssistanceRequestCode::GeneralOrOther),
            (8, AssistanceRequestCode::CustomerTechnicalArchitecture)
        ]
    );
    assert_eq!(
        config.help_options.code(8),
        Some(&AssistanceRequestCode::CustomerTechnicalArchitecture)
    );
    assert_eq!(
        config
            .help_options
            .value(&AssistanceRequestCode::GeneralOrOther),
        Some(7)
    );
    assert_eq!(config.help_options.code(100000000), None);
}

#[test]
fn empty_values_keep_the_default_and_names_are_normalised() {
    let config = from(&[
        (keys::SHOW_CHECKMARK, ""),
        (keys::DEAL_VALUE_COLUMN, "  "),
        (
            keys::COLUMN_SYNC,
            " Msft_MicrosoftPartnerCenterReferralSync ",
        ),
        (keys::COLUMN_AUDIT, "new_Audit2"),
    ])
    .unwrap();
    assert!(config.check_mark_in_name);
    assert_eq!(config.deal_value_column, "estimatedvalue");
    assert_eq!(
        config.columns.sync,
        "msft_microsoftpartnercenterreferralsync"
    );
    assert_eq!(config.columns.audit, "new_audit2");
}

#[test]
fn bad_values_are_errors_naming_key_and_value() {
    let error = from(&[(keys::SHOW_CHECKMARK, "maybe")]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "COSELL_SHOW_CHECKMARK must be true or false, got 'maybe'"
    );

    let error = from(&[(keys::COLUMN_HELP, "new help;drop")]).unwrap_err();
    assert_eq!(
        error,
        ConfigError::InvalidLogicalName {
            key: "COSELL_COLUMN_HELP",
            value: "new help;drop".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "COSELL_COLUMN_HELP must be a Dataverse logical name (lowercase letters, digits and _), got 'new help;drop'"
    );
    assert!(from(&[(keys::DEAL_VALUE_COLUMN, "1estimatedvalue")]).is_err());
    for key in [
        keys::SOLUTIONS_RELATIONSHIP,
        keys::SOLUTION_ID_COLUMN,
        keys::SOLUTION_NAME_COLUMN,
    ] {
        let error = from(&[(key, "msft_name($select=x)")]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::InvalidLogicalName {
                key,
                value: "msft_name($select=x)".into()
            }
        );
    }
}

#[test]
fn bad_help_options_are_errors_naming_the_entry() {
    let cases = [
        (
            "100000000=WorkloadSpecifc",
            "COSELL_HELP_OPTIONS entry '100000000=WorkloadSpecifc' names no known code",
        ),
        (
            "abc=GeneralOrOther",
            "COSELL_HELP_OPTIONS entry 'abc=GeneralOrOther' has 'abc', not a number",
        ),
        (
            "1=GeneralOrOther,1=QuotesOrLicensing",
            "COSELL_HELP_OPTIONS entry '1=QuotesOrLicensing' repeats an option value or code",
        ),
        (
            "1=GeneralOrOther,2=GeneralOrOther",
            "COSELL_HELP_OPTIONS entry '2=GeneralOrOther' repeats an option value or code",
        ),
        (
            "GeneralOrOther",
            "COSELL_HELP_OPTIONS entry 'GeneralOrOther' must be <option value>=<code>",
        ),
        (",", "COSELL_HELP_OPTIONS entry ',' lists no option"),
    ];
    for (value, message) in cases {
        let error = from(&[(keys::HELP_OPTIONS, value)]).unwrap_err();
        assert!(error.to_string().starts_with(message), "{value}: {error}");
    }
    assert!(HelpOptions::parse("1=generalorother").is_ok());
}

/// The settings that are mappings already are entries of the mapping document too; an entry
/// wins over the `COSELL_*` key it names, and a key without an entry stands.
#[test]
fn the_documents_entries_win_over_the_keys_they_name() {
    let document = r#"{
        "deal_value": "new_dealvalue",
        "country": {"column": "new_countrycode"},
        "services": {"partner_role": "new_partnerrole", "solution_play": "new_play"},
        "help": {"100000009": "GeneralOrOther", "100000008": "QuotesOrLicensing"}
    }"#;
    let config = CrmConfig::from_lookup(|key| match key {
        "COSELL_DEAL_VALUE_COLUMN" => Some("estimatedvalue".into()),
        "COSELL_SOLUTION_AREA_COLUMN" => Some("new_area".into()),
        "COSELL_SHOW_CHECKMARK" => Some("false".into()),
        "COSELL_MAPPING" => Some(document.into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.deal_value_column, "new_dealvalue");
    assert_eq!(config.country_code_column, "new_countrycode");
    assert_eq!(
        config.services.partner_role.as_deref(),
        Some("new_partnerrole")
    );
    assert_eq!(config.services.solution_play.as_deref(), Some("new_play"));
    // The document's services entry names all three: an area it leaves out is unset.
    assert_eq!(config.services.solution_area, None);
    assert!(!config.check_mark_in_name);
    let help = config.help_options.entries();
    assert_eq!(help.len(), 2);
    assert_eq!(
        config
            .help_options
            .value(&AssistanceRequestCode::GeneralOrOther),
        Some(100_000_009)
    );

    let error = CrmConfig::from_lookup(|key| {
        (key == "COSELL_MAPPING").then(|| r#"{"help": {"1": "Bogus"}}"#.to_owned())
    })
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("mapping.help:"), "{error}");
    let error = CrmConfig::from_lookup(|key| {
        (key == "COSELL_MAPPING").then(|| {
            r#"{"fields": [{"referral": "/salesStage", "column": "Bad Name"}]}"#.to_owned()
        })
    })
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("mapping.fields[0].column:"), "{error}");
}

/// Two sources for one column are refused at start, naming the entry: a mapped field or a
/// default on a column cosell writes itself (as configured), or a default and a field together.
#[test]
fn a_mapping_onto_a_column_cosell_writes_or_mapped_twice_is_refused() {
    let refused = |document: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![("COSELL_MAPPING", document)];
        pairs.extend_from_slice(extra);
        from(&pairs).unwrap_err().to_string()
    };
    let error = refused(
        r#"{"fields": [{"referral": "/inviteContext/notes", "column": "description"}]}"#,
        &[],
    );
    assert_eq!(
        error,
        "mapping.fields[0]: cosell writes 'description' itself; map another column"
    );
    // The configured name counts, not the default one.
    let error = refused(
        r#"{"defaults": {"opportunity": {"new_dealvalue": 1}}}"#,
        &[("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue")],
    );
    assert!(
        error.starts_with("mapping.defaults.opportunity.new_dealvalue:"),
        "{error}"
    );
    let error = refused(
        r#"{"defaults": {"opportunity": {"new_size": "Small"}},
            "fields": [{"referral": "/customerProfile/size", "column": "new_size"}]}"#,
        &[],
    );
    assert!(
        error.starts_with("mapping.fields[0]: maps 'new_size', which has a default too"),
        "{error}"
    );
    from(&[(
        "COSELL_MAPPING",
        r#"{"fields": [{"referral": "/inviteContext/notes", "column": "new_invitenotes"}]}"#,
    )])
    .unwrap();
}

#[test]
fn respond_by_settings_read_and_refuse_what_cannot_work() {
    let config = from(&[
        (keys::RESPOND_TASKS, "false"),
        (keys::RESPOND_DAYS_BEFORE, "5"),
        (keys::COLUMN_EXPIRES, "new_ReferralExpires"),
    ])
    .unwrap();
    assert!(!config.respond.tasks);
    assert_eq!(config.respond.days_before, 5);
    assert_eq!(
        config.respond.expiry_column.as_deref(),
        Some("new_referralexpires")
    );
    // A referral expires 14 days after it arrives: a task due 14 or more days before is never.
    let error = from(&[(keys::RESPOND_DAYS_BEFORE, "14")]).unwrap_err();
    assert!(
        error.to_string().contains("COSELL_RESPOND_DAYS_BEFORE"),
        "{error}"
    );
    // cosell writes the expiry column itself: a mapped field onto it is refused.
    let mapping = r#"{"fields": [{"referral": "/salesStage", "column": "new_referralexpires"}]}"#;
    let error = from(&[
        (keys::COLUMN_EXPIRES, "new_referralexpires"),
        (keys::MAPPING, mapping),
    ])
    .unwrap_err();
    assert!(error.to_string().contains("new_referralexpires"), "{error}");
}

#[test]
fn a_default_owner_written_as_an_ownerid_default_is_the_mappings_owner() {
    let user = "5f0c7a1e-2b3d-4c5e-8f90-1a2b3c4d5e6f";
    let mapping = format!(
        r#"{{"defaults": {{"opportunity": {{"ownerid": {{"bind": "systemusers({user})"}}}}}}}}"#
    );
    let config = from(&[(keys::MAPPING, &mapping)]).unwrap();
    assert_eq!(config.mapping.owner.unwrap().to_string(), user);
    assert!(config.mapping.defaults.opportunity.is_empty());
    // Any other owner default is one cosell would overwrite: refused, naming the column.
    let team = r#"{"defaults": {"opportunity": {"ownerid": {"bind": "teams(name='Sales')"}}}}"#;
    let error = from(&[(keys::MAPPING, team)]).unwrap_err();
    assert!(error.to_string().contains("ownerid"), "{error}");
}
