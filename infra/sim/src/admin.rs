//! Admin routes under `/_admin` for knobs shared by all services: faults, counters, tokens. The
//! services' own admin routes (seed, edit and inspect data) live in their modules.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::faults::Fault;
use crate::{FaultSettings, Service, SimState};

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_admin/faults", get(all_faults))
        .route("/_admin/faults/{service}", put(set_faults))
        .route("/_admin/faults/{service}/next", post(script_faults))
        .route("/_admin/counters", get(counters))
        .route("/_admin/counters/reset", post(reset_counters))
        .route("/_admin/tokens/refresh-token", post(mint_refresh_token))
        .route("/_admin/tokens/expire", post(expire_tokens))
        .route("/_admin/tokens/require-mfa", put(require_mfa))
}

async fn all_faults(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    let map: serde_json::Map<_, _> = Service::ALL
        .into_iter()
        .map(|s| (s.name().to_owned(), serde_json::json!(state.faults.get(s))))
        .collect();
    Json(map.into())
}

async fn set_faults(
    State(state): State<Arc<SimState>>,
    Path(service): Path<String>,
    Json(settings): Json<FaultSettings>,
) -> Response {
    match Service::parse(&service) {
        Some(service) => {
            state.faults.set(service, settings);
            StatusCode::NO_CONTENT.into_response()
        }
        None => unknown_service(&service),
    }
}

fn unknown_service(service: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("unknown service '{service}': partner-center, dataverse or token"),
    )
        .into_response()
}

/// `["429", "drop"]`: the next two requests of the service fail that way, in order.
async fn script_faults(
    State(state): State<Arc<SimState>>,
    Path(service): Path<String>,
    Json(faults): Json<Vec<Fault>>,
) -> Response {
    match Service::parse(&service) {
        Some(service) => {
            state.faults.script(service, faults);
            StatusCode::NO_CONTENT.into_response()
        }
        None => unknown_service(&service),
    }
}

async fn counters(State(state): State<Arc<SimState>>) -> Json<crate::counters::Snapshot> {
    Json(state.counters.snapshot())
}

async fn reset_counters(State(state): State<Arc<SimState>>) -> StatusCode {
    state.counters.reset();
    StatusCode::NO_CONTENT
}

/// Optional body `{"user": "nils@contoso.example"}`: a refresh token of that user's sign-in
/// (with MFA as the user signs in); the first user's without one.
async fn mint_refresh_token(
    State(state): State<Arc<SimState>>,
    body: Option<Json<MintRequest>>,
) -> Response {
    let tokens = &state.tokens;
    let token = match body.and_then(|Json(b)| b.user) {
        None => tokens.mint_refresh_token(),
        Some(name) => match tokens.mint_refresh_token_of(&name) {
            Some(token) => token,
            None => return (StatusCode::NOT_FOUND, format!("no user '{name}'")).into_response(),
        },
    };
    Json(serde_json::json!({ "refresh_token": token })).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct MintRequest {
    user: Option<String>,
}

/// Body `true` or `false`: whether Partner Center refuses App+User tokens without MFA.
async fn require_mfa(State(state): State<Arc<SimState>>, Json(on): Json<bool>) -> StatusCode {
    state.tokens.set_require_mfa(on);
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(state): State<Arc<SimState>>) -> StatusCode {
    state.tokens.expire_all();
    StatusCode::NO_CONTENT
}
