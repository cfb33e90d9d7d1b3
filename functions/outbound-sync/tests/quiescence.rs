//! No ping-pong: both functions run on one store against both simulators. After a burst of edits
//! on both sides and a cycle that handles them, one more full cycle of both (deliver every
//! Partner Center webhook to the inbound function, poll the outbound change feed) writes nothing
//! anywhere.

use cosell_mapping::deal::DealState;
use cosell_mapping::outbound::OutboundInput;
use cosell_mapping::{CrmConfig, Referral};
use cosell_sync::Synced;
use serde_json::json;
use uuid::Uuid;

use cosell_testkit::crm::{Deal, HELP_ARCHITECTURE};
use cosell_testkit::referrals::id_of;
use cosell_testkit::stack::Stack;

/// Deliver, poll, deliver: what both functions do when nothing else happens.
async fn cycle(stack: &Stack) {
    stack.drain_deliveries().await;
    stack.poll().await;
    stack.drain_deliveries().await;
}

async fn seed_incoming(stack: &Stack, customer: &str, postal: &str) -> String {
    let referral = json!({
        "name": format!("{customer} - Azure migration"),
        "type": "Shared",
        "qualification": "SalesQualified",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": customer,
            "address": {"addressLine1": "1 Way", "city": "Redmond", "state": "WA", "postalCode": postal, "country": "US"},
            "team": [{"firstName": "Dana", "lastName": "Whitfield", "email": format!("dana@{postal}.example")}]
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "From Microsoft.", "dealValue": 50000, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}, "assistanceRequestCode": "GeneralOrOther"}
    });
    id_of(&stack.seed_referral(referral).await)
}

async fn crm_id(stack: &Stack, referral_id: &str) -> Uuid {
    stack.link(referral_id).await.crm_id.uuid()
}

/// Both sides state the same deal.
async fn agree(stack: &Stack, opportunity: Uuid) -> bool {
    let config = CrmConfig::default();
    let row = stack
        .dataverse
        .query(
            "opportunities",
            &cosell_dataverse::Query::new()
                .select(OutboundInput::select(&config))
                .filter(cosell_dataverse::Filter::eq("opportunityid", opportunity))
                .expand(
                    cosell_dataverse::Expand::new("transactioncurrencyid")
                        .select(["isocurrencycode"]),
                ),
        )
        .await
        .unwrap()
        .records
        .remove(0)
        .row;
    let input = OutboundInput::from_expanded_row(&row, &config).unwrap();
    let referral: Referral =
        serde_json::from_value(stack.referral(&stack.referral_id_of(opportunity))).unwrap();
    let crm = input.deal();
    let pc = DealState::from_referral(&referral);
    if crm != pc {
        println!("CRM {crm:?}\nPC  {pc:?}");
    }
    crm == pc
}

#[tokio::test]
async fn after_a_burst_of_edits_on_both_sides_the_next_full_cycle_writes_nothing() {
    let stack = Stack::both().await;

    // Deals from both sides.
    let private = stack.seed_deal(&Deal::default());
    let partner_led = stack.seed_deal(&Deal {
        name: "Tailspin - Analytics".into(),
        visible: true,
        ..Deal::default()
    });
    let co_sell = stack.seed_deal(&Deal {
        name: "Woodgrove - Modern work".into(),
        help: Some(HELP_ARCHITECTURE),
        visible: true,
        ..Deal::default()
    });
    let incoming_a = seed_incoming(&stack, "Fabrikam, Inc.", "98052").await;
    let incoming_b = seed_incoming(&stack, "Northwind Traders", "10001").await;
    cycle(&stack).await;
    cycle(&stack).await;
    let from_a = crm_id(&stack, &incoming_a).await;
    let from_b = crm_id(&stack, &incoming_b).await;
    let private_referral = stack.referral_id_of(private);
    let co_sell_referral = stack.referral_id_of(co_sell);
    assert_eq!(
        stack.referrals().len(),
        6,
        "3 seeded by the seller (co-sell is 2), 2 by Microsoft"
    );

    // The burst: sellers and Microsoft edit, interleaved, without waiting for each other.
    stack.seller_edit(private, json!({"estimatedvalue": 130000}));
    stack
        .edit_referral(
            &private_referral,
            json!({"details": {"closingDateTime": "2026-11-30T00:00:00Z"}}),
        )
        .await;
    stack.seller_edit(
        partner_led,
        json!({"description": "New scope.", "msft_microsoftpartnercenterreferralvisible": false}),
    );
    stack.seller_edit(from_a, json!({"statuscode": 1}));
    stack
        .edit_referral(&incoming_b, json!({"details": {"dealValue": 75000}}))
        .await;
    stack
        .edit_referral(
            &co_sell_referral,
            json!({"details": {"notes": "Microsoft seller assigned."}}),
        )
        .await;
    stack.seller_edit(co_sell, json!({"name": "Woodgrove - Modern work, EMEA"}));
    stack.seller_edit(from_b, json!({"description": "Seller notes on B."}));

    // One cycle handles the burst.
    cycle(&stack).await;

    // One more full cycle: zero writes on either simulator.
    stack.reset_counters();
    cycle(&stack).await;
    let counters = stack.counters();
    println!("last cycle: {counters:?}");
    assert_eq!(stack.writes("dataverse"), 0, "{counters:?}");
    assert_eq!(stack.writes("partner-center"), 0, "{counters:?}");
    let report = stack.poll().await;
    assert!(
        report
            .synced
            .iter()
            .all(|(_, s)| matches!(s, Synced::Unchanged | Synced::Waiting { .. })),
        "{report:?}"
    );
    assert_eq!(
        stack.writes("dataverse") + stack.writes("partner-center"),
        0
    );

    // Nothing failed or was parked on the way (co-sell's connected referral for Microsoft names
    // the same opportunity; the inbound sync leaves it alone), and no name carries ✖. What waits
    // is only the reminders of referrals Microsoft sent that nobody has answered.
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let pending = stack.port().due_retries(far, 100).await.unwrap();
    assert!(
        pending.iter().all(|i| i.id.starts_with("respond:")),
        "{pending:?}"
    );
    assert!(stack.port().dead_retries(100).await.unwrap().is_empty());
    for row in stack.sim.state.dv.rows("opportunities") {
        let name = row["name"].as_str().unwrap_or_default();
        assert!(name.ends_with('✔'), "{name}");
    }

    // And the two sides state the same deals.
    for id in [private, partner_led, co_sell, from_a, from_b] {
        assert!(
            agree(&stack, id).await,
            "opportunity {id} and its referral differ"
        );
    }
    // Both edits of the private deal survived: Microsoft's close date reached the CRM, and the
    // seller's deal value, not yet sent when Microsoft's webhook came in, reached Partner
    // Center (inbound writes only the fields Microsoft changed since the agreed deal).
    let private_now = stack.referral(&private_referral);
    assert_eq!(
        private_now["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .get(..10),
        Some("2026-11-30")
    );
    assert_eq!(private_now["details"]["dealValue"], json!(130000));
    let private_row = stack.opportunity(private);
    assert_eq!(private_row["estimatedvalue"], json!(130000));
    assert_eq!(private_row["estimatedclosedate"], "2026-11-30");
    assert_eq!(stack.referral(&incoming_a)["status"], "Active");
}
