//! One Dataverse operation as the simulator handles it — whether it came on its own or as a part
//! of a `$batch` — and what it answers.

use std::collections::HashMap;

use axum::body::Body as AxumBody;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;

use super::config::DvConfig;
use super::odata::Prefer;
use crate::{Counters, Service};

/// A request relative to the service root (`/api/data/v9.2/`), path already percent-decoded.
#[derive(Debug, Clone)]
pub struct DvRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl DvRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON object body; anything else is a 400.
    pub fn json_object(&self) -> Result<serde_json::Map<String, Value>, super::error::DvError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(super::error::DvError::bad_request(
                "The request body must be a JSON object.",
            )),
            Err(error) => Err(super::error::DvError::bad_request(format!(
                "Error reading JSON body: {error}."
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct DvResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl DvResponse {
    pub fn json(status: StatusCode, value: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Json(value),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            Body::Empty => (None, Vec::new()),
            Body::Json(value) => (
                Some("application/json; odata.metadata=minimal".to_owned()),
                serde_json::to_vec(&value).unwrap_or_default(),
            ),
            Body::Raw {
                content_type,
                bytes,
            } => (Some(content_type), bytes),
        };
        let mut response = Response::new(AxumBody::from(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
        if let Some(content_type) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert("content-type", content_type);
        }
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// What an operation needs besides the store.
pub struct Ctx<'a> {
    pub config: &'a DvConfig,
    /// `<base>/api/data/v9.2`, the prefix of every URL handed out.
    pub api: &'a str,
    pub prefer: Prefer,
    /// `$n` → the row created or updated by the change-set part with `Content-ID: n`.
    pub refs: &'a HashMap<String, (String, Uuid)>,
    pub delta_token_max_age_secs: u64,
    pub counters: &'a Counters,
    /// `""` for a plain request, `"batch "` for a batch part: prefixes the counted events.
    pub event_prefix: &'static str,
}

impl Ctx<'_> {
    pub fn entity_url(&self, set: &str, id: &Uuid) -> String {
        format!("{}/{set}({id})", self.api)
    }

    /// Counts a precise operation, e.g. `POST opportunities`, so a benchmark can tell what a
    /// sync costs in Dataverse requests.
    pub fn event(&self, name: &str) {
        self.counters
            .event(Service::Dataverse, &format!("{}{name}", self.event_prefix));
    }
}
