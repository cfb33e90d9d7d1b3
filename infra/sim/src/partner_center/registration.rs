//! `/webhooks/v1/registration` (contract §7): the event list, register (refused when a
//! registration exists, as Microsoft's REST reference says: "registration already exists, please
//! use PUT"), view, update (404 without one), and the `test-created` validation event with its
//! delivery status.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{PcError, WebhooksAuth};
use super::published::Published;
use super::webhooks;
use crate::SimState;

pub const PATH: &str = "/webhooks/v1/registration";

/// Every event a partner may register for.
pub const EVENTS: &[&str] = &[
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "test-created",
];

const WINDOW: Duration = Duration::from_secs(60);

/// The partner's registration and the validation events it asked for.
#[derive(Default)]
pub struct Registrations {
    pub current: Option<Registration>,
    /// When recent validation events were asked for, oldest first (the per-minute limit).
    tests: VecDeque<Instant>,
    validations: HashMap<String, Validation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Registration {
    pub subscriber_id: String,
    pub webhook_url: String,
    pub webhook_events: Vec<String>,
}

impl Registrations {
    /// The URL that gets `event`, if the partner registered for it.
    pub fn url_for(&self, event: &str) -> Option<String> {
        let current = self.current.as_ref()?;
        current
            .webhook_events
            .iter()
            .any(|e| e == event)
            .then(|| current.webhook_url.clone())
    }

    /// Records one delivery attempt of a validation event.
    pub fn record_attempt(&mut self, correlation_id: &str, result: Value, delivered: bool) {
        if let Some(v) = self.validations.get_mut(correlation_id) {
            v.results.push(result);
            if delivered {
                v.status = "completed";
            }
        }
    }

    /// Marks a validation event whose delivery gave up.
    pub fn record_parked(&mut self, correlation_id: &str) {
        if let Some(v) = self.validations.get_mut(correlation_id) {
            v.status = "failed";
        }
    }
}

struct Validation {
    callback_url: String,
    status: &'static str,
    results: Vec<Value>,
}

/// The body of register and update; the service binds names case-insensitively.
#[derive(Debug, Deserialize)]
struct RegistrationBody {
    #[serde(alias = "webhookUrl", alias = "webhookurl")]
    #[serde(rename = "WebhookUrl")]
    webhook_url: String,
    #[serde(alias = "webhookEvents", alias = "webhookevents")]
    #[serde(rename = "WebhookEvents")]
    webhook_events: Vec<String>,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(PATH, get(view).post(register).put(update))
        .route(&format!("{PATH}/events"), get(events))
        .route(&format!("{PATH}/validationEvents"), post(test))
        .route(&format!("{PATH}/validationEvents/{{id}}"), get(test_status))
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> PcError {
    PcError::new(status, code, message).with_target("registration")
}

async fn events(_: WebhooksAuth) -> Json<&'static [&'static str]> {
    Json(EVENTS)
}

async fn register(
    _: WebhooksAuth,
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Registration>, PcError> {
    save(&state, &body, Exists::Refuse)
}

async fn update(
    _: WebhooksAuth,
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Registration>, PcError> {
    save(&state, &body, Exists::Required)
}

/// What a write needs of the current registration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exists {
    /// `POST`: none may exist.
    Refuse,
    /// `PUT`: one must exist.
    Required,
}

/// Register creates the registration, update replaces it; each refuses the other's case.
fn save(state: &SimState, body: &[u8], exists: Exists) -> Result<Json<Registration>, PcError> {
    let body: RegistrationBody = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            format!("WebhookUrl and WebhookEvents are required: {e}"),
        )
    })?;
    let url = url::Url::parse(&body.webhook_url).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            format!("WebhookUrl is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "WebhookUrl must be https",
        ));
    }
    if body.webhook_events.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "WebhookEvents is empty",
        ));
    }
    if let Some(unknown) = body
        .webhook_events
        .iter()
        .find(|e| !EVENTS.contains(&e.as_str()))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            format!("unknown event '{unknown}'"),
        ));
    }
    let mut registrations = state.pc.registration.lock().expect("registration lock");
    match (exists, registrations.current.is_some()) {
        (Exists::Required, false) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                "itemNotFound",
                "no webhook registration to update",
            ));
        }
        (Exists::Refuse, true) => {
            let status = StatusCode::from_u16(state.pc.config.registration_exists_status)
                .unwrap_or(StatusCode::CONFLICT);
            let message = &Published::get().registration.exists_message;
            return Err(error(status, "invalidRequest", message.as_str()));
        }
        _ => {}
    }
    let subscriber_id = registrations.current.as_ref().map_or_else(
        || uuid::Uuid::new_v4().to_string(),
        |r| r.subscriber_id.clone(),
    );
    let registration = Registration {
        subscriber_id,
        webhook_url: body.webhook_url,
        webhook_events: body.webhook_events,
    };
    registrations.current = Some(registration.clone());
    Ok(Json(registration))
}

async fn view(
    _: WebhooksAuth,
    State(state): State<Arc<SimState>>,
) -> Result<Json<Registration>, PcError> {
    let registrations = state.pc.registration.lock().expect("registration lock");
    registrations.current.clone().map(Json).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "no webhook registration",
        )
    })
}

/// `POST …/validationEvents`: sends a `test-created` event; 2 per minute.
async fn test(_: WebhooksAuth, State(state): State<Arc<SimState>>) -> Result<Response, PcError> {
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let url = {
        let mut registrations = state.pc.registration.lock().expect("registration lock");
        let url = registrations.url_for("test-created").ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                "register the test-created event first",
            )
        })?;
        let now = Instant::now();
        while registrations
            .tests
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            registrations.tests.pop_front();
        }
        let limit = state.pc.config.validation_events_per_minute as usize;
        if registrations.tests.len() >= limit {
            let oldest = registrations.tests.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
            return Ok(too_many(wait));
        }
        registrations.tests.push_back(now);
        registrations.validations.insert(
            correlation_id.clone(),
            Validation {
                callback_url: url.clone(),
                status: "pending",
                results: Vec::new(),
            },
        );
        url
    };
    let resource_uri =
        format!("https://api.partnercenter.microsoft.com{PATH}/validationEvents/{correlation_id}");
    webhooks::enqueue(
        &state,
        "test-created",
        &url,
        &resource_uri,
        "test",
        Some(correlation_id.clone()),
    );
    Ok(Json(json!({ "correlationId": correlation_id })).into_response())
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "serviceNotAvailable",
        "validation events are limited per minute; retry later",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

async fn test_status(
    _: WebhooksAuth,
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, PcError> {
    let registrations = state.pc.registration.lock().expect("registration lock");
    let v = registrations.validations.get(&id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            format!("validation event '{id}' was not found"),
        )
    })?;
    Ok(Json(json!({
        "correlationId": id,
        "status": v.status,
        "callbackUrl": v.callback_url,
        "results": v.results,
    })))
}
