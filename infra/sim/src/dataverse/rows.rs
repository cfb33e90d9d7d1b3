//! Create, read, update (upsert), delete of single rows; `@odata.bind` lookups; preconditions
//! (`If-Match`, `If-None-Match`); alternate keys; the projection every answer uses.

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{DvError, code};
use super::odata::{self, EntityKey, QueryOptions, Resource};
use super::projection::{LOOKUP_LOGICAL_NAME, context_of, expand_row, lookup_column, project};
use super::request::{Ctx, DvRequest, DvResponse};
use super::store::{Store, StoredRow};
use super::values;

const ASSOCIATED_NAVIGATION: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// Where a key points: the existing row, or the id a create through this key would get.
pub struct Located {
    pub existing: Option<Uuid>,
    pub new_id: Uuid,
    /// Alternate key columns and values, set on a row created through the key.
    pub key_values: Vec<(String, Value)>,
}

pub fn locate(ctx: &Ctx, store: &Store, set: &str, key: &EntityKey) -> Result<Located, DvError> {
    match key {
        EntityKey::Id(id) => Ok(Located {
            existing: store.get(set, id).map(|_| *id),
            new_id: *id,
            key_values: Vec::new(),
        }),
        EntityKey::Alternate(parts) => {
            let table = ctx.config.table(set);
            for (column, _) in parts {
                if !table.alternate_keys.contains(column) {
                    return Err(DvError::bad_request(format!(
                        "Invalid alternate key: '{column}' is not a key of '{}'.",
                        table.logical_name(set)
                    )));
                }
            }
            let existing = store
                .rows(set)
                .find(|(_, row)| {
                    parts
                        .iter()
                        .all(|(c, v)| same_value(row.data.get(c).unwrap_or(&Value::Null), v))
                })
                .map(|(id, _)| *id);
            Ok(Located {
                existing,
                new_id: Uuid::new_v4(),
                key_values: parts.clone(),
            })
        }
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// `GET <set>(<key>)?$select=…`
pub fn read(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    key: &EntityKey,
    options: &QueryOptions,
) -> Result<DvResponse, DvError> {
    let logical = ctx.config.table(set).logical_name(set);
    let located = locate(ctx, store, set, key)?;
    let Some(id) = located.existing else {
        return Err(DvError::not_found(&logical, key));
    };
    let row = store.get(set, &id).expect("located row exists");
    let mut body = project(ctx, set, &id, row, options.select.as_deref());
    expand_row(ctx, store, set, &id, &row.data, &options.expand, &mut body)?;
    let mut with_context = Map::new();
    with_context.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#{}/$entity",
            ctx.api,
            context_of(set, options.select.as_deref())
        )),
    );
    with_context.extend(body);
    Ok(
        DvResponse::json(StatusCode::OK, Value::Object(with_context))
            .with_header("ETag", row.etag()),
    )
}

/// `POST <set>`
pub fn create(
    ctx: &Ctx,
    store: &mut Store,
    set: &str,
    request: &DvRequest,
    options: &QueryOptions,
) -> Result<(DvResponse, Uuid), DvError> {
    let body = request.json_object()?;
    let table = ctx.config.table(set);
    let key_column = table.primary_key(set);
    let changes = write_columns(ctx, store, set, &body, false)?;
    let id = match changes.get(&key_column) {
        Some(Value::String(s)) => Uuid::try_parse(s).map_err(|_| {
            DvError::bad_request(format!("Invalid value for '{key_column}': '{s}'."))
        })?,
        Some(Value::Null) | None => Uuid::new_v4(),
        Some(other) => {
            return Err(DvError::bad_request(format!(
                "Invalid value for '{key_column}': {other}."
            )));
        }
    };
    if store.get(set, &id).is_some() {
        return Err(DvError::new(
            StatusCode::PRECONDITION_FAILED,
            code::DUPLICATE_RECORD,
            "A record with matching key values already exists.",
        ));
    }
    insert_new(ctx, store, set, id, changes, &[])?;
    Ok((
        written(ctx, store, set, &id, options, StatusCode::CREATED),
        id,
    ))
}

