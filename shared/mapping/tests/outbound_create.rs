//! `plan_create` on realistic Web API rows: each deal kind, each validation failure, and the
//! settings that name the solutions relationship and its columns.

use std::collections::HashMap;

use cosell_mapping::config::keys;
use cosell_mapping::outbound::{
    DealKind, InvalidOpportunity, OpportunityProblem, OutboundInput, SolutionRow,
    microsoft_referral, plan_create,
};
use cosell_mapping::{
    AssistanceRequestCode, Category, CrmConfig, DealState, DealStatus, Direction, Qualification,
    ReferralType, Status, Substatus, TargetType,
};
use serde_json::{Map, Value, json};

const COSELL: &str = include_str!("fixtures/opportunity_cosell.json");
const PRIVATE: &str = include_str!("fixtures/opportunity_private.json");
const PARTNER_LED: &str = include_str!("fixtures/opportunity_partner_led.json");
const INVALID: &str = include_str!("fixtures/opportunity_invalid.json");

fn row(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).expect("fixture parses")
}

fn input(text: &str) -> OutboundInput {
    OutboundInput::from_expanded_row(&row(text), &CrmConfig::default()).expect("fixture reads")
}

fn edited(text: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> OutboundInput {
    let mut row = row(text);
    edit(&mut row);
    OutboundInput::from_expanded_row(&row, &CrmConfig::default()).expect("edited row reads")
}

fn problems(input: &OutboundInput) -> Vec<OpportunityProblem> {
    plan_create(input, &CrmConfig::default())
        .expect_err("the opportunity is invalid")
        .problems
}

#[test]
fn the_expanded_row_reads_account_contact_currency_and_solutions() {
    let input = input(COSELL);
    assert_eq!(
        input.opportunity.id.unwrap().to_string(),
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    );
    assert_eq!(
        input.opportunity.help,
        Some(AssistanceRequestCode::CustomerTechnicalArchitecture)
    );
    let account = input.account.as_ref().unwrap();
    assert_eq!(account.name.as_deref(), Some("Fabrikam, Inc."));
    assert_eq!(account.country_code.as_deref(), Some("us"));
    let contact = input.contact.as_ref().unwrap();
    assert_eq!(
        contact.email.as_deref(),
        Some("dana.whitfield@fabrikam.example")
    );
    assert_eq!(input.currency_code.as_deref(), Some("USD"));
    assert_eq!(
        input.solutions,
        [
            SolutionRow {
                solution_id: Some("SOL-2F5A1C7E".into()),
                name: Some("Contoso Data Estate Accelerator".into()),
                ..SolutionRow::default()
            },
            SolutionRow {
                solution_id: Some("SOL-9C4D2B1A".into()),
                name: Some("Contoso Managed Analytics".into()),
                ..SolutionRow::default()
            },
        ]
    );
}

#[test]
fn lookups_not_selected_are_taken_from_the_expanded_rows() {
    let input = edited(COSELL, |row| {
        row.remove("_parentaccountid_value");
        row.remove("_parentcontactid_value");
        row.remove("_transactioncurrencyid_value");
    });
    let opportunity = &input.opportunity;
    assert_eq!(
        opportunity.parent_account.unwrap().to_string(),
        "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
    );
    assert_eq!(
        opportunity.parent_contact.unwrap().to_string(),
        "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    );
    assert_eq!(
        opportunity.currency.unwrap().to_string(),
        "9e8d7c6b-5a49-4837-a625-140302010f0e"
    );
}

#[test]
fn a_relationship_that_is_not_a_list_is_an_error_naming_it() {
    let mut row = row(COSELL);
    row.insert(
        "msft_opportunity_msft_microsoftpartnercentersolutions".into(),
        json!({"msft_solutionid": "SOL-1"}),
    );
    let error = OutboundInput::from_expanded_row(&row, &CrmConfig::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("msft_opportunity_msft_microsoftpartnercentersolutions"),
        "{error}"
    );
}

#[test]
fn select_and_expand_use_the_configured_names() {
    let config = CrmConfig::from_lookup(|key| {
        HashMap::from([
            (keys::SOLUTIONS_RELATIONSHIP, "new_opportunity_solutions"),
            (keys::SOLUTION_ID_COLUMN, "new_pcsolutionid"),
            (keys::SOLUTION_NAME_COLUMN, "new_title"),
            (keys::COUNTRY_COLUMN, "new_iso2"),
            (keys::DEAL_VALUE_COLUMN, "new_dealamount"),
        ])
        .get(key)
        .map(|v| v.to_string())
    })
    .unwrap();
    let expand = OutboundInput::expand(&config).to_string();
    assert_eq!(
        expand,
        "parentaccountid($select=accountid,name,address1_line1,address1_city,address1_stateorprovince,\
         address1_postalcode,new_iso2,telephone1,emailaddress1),\
         parentcontactid($select=contactid,firstname,lastname,emailaddress1,telephone1),\
         owninguser($select=firstname,lastname,internalemailaddress,address1_telephone1),\
         transactioncurrencyid($select=isocurrencycode),\
         new_opportunity_solutions($select=new_pcsolutionid,new_title)"
    );
    assert_eq!(
        OutboundInput::expand(&CrmConfig::default())
            .to_string()
            .rsplit_once("),")
            .unwrap()
            .1,
        "msft_opportunity_msft_microsoftpartnercentersolutions($select=msft_solutionid,msft_name)"
    );
    let select = OutboundInput::select(&config);
    for column in [
        "opportunityid",
        "name",
        "new_dealamount",
        "estimatedclosedate",
        "description",
        "_parentaccountid_value",
        "_parentcontactid_value",
        "_transactioncurrencyid_value",
        "statecode",
        "statuscode",
        "msft_microsoftpartnercenterreferralsync",
        "msft_microsoftpartnercenterhelp",
        "msft_microsoftpartnercenterreferralvisible",
    ] {
        assert!(select.iter().any(|c| c == column), "{column} in {select:?}");
    }

    // The same opportunity under the custom names reads the same.
    let text = COSELL
        .replace(
            "msft_opportunity_msft_microsoftpartnercentersolutions",
            "new_opportunity_solutions",
        )
        .replace("msft_solutionid", "new_pcsolutionid")
        .replace("\"msft_name\"", "\"new_title\"")
        .replace("address1_country", "new_iso2")
        .replace("\"estimatedvalue\"", "\"new_dealamount\"");
    let custom = OutboundInput::from_expanded_row(&row(&text), &config).unwrap();
    let default = input(COSELL);
    assert_eq!(custom.solutions, default.solutions);
    assert_eq!(custom.account, default.account);
    assert_eq!(
        custom.opportunity.deal_value,
        default.opportunity.deal_value
    );
    let plan = plan_create(&custom, &config).unwrap();
    assert_eq!(
        plan.referral,
        plan_create(&default, &CrmConfig::default())
            .unwrap()
            .referral
    );
}

#[test]
fn a_co_sell_opportunity_becomes_a_shared_referral_targeting_its_solutions() {
    let input = input(COSELL);
    let plan = plan_create(&input, &CrmConfig::default()).unwrap();
    assert_eq!(plan.kind, DealKind::CoSell);
    let referral = &plan.referral;
    assert_eq!(referral.kind, Some(ReferralType::Shared));
    assert_eq!(referral.qualification, Some(Qualification::SalesQualified));
    // `direction` is read-only (the connector's Swagger): the service sets it, and inbound
    // reads our referral back as an opportunity.
    assert_eq!(referral.direction, None);
    let mut as_read = referral.clone();
    as_read.direction = Some(Direction::Outgoing);
    assert_eq!(Category::of(&as_read), Category::CoSellOpportunity);
    assert_eq!(referral.state(), (Status::New, Substatus::Pending));

    let body = serde_json::to_value(referral).unwrap();
    assert_eq!(
        body,
        json!({
            "name": "Fabrikam - Azure data platform modernisation",
            "externalReferenceId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "status": "New",
            "substatus": "Pending",
            "type": "Shared",
            "qualification": "SalesQualified",
            "target": [
                {"type": "SolutionProfile", "id": "SOL-2F5A1C7E"},
                {"type": "SolutionProfile", "id": "SOL-9C4D2B1A"}
            ],
            "customerProfile": {
                "name": "Fabrikam, Inc.",
                "address": {
                    "addressLine1": "1 Microsoft Way",
                    "city": "Redmond",
                    "state": "WA",
                    "postalCode": "98052",
                    "country": "US"
                },
                "team": [{
                    "firstName": "Dana",
                    "lastName": "Whitfield",
                    "phoneNumber": "+1 425 555 0100",
                    "email": "dana.whitfield@fabrikam.example"
                }]
            },
            // The documented defaults (docs/settings.md): contact yes, share with others no.
            "consent": {
                "consentToShareReferralWithMicrosoftSellers": true,
                "consentToContact": true,
                "consentToToShareInfoWithOthers": false
            },
            // The partner's team: the opportunity's owner, as Microsoft's create sample sends
            // its own seller.
            "team": [{
                "firstName": "Sam",
                "lastName": "Seller",
                "phoneNumber": "+1 425 555 0199",
                "email": "sam.seller@contoso-partner.example"
            }],
            "details": {
                "notes": "Customer wants to retire its on-premises warehouse before Q3.",
                "dealValue": 250000,
                "currency": "USD",
                "closingDateTime": "2024-06-30T00:00:00Z",
                "requirements": {
                    "solutions": [
                        {"type": "Name", "id": "SOL-2F5A1C7E", "name": "Contoso Data Estate Accelerator"},
                        {"type": "Name", "id": "SOL-9C4D2B1A", "name": "Contoso Managed Analytics"}
                    ]
                }
            },
            "inviteContext": {"assistanceRequestCode": "CustomerTechnicalArchitecture"}
        })
    );

    // The agreed state is the CRM's deal, and the referral we send says the same once the
    // service has stamped it.
    assert_eq!(plan.deal, input.deal());
    assert_eq!(plan.deal.hash(), DealState::from_referral(&as_read).hash());
    assert_eq!(plan.deal.status, Some(DealStatus::InProgress));
}

#[test]
fn co_sell_s_second_referral_is_for_microsoft_in_the_same_engagement() {
    let plan = plan_create(&input(COSELL), &CrmConfig::default()).unwrap();
    let mut created = plan.referral.clone();
    created.id = Some("11111111-2222-4333-8444-555555555555".into());
    created.engagement_id = Some("e0e0e0e0-1111-4222-8333-444444444444".into());
    created.etag = Some("\"0001\"".into());

    let microsoft = microsoft_referral(&created, &plan);
    assert_eq!(microsoft.engagement_id, created.engagement_id);
    assert_eq!(
        microsoft.id, None,
        "a new referral: the server gives the id"
    );
    assert_eq!(microsoft.etag, None);
    assert_eq!(microsoft.kind, Some(ReferralType::Shared));
    assert_eq!(microsoft.target.len(), 1);
    assert_eq!(
        microsoft.target[0].kind,
        Some(TargetType::BusinessProfileLocation)
    );
    assert_eq!(microsoft.target[0].id.as_deref(), Some("msft"));
    // Everything else is the deal as planned.
    assert_eq!(microsoft.details, plan.referral.details);
    assert_eq!(microsoft.customer_profile, plan.referral.customer_profile);
    assert_eq!(
        microsoft.external_reference_id,
        plan.referral.external_reference_id
    );
    assert_eq!(microsoft.invite_context, plan.referral.invite_context);
    assert_eq!(microsoft.consent, plan.referral.consent);
}

#[test]
fn a_private_deal_is_independent_and_not_shared_with_microsoft_sellers() {
    let input = input(PRIVATE);
    let plan = plan_create(&input, &CrmConfig::default()).unwrap();
    assert_eq!(plan.kind, DealKind::Private);
    let referral = &plan.referral;
    assert_eq!(referral.kind, Some(ReferralType::Independent));
    assert!(referral.target.is_empty());
    assert_eq!(referral.invite_context, None);
    let consent = referral.consent.as_ref().unwrap();
    assert_eq!(
        consent.consent_to_share_referral_with_microsoft_sellers,
        Some(false)
    );
    assert_eq!(
        referral.name.as_deref(),
        Some("Northwind - Dynamics 365 rollout"),
        "the ✖ of an earlier failure is not sent"
    );
    let customer = referral.customer_profile.as_ref().unwrap();
    assert!(customer.team.is_empty(), "no contact, none sent");
    assert_eq!(
        customer.address.as_ref().unwrap().country.as_deref(),
        Some("DE")
    );
    let body = serde_json::to_value(referral).unwrap();
    assert_eq!(body["details"]["dealValue"], json!(48000.5));
    assert_eq!(body["details"]["currency"], "EUR");
    assert_eq!(body["details"].get("notes"), None);
    assert_eq!(
        body["details"]["requirements"]["solutions"],
        json!([{"type": "Name", "id": "SOL-51E0B7A2", "name": "Contoso Business Apps Quickstart"}])
    );
    assert_eq!(plan.deal.status, Some(DealStatus::OnHold));
    assert!(!plan.deal.visible);
}

#[test]
fn a_partner_led_deal_is_independent_and_shared_with_microsoft_sellers() {
    let plan = plan_create(&input(PARTNER_LED), &CrmConfig::default()).unwrap();
    assert_eq!(plan.kind, DealKind::PartnerLed);
    let referral = &plan.referral;
    assert_eq!(referral.kind, Some(ReferralType::Independent));
    assert!(referral.target.is_empty());
    assert_eq!(referral.invite_context, None);
    assert_eq!(
        referral
            .consent
            .as_ref()
            .unwrap()
            .consent_to_share_referral_with_microsoft_sellers,
        Some(true)
    );
    let team = &referral.customer_profile.as_ref().unwrap().team;
    assert_eq!(
        team[0].email.as_deref(),
        Some("priya.raman@tailspin.example")
    );
    assert_eq!(
        serde_json::to_value(referral).unwrap()["details"]["dealValue"],
        json!(72500)
    );
    assert!(plan.deal.visible);
}

#[test]
fn help_chosen_makes_a_co_sell_deal_shared_even_before_visibility_is_set() {
    let input = edited(COSELL, |row| {
        row.insert(
            "msft_microsoftpartnercenterreferralvisible".into(),
            json!(false),
        );
    });
    let plan = plan_create(&input, &CrmConfig::default()).unwrap();
    assert_eq!(plan.kind, DealKind::CoSell);
    assert_eq!(
        plan.referral
            .consent
            .as_ref()
            .unwrap()
            .consent_to_share_referral_with_microsoft_sellers,
        Some(true)
    );
    assert!(
        !plan.deal.visible,
        "the agreed state keeps the column's 'no', so it is not read as an un-share"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_plain_sentences() {
    let error: InvalidOpportunity =
        plan_create(&input(INVALID), &CrmConfig::default()).unwrap_err();
    assert_eq!(
        error.opportunity_id.unwrap().to_string(),
        "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d"
    );
    assert_eq!(
        error.problems,
        [
            OpportunityProblem::BadCountry {
                column: "address1_country".into(),
                value: Some("France".into())
            },
            OpportunityProblem::NoContact,
            OpportunityProblem::NoSolution,
            OpportunityProblem::NoCurrency { value: None },
            OpportunityProblem::ClosingWithoutRevenueAndCloseDate {
                column: "estimatedvalue".into()
            },
        ]
    );
    assert_eq!(
        error.to_string(),
        "Customer account country code is missing: the account's address1_country must hold a \
         two-letter ISO 3166 code (found 'France'). \
         A customer contact is required when \"How can Microsoft help?\" is chosen: set the \
         opportunity's contact. \
         Solution ID is required: relate at least one Microsoft Partner Center solution to the \
         opportunity. \
         Currency is missing: set the opportunity's currency. \
         Closing a lead requires revenue and a close date: set the opportunity's estimatedvalue \
         and estimated close date."
    );
    assert_eq!(error.sentences().len(), 5);
    assert_eq!(
        error.sentences()[2],
        "Solution ID is required: relate at least one Microsoft Partner Center solution to the opportunity."
    );
}

#[test]
fn help_chosen_without_a_contact_is_refused() {
    let input = edited(COSELL, |row| {
        row.insert("parentcontactid".into(), Value::Null);
        row.insert("_parentcontactid_value".into(), Value::Null);
    });
    assert_eq!(problems(&input), [OpportunityProblem::NoContact]);
    // Without help the same opportunity is a partner-led deal and needs no contact.
    let partner_led = edited(COSELL, |row| {
        row.insert("parentcontactid".into(), Value::Null);
        row.insert("msft_microsoftpartnercenterhelp".into(), Value::Null);
    });
    assert_eq!(
        plan_create(&partner_led, &CrmConfig::default())
            .unwrap()
            .kind,
        DealKind::PartnerLed
    );
}

#[test]
fn no_solution_is_refused_as_solution_id_is_required() {
    for solutions in [
        json!([]),
        Value::Null,
        json!([{"msft_solutionid": null, "msft_name": "Nameless"}, {"msft_solutionid": "  "}]),
    ] {
        let input = edited(PRIVATE, |row| {
            row.insert(
                "msft_opportunity_msft_microsoftpartnercentersolutions".into(),
                solutions.clone(),
            );
        });
        let problems = problems(&input);
        assert_eq!(problems, [OpportunityProblem::NoSolution], "{solutions}");
        assert!(
            problems[0]
                .to_string()
                .starts_with("Solution ID is required")
        );
    }
}

#[test]
fn a_country_that_is_not_iso_3166_is_refused() {
    for country in [
        json!("USA"),
        json!("United States"),
        json!("XX"),
        json!("U"),
        Value::Null,
    ] {
        let input = edited(COSELL, |row| {
            row["parentaccountid"]["address1_country"] = country.clone();
        });
        let problems = problems(&input);
        assert_eq!(problems.len(), 1, "{country}");
        assert!(
            problems[0]
                .to_string()
                .starts_with("customer account country code is missing"),
            "{country}: {}",
            problems[0]
        );
    }
    // Lower case and spaces around a real code are fine.
    let input = edited(COSELL, |row| {
        row["parentaccountid"]["address1_country"] = json!(" gb ");
    });
    let plan = plan_create(&input, &CrmConfig::default()).unwrap();
    let address = plan.referral.customer_profile.unwrap().address.unwrap();
    assert_eq!(address.country.as_deref(), Some("GB"));
}

#[test]
fn no_currency_is_refused() {
    let input = edited(PARTNER_LED, |row| {
        row.insert("transactioncurrencyid".into(), Value::Null);
    });
    assert_eq!(
        problems(&input),
        [OpportunityProblem::NoCurrency { value: None }]
    );
    let input = edited(PARTNER_LED, |row| {
        row["transactioncurrencyid"]["isocurrencycode"] = json!("pounds");
    });
    assert_eq!(
        problems(&input),
        [OpportunityProblem::NoCurrency {
            value: Some("pounds".into())
        }]
    );
}

#[test]
fn no_account_is_refused() {
    let input = edited(PARTNER_LED, |row| {
        row.insert("parentaccountid".into(), Value::Null);
    });
    let problems = problems(&input);
    assert!(
        problems.contains(&OpportunityProblem::NoAccount),
        "{problems:?}"
    );
}

#[test]
fn closing_without_revenue_and_close_date_is_refused_and_with_them_created_open() {
    for (value, date) in [
        (Value::Null, json!("2024-11-01")),
        (json!(72500), Value::Null),
    ] {
        let input = edited(PARTNER_LED, |row| {
            row.insert("statecode".into(), json!(1));
            row.insert("statuscode".into(), json!(3));
            row.insert("estimatedvalue".into(), value.clone());
            row.insert("estimatedclosedate".into(), date.clone());
        });
        assert_eq!(
            problems(&input),
            [OpportunityProblem::ClosingWithoutRevenueAndCloseDate {
                column: "estimatedvalue".into()
            }]
        );
    }
    // An open deal needs neither.
    let open = edited(PARTNER_LED, |row| {
        row.insert("estimatedvalue".into(), Value::Null);
        row.insert("estimatedclosedate".into(), Value::Null);
    });
    assert!(plan_create(&open, &CrmConfig::default()).is_ok());
    // A won deal with both is created New, and the agreed state leaves the win for the update.
    let won = edited(PARTNER_LED, |row| {
        row.insert("statecode".into(), json!(1));
        row.insert("statuscode".into(), json!(3));
    });
    let plan = plan_create(&won, &CrmConfig::default()).unwrap();
    assert_eq!(plan.referral.state(), (Status::New, Substatus::Pending));
    assert_eq!(plan.deal.status, Some(DealStatus::InProgress));
}

#[test]
fn a_negative_deal_value_is_refused() {
    let input = edited(PARTNER_LED, |row| {
        row.insert("estimatedvalue".into(), json!(-10));
    });
    assert_eq!(
        problems(&input),
        [OpportunityProblem::NegativeDealValue {
            column: "estimatedvalue".into(),
            value: "-10".into()
        }]
    );
}

/// Create-a-referral (learn.microsoft.com/partner-center/developer/create-a-referral, 2025):
/// `partnerRole`, `solutionArea` and `solutionPlay` are "required for Services co-sell
/// referrals only"; its minimal sample sends each solution as `{"type": "Name", "id", "name",
/// "publisherName", "solutionType": "3P"}` and `details.requirements.additionalRequirements
/// .attributes [{"id": "HaveNotDecided", "type": "CustomerMarketplaceIntent"}]` (the connector's
/// Swagger declares `additionalRequirements.attributes[{id, type}]` there too).
#[test]
fn the_services_fields_publisher_and_marketplace_intent_come_from_the_configured_columns() {
    let config = CrmConfig::from_lookup(|key| {
        HashMap::from([
            (keys::PARTNER_ROLE_COLUMN, "new_partnerrole"),
            (keys::SOLUTION_AREA_COLUMN, "new_solutionarea"),
            (keys::SOLUTION_PLAY_COLUMN, "new_solutionplay"),
            (keys::MARKETPLACE_INTENT_COLUMN, "new_marketplaceintent"),
            (keys::SOLUTION_PUBLISHER_COLUMN, "new_publisher"),
            (keys::SOLUTION_TYPE_COLUMN, "new_solutiontype"),
        ])
        .get(key)
        .map(|v| v.to_string())
    })
    .unwrap();
    let select = OutboundInput::select(&config);
    for column in [
        "new_partnerrole",
        "new_solutionarea",
        "new_solutionplay",
        "new_marketplaceintent",
    ] {
        assert!(select.iter().any(|c| c == column), "{column} in {select:?}");
    }
    assert!(
        OutboundInput::expand(&config)
            .to_string()
            .ends_with("($select=msft_solutionid,msft_name,new_publisher,new_solutiontype)"),
        "{}",
        OutboundInput::expand(&config)
    );

    let mut row = row(COSELL);
    row.insert("new_partnerrole".into(), json!("Services"));
    row.insert("new_solutionarea".into(), json!("AI Business Solutions"));
    row.insert(
        "new_solutionplay".into(),
        json!("  Copilot and agents at work "),
    );
    row.insert("new_marketplaceintent".into(), json!("HaveNotDecided"));
    let solutions = row["msft_opportunity_msft_microsoftpartnercentersolutions"]
        .as_array_mut()
        .unwrap();
    solutions[0]["new_publisher"] = json!("Contoso");
    solutions[0]["new_solutiontype"] = json!("3P");
    let input = OutboundInput::from_expanded_row(&row, &config).unwrap();
    let body = serde_json::to_value(&plan_create(&input, &config).unwrap().referral).unwrap();
    assert_eq!(body["partnerRole"], "Services");
    assert_eq!(body["solutionArea"], "AI Business Solutions");
    assert_eq!(body["solutionPlay"], "Copilot and agents at work");
    let requirements = &body["details"]["requirements"];
    assert_eq!(
        requirements["solutions"][0],
        json!({"type": "Name", "id": "SOL-2F5A1C7E", "name": "Contoso Data Estate Accelerator",
               "publisherName": "Contoso", "solutionType": "3P"})
    );
    assert_eq!(
        requirements["additionalRequirements"],
        json!({"attributes": [{"id": "HaveNotDecided", "type": "CustomerMarketplaceIntent"}]})
    );

    // A deal that asks Microsoft for no help is no Services co-sell referral: the intent goes,
    // the Services fields do not.
    row.insert("msft_microsoftpartnercenterhelp".into(), Value::Null);
    let input = OutboundInput::from_expanded_row(&row, &config).unwrap();
    let body = serde_json::to_value(&plan_create(&input, &config).unwrap().referral).unwrap();
    assert_eq!(body["type"], "Independent");
    assert!(body.get("partnerRole").is_none(), "{body}");
    assert!(
        body["details"]["requirements"]["additionalRequirements"].is_object(),
        "{body}"
    );
}

#[test]
fn consent_and_customer_size_come_from_the_settings_and_the_account() {
    let config = CrmConfig::from_lookup(|key| {
        HashMap::from([
            (keys::CONSENT_TO_CONTACT, "false"),
            (keys::CONSENT_TO_SHARE_INFO, "true"),
            (keys::CUSTOMER_SIZE_COLUMN, "numberofemployees"),
        ])
        .get(key)
        .map(|v| v.to_string())
    })
    .unwrap();
    assert!(
        OutboundInput::expand(&config)
            .to_string()
            .contains(",emailaddress1,numberofemployees),"),
        "{}",
        OutboundInput::expand(&config)
    );
    let body = |employees: Value| {
        let mut row = row(COSELL);
        row["parentaccountid"]["numberofemployees"] = employees;
        let input = OutboundInput::from_expanded_row(&row, &config).unwrap();
        serde_json::to_value(plan_create(&input, &config).unwrap().referral).unwrap()
    };
    let sent = body(json!(120));
    assert_eq!(sent["customerProfile"]["size"], "51to250employees");
    assert_eq!(
        sent["consent"],
        json!({
            "consentToShareReferralWithMicrosoftSellers": true,
            "consentToContact": false,
            "consentToToShareInfoWithOthers": true
        })
    );
    // A published value is sent as it is; anything else is left out.
    assert_eq!(
        body(json!("morethan20000employees"))["customerProfile"]["size"],
        "Morethan20000employees"
    );
    assert!(
        body(json!("big"))
            .pointer("/customerProfile/size")
            .is_none()
    );
    assert!(body(Value::Null).pointer("/customerProfile/size").is_none());

    // An opportunity a team owns (no owning user) has no partner team.
    let mut row = row(COSELL);
    row.insert("owninguser".into(), Value::Null);
    let input = OutboundInput::from_expanded_row(&row, &config).unwrap();
    assert!(
        plan_create(&input, &config)
            .unwrap()
            .referral
            .team
            .is_empty()
    );

    assert!(
        CrmConfig::from_lookup(|key| (key == keys::CONSENT_TO_CONTACT).then(|| "maybe".to_owned()))
            .is_err()
    );
}
