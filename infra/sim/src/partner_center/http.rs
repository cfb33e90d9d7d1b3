//! What every Partner Center route shares: the error body (contract §6), the bearer-token check,
//! and the `request-id` / `client-request-id` response headers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::{Audience, SimState};

/// An answer in the contract's error shape: `{"error":{"code","message","target"}}`.
#[derive(Debug)]
pub struct PcError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub target: &'static str,
}

impl PcError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            target: "referral",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalidRequest", message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            format!("{what} '{id}' was not found"),
        )
    }

    pub fn with_target(mut self, target: &'static str) -> Self {
        self.target = target;
        self
    }
}

impl IntoResponse for PcError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message, "target": self.target }
        });
        (self.status, Json(body)).into_response()
    }
}

/// The caller holds a live token for the referrals API (`https://api.partner.microsoft.com`).
pub struct ReferralsAuth;

/// The caller holds a live token for webhook registration (`https://api.partnercenter.microsoft.com`).
pub struct WebhooksAuth;

/// A live token of the audience, for a user (the referrals API is App+User only) whose sign-in
/// did MFA when the simulator requires it, holding a Referrals role.
fn authorize(parts: &Parts, state: &SimState, audience: Audience) -> Result<(), PcError> {
    state.pc.requests.record(parts);
    let unauthorized = |why: &str| PcError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why);
    let access = state
        .tokens
        .authorize(&parts.headers, audience)
        .map_err(unauthorized)?;
    let Some(username) = access.grant.user.as_deref() else {
        return Err(unauthorized(
            "App+User authentication is required: an app-only token is not accepted",
        ));
    };
    if state.tokens.require_mfa() && !access.grant.mfa {
        return Err(PcError::new(
            StatusCode::UNAUTHORIZED,
            MFA_REQUIRED_CODE,
            MFA_REQUIRED_MESSAGE,
        ));
    }
    let has_role = state
        .tokens
        .user(username)
        .is_some_and(|u| u.referrals_role.is_some());
    if !has_role {
        // partner-rest error-codes.md's 403 sample; which answer a missing role gets is not
        // published.
        return Err(PcError::new(
            StatusCode::FORBIDDEN,
            "unAuthorized",
            "Caller is not authorized to access the resource.",
        ));
    }
    Ok(())
}

/// What Partner Center answers an App+User call whose token lacks the `mfa` claim: Microsoft
/// publishes "a 401 response with error code 900421" (Partner Center blog, "CSP technical changes
/// FY26 Q4") and no body; this one puts the code where the error shape has room for it and says
/// nothing else a client could lean on.
pub const MFA_REQUIRED_CODE: &str = "900421";
pub const MFA_REQUIRED_MESSAGE: &str =
    "Multi-factor authentication is required for App+User calls (error 900421)";

impl FromRequestParts<Arc<SimState>> for ReferralsAuth {
    type Rejection = PcError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<SimState>) -> Result<Self, PcError> {
        authorize(parts, state, Audience::PartnerCenter).map(|()| ReferralsAuth)
    }
}

impl FromRequestParts<Arc<SimState>> for WebhooksAuth {
    type Rejection = PcError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<SimState>) -> Result<Self, PcError> {
        authorize(parts, state, Audience::PartnerCenterWebhooks)
            .map(|()| WebhooksAuth)
            .map_err(|e| e.with_target("registration"))
    }
}

/// The requests that reached a Partner Center handler (injected faults never do), newest last,
/// so a test can see which `client-request-id` each attempt carried.
#[derive(Default)]
pub struct RequestLog(Mutex<VecDeque<LoggedRequest>>);

#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub client_request_id: Option<String>,
    /// `MS-CorrelationId`: the caller's id for the larger piece of work this request is part of.
    pub correlation_id: Option<String>,
    /// `Content-Type`, which the connector sends on every operation, bodiless ones too.
    pub content_type: Option<String>,
}

impl RequestLog {
    const KEEP: usize = 1_000;

    fn record(&self, parts: &Parts) {
        let entry = LoggedRequest {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            client_request_id: caller_id(&parts.headers)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            correlation_id: parts
                .headers
                .get("ms-correlationid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            content_type: parts
                .headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        let mut log = self.0.lock().expect("request log lock");
        if log.len() == Self::KEEP {
            log.pop_front();
        }
        log.push_back(entry);
    }

    pub fn all(&self) -> Vec<LoggedRequest> {
        self.0
            .lock()
            .expect("request log lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// The caller's id: `client-request-id`, else `MS-RequestId` or `MS-CorrelationId`.
fn caller_id(headers: &axum::http::HeaderMap) -> Option<&HeaderValue> {
    headers
        .get(&CLIENT_REQUEST_ID)
        .or_else(|| OTHER_ID_HEADERS.iter().find_map(|h| headers.get(*h)))
}

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
/// Other names the docs give for the caller's id; echoed as `client-request-id` too.
const OTHER_ID_HEADERS: [&str; 2] = ["ms-requestid", "ms-correlationid"];

/// Echoes the caller's id as `client-request-id` and gives each answer a fresh `request-id`.
pub async fn request_ids(req: Request, next: Next) -> Response {
    let client_id = caller_id(req.headers()).cloned();
    let mut response = next.run(req).await;
    let out = response.headers_mut();
    if let Some(id) = client_id {
        out.insert(CLIENT_REQUEST_ID, id);
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    out.insert(
        REQUEST_ID,
        HeaderValue::from_str(&request_id).expect("a uuid is a header value"),
    );
    response
}

/// A JSON answer with an `ETag` header.
pub fn with_etag(status: StatusCode, body: serde_json::Value) -> Response {
    let etag = body.get("eTag").and_then(|e| e.as_str()).map(str::to_owned);
    let mut response = (status, Json(body)).into_response();
    if let Some(value) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        response
            .headers_mut()
            .insert(axum::http::header::ETAG, value);
    }
    response
}
