//! The Web API entry: every method under `/api/data/v9.2/`, authenticated (a bearer token for the
//! Dataverse audience, else 401), admitted by the service-protection limits (else 429), then
//! routed by its OData resource. Each operation is also counted precisely
//! (`POST opportunities`, `PATCH opportunities(key)`, `batch POST accounts`…), because the route
//! counter only sees the wildcard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use uuid::Uuid;

use super::error::{DvError, code};
use super::odata::{MetadataPart, Prefer, QueryOptions, Resource};
use super::request::{Body, Ctx, DvRequest, DvResponse};
use super::store::Store;
use super::{DvState, actions, batch, changes, customize, metadata, query, rows};
use crate::{Audience, Service, SimState};

/// The service root every URL is under.
pub const API_PATH: &str = "/api/data/v9.2";

pub fn router() -> Router<Arc<SimState>> {
    Router::new().route("/api/data/v9.2/{*path}", any(handle))
}

async fn handle(
    State(state): State<Arc<SimState>>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = match state.tokens.authorize(&headers, Audience::Dataverse) {
        Ok(access) => access,
        Err(why) => {
            let mut response =
                DvError::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, why).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    // A person signed in (delegated), or the application user (client credentials).
    let caller = access.grant.user.clone();
    let dv = &state.dv;
    let admission = match dv.limits.admit() {
        Ok(admission) => admission,
        Err(throttled) => {
            state.counters.event(Service::Dataverse, "throttled");
            state
                .counters
                .event(Service::Dataverse, &format!("throttled {}", throttled.code));
            tracing::debug!(
                code = throttled.code,
                retry_after = throttled.retry_after_secs,
                "dataverse request throttled"
            );
            let mut response = DvError::new(
                StatusCode::TOO_MANY_REQUESTS,
                throttled.code,
                throttled.message,
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(throttled.retry_after_secs),
            );
            return response;
        }
    };
    let execution_ms = dv.limits.config().execution_ms;
    if execution_ms > 0 {
        tokio::time::sleep(Duration::from_millis(execution_ms)).await;
    }
    let request = DvRequest {
        method,
        path,
        query: url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        headers,
        body,
    };
    let mut ops = Operations::default();
    let mut response = execute(&state, request, caller.as_deref(), &mut ops);
    // The operations' server time passes while the request holds its admission, so the
    // execution-time window is charged for it; the store is not held meanwhile.
    let limits = dv.limits.config();
    let cost = limits.cost.of(ops.reads, ops.writes);
    if !cost.is_zero() {
        tokio::time::sleep(cost).await;
    }
    response
        .headers_mut()
        .insert("x-ms-dop-hint", HeaderValue::from(limits.dop_hint));
    drop(admission);
    response
}

/// The operations a top-level request ran, for their cost.
#[derive(Debug, Default)]
struct Operations {
    reads: u64,
    writes: u64,
}

impl Operations {
    fn count(&mut self, method: &Method) {
        match *method {
            Method::GET => self.reads += 1,
            _ => self.writes += 1,
        }
    }
}

/// Runs one top-level request (a `$batch` or a single operation) under the store lock.
fn execute(
    state: &SimState,
    request: DvRequest,
    caller: Option<&str>,
    ops: &mut Operations,
) -> Response {
    let dv = &state.dv;
    let mut store = dv.store.lock().expect("dataverse store");
    let response = answer(state, &mut store, request, caller, ops);
    // A Web API call acts as the person signed in, or the application user: its writes raise
    // the webhook as that user.
    let changes = store.take_changes();
    let config = dv.config();
    let initiator = caller.map_or(config.application_user_id, user_id);
    dv.deliveries.raise(&config, &store, changes, initiator);
    response
}

/// The `systemuserid` the simulator gives a signed-in person.
pub fn user_id(user: &str) -> Uuid {
    super::ids::stable_id(&format!("systemuser:{user}"))
}

fn answer(
    state: &SimState,
    store: &mut Store,
    request: DvRequest,
    caller: Option<&str>,
    ops: &mut Operations,
) -> Response {
    if request.path.trim_matches('/') == "$batch" {
        if request.method != Method::POST {
            return method_not_allowed(&request).into_response();
        }
        state.counters.event(Service::Dataverse, "POST $batch");
        let content_type = request.header("content-type").unwrap_or("");
        let items = match batch::parse(content_type, &request.body) {
            Ok(items) => items,
            Err(error) => return error.into_response(),
        };
        let prefer = Prefer::from_headers(&request.headers);
        let names_part = state.dv.config().lenient.failed_change_set_names_part;
        let (status, bytes, content_type) = batch::run(
            store,
            &items,
            &prefer,
            names_part,
            &mut |store: &mut Store, part: &DvRequest, refs: &HashMap<String, (String, Uuid)>| {
                ops.count(&part.method);
                execute_one(state, store, part, refs, "batch ", caller)
            },
        );
        return DvResponse {
            status,
            headers: Vec::new(),
            body: Body::Raw {
                content_type,
                bytes,
            },
        }
        .into_response();
    }
    ops.count(&request.method);
    match execute_one(state, store, &request, &HashMap::new(), "", caller) {
        Ok((response, _)) => response.into_response(),
        Err(error) => error.into_response(),
    }
}

/// Runs one operation; answers it and the row it wrote (for a change set's `Content-ID`).
pub fn execute_one(
    state: &SimState,
    store: &mut Store,
    request: &DvRequest,
    refs: &HashMap<String, (String, Uuid)>,
    event_prefix: &'static str,
    caller: Option<&str>,
) -> Result<(DvResponse, Option<(String, Uuid)>), DvError> {
    let dv: &DvState = &state.dv;
    let resource = super::odata::parse_path(&request.path)?;
    let config = dv.config();
    if customizes(&request.method, &resource) && !may_customize(&config, caller) {
        return Err(DvError::new(
            StatusCode::FORBIDDEN,
            code::PRIVILEGE_DENIED,
            format!(
                "Principal user ({}) is missing prvCreateEntity privilege: changing tables, \
                 columns, views, forms or plug-in steps needs the System Customizer role.",
                caller.unwrap_or("the application user")
            ),
        ));
    }
    let options = QueryOptions::parse(request.query.clone())?;
    let ctx = Ctx {
        config: &config,
        api: &dv.api,
        prefer: Prefer::from_headers(&request.headers),
        refs,
        delta_token_max_age_secs: dv.delta_token_max_age_secs(),
        counters: &state.counters,
        event_prefix,
    };
    match (&request.method, resource) {
        (&Method::GET, Resource::Collection(name)) if name == "WhoAmI" => {
            ctx.event("GET WhoAmI");
            Ok((
                DvResponse::json(
                    StatusCode::OK,
                    serde_json::json!({
                        "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", ctx.api),
                        "BusinessUnitId": super::ids::stable_id("businessunit:root"),
                        "UserId": caller.map_or(ctx.config.application_user_id, user_id),
                        "OrganizationId": super::ids::stable_id("organization"),
                    }),
                ),
                None,
            ))
        }
        (&Method::POST, Resource::Collection(name)) if name == "RelationshipDefinitions" => {
            ctx.event("POST RelationshipDefinitions");
            Ok((customize::create_relationship(state, request)?, None))
        }
        (&Method::GET, Resource::Collection(set)) => {
            if changes::is_tracking(&ctx, &options) {
                ctx.event(&format!("GET {set} (changes)"));
                Ok((changes::list(&ctx, store, &set, &options)?, None))
            } else {
                ctx.event(&format!("GET {set}"));
                Ok((query::list(&ctx, store, &set, &options)?, None))
            }
        }
        (&Method::GET, Resource::Entity(set, key)) => {
            ctx.event(&format!("GET {set}(key)"));
            Ok((rows::read(&ctx, store, &set, &key, &options)?, None))
        }
        (&Method::POST, Resource::Collection(name))
            if actions::ACTIONS.contains(&name.as_str()) =>
        {
            ctx.event(&format!("POST {name}"));
            Ok((actions::run(&ctx, store, &name, request)?, None))
        }
        (&Method::POST, Resource::Collection(set)) => {
            ctx.event(&format!("POST {set}"));
            let (response, id) = rows::create(&ctx, store, &set, request, &options)?;
            Ok((response, Some((set, id))))
        }
        (&Method::PATCH, Resource::Entity(set, key)) => {
            ctx.event(&format!("PATCH {set}(key)"));
            let (response, id) = rows::upsert(&ctx, store, &set, &key, request, &options)?;
            Ok((response, Some((set, id))))
        }
        (&Method::DELETE, Resource::Entity(set, key)) => {
            ctx.event(&format!("DELETE {set}(key)"));
            Ok((rows::delete(&ctx, store, &set, &key, request)?, None))
        }
        (&Method::GET, Resource::EntityDefinitions { logical_name, part }) => {
            ctx.event("GET EntityDefinitions");
            Ok((
                metadata::get(&ctx, store, logical_name.as_deref(), &part, &options)?,
                None,
            ))
        }
        (
            &Method::POST,
            Resource::EntityDefinitions {
                logical_name: None,
                part: MetadataPart::Table,
            },
        ) => {
            ctx.event("POST EntityDefinitions");
            Ok((customize::create_table(state, store, request)?, None))
        }
        (
            &Method::POST,
            Resource::EntityDefinitions {
                logical_name: Some(table),
                part: MetadataPart::Attributes,
            },
        ) => {
            ctx.event("POST EntityDefinitions Attributes");
            Ok((customize::create_attribute(state, &table, request)?, None))
        }
        (
            &Method::PUT,
            Resource::EntityDefinitions {
                logical_name: Some(logical_name),
                part: MetadataPart::Table,
            },
        ) => {
            ctx.event("PUT EntityDefinitions");
            Ok((metadata::put(&ctx, store, &logical_name, request)?, None))
        }
        (&Method::POST, Resource::Batch) => Err(DvError::bad_request(
            "A $batch request cannot contain another $batch request.",
        )),
        _ => Err(method_not_allowed(request)),
    }
}

