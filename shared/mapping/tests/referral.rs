//! The referral resource read from, and written back as, realistic Partner Center payloads.

use std::str::FromStr;

use cosell_mapping::referral::{CustomerIds, Referral, ReferralPage};
use cosell_mapping::{
    AssistanceRequestCode, Direction, Qualification, ReferralType, Status, Substatus, TargetType,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::datetime;

const FULL: &str = include_str!("fixtures/cosell_referral_full.json");
const IDS_ARRAY_NULLS: &str = include_str!("fixtures/referral_ids_array_nulls.json");
const MARKETPLACE_LEAD: &str = include_str!("fixtures/marketplace_lead.json");
const LIST_PAGE: &str = include_str!("fixtures/referral_list_page.json");

fn parse(text: &str) -> Referral {
    serde_json::from_str(text).expect("fixture parses")
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// The JSON without nulls and empty lists: what a faithful re-serialisation must equal.
fn without_nulls_and_empty_lists(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k, without_nulls_and_empty_lists(v)))
                .collect(),
        ),
        Value::Array(items) => items
            .into_iter()
            .map(without_nulls_and_empty_lists)
            .collect(),
        other => other,
    }
}

#[test]
fn full_cosell_referral_reads_every_key() {
    let r = parse(FULL);
    assert_eq!(
        r.id.as_deref(),
        Some("7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f")
    );
    assert_eq!(
        r.engagement_id.as_deref(),
        Some("a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d")
    );
    assert_eq!(
        r.organization_id.as_deref(),
        Some("0e1d2c3b-4a59-4687-a5b4-c3d2e1f00f1e")
    );
    assert_eq!(
        r.organization_name.as_deref(),
        Some("Contoso Cloud Partners")
    );
    assert_eq!(
        r.name.as_deref(),
        Some("Fabrikam - Azure data platform modernisation")
    );
    assert_eq!(
        r.external_reference_id.as_deref(),
        Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    );
    assert_eq!(
        r.created_date_time,
        Some(datetime!(2024-03-01 10:15:30.1234567 UTC))
    );
    assert_eq!(
        r.updated_date_time,
        Some(datetime!(2024-03-04 08:00:01.7654321 UTC))
    );
    assert_eq!(
        r.expiration_date_time,
        Some(datetime!(2024-03-15 10:15:30.1234567 UTC))
    );
    assert_eq!(
        r.accepted_date_time,
        Some(datetime!(2024-03-02 16:45:12.0000001 UTC))
    );
    assert_eq!(r.closed_date_time, None);
    assert_eq!(r.state(), (Status::Active, Substatus::Accepted));
    assert_eq!(r.status_reason, None);
    assert_eq!(r.kind, Some(ReferralType::Shared));
    assert_eq!(r.qualification, Some(Qualification::SalesQualified));
    assert_eq!(r.direction, Some(Direction::Incoming));
    assert_eq!(
        r.etag.as_deref(),
        Some("\"00006d10-0000-0000-0000-5c70aa630000\"")
    );
    assert_eq!(r.target.len(), 1);
    assert_eq!(r.target[0].kind, Some(TargetType::SolutionProfile));
    assert_eq!(r.target[0].id.as_deref(), Some("SOL-2F5A1C7E"));

    let customer = r.customer_profile.as_ref().unwrap();
    assert_eq!(customer.name.as_deref(), Some("Fabrikam, Inc."));
    assert_eq!(customer.size.as_deref(), Some("Size1000to9999"));
    let address = customer.address.as_ref().unwrap();
    assert_eq!(address.address_line1.as_deref(), Some("1 Microsoft Way"));
    assert_eq!(address.address_line2.as_deref(), Some("Building 92"));
    assert_eq!(address.city.as_deref(), Some("Redmond"));
    assert_eq!(address.state.as_deref(), Some("WA"));
    assert_eq!(address.postal_code.as_deref(), Some("98052"));
    assert_eq!(address.country.as_deref(), Some("US"));
    assert_eq!(address.region.as_deref(), Some("NorthAmerica"));
    let contact = &customer.team[0];
    assert_eq!(contact.first_name.as_deref(), Some("Dana"));
    assert_eq!(contact.last_name.as_deref(), Some("Whitfield"));
    assert_eq!(contact.phone_number.as_deref(), Some("+1 425 555 0100"));
    assert_eq!(
        contact.email.as_deref(),
        Some("dana.whitfield@fabrikam.example")
    );
    let preference = contact.contact_preference.as_ref().unwrap();
    assert_eq!(preference.locale.as_deref(), Some("en-US"));
    assert_eq!(preference.disable_notifications, Some(false));
    let ids = customer.ids.as_ref().unwrap();
    assert_eq!(ids.get("Duns"), Some("080992700"));
    assert_eq!(ids.get("external"), Some("FAB-000042"));

    let consent = r.consent.as_ref().unwrap();
    assert_eq!(consent.consent_to_share_info_with_others, Some(true));
    assert_eq!(consent.consent_to_contact, Some(true));
    assert_eq!(
        consent.consent_to_microsoft_to_contact_specific_partners,
        Some(false)
    );
    assert_eq!(
        consent.consent_to_share_referral_with_microsoft_sellers,
        Some(true)
    );

    let details = r.details.as_ref().unwrap();
    assert_eq!(
        details.notes.as_deref(),
        Some("Customer wants to retire its on-premises warehouse before Q3.")
    );
    assert_eq!(details.deal_value, Some(dec("250000.55")));
    assert_eq!(details.currency.as_deref(), Some("USD"));
    assert_eq!(
        details.closing_date_time,
        Some(datetime!(2024-06-30 00:00:00 UTC))
    );
    let requirements = details.requirements.as_ref().unwrap();
    assert_eq!(requirements.industries, [json!("Manufacturing")]);
    assert_eq!(
        requirements.products,
        [json!({"id": "AZ-SYNAPSE", "name": "Azure Synapse Analytics"})]
    );
    assert_eq!(requirements.services, [json!("Consulting")]);
    assert!(requirements.offers.is_empty());
    assert_eq!(requirements.sales_plays, [json!("Analytics")]);
    assert_eq!(
        requirements.attributes,
        [json!({"name": "Migration", "value": "Yes"})]
    );
    let solution = &requirements.solutions[0];
    assert_eq!(solution.id.as_deref(), Some("SOL-2F5A1C7E"));
    assert_eq!(
        solution.name.as_deref(),
        Some("Contoso Data Estate Accelerator")
    );
    assert_eq!(solution.kind.as_deref(), Some("Services"));
    assert_eq!(
        solution.publisher_name.as_deref(),
        Some("Contoso Cloud Partners")
    );
    assert_eq!(solution.solution_type.as_deref(), Some("CoSellReady"));

    let seller = &r.team[0];
    assert_eq!(seller.email.as_deref(), Some("sam.okafor@contoso.example"));
    assert_eq!(
        seller
            .contact_preference
            .as_ref()
            .unwrap()
            .disable_notifications,
        Some(true)
    );

    let invite = r.invite_context.as_ref().unwrap();
    assert_eq!(
        invite.notes.as_deref(),
        Some("Microsoft account team requests a technical workshop.")
    );
    let invited_by = invite.invited_by.as_ref().unwrap();
    assert_eq!(
        invited_by.organization_id.as_deref(),
        Some("5d6e7f80-91a2-4b3c-8d4e-5f60718293a4")
    );
    assert_eq!(
        invited_by.organization_name.as_deref(),
        Some("Northwind Traders")
    );
    assert_eq!(
        r.invited_by_organization_id(),
        Some("5d6e7f80-91a2-4b3c-8d4e-5f60718293a4")
    );
    assert_eq!(
        invite.assistance_request_code,
        Some(AssistanceRequestCode::CustomerTechnicalArchitecture)
    );
    assert_eq!(invite.invited_mpn_id.as_deref(), Some("4812345"));

    assert_eq!(
        r.tracking_info
            .as_ref()
            .unwrap()
            .microsoft_msx_id
            .as_deref(),
        Some("7-3JKX9QWERT")
    );
    let links = r.links.as_ref().unwrap();
    let self_link = links.self_link.as_ref().unwrap();
    assert_eq!(
        self_link.uri.as_deref(),
        Some(
            "https://api.partner.microsoft.com/v1.0/engagements/referrals/7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f"
        )
    );
    assert_eq!(self_link.method.as_deref(), Some("GET"));
    assert_eq!(
        links.related_referrals.as_ref().unwrap().method.as_deref(),
        Some("GET")
    );
}

