//! `/v1.0/engagements/referrals` (contract §3): list, get, create, replace (PUT + If-Match) and
//! JSON-Patch PATCH. Every change fires a webhook (see [`super::webhooks`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::http::{PcError, ReferralsAuth, with_etag};
use super::store::{self, Origin, str_field};
use super::webhooks::{self, Change};
use super::{json_patch, query, status};
use crate::SimState;

pub const PATH: &str = "/v1.0/engagements/referrals";
/// Where `@odata.nextLink` points: the same list under another casing. The link is opaque, so a
/// client that rebuilds it instead of following it gets a 404 here.
pub const NEXT_PATH: &str = "/v1.0/engagements/Referrals";

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(PATH, get(list).post(create))
        .route(NEXT_PATH, get(list))
        .route(
            &format!("{PATH}/{{id}}"),
            get(read).put(replace).patch(patch),
        )
}

async fn list(
    _: ReferralsAuth,
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PcError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let query = query::ListQuery::from_params(&params)?;
    let page = {
        let store = state.pc.store.lock().expect("store lock");
        query::run(store.all(), &query, state.pc.config.page_size)?
    };
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#referrals", state.base_url),
        "@odata.count": page.count,
        "value": page.items,
    });
    if let Some(skip) = page.next_skip {
        body["@odata.nextLink"] = format!(
            "{}{NEXT_PATH}?$skiptoken={}",
            state.base_url,
            query.token_for(skip)
        )
        .into();
    }
    Ok(axum::Json(body).into_response())
}

async fn read(
    _: ReferralsAuth,
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, PcError> {
    let store = state.pc.store.lock().expect("store lock");
    let referral = store
        .get(&id)
        .ok_or_else(|| PcError::not_found("referral", &id))?;
    Ok(with_etag(StatusCode::OK, referral.clone()))
}

async fn create(
    _: ReferralsAuth,
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, PcError> {
    let body = Value::Object(parse_object(&body)?);
    let referral = create_referral(&state, body, Source::Api)?;
    Ok(with_etag(StatusCode::CREATED, referral))
}

/// Who creates a referral: a partner through the API, or Microsoft (admin seeding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Server fields are overwritten; `engagementId` must name an existing engagement if given.
    Api,
    /// As Microsoft would create it for the partner: `id`, `engagementId` and dates may be given
    /// (to seed history); defaults to an incoming `New/Pending` referral.
    Admin,
}

/// Validates, fills the server's fields, stores and fires `referral-created`.
pub fn create_referral(state: &SimState, body: Value, source: Source) -> Result<Value, PcError> {
    let Value::Object(mut body) = body else {
        return Err(PcError::invalid("a referral must be a JSON object"));
    };
    let named = body
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if source == Source::Api && !named {
        return Err(PcError::invalid("name is required"));
    }
    let defaults: &[(&str, &str)] = match source {
        Source::Api => &[
            ("status", "New"),
            ("substatus", "Pending"),
            ("direction", "Outgoing"),
        ],
        Source::Admin => &[
            ("status", "New"),
            ("substatus", "Pending"),
            ("direction", "Incoming"),
        ],
    };
    for (key, value) in defaults {
        if body.get(*key).is_none_or(Value::is_null) {
            body.insert((*key).into(), (*value).into());
        }
    }
    status::check_initial(&Value::Object(body.clone()))?;
    let origin = Origin {
        organization_id: &state.pc.config.organization_id,
        organization_name: &state.pc.config.organization_name,
        referrals_url: &state.pc.referrals_url,
    };
    let given = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let referral = {
        let mut store = state.pc.store.lock().expect("store lock");
        let engagement_id = match (given("engagementId"), source) {
            (Some(e), Source::Api) if !store.has_engagement(&e) => {
                return Err(PcError::invalid(format!("engagement '{e}' does not exist")));
            }
            (Some(e), _) => e,
            (None, _) => new_id(),
        };
        let id = match (given("id"), source) {
            (Some(id), Source::Admin) => id,
            _ => new_id(),
        };
        store::stamp_new(
            &mut body,
            &origin,
            id,
            engagement_id,
            source == Source::Admin,
        );
        let referral = Value::Object(body);
        store.insert(referral.clone())?;
        referral
    };
    webhooks::notify_referral(state, Change::Created, str_field(&referral, "id"));
    Ok(referral)
}

async fn replace(
    _: ReferralsAuth,
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PcError> {
    let if_match = if_match(&headers);
    if if_match.is_none() && state.pc.config.require_if_match_on_put {
        return Err(PcError::invalid(
            "If-Match is required: send the referral's eTag",
        ));
    }
    let next = parse_object(&body)?;
    if next.get("id").is_some_and(|given| given != id.as_str()) {
        return Err(PcError::invalid("the body's id does not match the URL"));
    }
    let referral = update(&state, &id, if_match.as_deref(), |_| Ok(next))?;
    Ok(with_etag(StatusCode::OK, referral))
}

async fn patch(
    _: ReferralsAuth,
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PcError> {
    let ops: Value = serde_json::from_slice(&body)
        .map_err(|e| PcError::invalid(format!("the body is not JSON: {e}")))?;
    let referral = update(&state, &id, if_match(&headers).as_deref(), |current| {
        let mut doc = current.clone();
        json_patch::apply(&mut doc, ops)?;
        match doc {
            Value::Object(map) => Ok(map),
            _ => Err(PcError::invalid("the patched referral is not an object")),
        }
    })?;
    let wants_body = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("return=representation"));
    if wants_body {
        return Ok(with_etag(StatusCode::OK, referral));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(etag) = str_field(&referral, "eTag").parse() {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Checks `If-Match`, builds the next version with `change`, checks the status machine, stores
/// it and fires `referral-updated`.
fn update(
    state: &SimState,
    id: &str,
    if_match: Option<&str>,
    change: impl FnOnce(&Value) -> Result<Map<String, Value>, PcError>,
) -> Result<Value, PcError> {
    let referral = {
        let mut store = state.pc.store.lock().expect("store lock");
        let current = store
            .get(id)
            .ok_or_else(|| PcError::not_found("referral", id))?;
        if let Some(expected) = if_match
            && !etag_matches(expected, str_field(current, "eTag"))
        {
            return Err(PcError::new(
                StatusCode::PRECONDITION_FAILED,
                "preconditionFailed",
                format!("referral '{id}' has changed: the If-Match eTag is stale; read it again"),
            ));
        }
        let mut next = change(current)?;
        store::stamp_update(&mut next, current);
        let next = Value::Object(next);
        status::check_change(current, &next)?;
        store.replace(next.clone());
        next
    };
    webhooks::notify_referral(state, Change::Updated, id);
    Ok(referral)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `If-Match` is `*` or a list of eTags; each compares exactly (quotes included, `W/` ignored).
fn etag_matches(if_match: &str, current: &str) -> bool {
    if_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, PcError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PcError::invalid("a referral must be a JSON object")),
        Err(e) => Err(PcError::invalid(format!("the body is not JSON: {e}"))),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