/// `PATCH <set>(<key>)`: update, or create when missing (upsert), under the preconditions.
pub fn upsert(
    ctx: &Ctx,
    store: &mut Store,
    set: &str,
    key: &EntityKey,
    request: &DvRequest,
    options: &QueryOptions,
) -> Result<(DvResponse, Uuid), DvError> {
    let body = request.json_object()?;
    let table = ctx.config.table(set);
    let logical = table.logical_name(set);
    let located = locate(ctx, store, set, key)?;
    let if_match = request.header("if-match").map(str::trim);
    let if_none_match = request.header("if-none-match").map(str::trim);
    let mut changes = write_columns(ctx, store, set, &body, false)?;
    let key_column = table.primary_key(set);
    if let Some(given) = changes.remove(&key_column) {
        let expected = located.existing.unwrap_or(located.new_id).to_string();
        if given.as_str() != Some(expected.as_str()) {
            return Err(DvError::bad_request(format!(
                "The key '{key_column}' in the body does not match the key in the URL."
            )));
        }
    }
    match located.existing {
        Some(id) => {
            let row = store.get(set, &id).expect("located row exists");
            if if_none_match == Some("*") {
                return Err(DvError::new(
                    StatusCode::PRECONDITION_FAILED,
                    code::DUPLICATE_RECORD,
                    "A record with matching key values already exists.",
                ));
            }
            check_if_match(if_match, row)?;
            let mut data = row.data.clone();
            data.extend(changes);
            check_row(ctx, store, set, &id, &data, &table.required)?;
            data.insert("modifiedon".into(), now().into());
            store.put(set, id, data);
            Ok((written(ctx, store, set, &id, options, StatusCode::OK), id))
        }
        None => {
            if if_match.is_some() {
                return Err(DvError::not_found(&logical, key));
            }
            let id = located.new_id;
            insert_new(ctx, store, set, id, changes, &located.key_values)?;
            Ok((
                written(ctx, store, set, &id, options, StatusCode::CREATED),
                id,
            ))
        }
    }
}

/// `DELETE <set>(<key>)`
pub fn delete(
    ctx: &Ctx,
    store: &mut Store,
    set: &str,
    key: &EntityKey,
    request: &DvRequest,
) -> Result<DvResponse, DvError> {
    let logical = ctx.config.table(set).logical_name(set);
    let located = locate(ctx, store, set, key)?;
    let Some(id) = located.existing else {
        return Err(DvError::not_found(&logical, key));
    };
    let row = store.get(set, &id).expect("located row exists");
    check_if_match(request.header("if-match").map(str::trim), row)?;
    store.remove(set, &id);
    Ok(DvResponse::no_content())
}

fn check_if_match(if_match: Option<&str>, row: &StoredRow) -> Result<(), DvError> {
    match if_match {
        None | Some("*") => Ok(()),
        Some(tags) => {
            let current = row.etag();
            let strong = format!("\"{}\"", row.version);
            if tags
                .split(',')
                .map(str::trim)
                .any(|t| t == current || t == strong)
            {
                Ok(())
            } else {
                Err(DvError::precondition(format!(
                    "The version of the existing record doesn't match the RowVersion property provided. Current: {current}."
                )))
            }
        }
    }
}

/// Creates a row with defaults, key values, system columns; validates and stores it.
fn insert_new(
    ctx: &Ctx,
    store: &mut Store,
    set: &str,
    id: Uuid,
    changes: Map<String, Value>,
    key_values: &[(String, Value)],
) -> Result<(), DvError> {
    let table = ctx.config.table(set);
    let mut data = table.defaults.clone();
    data.extend(changes);
    for (column, value) in key_values {
        data.insert(column.clone(), value.clone());
    }
    data.insert(table.primary_key(set), Value::String(id.to_string()));
    check_row(ctx, store, set, &id, &data, &table.required)?;
    if ctx.config.plugin_requires_business_required {
        plugin_refuses_missing(&table, set, &data)?;
    }
    let stamp = now();
    data.insert("createdon".into(), stamp.clone().into());
    data.insert("modifiedon".into(), stamp.into());
    store.put(set, id, data);
    Ok(())
}

