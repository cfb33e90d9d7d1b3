//! Change tracking: `Prefer: odata.track-changes` on `GET <set>?$select=…` answers every row,
//! paged, the last page carrying `@odata.deltaLink`; `GET <deltaLink>` answers the rows written
//! since (created or updated) and `$deletedEntity` entries for deleted rows, then a new link.
//!
//! A delta token is `<version>!<MM/dd/yyyy HH:mm:ss>` (the shape of the real ones): the store
//! version it was issued at and when. It is refused with 400 (by default `0x80040203`; with the
//! lenient knob the `0x80044352` ExpiredVersionStamp documented only for metadata, "Version stamp
//! associated with the client has expired. Please perform a full sync.") once older than the
//! configured age, or after the admin route expired every token. A delta that finds nothing
//! answers `{}` (the change-tracking page: an empty JSON answer may come back).
//!
//! Every listing covers versions `(from, upper]`, `upper` fixed when the listing started, and is
//! paged by version (`$skiptoken=ct!<from>!<upper>!<last version>`), so a row written while the
//! pages are read is not lost: its new version is above `upper` and comes in the next delta.

use axum::http::StatusCode;
use serde_json::{Map, Value};
use time::PrimitiveDateTime;
use time::macros::format_description;
use uuid::Uuid;

use super::error::{DvError, code};
use super::odata::QueryOptions;
use super::projection;
use super::query::{self, MAX_PAGE_SIZE};
use super::request::{Ctx, DvResponse};
use super::store::Store;

/// Whether a GET on a collection is a change-tracking request.
/// Whether `set` has change tracking on: as configured, or switched on by a metadata update.
pub fn tracks_changes(ctx: &Ctx, store: &Store, set: &str) -> bool {
    let table = ctx.config.table(set);
    table.change_tracking || store.change_tracking_on.contains(&table.logical_name(set))
}

pub fn is_tracking(ctx: &Ctx, options: &QueryOptions) -> bool {
    ctx.prefer.track_changes
        || options.deltatoken.is_some()
        || options
            .skiptoken
            .as_deref()
            .is_some_and(|t| t.starts_with("ct!"))
}

const TOKEN_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");

