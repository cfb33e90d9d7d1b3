//! rusqlite errors and stored JSON → [`StoreError`], naming the operation or the row.

use serde::de::DeserializeOwned;

use crate::port::StoreError;

pub(super) fn backend(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: e.to_string(),
    }
}

pub(super) fn encode<T: serde::Serialize>(
    value: &T,
    operation: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend {
        operation,
        message: format!("encoding the record: {e}"),
    })
}

pub(super) fn decode<T: DeserializeOwned>(key: String, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}

/// A version as SQLite stores it. Versions count writes, so one past `i64::MAX` is not a case
/// worth more than an error.
pub(super) fn version(value: u64, operation: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend {
        operation,
        message: format!("version {value} is out of range"),
    })
}
