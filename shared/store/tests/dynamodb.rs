//! What only the DynamoDB adapter has: the table's schema, the TTL attribute DynamoDB's sweeper
//! reads, and errors that name the operation. Needs moto: `infra/with-moto.sh cargo test`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType, TimeToLiveStatus};
use cosell_store::dynamodb::{RETRY_DUE, RETRY_INDEX, RETRY_QUEUE, TTL_ATTRIBUTE, create_table};
use cosell_store::{DynamoStore, StoreError, SyncStore};
use time::macros::datetime;

use cosell_testkit::rid;

async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let client = cosell_testkit::dynamodb().await;
    let table = cosell_testkit::unique_table("store-dynamodb");
    create_table(&client, &table).await.unwrap();
    (client, table)
}

#[tokio::test]
async fn create_table_makes_the_retry_index_and_ttl() {
    let (client, table) = table().await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table().unwrap();
    let keys: Vec<_> = described
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [("pk", KeyType::Hash), ("sk", KeyType::Range)]);

    let index = described
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(RETRY_INDEX))
        .expect("the retry index");
    let index_keys: Vec<_> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(
        index_keys,
        [(RETRY_QUEUE, KeyType::Hash), (RETRY_DUE, KeyType::Range)]
    );
    assert_eq!(
        index.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(TTL_ATTRIBUTE));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn events_carry_a_ttl_the_sweeper_can_use() {
    let (client, table) = table().await;
    let store = DynamoStore::new(client.clone(), &table);
    let now = datetime!(2026-11-24 06:00:00.5 UTC);
    assert!(
        store
            .record_event("e1", now, Duration::from_secs(60))
            .await
            .unwrap()
    );

    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("event#e1".into()))
        .key("sk", AttributeValue::S("event".into()))
        .send()
        .await
        .unwrap();
    let expires_at = item.item().unwrap()[TTL_ATTRIBUTE].as_n().unwrap().clone();
    // Rounded up, so the sweeper never deletes an event before it has expired.
    let expected = datetime!(2026-11-24 06:01:01 UTC).unix_timestamp();
    assert_eq!(expires_at, expected.to_string());
}

#[tokio::test]
async fn errors_name_the_operation_and_the_cause() {
    let client = cosell_testkit::dynamodb().await;
    let store = DynamoStore::new(client, cosell_testkit::unique_table("store-missing"));
    match store.link_by_referral(&rid("r1")).await {
        Err(StoreError::Backend { operation, message }) => {
            assert_eq!(operation, "link_by_referral");
            assert!(message.contains("ResourceNotFound"), "{message}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_corrupt_item_is_reported_with_its_key() {
    let (client, table) = table().await;
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("link#r1".into()))
        .item("sk", AttributeValue::S("link".into()))
        .item("body", AttributeValue::S("{not json".into()))
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(client, table);
    match store.link_by_referral(&rid("r1")).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "link#r1"),
        other => panic!("expected a corrupt item, got {other:?}"),
    }
}
