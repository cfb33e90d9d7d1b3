//! The table's schema, as `template.yaml` declares it; [`create_table`] makes the same table for
//! tests and the local stack.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::error::{backend, build};
use crate::port::StoreError;

/// The GSI that lists retries by due time: `queue` (S) HASH, `due_ns` (N) RANGE, projection ALL.
pub const RETRY_INDEX: &str = "retries-by-due";
/// Partition attribute of [`RETRY_INDEX`]: `pending` or `dead`; only retry items have it.
pub const RETRY_QUEUE: &str = "queue";
/// Sort attribute of [`RETRY_INDEX`]: the due time in nanoseconds since the epoch.
pub const RETRY_DUE: &str = "due_ns";
/// The attribute DynamoDB's TTL sweeper reads (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Creates `table` (PAY_PER_REQUEST, `pk`/`sk`, [`RETRY_INDEX`], TTL on [`TTL_ATTRIBUTE`]) and
/// waits until it is active.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    const OP: &str = "create_table";
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(build(OP))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build(OP))
    };
    let retry_index = GlobalSecondaryIndex::builder()
        .index_name(RETRY_INDEX)
        .key_schema(key(RETRY_QUEUE, KeyType::Hash)?)
        .key_schema(key(RETRY_DUE, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build(OP))?;

    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("sk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute(RETRY_QUEUE, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(RETRY_DUE, ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(retry_index)
        .send()
        .await
        .map_err(|e| backend(OP, &e))?;

    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| backend(OP, &e))?;

    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(build(OP))?,
        )
        .send()
        .await
        .map_err(|e| backend(OP, &e))?;
    tracing::info!(table, "created the sync state table");
    Ok(())
}
