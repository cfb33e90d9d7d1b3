//! The mapped fields that go out (`direction = "out"` or `"both"`): each column's value as the
//! referral member its field names, through the value map read backwards.

use serde_json::Value;

use super::OpportunityProblem;
use crate::config::CrmConfig;
use crate::custom::{FieldMapping, MappedValues, Table};

/// `(field, the referral's value)` for each outgoing field whose column is in `columns`; a value
/// the value map does not list is a problem naming the column.
pub(crate) fn values<'a>(
    cfg: &'a CrmConfig,
    mapped: &MappedValues,
    columns: impl Fn(&str) -> bool,
    problems: &mut Vec<OpportunityProblem>,
) -> Vec<(&'a FieldMapping, Value)> {
    let mut out = Vec::new();
    for field in cfg.mapping.outbound(Table::Opportunity) {
        if !columns(&field.column) {
            continue;
        }
        let column_value = mapped.get(&field.column).cloned().unwrap_or_default();
        if column_value.is_null() {
            out.push((field, Value::Null));
            continue;
        }
        match field.to_referral(&column_value) {
            Some(value) => out.push((field, value)),
            None => problems.push(OpportunityProblem::UnmappedValue {
                column: field.column.clone(),
                pointer: field.referral.clone(),
                value: column_value.to_string(),
            }),
        }
    }
    out
}
