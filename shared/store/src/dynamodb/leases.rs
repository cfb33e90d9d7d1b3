//! Leases: one item per name, taken by a conditional put, given up by a conditional delete.

use std::time::Duration;

use time::OffsetDateTime;

use super::DynamoStore;
use super::attrs::{PK, SK, n, s};
use super::error::{backend, is_condition_failed};
use super::schema::TTL_ATTRIBUTE;
use crate::nanos;
use crate::port::StoreError;

const LEASE: &str = "lease";

fn lease_pk(name: &str) -> String {
    format!("lease#{name}")
}

pub(super) async fn acquire(
    store: &DynamoStore,
    name: &str,
    owner: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let expires = nanos::expiry(now, ttl);
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .item(PK, s(lease_pk(name)))
        .item(SK, s(LEASE))
        .item("owner", s(owner))
        .item("expires_ns", n(expires))
        .item(TTL_ATTRIBUTE, n(nanos::ceil_seconds(expires)))
        .condition_expression("attribute_not_exists(#pk) OR #expires <= :now OR #owner = :owner")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#expires", "expires_ns")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":now", n(nanos::of(now)))
        .expression_attribute_values(":owner", s(owner))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(backend("acquire_lease", &e)),
    }
}

pub(super) async fn release(
    store: &DynamoStore,
    name: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let result = store
        .client
        .delete_item()
        .table_name(&store.table)
        .key(PK, s(lease_pk(name)))
        .key(SK, s(LEASE))
        .condition_expression("#owner = :owner")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":owner", s(owner))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Ok(()),
        Err(e) => Err(backend("release_lease", &e)),
    }
}
