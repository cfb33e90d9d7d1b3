//! Dataverse rows read and written with a non-default configuration, to prove the configured
//! column names are used (decoy columns under the default names carry different values).

use std::str::FromStr;

use cosell_mapping::{
    Account, AssistanceRequestCode, Contact, CrmConfig, CrmRow, Customer, Lead, LeadState,
    MappingError, Opportunity, OpportunityState, OpportunityStatusReason,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use time::macros::date;
use uuid::Uuid;

const OPPORTUNITY: &str = "6b1e9a2c-3d4f-4e5a-8b6c-7d8e9f0a1b2c";
const ACCOUNT: &str = "1a2b3c4d-5e6f-4708-9a1b-2c3d4e5f6a7b";
const CONTACT: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const CURRENCY: &str = "e4c3b2a1-0f9e-4d8c-b7a6-958473625140";

fn custom() -> CrmConfig {
    let settings = [
        ("COSELL_DEAL_VALUE_COLUMN", "new_dealamount"),
        ("COSELL_COUNTRY_COLUMN", "new_countrycode"),
        ("COSELL_COLUMN_SYNC", "new_sync"),
        ("COSELL_COLUMN_REFERRAL_ID", "new_referralid"),
        ("COSELL_COLUMN_REFERRAL_LINK", "new_referrallink"),
        ("COSELL_COLUMN_HELP", "new_help"),
        ("COSELL_COLUMN_VISIBILITY", "new_visible"),
        ("COSELL_COLUMN_MSX_ID", "new_msxid"),
        ("COSELL_COLUMN_AUDIT", "new_audit"),
        (
            "COSELL_HELP_OPTIONS",
            "7=GeneralOrOther,8=CustomerTechnicalArchitecture",
        ),
    ];
    CrmConfig::from_lookup(|key| {
        settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn row(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn id(text: &str) -> Uuid {
    text.parse().unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn opportunity_row() -> Map<String, Value> {
    row(json!({
        "@odata.etag": "W/\"4711\"",
        "opportunityid": OPPORTUNITY,
        "name": "✔ Fabrikam - Azure data platform modernisation",
        "new_dealamount": 250000.55,
        "estimatedvalue": 1.0,
        "estimatedclosedate": "2024-06-30",
        "description": "Retire the warehouse before Q3.",
        "_customerid_value": ACCOUNT,
        "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
        "_parentaccountid_value": ACCOUNT,
        "_parentcontactid_value": CONTACT,
        "_transactioncurrencyid_value": CURRENCY,
        "statecode": 0,
        "statuscode": 2,
        "new_sync": true,
        "new_referralid": "7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f",
        "new_referrallink": "https://partner.microsoft.com/dashboard/referrals/v2/leads/7f3c2d1e",
        "new_help": 8,
        "new_visible": true,
        "new_msxid": "7-3JKX9QWERT",
        "new_audit": "2024-03-04 08:00 accepted",
        "msft_microsoftpartnercenterreferralsync": false,
        "msft_microsoftpartnercenterreferralidentifier": "decoy",
        "msft_microsoftpartnercenterhelp": 100000000
    }))
}

#[test]
fn opportunity_reads_the_configured_columns() {
    let opportunity = Opportunity::from_row(&opportunity_row(), &custom()).unwrap();
    assert_eq!(
        opportunity,
        Opportunity {
            id: Some(id(OPPORTUNITY)),
            etag: Some("W/\"4711\"".into()),
            name: Some("✔ Fabrikam - Azure data platform modernisation".into()),
            deal_value: Some(dec("250000.55")),
            estimated_close_date: Some(date!(2024 - 06 - 30)),
            description: Some("Retire the warehouse before Q3.".into()),
            customer: Some(Customer::Account(id(ACCOUNT))),
            parent_account: Some(id(ACCOUNT)),
            parent_contact: Some(id(CONTACT)),
            currency: Some(id(CURRENCY)),
            state: Some(OpportunityState::Open),
            status_reason: Some(OpportunityStatusReason::OnHold),
            sync: Some(true),
            referral_id: Some("7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f".into()),
            referral_link: Some(
                "https://partner.microsoft.com/dashboard/referrals/v2/leads/7f3c2d1e".into()
            ),
            help: Some(AssistanceRequestCode::CustomerTechnicalArchitecture),
            visible: Some(true),
            microsoft_crm_id: Some("7-3JKX9QWERT".into()),
            audit: Some("2024-03-04 08:00 accepted".into()),
            ..Opportunity::default()
        }
    );
}

#[test]
fn opportunity_writes_the_configured_columns_and_binds_lookups() {
    let opportunity = Opportunity::from_row(&opportunity_row(), &custom()).unwrap();
    let written = Opportunity {
        state: None,
        status_reason: None,
        ..opportunity
    }
    .to_row(&custom())
    .unwrap();
    assert_eq!(
        Value::Object(written),
        json!({
            "name": "✔ Fabrikam - Azure data platform modernisation",
            "new_dealamount": 250000.55,
            "estimatedclosedate": "2024-06-30",
            "description": "Retire the warehouse before Q3.",
            "customerid_account@odata.bind": format!("/accounts({ACCOUNT})"),
            "parentaccountid@odata.bind": format!("/accounts({ACCOUNT})"),
            "parentcontactid@odata.bind": format!("/contacts({CONTACT})"),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({CURRENCY})"),
            "new_sync": true,
            "new_referralid": "7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f",
            "new_referrallink": "https://partner.microsoft.com/dashboard/referrals/v2/leads/7f3c2d1e",
            "new_help": 8,
            "new_visible": true,
            "new_msxid": "7-3JKX9QWERT",
            "new_audit": "2024-03-04 08:00 accepted"
        })
    );
}

#[test]
fn opportunity_select_list_uses_the_configured_columns() {
    let columns = Opportunity::columns(&custom());
    for name in [
        "opportunityid",
        "new_dealamount",
        "new_sync",
        "new_referralid",
        "new_referrallink",
        "new_help",
        "new_visible",
        "new_msxid",
        "new_audit",
        "_customerid_value",
        "_parentaccountid_value",
        "_parentcontactid_value",
        "_transactioncurrencyid_value",
    ] {
        assert!(columns.iter().any(|c| c == name), "{name} missing");
    }
    assert!(
        !columns
            .iter()
            .any(|c| c == "estimatedvalue" || c.starts_with("msft_")),
        "{columns:?}"
    );
    assert!(
        Opportunity::columns(&CrmConfig::default())
            .contains(&"msft_microsoftpartnercenterreferralsync".to_owned())
    );
}

#[test]
fn a_patch_body_holds_only_what_is_set() {
    let patch = Opportunity {
        deal_value: Some(dec("1200")),
        state: Some(OpportunityState::Won),
        status_reason: Some(OpportunityStatusReason::Other(100000003)),
        ..Opportunity::default()
    };
    assert_eq!(
        Value::Object(patch.to_row(&CrmConfig::default()).unwrap()),
        json!({"estimatedvalue": 1200, "statecode": 1, "statuscode": 100000003})
    );
    assert!(Opportunity::default().to_row(&custom()).unwrap().is_empty());
}

#[test]
fn help_option_values_go_through_the_configured_table() {
    let config = custom();
    let mut unknown = opportunity_row();
    unknown.insert("new_help".into(), json!(100000000));
    let error = Opportunity::from_row(&unknown, &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "column 'new_help' holds option value 100000000, which the help options (COSELL_HELP_OPTIONS) do not map"
    );

    let unmapped = Opportunity {
        help: Some(AssistanceRequestCode::ProofOfConceptOrDemo),
        ..Opportunity::default()
    };
    assert_eq!(
        unmapped.to_row(&config).unwrap_err(),
        MappingError::UnmappedHelpCode {
            column: "new_help".into(),
            code: AssistanceRequestCode::ProofOfConceptOrDemo
        }
    );

    let cleared = Opportunity {
        help: Some(AssistanceRequestCode::Unknown),
        ..Opportunity::default()
    };
    assert_eq!(
        Value::Object(cleared.to_row(&config).unwrap()),
        json!({"new_help": null})
    );

    let mut empty = opportunity_row();
    empty.insert("new_help".into(), Value::Null);
    assert_eq!(Opportunity::from_row(&empty, &config).unwrap().help, None);
}

#[test]
fn opportunity_columns_of_the_wrong_shape_are_named() {
    let config = CrmConfig::default();
    let cases = [
        (
            json!({"name": 42}),
            "column 'name' should hold text, got 42",
        ),
        (
            json!({"estimatedvalue": "lots"}),
            "column 'estimatedvalue' should hold a decimal amount, got \"lots\"",
        ),
        (
            json!({"estimatedclosedate": "30/06/2024"}),
            "column 'estimatedclosedate' should hold a date (YYYY-MM-DD), got \"30/06/2024\"",
        ),
        (
            json!({"statecode": 7}),
            "column 'statecode' should hold an opportunity state (0 Open, 1 Won, 2 Lost), got 7",
        ),
        (
            json!({"_parentaccountid_value": "not-a-guid"}),
            "column '_parentaccountid_value' should hold a GUID, got \"not-a-guid\"",
        ),
        (
            json!({"msft_microsoftpartnercenterreferralsync": "yes"}),
            "column 'msft_microsoftpartnercenterreferralsync' should hold true or false, got \"yes\"",
        ),
    ];
    for (value, message) in cases {
        let error = Opportunity::from_row(&row(value), &config).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn dates_states_and_customers_read_tolerantly() {
    let config = CrmConfig::default();
    let opportunity = Opportunity::from_row(
        &row(json!({
            "estimatedclosedate": "2024-06-30T00:00:00Z",
            "statecode": 2,
            "statuscode": 5,
            "_customerid_value": CONTACT,
            "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
            "estimatedvalue": "99.95"
        })),
        &config,
    )
    .unwrap();
    assert_eq!(
        opportunity.estimated_close_date,
        Some(date!(2024 - 06 - 30))
    );
    assert_eq!(opportunity.state, Some(OpportunityState::Lost));
    assert_eq!(
        opportunity.status_reason,
        Some(OpportunityStatusReason::OutSold)
    );
    assert_eq!(opportunity.customer, Some(Customer::Contact(id(CONTACT))));
    assert_eq!(opportunity.deal_value, Some(dec("99.95")));
    assert_eq!(
        opportunity.to_row(&config).unwrap()["customerid_contact@odata.bind"],
        format!("/contacts({CONTACT})")
    );

    let no_annotation = Opportunity::from_row(
        &row(json!({"_customerid_value": ACCOUNT, "statuscode": 100000007})),
        &config,
    )
    .unwrap();
    assert_eq!(no_annotation.customer, Some(Customer::Account(id(ACCOUNT))));
    assert_eq!(
        no_annotation.status_reason,
        Some(OpportunityStatusReason::Other(100000007))
    );
}

#[test]
fn account_uses_the_configured_country_code_column() {
    let config = custom();
    let account = Account::from_row(
        &row(json!({
            "@odata.etag": "W/\"9001\"",
            "accountid": ACCOUNT,
            "name": "Fabrikam, Inc.",
            "address1_line1": "1 Microsoft Way",
            "address1_city": "Redmond",
            "address1_stateorprovince": "WA",
            "address1_postalcode": "98052",
            "address1_country": "United States of America",
            "new_countrycode": "US",
            "telephone1": "+1 425 555 0100",
            "emailaddress1": "info@fabrikam.example"
        })),
        &config,
    )
    .unwrap();
    assert_eq!(
        account,
        Account {
            id: Some(id(ACCOUNT)),
            etag: Some("W/\"9001\"".into()),
            name: Some("Fabrikam, Inc.".into()),
            address_line1: Some("1 Microsoft Way".into()),
            city: Some("Redmond".into()),
            state_or_province: Some("WA".into()),
            postal_code: Some("98052".into()),
            country_code: Some("US".into()),
            country_row: None,
            telephone: Some("+1 425 555 0100".into()),
            email: Some("info@fabrikam.example".into()),
            size: None,
        }
    );
    assert_eq!(
        Value::Object(account.to_row(&config).unwrap()),
        json!({
            "name": "Fabrikam, Inc.",
            "address1_line1": "1 Microsoft Way",
            "address1_city": "Redmond",
            "address1_stateorprovince": "WA",
            "address1_postalcode": "98052",
            "new_countrycode": "US",
            "telephone1": "+1 425 555 0100",
            "emailaddress1": "info@fabrikam.example"
        })
    );
    let columns = Account::columns(&config);
    assert!(columns.contains(&"new_countrycode".to_owned()));
    assert!(!columns.contains(&"address1_country".to_owned()));
    assert_eq!(
        Account::from_row(
            &row(json!({"address1_country": "US"})),
            &CrmConfig::default()
        )
        .unwrap()
        .country_code
        .as_deref(),
        Some("US")
    );
}

#[test]
fn contact_reads_and_binds_its_parent_customer() {
    let config = custom();
    let contact = Contact::from_row(
        &row(json!({
            "@odata.etag": "W/\"77\"",
            "contactid": CONTACT,
            "firstname": "Dana",
            "lastname": "Whitfield",
            "emailaddress1": "dana.whitfield@fabrikam.example",
            "telephone1": "+1 425 555 0100",
            "_parentcustomerid_value": ACCOUNT,
            "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account"
        })),
        &config,
    )
    .unwrap();
    assert_eq!(
        contact,
        Contact {
            id: Some(id(CONTACT)),
            etag: Some("W/\"77\"".into()),
            first_name: Some("Dana".into()),
            last_name: Some("Whitfield".into()),
            email: Some("dana.whitfield@fabrikam.example".into()),
            telephone: Some("+1 425 555 0100".into()),
            parent_customer: Some(Customer::Account(id(ACCOUNT))),
        }
    );
    assert_eq!(
        Value::Object(contact.to_row(&config).unwrap()),
        json!({
            "firstname": "Dana",
            "lastname": "Whitfield",
            "emailaddress1": "dana.whitfield@fabrikam.example",
            "telephone1": "+1 425 555 0100",
            "parentcustomerid_account@odata.bind": format!("/accounts({ACCOUNT})")
        })
    );
    assert!(Contact::columns(&config).contains(&"_parentcustomerid_value".to_owned()));
}

#[test]
fn lead_keeps_its_own_columns_whatever_the_opportunity_settings() {
    let config = custom();
    let lead = Lead::from_row(
        &row(json!({
            "@odata.etag": "W/\"12\"",
            "leadid": OPPORTUNITY,
            "subject": "Trial: Contoso Data Estate Accelerator",
            "firstname": "Priya",
            "lastname": "Raman",
            "companyname": "Wide World Importers",
            "emailaddress1": "priya@wideworldimporters.example",
            "telephone1": null,
            "address1_line1": "200 Harbour Street",
            "address1_city": "Sydney",
            "address1_stateorprovince": "NSW",
            "address1_postalcode": "2000",
            "address1_country": "AU",
            "new_countrycode": "decoy",
            "estimatedamount": 5000,
            "new_dealamount": 1,
            "estimatedclosedate": "2024-07-31",
            "description": "Started a free trial from Azure Marketplace.",
            "statecode": 1
        })),
        &config,
    )
    .unwrap();
    assert_eq!(
        lead,
        Lead {
            id: Some(id(OPPORTUNITY)),
            etag: Some("W/\"12\"".into()),
            subject: Some("Trial: Contoso Data Estate Accelerator".into()),
            first_name: Some("Priya".into()),
            last_name: Some("Raman".into()),
            company_name: Some("Wide World Importers".into()),
            email: Some("priya@wideworldimporters.example".into()),
            telephone: None,
            address_line1: Some("200 Harbour Street".into()),
            city: Some("Sydney".into()),
            state_or_province: Some("NSW".into()),
            postal_code: Some("2000".into()),
            country: Some("AU".into()),
            estimated_amount: Some(dec("5000")),
            estimated_close_date: Some(date!(2024 - 07 - 31)),
            description: Some("Started a free trial from Azure Marketplace.".into()),
            state: Some(LeadState::Qualified),
            mapped: Default::default(),
        }
    );
    assert_eq!(
        Value::Object(lead.to_row(&config).unwrap()),
        json!({
            "subject": "Trial: Contoso Data Estate Accelerator",
            "firstname": "Priya",
            "lastname": "Raman",
            "companyname": "Wide World Importers",
            "emailaddress1": "priya@wideworldimporters.example",
            "address1_line1": "200 Harbour Street",
            "address1_city": "Sydney",
            "address1_stateorprovince": "NSW",
            "address1_postalcode": "2000",
            "address1_country": "AU",
            "estimatedamount": 5000,
            "estimatedclosedate": "2024-07-31",
            "description": "Started a free trial from Azure Marketplace.",
            "statecode": 1
        })
    );
    assert_eq!(Lead::columns(&config).len(), 16);
    let error = Lead::from_row(&row(json!({"statecode": 3})), &config).unwrap_err();
    assert!(
        error.to_string().starts_with("column 'statecode'"),
        "{error}"
    );
}

#[test]
fn entity_sets_and_keys() {
    assert_eq!(
        (Opportunity::ENTITY_SET, Opportunity::KEY),
        ("opportunities", "opportunityid")
    );
    assert_eq!(
        (Account::ENTITY_SET, Account::KEY),
        ("accounts", "accountid")
    );
    assert_eq!(
        (Contact::ENTITY_SET, Contact::KEY),
        ("contacts", "contactid")
    );
    assert_eq!((Lead::ENTITY_SET, Lead::KEY), ("leads", "leadid"));
}
