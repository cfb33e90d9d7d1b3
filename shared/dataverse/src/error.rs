//! What a Dataverse call can end in.

use cosell_transport::ApiError;

/// The code Dataverse answers an expired delta token with (`ExpiredVersionStamp`).
pub const EXPIRED_VERSION_STAMP: &str = "0x80044352";

/// " at part n" for a failure the answer pins to one request; nothing for a whole change set.
fn at_part(part: Option<u32>) -> String {
    part.map(|n| format!(" at part {n}")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum DataverseError {
    /// The service said no (with its code and message), or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The delta link is too old (or was invalidated, or refused): take a fresh baseline with
    /// `track_changes` and replace the stored link.
    #[error("dataverse delta link expired, a full sync is needed: {message}")]
    DeltaLinkExpired { message: String },
    /// A `$batch` change set failed and was rolled back as a whole. `part` is the `Content-ID`
    /// of the request that failed when the answer names one; a change set answered by one
    /// error without a `Content-ID` failed as a whole, and Dataverse's message says why.
    #[error("dataverse $batch change set failed{}: HTTP {status} {code}: {message}", at_part(*part))]
    BatchFailed {
        part: Option<u32>,
        status: u16,
        code: String,
        message: String,
    },
    /// A query inside a `$batch` was refused; the batch's other entries were answered.
    #[error("dataverse query in a $batch failed: HTTP {status} {code}: {message}")]
    BatchQueryFailed {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer without the documented shape (no `OData-EntityId`, a link to another host…).
    #[error("dataverse {operation}: unexpected answer: {detail}")]
    Protocol {
        operation: &'static str,
        detail: String,
    },
    /// The `$batch` that carried this request failed as a whole (refused, unanswered, out of
    /// time): every request it carried reports the one error.
    #[error("{0}")]
    InBatch(std::sync::Arc<DataverseError>),
    /// A column name, key or value that cannot be put into a request.
    #[error("dataverse request not built: {0}")]
    InvalidInput(String),
}

impl DataverseError {
    pub fn status(&self) -> Option<u16> {
        match self {
            DataverseError::Api(e) => e.status(),
            DataverseError::BatchFailed { status, .. }
            | DataverseError::BatchQueryFailed { status, .. } => Some(*status),
            DataverseError::DeltaLinkExpired { .. } => Some(400),
            DataverseError::InBatch(error) => error.status(),
            _ => None,
        }
    }

    /// The service's error code, e.g. `0x80040217`.
    pub fn code(&self) -> Option<&str> {
        match self {
            DataverseError::Api(e) => e.code(),
            DataverseError::BatchFailed { code, .. }
            | DataverseError::BatchQueryFailed { code, .. } => Some(code),
            DataverseError::DeltaLinkExpired { .. } => Some(EXPIRED_VERSION_STAMP),
            DataverseError::InBatch(error) => error.code(),
            _ => None,
        }
    }

    /// The service's own words on why it refused, e.g. a failed change set's message.
    pub fn message(&self) -> Option<&str> {
        match self {
            DataverseError::Api(e) => e.message(),
            DataverseError::BatchFailed { message, .. }
            | DataverseError::BatchQueryFailed { message, .. } => Some(message),
            DataverseError::InBatch(error) => error.message(),
            _ => None,
        }
    }

    /// A link the client would not follow — not a URL, or on another host than the configured
    /// organisation's ([`crate::DataverseClient`]'s link check) — refused without a request.
    pub fn is_refused_link(&self) -> bool {
        matches!(self, DataverseError::Protocol { detail, .. } if detail.starts_with("link "))
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A stale `If-Match`, or `If-None-Match: *` on an existing row.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    pub(crate) fn protocol(operation: &'static str, detail: impl Into<String>) -> Self {
        DataverseError::Protocol {
            operation,
            detail: detail.into(),
        }
    }
}
