//! A seller's accept in Dynamics 365 completes the waiting referral's task on the outbound path:
//! the webhook our patch fires is an echo that writes nothing, so the outbound sync closes it.

mod common;

use cosell_mapping::inbound::record_id;
use cosell_mapping::respond::task_id;
use cosell_sync::{Synced, WorkKey};
use serde_json::{Value, json};
use uuid::Uuid;

use common::Stack;

/// An incoming co-sell referral waiting for an answer, synced in by the inbound function.
async fn waiting(stack: &Stack) -> (Uuid, String) {
    let response = common::http()
        .post(format!("{}/_admin/partner-center/referrals", stack.sim.base_url))
        .json(&json!({
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
                "team": [{"firstName": "Dana", "lastName": "Whitfield", "email": "dana@fabrikam.example"}]
            },
            "consent": {"consentToShareReferralWithMicrosoftSellers": true},
            "details": {"notes": "Retire the warehouse.", "dealValue": 250000, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"},
            "inviteContext": {"invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"}, "assistanceRequestCode": "CustomerTechnicalArchitecture"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let referral: Value = response.json().await.unwrap();
    let referral_id = referral["id"].as_str().unwrap().to_owned();
    stack.drain_deliveries().await;
    (record_id("opportunities", &referral_id), referral_id)
}

#[tokio::test]
async fn the_sellers_accept_in_the_crm_completes_the_task() {
    let stack = Stack::with_inbound().await;
    let (opportunity, referral_id) = waiting(&stack).await;
    let task = task_id(&referral_id);
    assert_eq!(
        stack.sim.state.dv.row("tasks", task).unwrap()["statecode"],
        0
    );

    stack.seller_edit(opportunity, json!({"statuscode": 1}));
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { .. }),
        "{report:?}"
    );
    assert_eq!(stack.referral(&referral_id)["status"], "Active");
    let row = stack.sim.state.dv.row("tasks", task).unwrap();
    assert_eq!(
        (&row["statecode"], &row["statuscode"]),
        (&json!(1), &json!(5))
    );
    let item = WorkKey::Respond(referral_id.clone()).to_string();
    assert_eq!(stack.port().retry(&item).await.unwrap(), None);
    // The echo of our patch finds nothing to close, and writes nothing.
    stack.drain_deliveries().await;
    assert_eq!(stack.sim.state.dv.rows("tasks").len(), 1);
}
