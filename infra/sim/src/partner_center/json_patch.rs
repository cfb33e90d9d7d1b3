//! JSON Patch (RFC 6902), the two operations Partner Center accepts: `add` and `replace`.
//! `replace` needs the target to exist (RFC 6902 §4.3); stored referrals carry every documented
//! key (null when unset), so replacing a documented field always works.

use serde::Deserialize;
use serde_json::Value;

use super::http::PcError;
use super::store::SERVER_KEYS;

#[derive(Debug, Deserialize)]
struct Operation {
    op: String,
    path: String,
    value: Option<Value>,
}

/// Applies `ops` (the request body) to `doc`, all or nothing.
pub fn apply(doc: &mut Value, ops: Value) -> Result<(), PcError> {
    let ops: Vec<Operation> = serde_json::from_value(ops)
        .map_err(|e| PcError::invalid(format!("the body is not a JSON Patch document: {e}")))?;
    let mut work = doc.clone();
    for op in ops {
        apply_one(&mut work, op)?;
    }
    *doc = work;
    Ok(())
}

fn apply_one(doc: &mut Value, op: Operation) -> Result<(), PcError> {
    let tokens = pointer_tokens(&op.path)?;
    if SERVER_KEYS.contains(&tokens[0].as_str()) {
        return Err(PcError::invalid(format!("'{}' is read-only", op.path)));
    }
    let value = op
        .value
        .ok_or_else(|| PcError::invalid(format!("'{}' of '{}' needs a value", op.op, op.path)))?;
    let (last, parents) = tokens.split_last().expect("at least one token");
    let parent = parents
        .iter()
        .try_fold(doc, |node, token| child(node, token))
        .ok_or_else(|| PcError::invalid(format!("the parent of '{}' does not exist", op.path)))?;
    let missing = || PcError::invalid(format!("'{}' does not exist", op.path));
    match (op.op.as_str(), parent) {
        ("add", Value::Object(map)) => {
            map.insert(last.clone(), value);
        }
        ("replace", Value::Object(map)) => {
            *map.get_mut(last).ok_or_else(missing)? = value;
        }
        ("add", Value::Array(list)) if last == "-" => list.push(value),
        ("add", Value::Array(list)) => {
            let i = index(last, list.len() + 1).ok_or_else(missing)?;
            list.insert(i, value);
        }
        ("replace", Value::Array(list)) => {
            let i = index(last, list.len()).ok_or_else(missing)?;
            list[i] = value;
        }
        ("add" | "replace", _) => {
            return Err(PcError::invalid(format!(
                "the parent of '{}' is not an object or array",
                op.path
            )));
        }
        (other, _) => {
            return Err(PcError::invalid(format!(
                "operation '{other}' is not supported; use replace or add"
            )));
        }
    }
    Ok(())
}

fn child<'a>(node: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(list) => {
            let i = index(token, list.len())?;
            list.get_mut(i)
        }
        _ => None,
    }
}

fn index(token: &str, bound: usize) -> Option<usize> {
    token.parse::<usize>().ok().filter(|i| *i < bound)
}

/// `/customerProfile/address/country` → `["customerProfile", "address", "country"]`, with `~1`
/// and `~0` unescaped.
fn pointer_tokens(path: &str) -> Result<Vec<String>, PcError> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PcError::invalid(format!("'{path}' is not a JSON pointer to a field")))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_and_add() {
        let mut doc = json!({"status": "New", "team": [], "details": {"notes": null}});
        apply(
            &mut doc,
            json!([
                {"op": "replace", "path": "/status", "value": "Active"},
                {"op": "add", "path": "/team/-", "value": {"firstName": "A"}},
                {"op": "replace", "path": "/details/notes", "value": "n"},
                {"op": "add", "path": "/a~1b", "value": 1},
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"status": "Active", "team": [{"firstName": "A"}], "details": {"notes": "n"}, "a/b": 1})
        );
    }

    #[test]
    fn refuses_other_ops_missing_targets_and_server_fields_without_partial_change() {
        let mut doc = json!({"status": "New"});
        for ops in [
            json!([{"op": "replace", "path": "/status", "value": "Active"}, {"op": "remove", "path": "/status"}]),
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "replace", "path": "/eTag", "value": "x"}]),
        ] {
            assert!(apply(&mut doc, ops).is_err());
        }
        assert_eq!(doc, json!({"status": "New"}));
    }
}
