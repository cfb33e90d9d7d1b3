//! What an outbound retry item (`outbound:<opportunity id>`) holds. A create under way marks it
//! with its [`Intent`](crate::intent::Intent) on top (`creatingSince`, `posted`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The payload of an outbound retry item. The keys are stored, so they stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundWork {
    /// The opportunity (also in the item's id).
    #[serde(default, deserialize_with = "lenient")]
    pub opportunity_id: Option<String>,
    /// What the item waits on ([`super::Read::seen`]): the row's deal hash when it failed, so
    /// the same row is not tried again until the seller edits it. `null` when unknown.
    #[serde(default, deserialize_with = "lenient")]
    pub hash: Option<String>,
    /// The Audit log as written: a row without a link keeps its log here.
    #[serde(default, deserialize_with = "lenient_list")]
    pub audit: Vec<String>,
}

impl OutboundWork {
    pub fn new(opportunity: Uuid, hash: Option<&str>, audit: &[String]) -> Self {
        Self {
            opportunity_id: Some(opportunity.to_string()),
            hash: hash.map(str::to_owned),
            audit: audit.to_vec(),
        }
    }

    /// The payload as stored; a value that does not read as one (written by hand, or by a
    /// version before it) reads as empty, as it always has.
    pub fn of(payload: &Value) -> Self {
        Self::deserialize(payload).unwrap_or_default()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A field that does not read as `T` reads as absent, rather than failing the whole payload.
fn lenient<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(T::deserialize(value).ok())
}

/// A list keeping only the entries that read as `T`.
fn lenient_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| T::deserialize(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_the_keys_the_code_before_it_wrote() {
        let id = Uuid::nil();
        let work = OutboundWork::new(id, None, &["a".into()]);
        assert_eq!(
            work.to_value(),
            json!({"opportunityId": id.to_string(), "hash": null, "audit": ["a"]})
        );
    }

    #[test]
    fn reads_what_was_stored_tolerating_bad_values() {
        let stored = json!({"opportunityId": "x", "hash": "h", "audit": ["a", 3, "b"],
            "creatingSince": "2026-12-02T06:00:00Z"});
        let work = OutboundWork::of(&stored);
        assert_eq!(work.hash.as_deref(), Some("h"));
        assert_eq!(work.audit, ["a", "b"]);
        assert_eq!(OutboundWork::of(&json!({"hash": 7})).hash, None);
        assert_eq!(OutboundWork::of(&Value::Null), OutboundWork::default());
    }
}
