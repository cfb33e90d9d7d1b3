//! `GET <set>?$select&$filter&$orderby&$top&$expand` with server-driven paging: `Prefer:
//! odata.maxpagesize=N` (≤ 5000) and `@odata.nextLink` carrying a `$skiptoken`. Without
//! `$orderby` the pages are keyset pages on the primary key (`k!<last id>`), so rows written
//! between pages do not shift the next page; with `$orderby` the token is an offset (`o!<n>`).

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::DvError;
use super::odata::QueryOptions;
use super::projection::{context_of, expand_row, project, sort};
use super::request::{Ctx, DvResponse};
use super::store::{Store, StoredRow};

/// The most rows a page holds, and the default page size.
pub const MAX_PAGE_SIZE: usize = 5000;

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
        let mut out = project(ctx, set, id, row, options.select.as_deref());
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
