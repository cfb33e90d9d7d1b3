//! The webhook envelope as a retry item's payload, and back: the retry use case redoes the event
//! from exactly what was delivered.

use cosell_partner_center::webhook::WebhookEnvelope;
use serde_json::{Value, json};

/// The envelope in Partner Center's own shape.
pub fn to_payload(envelope: &WebhookEnvelope) -> Value {
    json!({
        "EventName": envelope.event_name,
        "ResourceUri": envelope.resource_uri,
        "ResourceName": envelope.resource_name,
        "AuditUri": envelope.audit_uri,
        "ResourceChangeUtcDate": envelope.resource_change_utc_date,
    })
}

/// The envelope of a payload written by [`to_payload`]; `None` when it is not one.
pub fn from_payload(payload: &Value) -> Option<WebhookEnvelope> {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(WebhookEnvelope {
        event_name: text("EventName")?,
        resource_uri: text("ResourceUri")?,
        resource_name: text("ResourceName"),
        audit_uri: text("AuditUri"),
        resource_change_utc_date: text("ResourceChangeUtcDate"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let envelope = WebhookEnvelope {
            event_name: "referral-created".into(),
            resource_uri: "https://api.partnercenter.microsoft.com/engagements/v1/referrals/r-1"
                .into(),
            resource_name: Some("referral".into()),
            audit_uri: None,
            resource_change_utc_date: Some("2018-02-17T00:05:39.5485487+00:00".into()),
        };
        let payload = to_payload(&envelope);
        assert_eq!(payload["EventName"], "referral-created");
        assert_eq!(from_payload(&payload), Some(envelope));
        assert_eq!(from_payload(&json!({"EventName": "x"})), None);
    }
}
