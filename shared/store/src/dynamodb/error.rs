//! SDK errors → [`StoreError`]: lost conditions become `Conflict` (or `false` where the port
//! answers with a bool), everything else `Backend` with the operation and the SDK's error chain.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::port::StoreError;

/// The message is the error's `Display` chain (e.g. "dispatch failure: io error: connection
/// refused", or a service error's code and message). Not `DisplayErrorContext`: it appends the
/// `Debug` form, which for a service error is the whole raw HTTP response, into every log line.
pub(super) fn backend<E: std::error::Error>(operation: &'static str, err: &E) -> StoreError {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Backend { operation, message }
}

pub(super) fn build(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: format!("building the request: {e}"),
    }
}

/// Whether a single-item write failed only because its condition did not hold.
pub(super) fn is_condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// For a transaction that was cancelled because a condition failed or another transaction was
/// writing the same item: the index of the first such write. Either way the caller lost a race
/// and must re-read.
pub(super) fn lost_race<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<usize> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().position(|reason| {
                matches!(
                    reason.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => None,
    }
}
