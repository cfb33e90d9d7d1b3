//! The referrals, kept as raw JSON so keys the simulator does not know survive, and the fields the
//! server fills: ids, organization, dates, eTag and links.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::http::PcError;
use super::timestamp;

/// Keys only the server writes: a client's values for them are ignored on create and update.
pub const SERVER_KEYS: &[&str] = &[
    "id",
    "engagementId",
    "organizationId",
    "organizationName",
    "createdDateTime",
    "updatedDateTime",
    "acceptedDateTime",
    "closedDateTime",
    "eTag",
    "links",
];

/// Keys the real service always sends, null when unset, so `replace` on them works.
const NULL_KEYS: &[&str] = &[
    "name",
    "externalReferenceId",
    "expirationDateTime",
    "acceptedDateTime",
    "closedDateTime",
    "status",
    "substatus",
    "statusReason",
    "type",
    "qualification",
    "direction",
    "customerProfile",
    "consent",
    "details",
    "inviteContext",
    "trackingInfo",
];
const LIST_KEYS: &[&str] = &["target", "team"];

/// Incoming referrals nobody answers expire after this long (contract §5).
const EXPIRY_DAYS: i64 = 14;

/// Referrals in creation order, indexed by id.
#[derive(Default)]
pub struct Store {
    referrals: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Store {
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.index.get(id).map(|&i| &self.referrals[i])
    }

    pub fn all(&self) -> &[Value] {
        &self.referrals
    }

    pub fn has_engagement(&self, engagement_id: &str) -> bool {
        self.referrals
            .iter()
            .any(|r| r["engagementId"] == engagement_id)
    }

    /// Whether another referral shares this one's engagement (its events are `related-referral-*`).
    pub fn has_related(&self, id: &str) -> bool {
        let Some(engagement) = self.get(id).and_then(|r| r["engagementId"].as_str()) else {
            return false;
        };
        self.referrals
            .iter()
            .any(|r| r["engagementId"] == engagement && r["id"] != id)
    }

    pub fn insert(&mut self, referral: Value) -> Result<(), PcError> {
        let id = str_field(&referral, "id").to_owned();
        if self.index.contains_key(&id) {
            return Err(PcError::new(
                axum::http::StatusCode::CONFLICT,
                "invalidRequest",
                format!("a referral with id '{id}' already exists"),
            ));
        }
        self.index.insert(id, self.referrals.len());
        self.referrals.push(referral);
        Ok(())
    }

    /// Replaces a stored referral (same id).
    pub fn replace(&mut self, referral: Value) {
        let id = str_field(&referral, "id");
        let i = self.index[id];
        self.referrals[i] = referral;
    }
}

/// Who the referrals belong to and where they live: what the server writes into each.
pub struct Origin<'a> {
    pub organization_id: &'a str,
    pub organization_name: &'a str,
    /// `<base>/v1.0/engagements/referrals`.
    pub referrals_url: &'a str,
}

/// Fills the server's fields of a new referral. `id`/`engagementId` are the ones decided by the
/// caller; dates already in `body` are kept only when `keep_dates` (admin seeding of history).
pub fn stamp_new(
    body: &mut Map<String, Value>,
    origin: &Origin<'_>,
    id: String,
    engagement_id: String,
    keep_dates: bool,
) {
    let now = OffsetDateTime::now_utc();
    let now_text = timestamp::referral(now);
    fill_documented_keys(body);
    for key in ["createdDateTime", "updatedDateTime"] {
        if !keep_dates || !body.get(key).is_some_and(Value::is_string) {
            body.insert(key.into(), now_text.clone().into());
        }
    }
    if body["direction"] == "Incoming" && body["expirationDateTime"].is_null() {
        let expiry = now + time::Duration::days(EXPIRY_DAYS);
        body.insert(
            "expirationDateTime".into(),
            timestamp::referral(expiry).into(),
        );
    }
    body.insert(
        "links".into(),
        links(origin.referrals_url, &id, &engagement_id),
    );
    body.insert("id".into(), id.into());
    body.insert("engagementId".into(), engagement_id.into());
    body.insert("organizationId".into(), origin.organization_id.into());
    body.insert("organizationName".into(), origin.organization_name.into());
    body.insert("eTag".into(), new_etag().into());
    stamp_state_dates(body, None, &now_text);
}