pub fn list(
    ctx: &Ctx,
    store: &Store,
    set: &str,
    options: &QueryOptions,
) -> Result<DvResponse, DvError> {
    let table = ctx.config.table(set);
    let logical = table.logical_name(set);
    if !tracks_changes(ctx, store, set) {
        return Err(DvError::new(
            StatusCode::BAD_REQUEST,
            code::CHANGE_TRACKING_DISABLED,
            format!("Change tracking is not enabled for the entity '{logical}'."),
        ));
    }
    if ctx.config.business_unit_read.contains(&logical) {
        return Err(DvError::new(
            StatusCode::FORBIDDEN,
            code::PRIVILEGE_DENIED,
            format!(
                "Principal user is missing prvRead{logical} privilege at Organization level: \
                 change tracking needs organization level read access to the table '{logical}'."
            ),
        ));
    }
    for (given, name) in [
        (options.filter.is_some(), "$filter"),
        (!options.orderby.is_empty(), "$orderby"),
        (!options.expand.is_empty(), "$expand"),
        (options.top.is_some(), "$top"),
    ] {
        if given {
            return Err(DvError::bad_request(format!(
                "The query parameter {name} is not supported with change tracking."
            )));
        }
    }
    let delta_from = match &options.deltatoken {
        Some(token) => Some(check_token(ctx, store, token)?),
        None => None,
    };
    let (from, upper, after) = match options.skiptoken.as_deref() {
        Some(token) => parse_skiptoken(token)?,
        None => {
            let from = delta_from.unwrap_or(0);
            (from, store.version(), from)
        }
    };

    // (version, entry) of everything written in (after, upper], in version order.
    let mut entries: Vec<(u64, Entry)> = store
        .rows(set)
        .filter(|(_, row)| row.version > after && row.version <= upper)
        .map(|(id, row)| (row.version, Entry::Row(*id)))
        .collect();
    if delta_from.is_some() {
        entries.extend(
            store
                .deletions(set)
                .filter(|d| d.version > after && d.version <= upper)
                .filter(|d| {
                    store
                        .get(set, &d.id)
                        .is_none_or(|row| row.version < d.version)
                })
                .map(|d| (d.version, Entry::Deleted(d.id))),
        );
    }
    entries.sort_by_key(|(version, _)| *version);

    let page_size = ctx
        .prefer
        .max_page_size
        .unwrap_or(MAX_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let more = entries.len() > page_size;
    entries.truncate(page_size);
    let last = entries.last().map_or(after, |(v, _)| *v);

    let context_set = projection::context_of(set, options.select.as_deref());
    let mut value = Vec::with_capacity(entries.len());
    for (_, entry) in &entries {
        value.push(match entry {
            Entry::Row(id) => {
                let row = store.get(set, id).expect("listed row exists");
                Value::Object(projection::project(
                    ctx,
                    set,
                    id,
                    row,
                    options.select.as_deref(),
                ))
            }
            Entry::Deleted(id) => serde_json::json!({
                "@odata.context": format!("{}/$metadata#{set}/$deletedEntity", ctx.api),
                "id": id.to_string(),
                "reason": "deleted",
            }),
        });
    }

    if delta_from.is_some() && value.is_empty() && !ctx.config.lenient.delta_always_has_value {
        // Nothing changed: an empty JSON answer, as the change-tracking page allows.
        return Ok(DvResponse::json(StatusCode::OK, Value::Object(Map::new()))
            .with_header("Preference-Applied", "odata.track-changes"));
    }
    let mut body = Map::new();
    let context = if delta_from.is_some() {
        format!("{}/$metadata#{context_set}/$delta", ctx.api)
    } else {
        format!("{}/$metadata#{context_set}", ctx.api)
    };
    body.insert("@odata.context".into(), Value::String(context));
    body.insert("value".into(), Value::Array(value));
    if more {
        let skiptoken = format!("ct!{from}!{upper}!{last}");
        body.insert(
            "@odata.nextLink".into(),
            Value::String(query::link(
                ctx.api,
                set,
                &options.raw,
                &[("$skiptoken", &skiptoken)],
                &["$skiptoken"],
            )),
        );
    } else {
        let token = issue_token(upper);
        body.insert(
            "@odata.deltaLink".into(),
            Value::String(query::link(
                ctx.api,
                set,
                &options.raw,
                &[("$deltatoken", &token)],
                &["$skiptoken", "$deltatoken"],
            )),
        );
    }
    Ok(DvResponse::json(StatusCode::OK, Value::Object(body))
        .with_header("Preference-Applied", "odata.track-changes"))
}

enum Entry {
    Row(Uuid),
    Deleted(Uuid),
}

fn issue_token(version: u64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = PrimitiveDateTime::new(now.date(), now.time())
        .format(TOKEN_TIME)
        .unwrap_or_default();
    format!("{version}!{stamp}")
}

/// The version a live token stands for; an expired one is `ExpiredVersionStamp`.
fn check_token(ctx: &Ctx, store: &Store, token: &str) -> Result<u64, DvError> {
    let invalid = || DvError::bad_request(format!("The delta token '{token}' is not valid."));
    let (version, stamp) = token.split_once('!').ok_or_else(invalid)?;
    let version: u64 = version.parse().map_err(|_| invalid())?;
    let issued = PrimitiveDateTime::parse(stamp, TOKEN_TIME)
        .map_err(|_| invalid())?
        .assume_utc();
    let age = time::OffsetDateTime::now_utc() - issued;
    let too_old =
        age.whole_seconds() > i64::try_from(ctx.delta_token_max_age_secs).unwrap_or(i64::MAX);
    if too_old || version <= store.tokens_expired_through {
        let code = if ctx.config.lenient.expired_version_stamp {
            code::EXPIRED_VERSION_STAMP
        } else {
            code::INVALID_ARGUMENT
        };
        return Err(DvError::new(
            StatusCode::BAD_REQUEST,
            code,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        ));
    }
    Ok(version)
}

fn parse_skiptoken(token: &str) -> Result<(u64, u64, u64), DvError> {
    let invalid = || DvError::bad_request(format!("The $skiptoken '{token}' is not valid."));
    let mut parts = token.strip_prefix("ct!").ok_or_else(invalid)?.split('!');
    let mut next = || -> Result<u64, DvError> {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)
    };
    Ok((next()?, next()?, next()?))
}
