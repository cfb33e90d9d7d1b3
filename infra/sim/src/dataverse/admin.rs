//! Admin routes under `/_admin/dataverse/`: seed rows, edit or delete them as a seller would
//! (the version moves on, so change tracking sees it), inspect a set or a row, expire every
//! delta token, and change the service-protection limits or the delta token age at run time.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::LimitConfig;
use crate::SimState;

/// What can be changed while running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DvSettings {
    pub limits: LimitConfig,
    pub delta_token_max_age_secs: u64,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/_admin/dataverse/rows/{set}",
            get(list_rows).post(seed_rows),
        )
        .route(
            "/_admin/dataverse/rows/{set}/{id}",
            get(get_row).patch(edit_row).delete(delete_row),
        )
        .route("/_admin/dataverse/delta-tokens/expire", post(expire_tokens))
        .route("/_admin/dataverse/deliveries", get(list_deliveries))
        .route("/_admin/dataverse/limits", get(get_limits).put(put_limits))
        .route(
            "/_admin/dataverse/settings",
            get(get_settings).put(put_settings),
        )
}

/// The Dataverse webhook's deliveries, oldest first (url, entity, id, message, status).
async fn list_deliveries(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "value": state.dv.deliveries.log() }))
}

async fn list_rows(State(state): State<Arc<SimState>>, Path(set): Path<String>) -> Json<Value> {
    Json(json!({ "value": state.dv.rows(&set) }))
}

/// Body: one row object or an array of them. Answers `{"ids": [...]}`.
async fn seed_rows(
    State(state): State<Arc<SimState>>,
    Path(set): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let rows: Vec<Value> = match body {
        Value::Array(rows) => rows,
        row => vec![row],
    };
    let mut ids = Vec::new();
    for row in rows {
        let Value::Object(columns) = row else {
            return (StatusCode::BAD_REQUEST, "every row must be a JSON object").into_response();
        };
        match state.dv.seed(&set, columns) {
            Ok(id) => ids.push(id.to_string()),
            Err(error) => return error.into_response(),
        }
    }
    (StatusCode::CREATED, Json(json!({ "ids": ids }))).into_response()
}

async fn get_row(
    State(state): State<Arc<SimState>>,
    Path((set, id)): Path<(String, Uuid)>,
) -> Response {
    match state.dv.row(&set, id) {
        Some(row) => Json(row).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn edit_row(
    State(state): State<Arc<SimState>>,
    Path((set, id)): Path<(String, Uuid)>,
    Json(changes): Json<Map<String, Value>>,
) -> Response {
    match state.dv.edit(&set, id, changes) {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn delete_row(
    State(state): State<Arc<SimState>>,
    Path((set, id)): Path<(String, Uuid)>,
) -> StatusCode {
    if state.dv.delete(&set, id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn expire_tokens(State(state): State<Arc<SimState>>) -> StatusCode {
    state.dv.expire_delta_tokens();
    StatusCode::NO_CONTENT
}

async fn get_limits(State(state): State<Arc<SimState>>) -> Json<LimitConfig> {
    Json(state.dv.limits.config())
}

async fn put_limits(
    State(state): State<Arc<SimState>>,
    Json(limits): Json<LimitConfig>,
) -> StatusCode {
    state.dv.set_limits(limits);
    StatusCode::NO_CONTENT
}

async fn get_settings(State(state): State<Arc<SimState>>) -> Json<DvSettings> {
    Json(DvSettings {
        limits: state.dv.limits.config(),
        delta_token_max_age_secs: state.dv.delta_token_max_age_secs(),
    })
}

async fn put_settings(
    State(state): State<Arc<SimState>>,
    Json(settings): Json<DvSettings>,
) -> StatusCode {
    state.dv.set_limits(settings.limits);
    state
        .dv
        .set_delta_token_max_age_secs(settings.delta_token_max_age_secs);
    StatusCode::NO_CONTENT
}
