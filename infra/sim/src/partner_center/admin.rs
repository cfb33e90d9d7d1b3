//! Admin routes under `/_admin/partner-center/`, and the certificate under `/cert/`.
//!
//! | route | does |
//! |---|---|
//! | `POST referrals` | seeds one referral or an array, as Microsoft would create them (fires webhooks) |
//! | `GET referrals`, `GET referrals/{id}` | inspects |
//! | `PATCH referrals/{id}` | a Microsoft seller's edit: a JSON merge (null sets null), new eTag and `updatedDateTime` (kept if given), fires `referral-updated`; the status machine is not applied |
//! | `GET deliveries`, `GET deliveries/parked` | the delivery log and the offline list |
//! | `GET`/`PUT webhooks/knobs` | drop / duplicate / reorder rates |
//! | `GET registration` | the current webhook registration |
//! | `GET requests` | the API requests that reached a handler, with their `client-request-id` |
//! | `GET ca.pem` | the test CA, the trust anchor for inbound signature checks |

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::config::WebhookKnobs;
use super::http::{LoggedRequest, PcError};
use super::referrals::{Source, create_referral};
use super::signing::{CERT_NAME, Signer};
use super::store::{self, str_field};
use super::webhooks::{self, Change, DeliveryRecord};
use crate::SimState;

const BASE: &str = "/_admin/partner-center";

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(&format!("{BASE}/referrals"), get(all).post(seed))
        .route(&format!("{BASE}/referrals/{{id}}"), get(one).patch(edit))
        .route(&format!("{BASE}/deliveries"), get(deliveries))
        .route(&format!("{BASE}/deliveries/parked"), get(parked))
        .route(&format!("{BASE}/webhooks/knobs"), get(knobs).put(set_knobs))
        .route(&format!("{BASE}/registration"), get(registration))
        .route(&format!("{BASE}/requests"), get(requests))
        .route(&format!("{BASE}/ca.pem"), get(ca_pem))
        .route("/cert/{file}", get(certificate))
}

/// One referral → the stored referral; an array → the array of stored referrals.
async fn seed(
    State(state): State<Arc<SimState>>,
    Json(body): Json<Value>,
) -> Result<Response, PcError> {
    let created = match body {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| create_referral(&state, item, Source::Admin))
                .collect::<Result<_, _>>()?,
        ),
        one => create_referral(&state, one, Source::Admin)?,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn all(State(state): State<Arc<SimState>>) -> Json<Vec<Value>> {
    Json(state.pc.store.lock().expect("store lock").all().to_vec())
}

async fn one(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, PcError> {
    let store = state.pc.store.lock().expect("store lock");
    store
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| PcError::not_found("referral", &id))
}

async fn edit(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, PcError> {
    let Value::Object(patch) = patch else {
        return Err(PcError::invalid("an edit is a JSON object to merge"));
    };
    let edited = {
        let mut store = state.pc.store.lock().expect("store lock");
        let current = store
            .get(&id)
            .ok_or_else(|| PcError::not_found("referral", &id))?;
        let mut next = current.clone();
        merge(&mut next, &Value::Object(patch.clone()));
        let Value::Object(mut next) = next else {
            unreachable!("merging into an object")
        };
        store::stamp_update(&mut next, current);
        keep_given_date(&mut next, &patch);
        let next = Value::Object(next);
        store.replace(next.clone());
        next
    };
    webhooks::notify_referral(&state, Change::Updated, str_field(&edited, "id"));
    Ok(Json(edited))
}

/// A seeded history: an edit may set `updatedDateTime` itself.
fn keep_given_date(next: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if let Some(date @ Value::String(_)) = patch.get("updatedDateTime") {
        next.insert("updatedDateTime".into(), date.clone());
    }
}

/// JSON merge where null sets null (a stored referral keeps every documented key).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

async fn deliveries(State(state): State<Arc<SimState>>) -> Json<Vec<DeliveryRecord>> {
    Json(state.pc.webhooks.log())
}

async fn parked(State(state): State<Arc<SimState>>) -> Json<Vec<DeliveryRecord>> {
    Json(state.pc.webhooks.parked())
}

async fn knobs(State(state): State<Arc<SimState>>) -> Json<WebhookKnobs> {
    Json(state.pc.webhooks.knobs())
}

async fn set_knobs(
    State(state): State<Arc<SimState>>,
    Json(knobs): Json<WebhookKnobs>,
) -> StatusCode {
    state.pc.webhooks.set_knobs(knobs);
    StatusCode::NO_CONTENT
}

async fn registration(State(state): State<Arc<SimState>>) -> Response {
    let registration = state
        .pc
        .registration
        .lock()
        .expect("registration lock")
        .current
        .clone();
    match registration {
        Some(r) => Json(r).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn requests(State(state): State<Arc<SimState>>) -> Json<Vec<LoggedRequest>> {
    Json(state.pc.requests.all())
}

async fn ca_pem() -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        Signer::get().ca_pem.clone(),
    )
        .into_response()
}

/// The leaf certificate, DER, at the URL the deliveries name.
async fn certificate(Path(file): Path<String>) -> Response {
    if file != format!("{CERT_NAME}.cer") {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/pkix-cert")],
        Signer::get().leaf_der.clone(),
    )
        .into_response()
}
