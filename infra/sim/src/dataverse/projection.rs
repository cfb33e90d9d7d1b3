//! What a row looks like in an answer: its columns as selected, its lookups' annotations, its
//! `$expand`ed relations in order, and the `@odata.context` naming them. Reads (`rows`) and
//! listings (`query`) both answer through it.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::DvError;
use super::filter;
use super::odata::{Expand, OrderBy};
use super::plugins;
use super::request::Ctx;
use super::store::{Store, StoredRow};

/// The annotation Dataverse puts on a lookup value to say which table it points to.
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";

/// The row as answered: `@odata.etag`, the primary key, the selected columns (null when
/// unset), and lookup annotations only when `Prefer: odata.include-annotations` asks for them.
pub fn project(
    ctx: &Ctx,
    set: &str,
    id: &Uuid,
    row: &StoredRow,
    select: Option<&[String]>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), Value::String(row.etag()));
    let wanted = |column: &str| select.is_none_or(|s| s.iter().any(|c| c == column));
    for (name, value) in &row.data {
        if plugins::write_only(set, name) {
            continue;
        }
        match name.split_once('@') {
            Some((column, annotation)) => {
                if wanted(column) && ctx.prefer.shows_annotation(annotation) {
                    out.insert(name.clone(), value.clone());
                }
            }
            None => {
                if wanted(name) {
                    out.insert(name.clone(), value.clone());
                }
            }
        }
    }
    if let Some(select) = select {
        for column in select {
            out.entry(column.clone()).or_insert(Value::Null);
        }
    }
    let key = ctx.config.table(set).primary_key(set);
    out.insert(key, Value::String(id.to_string()));
    out
}

/// `parentaccountid` → `_parentaccountid_value`; `customerid_account` → `_customerid_value`.
pub fn lookup_column(ctx: &Ctx, navigation: &str) -> String {
    let base = ctx
        .config
        .polymorphic_lookups
        .iter()
        .find(|p| {
            navigation
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('_'))
        })
        .map_or(navigation, String::as_str);
    format!("_{base}_value")
}

/// `accounts(name,telephone1)` — the part of `@odata.context` after `$metadata#`.
pub fn context_of(set: &str, select: Option<&[String]>) -> String {
    match select {
        Some(columns) if !columns.is_empty() => format!("{set}({})", columns.join(",")),
        _ => set.to_owned(),
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
                        Value::Object(project(
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
    let column = lookup_column(ctx, &expand.navigation);
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
        Some(row) => Value::Object(project(
            ctx,
            &target_set,
            &target,
            row,
            expand.select.as_deref(),
        )),
        None => Value::Null,
    })
}

pub fn sort(rows: &mut [(&Uuid, &StoredRow)], orderby: &OrderBy) {
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
