//! Webhook event dedupe: one item per key, claimable while absent or expired.

use std::time::Duration;

use time::OffsetDateTime;

use super::DynamoStore;
use super::attrs::{PK, SK, n, s, write_token};
use super::error::{backend, is_condition_failed};
use super::schema::TTL_ATTRIBUTE;
use crate::nanos;
use crate::port::StoreError;

const EVENT: &str = "event";

fn event_pk(key: &str) -> String {
    format!("event#{key}")
}

pub(super) async fn record(
    store: &DynamoStore,
    key: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    const OP: &str = "record_event";
    let expires = nanos::expiry(now, ttl);
    let token = write_token();
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .item(PK, s(event_pk(key)))
        .item(SK, s(EVENT))
        .item("expires_ns", n(expires))
        .item(TTL_ATTRIBUTE, n(nanos::ceil_seconds(expires)))
        .item("write_token", s(&token))
        .condition_expression("attribute_not_exists(#pk) OR #expires <= :now OR #token = :token")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#expires", "expires_ns")
        .expression_attribute_names("#token", "write_token")
        .expression_attribute_values(":now", n(nanos::of(now)))
        .expression_attribute_values(":token", s(token))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(backend(OP, &e)),
    }
}

pub(super) async fn forget(store: &DynamoStore, key: &str) -> Result<(), StoreError> {
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .key(PK, s(event_pk(key)))
        .key(SK, s(EVENT))
        .send()
        .await
        .map_err(|e| backend("forget_event", &e))?;
    Ok(())
}