/// The sets a customization writes: the schema, the views and forms, and the event pipeline.
const CUSTOMIZATION_SETS: [&str; 9] = [
    "RelationshipDefinitions",
    "PublishXml",
    "publishers",
    "solutions",
    "serviceendpoints",
    "sdkmessageprocessingsteps",
    "sdkmessageprocessingstepimages",
    "savedqueries",
    "systemforms",
];

/// Whether a request changes the environment's customizations.
fn customizes(method: &Method, resource: &Resource) -> bool {
    if method == Method::GET {
        return false;
    }
    match resource {
        Resource::EntityDefinitions { .. } => true,
        Resource::Collection(set) | Resource::Entity(set, _) => {
            CUSTOMIZATION_SETS.contains(&set.as_str())
        }
        _ => false,
    }
}

/// Whether `caller` may customize: everyone, unless [`DvConfig::customizers`] names who may.
fn may_customize(config: &super::DvConfig, caller: Option<&str>) -> bool {
    config.customizers.is_empty()
        || caller.is_some_and(|user| {
            config
                .customizers
                .iter()
                .any(|c| c.eq_ignore_ascii_case(user))
        })
}

fn method_not_allowed(request: &DvRequest) -> DvError {
    DvError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        format!(
            "The HTTP method '{}' is not allowed on '{}'.",
            request.method, request.path
        ),
    )
}