/// A partner's plug-in on create: every business-required column must be set. It fails the way a
/// plug-in's `InvalidPluginExecutionException` does (400, `0x80040265`, its own message).
fn plugin_refuses_missing(
    table: &super::config::TableConfig,
    set: &str,
    data: &Map<String, Value>,
) -> Result<(), DvError> {
    let missing: Vec<&str> = table
        .business_required
        .iter()
        .filter(|column| {
            let bound = data.get(&format!("_{column}_value"));
            data.get(column.as_str())
                .or(bound)
                .is_none_or(Value::is_null)
        })
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(DvError::new(
        StatusCode::BAD_REQUEST,
        code::PLUGIN_ABORTED,
        format!(
            "Contoso.Plugins.RequireFields: a new {} needs {}.",
            table.logical_name(set),
            missing.join(", ")
        ),
    ))
}

/// Required columns present, alternate key values unique.
fn check_row(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    id: &Uuid,
    data: &Map<String, Value>,
    required: &[String],
) -> Result<(), DvError> {
    let table = ctx.config.table(set);
    let logical = table.logical_name(set);
    for column in required {
        if data.get(column).is_none_or(Value::is_null) {
            return Err(DvError::new(
                StatusCode::BAD_REQUEST,
                code::VALIDATION,
                format!(
                    "A validation error occurred. The value of the '{column}' attribute of the '{logical}' entity is required."
                ),
            ));
        }
    }
    for column in &table.alternate_keys {
        let Some(value) = data.get(column).filter(|v| !v.is_null()) else {
            continue;
        };
        let clash = store.rows(set).any(|(other, row)| {
            other != id && row.data.get(column).is_some_and(|v| same_value(v, value))
        });
        if clash {
            return Err(DvError::new(
                StatusCode::PRECONDITION_FAILED,
                code::DUPLICATE_KEY,
                format!(
                    "A record that has the attribute values {column} = {value} already exists."
                ),
            ));
        }
    }
    Ok(())
}

/// The answer to a successful write: 204 + `OData-EntityId`, or the row with
/// `Prefer: return=representation` (201 on create, 200 on update).
fn written(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    id: &Uuid,
    options: &QueryOptions,
    status_with_body: StatusCode,
) -> DvResponse {
    let url = ctx.entity_url(set, id);
    let response = if ctx.prefer.return_representation {
        let row = store.get(set, id).expect("written row exists");
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            Value::String(format!(
                "{}/$metadata#{}/$entity",
                ctx.api,
                context_of(set, options.select.as_deref())
            )),
        );
        body.extend(project(ctx, set, id, row, options.select.as_deref()));
        DvResponse::json(status_with_body, Value::Object(body)).with_header("ETag", row.etag())
    } else {
        DvResponse::no_content()
    };
    response
        .with_header("OData-EntityId", url.clone())
        .with_header("Location", url)
}

