//! Retry items: one item each, listed through the sparse `retries-by-due` GSI.

use time::OffsetDateTime;

use super::DynamoStore;
use super::attrs::{BODY, Item, PK, SK, decode, encode, n, s};
use super::error::backend;
use super::schema::{RETRY_DUE, RETRY_INDEX, RETRY_QUEUE};
use crate::model::{RetryItem, RetryState};
use crate::nanos;
use crate::port::StoreError;

const RETRY: &str = "retry";

fn retry_pk(id: &str) -> String {
    format!("retry#{id}")
}

fn queue(state: RetryState) -> &'static str {
    match state {
        RetryState::Pending => "pending",
        RetryState::Dead => "dead",
    }
}

pub(super) async fn put(store: &DynamoStore, item: &RetryItem) -> Result<(), StoreError> {
    const OP: &str = "put_retry";
    store
        .client
        .put_item()
        .table_name(&store.table)
        .item(PK, s(retry_pk(&item.id)))
        .item(SK, s(RETRY))
        .item(RETRY_QUEUE, s(queue(item.state)))
        .item(RETRY_DUE, n(nanos::of(item.due_at)))
        .item(BODY, encode(item, OP)?)
        .send()
        .await
        .map_err(|e| backend(OP, &e))?;
    Ok(())
}

pub(super) async fn get(store: &DynamoStore, id: &str) -> Result<Option<RetryItem>, StoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key(PK, s(retry_pk(id)))
        .key(SK, s(RETRY))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| backend("retry", &e))?;
    output.item().map(decode).transpose()
}

pub(super) async fn delete(store: &DynamoStore, id: &str) -> Result<(), StoreError> {
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .key(PK, s(retry_pk(id)))
        .key(SK, s(RETRY))
        .send()
        .await
        .map_err(|e| backend("delete_retry", &e))?;
    Ok(())
}

pub(super) async fn due(
    store: &DynamoStore,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<RetryItem>, StoreError> {
    list(
        store,
        RetryState::Pending,
        Some(nanos::of(now)),
        limit,
        "due_retries",
    )
    .await
}

pub(super) async fn dead(store: &DynamoStore, limit: usize) -> Result<Vec<RetryItem>, StoreError> {
    list(store, RetryState::Dead, None, limit, "dead_retries").await
}

/// One partition of the index, earliest due first, following pages until `limit` items.
async fn list(
    store: &DynamoStore,
    state: RetryState,
    due_by: Option<i64>,
    limit: usize,
    operation: &'static str,
) -> Result<Vec<RetryItem>, StoreError> {
    let mut found = Vec::new();
    let mut start: Option<Item> = None;
    while found.len() < limit {
        let page = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
        let mut request = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(RETRY_INDEX)
            .expression_attribute_names("#queue", RETRY_QUEUE)
            .expression_attribute_values(":queue", s(queue(state)))
            .scan_index_forward(true)
            .limit(page)
            .set_exclusive_start_key(start.take());
        request = match due_by {
            Some(now) => request
                .key_condition_expression("#queue = :queue AND #due <= :now")
                .expression_attribute_names("#due", RETRY_DUE)
                .expression_attribute_values(":now", n(now)),
            None => request.key_condition_expression("#queue = :queue"),
        };
        let output = request.send().await.map_err(|e| backend(operation, &e))?;
        for item in output.items() {
            found.push(decode(item)?);
        }
        match output.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    found.truncate(limit);
    Ok(found)
}
