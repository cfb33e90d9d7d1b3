//! The referrals tests seed, as Microsoft's API shapes them, and the events Partner Center posts
//! about them.

use serde_json::{Value, json};
use uuid::Uuid;

/// An incoming co-sell referral from another partner, as Microsoft's seeding creates it.
pub fn cosell_referral(customer: &str, postal: &str, email: &str) -> Value {
    json!({
        "name": format!("{customer} - Azure migration"),
        "type": "Shared",
        "qualification": "SalesQualified",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": customer,
            "size": "Size1000to9999",
            "address": {
                "addressLine1": "1 Microsoft Way",
                "city": "Redmond",
                "state": "WA",
                "postalCode": postal,
                "country": "US"
            },
            "team": [{
                "firstName": "Dana",
                "lastName": "Whitfield",
                "phoneNumber": "+1 425 555 0100",
                "email": email
            }]
        },
        "consent": {
            "consentToContact": true,
            "consentToShareReferralWithMicrosoftSellers": true
        },
        "details": {
            "notes": "Retire the on-premises warehouse before Q3.",
            "dealValue": 250000.5,
            "currency": "USD",
            "closingDateTime": "2026-06-30T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-2F5A1C7E", "name": "Accelerator"}]}
        },
        "inviteContext": {
            "notes": "Technical workshop requested.",
            "invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"},
            "assistanceRequestCode": "CustomerTechnicalArchitecture"
        },
        "trackingInfo": {"microsoftMsxId": "7-3JKX9QWERT"}
    })
}

/// [`cosell_referral`] as Microsoft sends it and still waiting for an answer (Incoming, New), with
/// a contact email of its own per customer.
pub fn waiting_referral(customer: &str) -> Value {
    let email = format!(
        "dana@{}.example",
        customer.split([' ', ',']).next().unwrap()
    );
    let mut referral = cosell_referral(customer, "98052", &email);
    referral["direction"] = json!("Incoming");
    referral["status"] = json!("New");
    referral["substatus"] = json!("Pending");
    referral
}

/// A marketplace lead: Independent, Direct, from Microsoft.
pub fn marketplace_lead() -> Value {
    json!({
        "name": "Trial: Data Estate Accelerator",
        "type": "Independent",
        "qualification": "Direct",
        "customerProfile": {
            "name": "Wide World Importers",
            "address": {"addressLine1": "200 Harbour Street", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "AU"},
            "team": [{"firstName": "Priya", "lastName": "Raman", "email": "priya@wideworldimporters.example"}]
        },
        "details": {"notes": "Started a trial.", "dealValue": 1200, "currency": "AUD", "closingDateTime": "2026-08-01T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}}
    })
}

/// The id field of a seeded referral.
pub fn id_of(referral: &Value) -> String {
    referral["id"].as_str().expect("referral id").to_owned()
}

/// A referral as Microsoft sends one: incoming, New, naming a partner seller's customer.
pub fn incoming_referral() -> Value {
    json!({
        "name": "Fabrikam - Azure migration",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "New",
        "substatus": "Pending",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": "Fabrikam, Inc.",
            "address": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"},
            "team": [{"firstName": "Dana", "lastName": "Whitfield", "email": format!("dana.{}@fabrikam.example", Uuid::new_v4())}]
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "Retire the warehouse.", "dealValue": 250000, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"}, "assistanceRequestCode": "CustomerTechnicalArchitecture"}
    })
}

/// A `referral-created` event body for `referral_id`, as Partner Center posts it.
pub fn event_body(referral_id: &str) -> bytes::Bytes {
    bytes::Bytes::from(
        serde_json::to_vec(&json!({
            "EventName": "referral-created",
            "ResourceUri": format!(
                "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"
            ),
            "ResourceName": "referral",
            "AuditUri": null,
            "ResourceChangeUtcDate": "2026-01-01T00:00:00.0000000+00:00",
        }))
        .unwrap(),
    )
}

/// [`cosell_referral`] for Fabrikam, the customer most tests name.
pub fn fabrikam() -> Value {
    cosell_referral("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
}