/// Turns a request body into the columns to write: `x@odata.bind` becomes `_x_value` (with the
/// lookup annotations), other annotations are dropped. `admin` writes (seeding, a seller's edit)
/// may set `_x_value` and close opportunities directly.
pub fn write_columns(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    body: &Map<String, Value>,
    admin: bool,
) -> Result<Map<String, Value>, DvError> {
    let mut columns = Map::new();
    for (name, value) in body {
        if let Some(navigation) = name.strip_suffix("@odata.bind") {
            if !odata::is_identifier(navigation) {
                return Err(DvError::bad_request(format!("Invalid property '{name}'.")));
            }
            let column = lookup_column(ctx, navigation);
            match value {
                Value::Null => {
                    columns.insert(column, Value::Null);
                }
                Value::String(reference) => {
                    let (target_set, target) = resolve_reference(ctx, store, reference)?;
                    let logical = ctx.config.table(&target_set).logical_name(&target_set);
                    // An activity's regarding lookup has one navigation property per target
                    // (`regardingobjectid_opportunity_task`); any other name is undeclared.
                    if let Some(rest) = navigation.strip_prefix("regardingobjectid_") {
                        let own = ctx.config.table(set).logical_name(set);
                        if rest != format!("{logical}_{own}") {
                            return Err(DvError::bad_request(format!(
                                "An undeclared property '{navigation}' which only has property annotations in the payload but no property value was found in the payload."
                            )));
                        }
                    }
                    columns.insert(column.clone(), Value::String(target.to_string()));
                    columns.insert(
                        format!("{column}@{LOOKUP_LOGICAL_NAME}"),
                        logical.clone().into(),
                    );
                    columns.insert(
                        format!("{column}@{ASSOCIATED_NAVIGATION}"),
                        navigation.into(),
                    );
                    // As the platform does: the owner is also the owning user or team.
                    if navigation == "ownerid" {
                        let owning = match logical.as_str() {
                            "team" => "_owningteam_value",
                            _ => "_owninguser_value",
                        };
                        columns.insert(owning.into(), Value::String(target.to_string()));
                        columns.insert(
                            format!("{owning}@{LOOKUP_LOGICAL_NAME}"),
                            logical.clone().into(),
                        );
                    }
                }
                _ => {
                    return Err(DvError::bad_request(format!(
                        "The value of '{name}' must be a URL string."
                    )));
                }
            }
            continue;
        }
        if name.contains('@') {
            // Admin writes keep column annotations (`_x_value@…lookuplogicalname`), never
            // instance ones such as a copied `@odata.etag`.
            if admin && !name.starts_with('@') {
                columns.insert(name.clone(), value.clone());
            }
            continue; // @odata.type, @odata.etag and other annotations are not columns
        }
        if !odata::is_identifier(name) {
            return Err(DvError::bad_request(format!("Invalid property '{name}'.")));
        }
        if !admin && name.starts_with('_') && name.ends_with("_value") {
            return Err(DvError::bad_request(format!(
                "An undeclared property '{name}' which only has property annotations in the payload but no property value was found in the payload. Write lookups as '<navigation>@odata.bind'."
            )));
        }
        let table = ctx.config.table(set);
        if !admin && !table.attributes.is_empty() && !table.attributes.contains(name) {
            // As the real service: a column the table does not have fails the whole write.
            return Err(DvError::bad_request(format!(
                "Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{}'.",
                table.logical_name(set)
            )));
        }
        columns.insert(name.clone(), value.clone());
    }
    let closing = columns
        .get("statecode")
        .and_then(Value::as_i64)
        .is_some_and(|state| state != 0);
    if !admin && closing && ctx.config.table(set).logical_name(set) == "opportunity" {
        return Err(DvError::invalid(
            "An opportunity is closed with the WinOpportunity or LoseOpportunity action, not by setting statecode.",
        ));
    }
    if !admin {
        values::check(&ctx.config.table(set).logical_name(set), &columns)?;
    }
    Ok(columns)
}

/// A reference to a row: `/accounts(<id>)`, `accounts(<id>)`, an absolute URL, an alternate
/// key (`/accounts(accountnumber='A-1')`) or a change-set reference `$1`. The row must exist.
pub fn resolve_reference(
    ctx: &Ctx,
    store: &Store,
    reference: &str,
) -> Result<(String, Uuid), DvError> {
    if let Some(found) = ctx.refs.get(reference) {
        return Ok(found.clone());
    }
    if reference.starts_with('$') {
        return Err(DvError::bad_request(format!(
            "Content-ID Reference: '{reference}' does not exist in the batch context."
        )));
    }
    let relative = relative_path(reference);
    let Resource::Entity(set, key) = odata::parse_path(&relative)? else {
        return Err(DvError::bad_request(format!(
            "'{reference}' is not a reference to a single record."
        )));
    };
    let located = locate(ctx, store, &set, &key)?;
    match located.existing {
        Some(id) => Ok((set, id)),
        None => Err(DvError::not_found(
            &ctx.config.table(&set).logical_name(&set),
            key,
        )),
    }
}

/// Strips scheme, host and `/api/data/v9.2/` from a URL or path, and percent-decodes it.
pub fn relative_path(url: &str) -> String {
    let path = match url.find("/api/data/") {
        Some(at) => {
            let rest = &url[at + "/api/data/".len()..];
            rest.split_once('/').map_or("", |(_, r)| r)
        }
        None => url.trim_start_matches('/'),
    };
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// `2024-05-01T10:00:00Z`, as Dataverse writes date-times.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
