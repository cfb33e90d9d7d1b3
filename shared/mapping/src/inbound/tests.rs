//! The plan on the contract's fixtures.

use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::crm::OpportunityStatusReason;
use crate::marks::{MARK_FAILED, MARK_OK, base_name, decorate_name};
use crate::{CrmConfig, Referral};

const FULL: &str = include_str!("../../tests/fixtures/cosell_referral_full.json");
const LEAD: &str = include_str!("../../tests/fixtures/marketplace_lead.json");

fn referral(text: &str) -> Referral {
    serde_json::from_str(text).expect("fixture parses")
}

fn edited(text: &str, edit: impl FnOnce(&mut Value)) -> Referral {
    let mut value: Value = serde_json::from_str(text).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_cosell_referral_plans_account_contact_and_opportunity_with_every_column() {
    let config = CrmConfig::default();
    let plan = plan(&referral(FULL), &config).unwrap();
    let id = "7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f";
    assert_eq!(plan.referral_id, id);
    assert_eq!(plan.category, Category::CoSellOpportunity);
    assert_eq!(plan.status, StatusAction::InProgress);
    assert_eq!(plan.currency_code.as_deref(), Some("USD"));
    assert_eq!(
        plan.external_record, None,
        "an incoming referral names no record of ours"
    );

    let account = plan.account.as_ref().unwrap();
    assert_eq!(account.match_name, "fabrikam");
    assert_eq!(account.postal_code.as_deref(), Some("98052"));
    assert_eq!(account.new_id(), record_id("accounts", id));
    assert_eq!(
        Value::Object(account.new_row.to_row(&config).unwrap()),
        json!({
            "name": "Fabrikam, Inc.",
            "address1_line1": "1 Microsoft Way",
            "address1_city": "Redmond",
            "address1_stateorprovince": "WA",
            "address1_postalcode": "98052",
            "address1_country": "US",
        })
    );
    assert!(account.matches(Some("FABRIKAM inc"), Some(" 98052 ")));
    assert!(!account.matches(Some("Fabrikam"), Some("98053")));
    assert!(!account.matches(Some("Fabrikam East"), Some("98052")));

    let contact = plan.contact.as_ref().unwrap();
    assert_eq!(contact.email, "dana.whitfield@fabrikam.example");
    assert_eq!(contact.new_id(), record_id("contacts", id));
    let under = contact.row_under(account.new_id());
    assert_eq!(
        Value::Object(under.to_row(&config).unwrap()),
        json!({
            "firstname": "Dana",
            "lastname": "Whitfield",
            "emailaddress1": "dana.whitfield@fabrikam.example",
            "telephone1": "+1 425 555 0100",
            "parentcustomerid_account@odata.bind": format!("/accounts({})", account.new_id()),
        })
    );

    let currency = uuid::uuid!("e4c3b2a1-0f9e-4d8c-b7a6-958473625140");
    let opportunity = plan
        .opportunity_to_create(
            account.new_id(),
            Some(contact.new_id()),
            Some(currency),
            "2024-03-04T08:00:01Z Synced",
        )
        .unwrap();
    assert_eq!(opportunity.id, Some(record_id("opportunities", id)));
    assert_eq!(plan.record.new_id(), record_id("opportunities", id));
    assert_eq!(
        Value::Object(opportunity.to_row(&config).unwrap()),
        json!({
            "name": "Fabrikam - Azure data platform modernisation ✔",
            "estimatedvalue": 250000.55,
            "estimatedclosedate": "2024-06-30",
            "description": "Customer wants to retire its on-premises warehouse before Q3.",
            "customerid_account@odata.bind": format!("/accounts({})", account.new_id()),
            "parentaccountid@odata.bind": format!("/accounts({})", account.new_id()),
            "parentcontactid@odata.bind": format!("/contacts({})", contact.new_id()),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})"),
            "statuscode": 1,
            "msft_microsoftpartnercenterreferralsync": true,
            "msft_microsoftpartnercenterreferralidentifier": id,
            "msft_microsoftpartnercenterreferrallink": format!("https://api.partner.microsoft.com/v1.0/engagements/referrals/{id}"),
            "msft_microsoftpartnercenterhelp": 100000001,
            "msft_microsoftpartnercenterreferralvisible": true,
            "msft_microsoftcrmidentifier": "7-3JKX9QWERT",
            "msft_microsoftpartnercenterreferralsyncaudit": "2024-03-04T08:00:01Z Synced",
        })
    );
}

