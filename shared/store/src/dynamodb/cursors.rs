//! Cursors: one item each, written only over the version the writer read.

use super::DynamoStore;
use super::attrs::{BODY, PK, SK, decode, encode, n, s, write_token};
use super::error::{backend, is_condition_failed};
use crate::model::Cursor;
use crate::port::StoreError;

const CURSOR: &str = "cursor";

fn cursor_pk(name: &str) -> String {
    format!("cursor#{name}")
}

pub(super) async fn get(store: &DynamoStore, name: &str) -> Result<Option<Cursor>, StoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key(PK, s(cursor_pk(name)))
        .key(SK, s(CURSOR))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| backend("cursor", &e))?;
    output.item().map(decode).transpose()
}

pub(super) async fn put(store: &DynamoStore, cursor: &Cursor) -> Result<Cursor, StoreError> {
    const OP: &str = "put_cursor";
    let stored = Cursor {
        version: cursor.version + 1,
        ..cursor.clone()
    };
    let token = write_token();
    let request = store
        .client
        .put_item()
        .table_name(&store.table)
        .item(PK, s(cursor_pk(&cursor.name)))
        .item(SK, s(CURSOR))
        .item("version", n(stored.version))
        .item("write_token", s(&token))
        .item(BODY, encode(&stored, OP)?)
        .expression_attribute_names("#token", "write_token")
        .expression_attribute_values(":token", s(token));
    let request = if cursor.version == 0 {
        request
            .condition_expression("attribute_not_exists(#pk) OR #token = :token")
            .expression_attribute_names("#pk", PK)
    } else {
        request
            .condition_expression("#version = :expected OR #token = :token")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(cursor.version))
    };
    match request.send().await {
        Ok(_) => Ok(stored),
        Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict {
            what: format!("cursor {}", cursor.name),
        }),
        Err(e) => Err(backend(OP, &e)),
    }
}
