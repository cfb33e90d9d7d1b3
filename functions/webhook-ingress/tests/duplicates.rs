//! Concurrent deliveries of one referral: the same signed body ten times, and several distinct
//! events at once, make one account, one contact and one opportunity.

use cosell_mapping::inbound::record_id;
use cosell_sim::partner_center::signing::Signer;
use futures::future::join_all;
use serde_json::json;

use std::sync::Arc;

use cosell_store::SqliteStore;
use cosell_sync::Handled;
use time::OffsetDateTime;

use cosell_testkit::http;
use cosell_testkit::referrals::{cosell_referral, id_of};
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

fn envelope(referral_id: &str, changed: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "EventName": "referral-created",
        "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"),
        "ResourceName": "referral",
        "AuditUri": null,
        "ResourceChangeUtcDate": changed,
    }))
    .unwrap()
}

async fn post_signed(url: &str, certificate_url: &str, body: Vec<u8>) -> (u16, String) {
    let signature = Signer::get().sign(&body);
    let response = http()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Signature {signature}"))
        .header("x-ms-certificate-url", certificate_url)
        .header("x-ms-signature-algorithm", "rsa-sha256")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn ten_concurrent_duplicate_deliveries_and_distinct_events_make_one_opportunity() {
    let stack = Stack::inbound().await;
    // Partner Center loses its own delivery: only ours arrive.
    stack
        .sim
        .state
        .pc
        .webhooks
        .set_knobs(cosell_sim::partner_center::WebhookKnobs {
            drop_rate: 1.0,
            ..Default::default()
        });
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    let certificate_url = stack.sim.state.pc.certificate_url.clone();
    let same = envelope(&id, "2026-01-01T00:00:00.0000001+00:00");
    let mut deliveries: Vec<_> = (0..10)
        .map(|_| post_signed(&stack.ingress().url, &certificate_url, same.clone()))
        .collect();
    // Distinct events (another change time each) for the same referral at the same moment.
    for n in 2..5 {
        let other = envelope(&id, &format!("2026-01-01T00:00:0{n}.0000001+00:00"));
        deliveries.push(post_signed(&stack.ingress().url, &certificate_url, other));
    }
    let answers = join_all(deliveries).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let duplicates = answers
        .iter()
        .filter(|(_, body)| body.starts_with("duplicate"))
        .count();
    assert_eq!(duplicates, 9, "{answers:?}");
    let synced = answers
        .iter()
        .filter(|(_, body)| body.starts_with("synced"))
        .count();
    assert_eq!(
        synced, 1,
        "one event wrote, the others found it unchanged: {answers:?}"
    );

    assert_eq!(stack.rows("opportunities").len(), 1);
    assert_eq!(stack.rows("accounts").len(), 1);
    assert_eq!(stack.rows("contacts").len(), 1);
    // The referral waits for an answer (Microsoft sends it New): one task, whatever arrived.
    assert_eq!(stack.rows("tasks").len(), 1);
    assert!(
        stack
            .sim
            .state
            .dv
            .row("opportunities", record_id("opportunities", &id))
            .is_some()
    );
}

#[tokio::test]
async fn a_create_repeated_after_the_link_was_lost_lands_on_the_same_rows() {
    let stack = Stack::inbound().await;
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;
    assert_eq!(stack.rows("opportunities").len(), 1);

    // The Dataverse write happened but the link write did not: a store without the link.
    let forgetful = stack.ingress_app(Arc::new(SqliteStore::in_memory().unwrap()));
    let handled = forgetful
        .sync
        .sync_referral(&rid(&id), OffsetDateTime::now_utc())
        .await
        .expect("synced again");
    assert!(
        matches!(&handled, Handled::Synced { created: true, crm_id, .. } if *crm_id == record_id("opportunities", &id)),
        "{handled:?}"
    );
    assert_eq!(stack.rows("opportunities").len(), 1);
    assert_eq!(stack.rows("accounts").len(), 1);
    assert_eq!(stack.rows("contacts").len(), 1);
}
