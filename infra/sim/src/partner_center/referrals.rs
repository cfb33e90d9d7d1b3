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

use super::config::Honour;
use super::http::{PcError, ReferralsAuth, with_etag};
use super::published::Published;
use super::store::{self, Origin, str_field};
use super::webhooks::{self, Change};
use super::{json_patch, query, status};
use crate::SimState;

pub const PATH: &str = "/v1.0/engagements/referrals";
/// Where a lenient `@odata.nextLink` points (`Lenient::same_origin_next_link`): the same list
/// under another casing, so a client that rebuilds the link instead of following it gets a 404.
pub const NEXT_PATH: &str = "/v1.0/engagements/Referrals";

pub fn router() -> Router<Arc<SimState>> {
    let documented_next = Published::get().next_link.path.as_str();
    Router::new()
        .route(PATH, get(list).post(create))
        .route(NEXT_PATH, get(list))
        .route(documented_next, get(list))
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
    let mut query = query::ListQuery::from_params(&params)?;
    let lenient = &state.pc.config.lenient;
    // A range on updatedDateTime: refused as undocumented, dropped, or taken (`updated_range`).
    let without_range = query::ListQuery {
        filter: query
            .filter
            .as_deref()
            .and_then(|f| query::without_field(f, "updatedDateTime")),
        ..query.clone()
    };
    let documented = match state.pc.config.updated_range {
        Honour::Refused => query.clone(),
        Honour::Ignored => {
            query = without_range;
            query.clone()
        }
        Honour::Honoured => without_range,
    };
    if !lenient.any_filter {
        query::check_documented(&documented)?;
    }
    let page = {
        let store = state.pc.store.lock().expect("store lock");
        let orders = query::Orders {
            updated: state.pc.config.updated_order,
            created: state.pc.config.created_order,
        };
        query::run(store.all(), &query, state.pc.config.page_size, orders)?
    };
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#referrals", state.base_url),
        "@odata.count": page.count,
        "value": page.items,
    });
    if let Some(skip) = page.next_skip {
        let token = query.token_for(skip);
        body["@odata.nextLink"] = if lenient.same_origin_next_link {
            format!("{}{NEXT_PATH}?$skiptoken={token}", state.base_url)
        } else {
            documented_next_link(&state.base_url, &token)
        }
        .into();
    }
    Ok(axum::Json(body).into_response())
}

/// The next link as partner-rest's sample writes it: `http://<host>/v1.0/referrals?$skiptoken=…`
/// — the service's host, but plain http on the default port and a path without `/engagements`.
/// A client that follows it literally reaches nothing; one that keeps the referrals base's
/// scheme and port gets the page.
fn documented_next_link(base_url: &str, token: &str) -> String {
    let link = &Published::get().next_link;
    let host = url::Url::parse(base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| Published::get().host.clone());
    format!(
        "{}://{host}{}?{}={token}",
        link.scheme, link.path, link.parameter
    )
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
    if source == Source::Api {
        refuse_read_only(&body)?;
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
    let services = ["partnerRole", "solutionArea", "solutionPlay"];
    if source == Source::Api
        && state.pc.config.require_services_fields
        && body.get("type").and_then(Value::as_str) == Some("Shared")
        && let Some(missing) = services.iter().find(|k| {
            body.get(**k)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
    {
        return Err(PcError::invalid(format!(
            "{missing} is required for Services co-sell referrals"
        )));
    }
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
    refuse_read_only(&next)?;
    let keeps = &state.pc.config.put_keeps;
    let referral = update(&state, &id, if_match.as_deref(), |current| {
        // What the service sets itself stays as it was.
        let mut next = next.clone();
        for key in &Published::get().referral.read_only {
            if let Some(value) = current.get(key) {
                next.insert(key.clone(), value.clone());
            }
        }
        let after = Value::Object(next.clone());
        match keeps
            .iter()
            .find(|p| current.pointer(p) != after.pointer(p))
        {
            Some(path) => Err(PcError::invalid(format!("'{path}' cannot be changed"))),
            None => Ok(next),
        }
    })?;
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
    let config = &state.pc.config;
    if !config.lenient.any_patch_path {
        check_patchable(&ops)?;
    }
    let if_match = if_match(&headers).filter(|_| !config.ignore_if_match_on_patch);
    let referral = update(&state, &id, if_match.as_deref(), |current| {
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
    if !config.lenient.patch_representation {
        // The connector declares a bare 204: no body and no ETag, whatever `Prefer` says.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if wants_body {
        return Ok(with_etag(StatusCode::OK, referral));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(etag) = str_field(&referral, "eTag").parse() {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Refuses an operation outside the connector's allow-list (`published.toml`), naming it, before
/// anything is applied: Partner Center's `400 invalidRequest`.
fn check_patchable(ops: &Value) -> Result<(), PcError> {
    let facts = Published::get();
    for op in ops.as_array().into_iter().flatten() {
        let (kind, path) = (
            op.get("op").and_then(Value::as_str).unwrap_or_default(),
            op.get("path").and_then(Value::as_str).unwrap_or_default(),
        );
        if !facts.patchable(kind, path) {
            return Err(PcError::invalid(format!(
                "'{kind}' of '{path}' is not allowed: a referral's PATCH takes only {} of {}",
                facts.patch.ops.join(" or "),
                facts.patch.paths.join(", ")
            )));
        }
    }
    Ok(())
}

/// Checks `If-Match`, builds the next version with `change`, checks the status machine, stores
/// it and fires `referral-updated`.
/// A create or `PUT` naming a member the connector's Swagger marks read-only: `400`, the
/// strictest reading of `readOnly` (a service may also ignore it).
fn refuse_read_only(body: &Map<String, Value>) -> Result<(), PcError> {
    match Published::get()
        .referral
        .read_only
        .iter()
        .find(|key| body.contains_key(key.as_str()))
    {
        Some(key) => Err(PcError::invalid(format!(
            "'{key}' is read-only: the service sets it"
        ))),
        None => Ok(()),
    }
}

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