#[test]
fn unknown_keys_are_kept_at_every_level() {
    let r = parse(FULL);
    assert_eq!(
        Value::Object(r.extra.clone()),
        json!({
            "dealSensitivity": "None",
            "createdVia": "PartnerCenter",
            "registrations": [{"id": "REG-1001", "status": "Approved"}],
            "salesStage": "Qualify",
            "isSpam": false,
            "tags": ["fy24", "data"],
            "referralSource": "Microsoft",
            "callToAction": {"kind": "Workshop", "dueDateTime": "2024-03-20T00:00:00Z"}
        })
    );
    let customer = r.customer_profile.as_ref().unwrap();
    assert_eq!(
        Value::Object(customer.extra.clone()),
        json!({"segment": "Enterprise"})
    );
    assert_eq!(
        Value::Object(customer.address.as_ref().unwrap().extra.clone()),
        json!({"regionCode": "NA-WEST"})
    );
    assert_eq!(
        Value::Object(customer.team[0].extra.clone()),
        json!({"jobTitle": "CIO"})
    );
    assert_eq!(
        Value::Object(r.details.as_ref().unwrap().extra.clone()),
        json!({"dealSensitivity": "None"})
    );
    assert_eq!(
        Value::Object(r.tracking_info.as_ref().unwrap().extra.clone()),
        json!({"msxStage": "Qualify"})
    );
}

