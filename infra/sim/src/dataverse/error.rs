//! Dataverse errors: a status plus the `{"error":{"code","message"}}` body. The codes are the
//! documented ones where the docs name one; the rest are chosen here and listed in [`code`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Service;

/// Error codes the simulator answers with.
pub mod code {
    /// Object does not exist (404).
    pub const NOT_FOUND: &str = "0x80040217";
    /// Duplicate primary key on create (412).
    pub const DUPLICATE_RECORD: &str = "0x80040237";
    /// Duplicate alternate key value (412).
    pub const DUPLICATE_KEY: &str = "0x80060892";
    /// ETag / `If-Match` / `If-None-Match` precondition failed (412).
    pub const PRECONDITION_FAILED: &str = "0x80060882";
    /// OData syntax: malformed `$filter`, unknown segment, bad batch (400).
    pub const SYNTAX: &str = "0x80060888";
    /// Invalid argument, e.g. a bad state change or a closed opportunity (400).
    pub const INVALID_ARGUMENT: &str = "0x80040203";
    /// Validation error, e.g. a required column missing (400).
    pub const VALIDATION: &str = "0x80044331";
    /// A plug-in refused the operation (`ISVAborted`, what `InvalidPluginExecutionException`
    /// answers with).
    pub const PLUGIN_ABORTED: &str = "0x80040265";
    /// The caller lacks a privilege (403): `PrivilegeDenied` in Dataverse's error codes.
    pub const PRIVILEGE_DENIED: &str = "0x80040220";
    /// Change tracking not enabled on the table (400).
    pub const CHANGE_TRACKING_DISABLED: &str = "0x80044353";
    /// Delta token too old or invalidated (400) — `ExpiredVersionStamp`.
    pub const EXPIRED_VERSION_STAMP: &str = "0x80044352";
    /// Missing or invalid bearer token (401); chosen by the simulator.
    pub const UNAUTHORIZED: &str = "0x80072560";
    /// Service protection: number of requests (429).
    pub const THROTTLED_REQUESTS: &str = "0x80072322";
    /// Service protection: combined execution time (429).
    pub const THROTTLED_TIME: &str = "0x80072321";
    /// Service protection: concurrent requests (429).
    pub const THROTTLED_CONCURRENCY: &str = "0x80072326";
    /// Method not allowed on this resource (405).
    pub const METHOD_NOT_ALLOWED: &str = "0x80060888";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl DvError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::SYNTAX, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT, message)
    }

    pub fn not_found(logical: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("{logical} With Id = {id} Does Not Exist"),
        )
    }

    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            code::PRECONDITION_FAILED,
            message,
        )
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code, "message": self.message } })
    }
}

impl IntoResponse for DvError {
    fn into_response(self) -> Response {
        crate::faults::error_body(Service::Dataverse, self.status, self.code, &self.message)
    }
}
