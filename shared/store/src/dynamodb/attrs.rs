//! Small helpers for building and reading items, so the record modules read as the item design.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::port::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const PK: &str = "pk";
pub(super) const SK: &str = "sk";
/// The record as JSON: one attribute, so adding a field to a record needs no item change.
pub(super) const BODY: &str = "body";

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A fresh random token for one logical write (see the module doc on `write_token`).
pub(super) fn write_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(super) fn encode<T: Serialize>(
    value: &T,
    operation: &'static str,
) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Backend {
            operation,
            message: format!("encoding the record: {e}"),
        })
}

/// The record in `item`'s body; `Corrupt` (naming `pk`) when it is missing or does not parse.
pub(super) fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let key = item
        .get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let body = item
        .get(BODY)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: key.clone(),
            message: format!("no string attribute `{BODY}`"),
        })?;
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}