#[test]
fn writing_the_full_referral_changes_nothing_but_nulls() {
    let original: Value = serde_json::from_str(FULL).unwrap();
    let written = serde_json::to_value(parse(FULL)).unwrap();
    // Same keys (including the misspelled consent key and every unknown key), same values,
    // same timestamp text with 7 digits, same `ids` shape; only nulls and empty lists go.
    assert_eq!(written, without_nulls_and_empty_lists(original));
}

#[test]
fn parse_write_parse_is_stable_for_every_fixture() {
    for fixture in [FULL, IDS_ARRAY_NULLS, MARKETPLACE_LEAD] {
        let first = parse(fixture);
        let text = serde_json::to_string(&first).unwrap();
        let second: Referral = serde_json::from_str(&text).unwrap();
        assert_eq!(first, second);
    }
    let page: ReferralPage = serde_json::from_str(LIST_PAGE).unwrap();
    let again: ReferralPage = serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
    assert_eq!(page, again);
}

#[test]
fn customer_ids_keep_the_shape_they_arrived_in() {
    let object = parse(FULL).customer_profile.unwrap().ids.unwrap();
    assert!(matches!(object, CustomerIds::ByType(_)));
    assert_eq!(
        serde_json::to_value(&object).unwrap(),
        json!({"Duns": "080992700", "External": "FAB-000042"})
    );

    let list = parse(IDS_ARRAY_NULLS)
        .customer_profile
        .unwrap()
        .ids
        .unwrap();
    assert!(matches!(list, CustomerIds::List(_)));
    assert_eq!(list.get("Duns"), Some("275643218"));
    assert_eq!(list.get("External"), None, "a null id reads as absent");
    assert_eq!(list.get("Other"), None);
    assert_eq!(
        serde_json::to_value(&list).unwrap(),
        json!([{"profileType": "Duns", "id": "275643218"}, {"profileType": "External"}])
    );
}

#[test]
fn customer_ids_of_another_shape_do_not_fail_the_referral() {
    let mut payload: Value = serde_json::from_str(FULL).unwrap();
    payload["customerProfile"]["ids"] = json!("080992700");
    let r: Referral = serde_json::from_value(payload).unwrap();
    let ids = r.customer_profile.unwrap().ids.unwrap();
    assert_eq!(ids, CustomerIds::Unrecognised(json!("080992700")));
    assert_eq!(ids.get("Duns"), None);
    assert_eq!(serde_json::to_value(&ids).unwrap(), json!("080992700"));
}