/// Makes `next` the new version of `previous`: server fields carried over, a new eTag and
/// `updatedDateTime`, and accepted/closed dates set when the status first gets there.
pub fn stamp_update(next: &mut Map<String, Value>, previous: &Value) {
    for key in SERVER_KEYS {
        match previous.get(*key) {
            Some(value) => next.insert((*key).into(), value.clone()),
            None => next.remove(*key),
        };
    }
    fill_documented_keys(next);
    let now_text = timestamp::referral(OffsetDateTime::now_utc());
    next.insert("updatedDateTime".into(), now_text.clone().into());
    next.insert("eTag".into(), new_etag().into());
    stamp_state_dates(next, Some(previous), &now_text);
}

/// The service keeps a typed record: a documented key left out of a body reads back as null
/// (or an empty list), and can then be the target of a JSON Patch `replace`.
fn fill_documented_keys(referral: &mut Map<String, Value>) {
    for key in NULL_KEYS {
        referral.entry(*key).or_insert(Value::Null);
    }
    for key in LIST_KEYS {
        referral.entry(*key).or_insert_with(|| json!([]));
    }
}

fn stamp_state_dates(referral: &mut Map<String, Value>, previous: Option<&Value>, now: &str) {
    let status = referral.get("status").cloned().unwrap_or(Value::Null);
    let was = previous.map_or(Value::Null, |p| p["status"].clone());
    if status == was {
        return;
    }
    let key = match status.as_str() {
        Some("Active") => "acceptedDateTime",
        Some("Closed") => "closedDateTime",
        _ => return,
    };
    if referral.get(key).is_none_or(Value::is_null) {
        referral.insert(key.into(), now.into());
    }
}

/// A quoted opaque version, like the service's: `"00006d10-0000-0000-0000-5c70aa630000"`.
pub fn new_etag() -> String {
    let id = uuid::Uuid::new_v4();
    let hex = id.simple().to_string();
    format!(
        "\"{}-0000-0000-0000-{}\"",
        &hex[..8],
        &hex[hex.len() - 12..]
    )
}

fn links(referrals_url: &str, id: &str, engagement_id: &str) -> Value {
    json!({
        "self": { "uri": format!("{referrals_url}/{id}"), "method": "GET" },
        "relatedReferrals": {
            "uri": format!("{referrals_url}?$filter=engagementId eq '{engagement_id}'"),
            "method": "GET"
        }
    })
}

/// A string field, or "" when absent or not a string.
pub fn str_field<'a>(referral: &'a Value, key: &str) -> &'a str {
    referral.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            organization_id: "org",
            organization_name: "Org",
            referrals_url: "http://sim/v1.0/engagements/referrals",
        }
    }

    #[test]
    fn new_referral_gets_server_fields_and_nulls() {
        let mut body = json!({"name": "x", "direction": "Incoming", "dealSensitivity": "High"})
            .as_object()
            .unwrap()
            .clone();
        stamp_new(&mut body, &origin(), "r1".into(), "e1".into(), false);
        assert_eq!(body["id"], "r1");
        assert_eq!(body["organizationId"], "org");
        assert!(body["externalReferenceId"].is_null());
        assert_eq!(body["target"], json!([]));
        assert_eq!(body["dealSensitivity"], "High", "unknown keys survive");
        assert!(body["expirationDateTime"].is_string());
        let etag = body["eTag"].as_str().unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        let created = body["createdDateTime"].as_str().unwrap();
        assert_eq!(
            created.split('.').nth(1).unwrap().len(),
            8,
            "7 digits and Z: {created}"
        );
    }

    #[test]
    fn update_keeps_server_fields_and_dates_the_status_change() {
        let mut first = json!({"name": "x", "status": "New"})
            .as_object()
            .unwrap()
            .clone();
        stamp_new(&mut first, &origin(), "r1".into(), "e1".into(), false);
        let previous = Value::Object(first);
        let mut next = json!({"id": "other", "name": "y", "status": "Active", "eTag": "\"mine\""})
            .as_object()
            .unwrap()
            .clone();
        stamp_update(&mut next, &previous);
        assert_eq!(next["id"], "r1");
        assert_ne!(next["eTag"], previous["eTag"]);
        assert_ne!(next["eTag"], "\"mine\"");
        assert!(next["acceptedDateTime"].is_string());
        assert!(next["closedDateTime"].is_null());
    }
}
