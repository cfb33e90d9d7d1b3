//! When the event cannot be stored, the answer is 503 so Partner Center delivers it again — and
//! the redelivery is then accepted, not taken for a duplicate. The store really fails: the
//! DynamoDB adapter pointed at a table that does not exist yet on moto's server.

use std::sync::Arc;

use cosell_store::DynamoStore;
use http::{Method, StatusCode};

use cosell_testkit::referrals::{cosell_referral, event_body, id_of};
use cosell_testkit::stack::Stack;

#[tokio::test]
async fn an_event_the_store_cannot_keep_gets_503_and_its_redelivery_is_synced() {
    let stack = Stack::inbound().await;
    stack.deliver_nowhere().await;
    let referral = stack
        .seed_referral(cosell_referral(
            "Fabrikam, Inc.",
            "98052",
            "dana@fabrikam.example",
        ))
        .await;
    let body = event_body(&id_of(&referral));
    let headers = stack.signed_headers(&body);

    let dynamodb = cosell_testkit::dynamodb().await;
    let table = cosell_testkit::unique_table("not-yet");
    let app = stack.ingress_app(Arc::new(DynamoStore::new(dynamodb.clone(), table.clone())));
    stack.reset_counters();

    let webhook_ingress::Answer { status, text, .. } =
        webhook_ingress::answer(&app, &Method::POST, &headers, body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(stack.requests("dataverse"), 0);
    assert!(stack.rows("opportunities").is_empty());

    cosell_store::dynamodb::create_table(&dynamodb, &table)
        .await
        .unwrap();
    let webhook_ingress::Answer { status, text, .. } =
        webhook_ingress::answer(&app, &Method::POST, &headers, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(stack.rows("opportunities").len(), 1);
}