#[test]
fn configured_columns_and_the_check_mark_setting_are_used() {
    let config = CrmConfig::from_lookup(|key| match key {
        "COSELL_SHOW_CHECKMARK" => Some("false".into()),
        "COSELL_DEAL_VALUE_COLUMN" => Some("new_deal".into()),
        "COSELL_COUNTRY_COLUMN" => Some("new_iso".into()),
        "COSELL_COLUMN_MSX_ID" => Some("new_msx".into()),
        _ => None,
    })
    .unwrap();
    let plan = plan(&referral(FULL), &config).unwrap();
    let account = plan.account.as_ref().unwrap();
    let row = account.new_row.to_row(&config).unwrap();
    assert_eq!(row["new_iso"], "US");
    assert!(!row.contains_key("address1_country"));
    let opportunity = plan
        .opportunity_to_create(account.new_id(), None, None, "a")
        .unwrap()
        .to_row(&config)
        .unwrap();
    assert_eq!(
        opportunity["name"],
        "Fabrikam - Azure data platform modernisation"
    );
    assert_eq!(opportunity["new_deal"], json!(250000.55));
    assert_eq!(opportunity["new_msx"], "7-3JKX9QWERT");
    assert!(!opportunity.contains_key("estimatedvalue"));
}

#[test]
fn a_new_incoming_referral_lands_on_hold_and_closed_ones_win_or_lose() {
    let config = CrmConfig::default();
    let with_state = |status: &str, substatus: &str| {
        plan(
            &edited(FULL, |v| {
                v["status"] = status.into();
                v["substatus"] = substatus.into();
            }),
            &config,
        )
        .unwrap()
    };
    let new = with_state("New", "Pending");
    assert_eq!(new.status, StatusAction::OnHold);
    let RecordPlan::Opportunity { row } = &new.record else {
        panic!("an opportunity")
    };
    assert_eq!(row.status_reason, Some(OpportunityStatusReason::OnHold));
    assert!(new.hash.starts_with("open:"));
    let won = with_state("Closed", "Won");
    assert_eq!(won.status, StatusAction::Win);
    assert!(hash_says_closed(&won.hash));
    for lost in ["Lost", "Declined", "Expired"] {
        let plan = with_state("Closed", lost);
        assert_eq!(plan.status, StatusAction::Lose, "{lost}");
        assert!(plan.hash.starts_with("lost:"));
    }
}

#[test]
fn a_marketplace_lead_plans_a_lead_and_no_account() {
    let config = CrmConfig::default();
    let plan = plan(&referral(LEAD), &config).unwrap();
    assert_eq!(plan.category, Category::MarketplaceLead);
    assert!(plan.account.is_none() && plan.contact.is_none());
    assert_eq!(plan.status, StatusAction::Keep);
    assert_eq!(plan.record.entity_set(), "leads");
    let lead = plan.lead().unwrap();
    assert_eq!(lead.id, Some(record_id("leads", &plan.referral_id)));
    assert_eq!(
        lead.subject.as_deref(),
        Some("Trial: Contoso Data Estate Accelerator")
    );
    assert_eq!(lead.company_name.as_deref(), Some("Wide World Importers"));
    assert_eq!(
        lead.email.as_deref(),
        Some("priya@wideworldimporters.example")
    );
    assert_eq!(lead.country.as_deref(), Some("AU"));
    assert_eq!(lead.postal_code.as_deref(), Some("2000"));
    assert!(
        plan.opportunity_to_create(Uuid::nil(), None, None, "")
            .is_none()
    );
}

