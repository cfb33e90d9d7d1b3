//! A local webhook sink: stands in for a Teams Workflows or Slack incoming webhook, so alerts can
//! be seen and asserted without either service. `POST /hooks/{name}` records the JSON body and
//! answers as the sink is told; `GET /_admin/hooks/{name}` lists what was posted, oldest first;
//! `PUT /_admin/hooks/{name}/answer` with `{"status": 404, "body": "…"}` makes it answer so
//! (a deleted workflow, a revoked Slack hook), `{"status": 200}` heals it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SimState;

/// What each hook received and how it answers.
#[derive(Default)]
pub struct Sink {
    posted: Mutex<HashMap<String, Vec<Value>>>,
    answers: Mutex<HashMap<String, (u16, String)>>,
}

impl Sink {
    /// The bodies posted to `name`, oldest first.
    pub fn posted(&self, name: &str) -> Vec<Value> {
        let posted = self.posted.lock().expect("sink");
        posted.get(name).cloned().unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Answer {
    status: u16,
    #[serde(default)]
    body: String,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new().route("/hooks/{name}", post(receive))
}

pub fn admin_router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_admin/hooks/{name}", get(list))
        .route("/_admin/hooks/{name}/answer", put(set_answer))
}

async fn receive(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let answer = state.sink.answers.lock().expect("sink").get(&name).cloned();
    if let Some((status, text)) = answer.filter(|(status, _)| *status >= 300) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, text).into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    };
    let mut posted = state.sink.posted.lock().expect("sink");
    posted.entry(name).or_default().push(value);
    // Teams Workflows answers 202 Accepted; Slack 200 "ok".
    (StatusCode::ACCEPTED, "ok").into_response()
}

async fn list(State(state): State<Arc<SimState>>, Path(name): Path<String>) -> Json<Value> {
    Json(json!({ "posted": state.sink.posted(&name) }))
}

async fn set_answer(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    Json(answer): Json<Answer>,
) -> StatusCode {
    let mut answers = state.sink.answers.lock().expect("sink");
    answers.insert(name, (answer.status, answer.body));
    StatusCode::NO_CONTENT
}
