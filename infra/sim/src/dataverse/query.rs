//! `GET <set>?$select&$filter&$orderby&$top&$expand` with server-driven paging: `Prefer:
//! odata.maxpagesize=N` (≤ 5000) and `@odata.nextLink` carrying a `$skiptoken`. Without
//! `$orderby` the pages are keyset pages on the primary key (`k!<last id>`), so rows written
//! between pages do not shift the next page; with `$orderby` the token is an offset (`o!<n>`).

use std::cmp::Ordering;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::DvError;
use super::filter;
use super::odata::{Expand, OrderBy, QueryOptions};
use super::request::{Ctx, DvResponse};
use super::rows::{self, LOOKUP_LOGICAL_NAME};
use super::store::{Store, StoredRow};

/// The most rows a page holds, and the default page size.
pub const MAX_PAGE_SIZE: usize = 5000;

/// `accounts(name,telephone1)` — the part of `@odata.context` after `$metadata#`.
pub fn context_of(set: &str, select: Option<&[String]>) -> String {
    match select {
        Some(columns) if !columns.is_empty() => format!("{set}({})", columns.join(",")),
        _ => set.to_owned(),
    }
}

pub fn list(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    options: &QueryOptions,
) -> Result<DvResponse, DvError> {
    let mut rows: Vec<(&Uuid, &StoredRow)> = store
        .rows(set)
        .filter(|(_, row)| options.filter.as_ref().is_none_or(|f| f.matches(&row.data)))
        .collect();
    sort(&mut rows, &options.orderby);
    let page_size = ctx
        .prefer
        .max_page_size
        .unwrap_or(MAX_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let (page, next): (Vec<_>, Option<String>) = if let Some(top) = options.top {
        (rows.into_iter().take(top).collect(), None) // $top: no paging
    } else {
        let start = match options.skiptoken.as_deref() {
            None => 0,
            Some(token) => match token.split_once('!') {
                Some(("k", last)) if options.orderby.is_empty() => {
                    let last = Uuid::try_parse(last).map_err(|_| invalid_skiptoken(token))?;
                    rows.partition_point(|(id, _)| **id <= last)
                }
                Some(("o", offset)) => offset.parse().map_err(|_| invalid_skiptoken(token))?,
                _ => return Err(invalid_skiptoken(token)),
            },
        };
        let rest: Vec<_> = rows.into_iter().skip(start).collect();
        let more = rest.len() > page_size;
        let page: Vec<_> = rest.into_iter().take(page_size).collect();
        let next = more.then(|| {
            if options.orderby.is_empty() {
                format!("k!{}", page.last().map(|(id, _)| **id).unwrap_or_default())
            } else {
                format!("o!{}", start + page.len())
            }
        });
        (page, next)
    };
    let mut value = Vec::with_capacity(page.len());
    for (id, row) in page {
        let mut out = rows::project(ctx, set, id, row, options.select.as_deref());
        expand_row(ctx, store, set, id, &row.data, &options.expand, &mut out)?;
        value.push(Value::Object(out));
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "{}/$metadata#{}",
            ctx.api,
            context_of(set, options.select.as_deref())
        )),
    );
    body.insert("value".into(), Value::Array(value));
    if let Some(token) = next {
        body.insert(
            "@odata.nextLink".into(),
            Value::String(link(
                ctx.api,
                set,
                &options.raw,
                &[("$skiptoken", &token)],
                &["$skiptoken"],
            )),
        );
    }
    Ok(DvResponse::json(StatusCode::OK, Value::Object(body)))
}

fn invalid_skiptoken(token: &str) -> DvError {
    DvError::bad_request(format!("The $skiptoken '{token}' is not valid."))
}

/// `<api>/<set>?<kept options>&<added options>`, with values percent-encoded.
pub fn link(
    api: &str,
    set: &str,
    raw: &[(String, String)],
    add: &[(&str, &str)],
    drop: &[&str],
) -> String {
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut params: Vec<String> = raw
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    params.extend(add.iter().map(|(k, v)| format!("{k}={}", encode(v))));
    if params.is_empty() {
        format!("{api}/{set}")
    } else {
        format!("{api}/{set}?{}", params.join("&"))
    }
}

fn sort(rows: &mut [(&Uuid, &StoredRow)], orderby: &OrderBy) {
    if orderby.is_empty() {
        return; // primary key order, as stored
    }
    rows.sort_by(|(_, a), (_, b)| {
        for (column, desc) in orderby {
            let ordering = order_values(
                a.data.get(column).unwrap_or(&Value::Null),
                b.data.get(column).unwrap_or(&Value::Null),
            );
            let ordering = if *desc { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
}

/// Nulls first, then the filter's comparison.
fn order_values(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => filter::compare(a, b).unwrap_or(Ordering::Equal),
    }
}

/// Adds the `$expand`ed navigation properties of one row to its answer.
pub fn expand_row(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    id: &Uuid,
    data: &Map<String, Value>,
    expands: &[Expand],
    out: &mut Map<String, Value>,
) -> Result<(), DvError> {
    for expand in expands {
        let value = match ctx
            .config
            .relationships
            .iter()
            .find(|r| r.name == expand.navigation && r.parent_set == set)
        {
            Some(relationship) => {
                let lookup = format!("_{}_value", relationship.child_lookup);
                let me = id.to_string();
                let mut children: Vec<(&Uuid, &StoredRow)> = store
                    .rows(&relationship.child_set)
                    .filter(|(_, row)| {
                        row.data.get(&lookup).and_then(Value::as_str) == Some(me.as_str())
                    })
                    .filter(|(_, row)| expand.filter.as_ref().is_none_or(|f| f.matches(&row.data)))
                    .collect();
                sort(&mut children, &expand.orderby);
                let children = children
                    .into_iter()
                    .take(expand.top.unwrap_or(usize::MAX))
                    .map(|(child_id, row)| {
                        Value::Object(rows::project(
                            ctx,
                            &relationship.child_set,
                            child_id,
                            row,
                            expand.select.as_deref(),
                        ))
                    })
                    .collect();
                Value::Array(children)
            }
            None => single_valued(ctx, store, set, data, expand)?,
        };
        out.insert(expand.navigation.clone(), value);
    }
    Ok(())
}

/// `$expand=parentaccountid($select=name)`: the row a lookup points to, or null.
fn single_valued(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    data: &Map<String, Value>,
    expand: &Expand,
) -> Result<Value, DvError> {
    let column = rows::lookup_column(ctx, &expand.navigation);
    let annotation = format!("{column}@{LOOKUP_LOGICAL_NAME}");
    let known = data.contains_key(&column)
        || ctx
            .config
            .table(set)
            .attributes
            .iter()
            .any(|a| format!("_{a}_value") == column);
    if !known {
        return Err(DvError::bad_request(format!(
            "Could not find a property named '{}' on type 'Microsoft.Dynamics.CRM.{}'.",
            expand.navigation,
            ctx.config.table(set).logical_name(set)
        )));
    }
    let target = data
        .get(&column)
        .and_then(Value::as_str)
        .and_then(|id| Uuid::try_parse(id).ok());
    let target_set = data
        .get(&annotation)
        .and_then(Value::as_str)
        .and_then(|logical| ctx.config.set_of_logical(logical));
    let (Some(target), Some(target_set)) = (target, target_set) else {
        return Ok(Value::Null);
    };
    Ok(match store.get(&target_set, &target) {
        Some(row) => Value::Object(rows::project(
            ctx,
            &target_set,
            &target,
            row,
            expand.select.as_deref(),
        )),
        None => Value::Null,
    })
}