#[test]
fn the_hash_changes_with_what_is_synced_and_only_with_that() {
    let config = CrmConfig::default();
    let base = plan(&referral(FULL), &config).unwrap();
    assert_eq!(base.hash, plan(&referral(FULL), &config).unwrap().hash);
    let unsynced = edited(FULL, |v| {
        v["updatedDateTime"] = "2025-01-01T00:00:00Z".into();
        v["eTag"] = "\"other\"".into();
        v["tags"] = json!(["changed"]);
    });
    assert_eq!(base.hash, plan(&unsynced, &config).unwrap().hash);
    for edit in [
        json!({"details": {"dealValue": 1}}),
        json!({"details": {"closingDateTime": "2024-07-01T00:00:00Z"}}),
        json!({"details": {"notes": "other"}}),
        json!({"details": {"currency": "EUR"}}),
        json!({"status": "Closed", "substatus": "Won"}),
        json!({"trackingInfo": {"microsoftMsxId": "7-OTHER"}}),
    ] {
        let changed = edited(FULL, |v| merge(v, &edit));
        assert_ne!(base.hash, plan(&changed, &config).unwrap().hash, "{edit}");
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[test]
fn an_update_leaves_the_sync_choice_account_and_contact_alone() {
    let config = CrmConfig::default();
    let plan = plan(
        &edited(FULL, |v| {
            v["consent"]["consentToShareReferralWithMicrosoftSellers"] = false.into()
        }),
        &config,
    )
    .unwrap();
    let row = plan
        .opportunity_to_update(None, "line", None, false)
        .unwrap()
        .to_row(&config)
        .unwrap();
    for column in [
        "msft_microsoftpartnercenterreferralsync",
        "customerid_account@odata.bind",
        "parentcontactid@odata.bind",
        "msft_microsoftpartnercenterreferralvisible",
    ] {
        assert!(!row.contains_key(column), "{column} written on update");
    }
    assert_eq!(row["estimatedvalue"], json!(250000.55));
    assert_eq!(row["estimatedclosedate"], "2024-06-30");
    assert_eq!(row["msft_microsoftpartnercenterreferralsyncaudit"], "line");
}

#[test]
fn a_referral_id_no_request_or_store_key_can_carry_is_refused_not_written() {
    let config = CrmConfig::default();
    for id in ["a/b", "r 1", "r%2F1"] {
        let bad = edited(FULL, |v| v["id"] = id.into());
        let error = plan(&bad, &config).unwrap_err();
        assert_eq!(error.problems, vec![ReferralProblem::UnsafeId(id.into())]);
    }
    // Surrounding whitespace is not part of an id.
    let padded = edited(FULL, |v| v["id"] = " ref-7 ".into());
    assert_eq!(plan(&padded, &config).unwrap().referral_id, "ref-7");
}

#[test]
fn invalid_referrals_name_every_problem_in_plain_sentences() {
    let config = CrmConfig::default();
    let bad = edited(FULL, |v| {
        v["id"] = Value::Null;
        v["customerProfile"]["name"] = " ".into();
        v["details"]["currency"] = "US Dollar".into();
        v["details"]["dealValue"] = json!(-5);
        v["customerProfile"]["address"]["country"] = "USA".into();
        v["inviteContext"]["assistanceRequestCode"] = "Pizza".into();
    });
    let error = plan(&bad, &config).unwrap_err();
    assert_eq!(
        error.problems,
        vec![
            ReferralProblem::NoId,
            ReferralProblem::NoCustomerName,
            ReferralProblem::BadCurrency("US Dollar".into()),
            ReferralProblem::BadCountry("USA".into()),
            ReferralProblem::NegativeDealValue("-5".into()),
            ReferralProblem::UnmappedHelp {
                code: "Pizza".into()
            },
        ]
    );
    assert_eq!(
        error.to_string(),
        "referral (no id) cannot be written to Dynamics 365: the referral has no id; the referral names no customer company (customerProfile.name); 'US Dollar' is not an ISO 4217 currency code (details.currency); 'USA' is not an ISO 3166 two-letter country code (customerProfile.address.country); the deal value -5 is negative (details.dealValue); \"How can Microsoft help?\" is 'Pizza', which has no option value in COSELL_HELP_OPTIONS"
    );
}

#[test]
fn names_fall_back_to_the_customer_and_marks_never_double() {
    let config = CrmConfig::default();
    let unnamed = edited(FULL, |v| v["name"] = Value::Null);
    assert_eq!(plan(&unnamed, &config).unwrap().name, "Fabrikam, Inc.");
    assert_eq!(decorate_name("Deal ✖", MARK_OK, &config), "Deal ✔");
    assert_eq!(decorate_name("Deal ✔ ", MARK_FAILED, &config), "Deal ✖");
    assert_eq!(base_name("Deal ✔"), "Deal");
    assert_eq!(
        audit_line(datetime!(2024-03-01 10:15:30.123 UTC), "Created"),
        "2024-03-01T10:15:30Z Created"
    );
}

#[test]
fn an_outgoing_referral_keeps_the_sellers_status_and_names_its_record() {
    let config = CrmConfig::default();
    let ours = edited(FULL, |v| {
        v["direction"] = "Outgoing".into();
        v["status"] = "New".into();
        v["substatus"] = "Pending".into();
    });
    let plan = plan(&ours, &config).unwrap();
    assert_eq!(plan.status, StatusAction::Keep);
    assert_eq!(
        plan.external_record,
        Some(uuid::uuid!("3f2504e0-4f89-11d3-9a0c-0305e82c3301"))
    );
    let RecordPlan::Opportunity { row } = &plan.record else {
        panic!("an opportunity")
    };
    assert_eq!(row.status_reason, None);
}

#[test]
fn an_update_writes_only_the_deal_fields_microsoft_changed_since_the_agreed_deal() {
    let config = CrmConfig::default();
    let before = plan(&edited(FULL, |_| {}), &config).unwrap();
    let after = plan(
        &edited(FULL, |v| {
            v["details"]["closingDateTime"] = "2026-11-30T00:00:00Z".into()
        }),
        &config,
    )
    .unwrap();
    let currency = Some(uuid::Uuid::nil());
    let row = after
        .opportunity_to_update(currency, "line", Some(&before.deal), false)
        .unwrap()
        .to_row(&config)
        .unwrap();
    assert_eq!(row["estimatedclosedate"], "2026-11-30");
    for column in [
        "name",
        "estimatedvalue",
        "description",
        "transactioncurrencyid@odata.bind",
        "statuscode",
    ] {
        assert!(
            !row.contains_key(column),
            "{column} written though unchanged"
        );
    }
    assert_eq!(row["msft_microsoftpartnercenterreferralsyncaudit"], "line");

    // Without an agreed deal everything is written; `rewrite_name` brings the name back.
    let all = after
        .opportunity_to_update(currency, "line", None, false)
        .unwrap()
        .to_row(&config)
        .unwrap();
    assert!(all.contains_key("estimatedvalue") && all.contains_key("name"));
    let renamed = after
        .opportunity_to_update(currency, "line", Some(&before.deal), true)
        .unwrap()
        .to_row(&config)
        .unwrap();
    assert!(renamed["name"].as_str().unwrap().ends_with('✔'));
}

/// Dataverse's published limits (`MaxLength` in Microsoft's table reference: opportunity name
/// 300, description 2,000; account name 160): longer text is cut with "…" and said, and the
/// agreed deal holds the cut value, so it never reads as a seller's edit.
#[test]
fn text_longer_than_its_column_is_cut_said_and_agreed_as_cut() {
    let config = CrmConfig::default();
    let long = edited(FULL, |r| {
        r["name"] = json!("N".repeat(5_002));
        r["details"]["notes"] = json!("n".repeat(10_000));
        r["customerProfile"]["name"] = json!("C".repeat(400));
    });
    let plan = plan(&long, &config).unwrap();
    let RecordPlan::Opportunity { row } = &plan.record else {
        panic!("an opportunity");
    };
    let name = row.name.as_deref().unwrap();
    assert_eq!(name.chars().count(), 300, "the marked name fits");
    assert!(base_name(name).ends_with('…'), "{name}");
    assert_eq!(row.description.as_deref().unwrap().chars().count(), 2000);
    let account = plan.account.as_ref().unwrap();
    assert_eq!(
        account.new_row.name.as_deref().unwrap().chars().count(),
        160
    );
    let said = plan.notes.join("; ");
    for cut in [
        "opportunity.name cut from 5002 to 300 characters",
        "opportunity.description cut from 10000 to 2000 characters",
        "account.name cut from 400 to 160 characters",
    ] {
        assert!(said.contains(cut), "{said}");
    }
    assert_eq!(plan.deal.name.as_deref(), Some(base_name(name)));
    assert_eq!(plan.deal.notes, row.description);
}

/// Money and dates Dataverse cannot hold are refused before any write, each with a sentence
/// naming the field (opportunity `estimatedvalue` holds ±1,000,000,000,000; dates start
/// 1753-01-01). A malformed contact email is left out, and said.
#[test]
fn money_and_dates_out_of_range_are_refused_and_a_bad_email_left_out() {
    let config = CrmConfig::default();
    let too_much = edited(FULL, |r| {
        r["details"]["dealValue"] = json!(1_000_000_000_001_i64)
    });
    let error = plan(&too_much, &config).unwrap_err().to_string();
    assert!(
        error.contains("the deal value 1000000000001 is outside what Dataverse's opportunity.estimatedvalue holds"),
        "{error}"
    );
    let long_ago = edited(FULL, |r| {
        r["details"]["closingDateTime"] = json!("1700-06-01T00:00:00Z");
    });
    let error = plan(&long_ago, &config).unwrap_err().to_string();
    assert!(
        error.contains("the close date 1700-06-01 is outside the dates Dataverse stores"),
        "{error}"
    );
    let bad_email = edited(FULL, |r| {
        r["customerProfile"]["team"][0]["email"] = json!("dana at fabrikam");
    });
    let plan = plan(&bad_email, &config).unwrap();
    assert!(plan.contact.is_none());
    assert!(
        plan.notes
            .join("; ")
            .contains("the contact email 'dana at fabrikam' is not an email address"),
        "{:?}",
        plan.notes
    );
}