#[test]
fn nulls_read_as_absent_and_amount_strings_as_decimals() {
    let r = parse(IDS_ARRAY_NULLS);
    assert_eq!(r.organization_name, None);
    assert_eq!(r.etag, None);
    assert!(r.target.is_empty());
    assert!(r.team.is_empty());
    assert_eq!(r.tracking_info, None);
    assert_eq!(r.links, None);
    assert_eq!(
        r.created_date_time,
        Some(datetime!(2024-04-10 09:00:00 UTC))
    );
    assert_eq!(
        r.updated_date_time,
        Some(datetime!(2024-04-10 09:30:00.5 UTC)),
        "an offset is folded into UTC"
    );
    let customer = r.customer_profile.as_ref().unwrap();
    assert!(customer.team.is_empty());
    assert_eq!(
        customer.address.as_ref().unwrap().city.as_deref(),
        Some("Lyon")
    );
    let details = r.details.as_ref().unwrap();
    assert_eq!(details.deal_value, Some(dec("15000.50")));
    assert!(details.requirements.as_ref().unwrap().solutions.is_empty());
    let invite = r.invite_context.as_ref().unwrap();
    assert_eq!(invite.invited_by, None);
    assert_eq!(invite.assistance_request_code, None);
    assert_eq!(r.invited_by_organization_id(), None);

    let written = serde_json::to_value(&r).unwrap();
    assert_eq!(written["updatedDateTime"], "2024-04-10T09:30:00.5Z");
    assert_eq!(written["details"]["dealValue"], json!(15000.5));
    assert!(written.get("statusReason").is_none());
}

#[test]
fn unknown_enum_values_do_not_fail_the_referral() {
    let mut payload: Value = serde_json::from_str(FULL).unwrap();
    payload["substatus"] = json!("OnHold");
    payload["type"] = json!("Partnered");
    payload["target"][0]["type"] = json!("Marketplace");
    payload["inviteContext"]["assistanceRequestCode"] = json!("MigrationFunding");

    let r: Referral = serde_json::from_value(payload).unwrap();
    assert_eq!(r.substatus, Some(Substatus::Other("OnHold".into())));
    assert_eq!(r.kind, Some(ReferralType::Other("Partnered".into())));
    assert_eq!(
        r.target[0].kind,
        Some(TargetType::Other("Marketplace".into()))
    );

    let written = serde_json::to_value(&r).unwrap();
    assert_eq!(written["substatus"], "OnHold");
    assert_eq!(written["type"], "Partnered");
    assert_eq!(written["target"][0]["type"], "Marketplace");
    assert_eq!(
        written["inviteContext"]["assistanceRequestCode"],
        "MigrationFunding"
    );
}

#[test]
fn malformed_values_fail_with_the_value_named() {
    let mut payload: Value = serde_json::from_str(FULL).unwrap();
    payload["createdDateTime"] = json!("yesterday");
    let error = serde_json::from_value::<Referral>(payload).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("'yesterday' is not an RFC 3339 timestamp"),
        "{error}"
    );

    let mut payload: Value = serde_json::from_str(FULL).unwrap();
    payload["details"]["dealValue"] = json!("a lot");
    let error = serde_json::from_value::<Referral>(payload).unwrap_err();
    assert!(error.to_string().contains("\"a lot\""), "{error}");
}

#[test]
fn a_default_referral_writes_an_empty_object() {
    assert_eq!(
        serde_json::to_value(Referral::default()).unwrap(),
        json!({})
    );
}

#[test]
fn list_page_reads_count_items_and_opaque_next_link() {
    let page: ReferralPage = serde_json::from_str(LIST_PAGE).unwrap();
    assert_eq!(
        page.context.as_deref(),
        Some("https://api.partner.microsoft.com/v1.0/engagements/$metadata#referrals")
    );
    assert_eq!(page.count, Some(3));
    assert_eq!(
        page.next_link.as_deref(),
        Some(
            "https://api.partner.microsoft.com/v1.0/engagements/referrals?$orderby=updatedDateTime&$top=2&$skiptoken=eyJwYWdlIjoyfQ%3D%3D"
        )
    );
    assert_eq!(page.value.len(), 2);
    assert_eq!(
        page.value[0].details.as_ref().unwrap().deal_value,
        Some(dec("48000"))
    );
    assert_eq!(page.value[1].state(), (Status::Closed, Substatus::Won));
    assert_eq!(page.value[1].extra.get("isSpam"), Some(&json!(false)));

    let written = serde_json::to_value(&page).unwrap();
    assert_eq!(written["@odata.nextLink"], json!(page.next_link));
    assert_eq!(written["@odata.count"], 3);

    let last: ReferralPage = serde_json::from_value(json!({"value": []})).unwrap();
    assert_eq!(last.next_link, None);
    assert_eq!(last.count, None);
}
