//! Webhook event dedupe: one item per key, claimable while absent, expired, or held by a handler
//! whose hold has passed (`held_until_ns`, removed once done; items without it read as done).

use std::time::Duration;

use time::OffsetDateTime;

use super::DynamoStore;
use super::attrs::{Item, PK, SK, n, s, write_token};
use super::error::{backend, is_condition_failed};
use super::schema::TTL_ATTRIBUTE;
use crate::nanos;
use crate::port::{EventClaim, StoreError};

const EVENT: &str = "event";
const HELD: &str = "held_until_ns";

fn event_pk(key: &str) -> String {
    format!("event#{key}")
}

pub(super) async fn record(
    store: &DynamoStore,
    key: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    put(store, key, now, ttl, None, "record_event").await
}

pub(super) async fn claim(
    store: &DynamoStore,
    key: &str,
    now: OffsetDateTime,
    hold: Duration,
    ttl: Duration,
) -> Result<EventClaim, StoreError> {
    if put(store, key, now, ttl, Some(hold), "claim_event").await? {
        Ok(EventClaim::Claimed)
    } else {
        held(store, key).await
    }
}

/// Writes the event's item — done, or held for `hold` — if the key is free: absent, expired,
/// or held by a handler whose hold has passed. `false` when it is not.
async fn put(
    store: &DynamoStore,
    key: &str,
    now: OffsetDateTime,
    ttl: Duration,
    hold: Option<Duration>,
    op: &'static str,
) -> Result<bool, StoreError> {
    let expires = nanos::expiry(now, ttl);
    let token = write_token();
    let mut item = Item::from([
        (PK.to_owned(), s(event_pk(key))),
        (SK.to_owned(), s(EVENT)),
        ("expires_ns".to_owned(), n(expires)),
        (TTL_ATTRIBUTE.to_owned(), n(nanos::ceil_seconds(expires))),
        ("write_token".to_owned(), s(&token)),
    ]);
    if let Some(hold) = hold {
        item.insert(HELD.to_owned(), n(nanos::expiry(now, hold)));
    }
    let result = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item))
        .condition_expression(
            "attribute_not_exists(#pk) OR #expires <= :now OR #held <= :now OR #token = :token",
        )
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#expires", "expires_ns")
        .expression_attribute_names("#held", HELD)
        .expression_attribute_names("#token", "write_token")
        .expression_attribute_values(":now", n(nanos::of(now)))
        .expression_attribute_values(":token", s(token))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(backend(op, &e)),
    }
}

/// What an item that refused a claim holds: done, or a live hold. One that vanished in between
/// (expired and swept) reads as in flight for a moment: the redelivery then claims it.
async fn held(store: &DynamoStore, key: &str) -> Result<EventClaim, StoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key(PK, s(event_pk(key)))
        .key(SK, s(EVENT))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| backend("claim_event", &e))?;
    let Some(item) = output.item() else {
        return Ok(EventClaim::InFlight {
            until: OffsetDateTime::UNIX_EPOCH,
        });
    };
    match item.get(HELD).and_then(|v| v.as_n().ok()) {
        None => Ok(EventClaim::Done),
        Some(until) => Ok(EventClaim::InFlight {
            until: nanos::to_time(until.parse().unwrap_or_default()),
        }),
    }
}

pub(super) async fn finish(store: &DynamoStore, key: &str) -> Result<(), StoreError> {
    let result = store
        .client
        .update_item()
        .table_name(&store.table)
        .key(PK, s(event_pk(key)))
        .key(SK, s(EVENT))
        .update_expression("REMOVE #held")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#held", HELD)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Ok(()),
        Err(e) => Err(backend("finish_event", &e)),
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
