//! The callback body (contract §7): a pointer to the changed resource, parsed only after the
//! signature verified.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::rejection::Reason;

/// A verified callback. Partner Center's property table spells `AuditUrl`, its samples
/// `AuditUri`: both are read into `audit_uri`. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEnvelope {
    pub event_name: String,
    pub resource_uri: String,
    pub resource_name: Option<String>,
    pub audit_uri: Option<String>,
    pub resource_change_utc_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    event_name: String,
    resource_uri: String,
    #[serde(default)]
    resource_name: Option<String>,
    #[serde(default)]
    audit_uri: Option<String>,
    #[serde(default)]
    audit_url: Option<String>,
    #[serde(default)]
    resource_change_utc_date: Option<String>,
}

impl WebhookEnvelope {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Reason> {
        // The serde message can quote body text; only its category and position are kept.
        let raw: Raw = serde_json::from_slice(body).map_err(|e| {
            Reason::Envelope(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if raw.event_name.trim().is_empty() || raw.resource_uri.trim().is_empty() {
            return Err(Reason::Envelope("EventName or ResourceUri is empty".into()));
        }
        Ok(WebhookEnvelope {
            event_name: raw.event_name,
            resource_uri: raw.resource_uri,
            resource_name: raw.resource_name,
            audit_uri: raw.audit_uri.or(raw.audit_url),
            resource_change_utc_date: raw.resource_change_utc_date,
        })
    }

    /// The last path segment of `ResourceUri` — the referral id for referral events (the path
    /// itself differs from the referrals API path, so only the id is used).
    pub fn referral_id(&self) -> Option<&str> {
        let uri = self
            .resource_uri
            .split(['?', '#'])
            .next()
            .unwrap_or_default();
        let path = match uri.split_once("://") {
            Some((_, rest)) => &rest[rest.find('/')?..],
            None => uri,
        };
        path.trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|segment| !segment.is_empty())
    }

    /// The same event delivered twice (Partner Center redelivers, the duplicate knob repeats)
    /// has the same key: SHA-256 of event name, resource URI and change date, in hex.
    /// Two changes of one referral within the same 100 ns tick would share a key.
    pub fn dedupe_key(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.event_name.as_str(),
            self.resource_uri.as_str(),
            self.resource_change_utc_date.as_deref().unwrap_or(""),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"EventName":"referral-updated",
        "ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/5a3c-11",
        "ResourceName":"referral","AuditUri":null,
        "ResourceChangeUtcDate":"2018-02-17T00:05:39.5485487+00:00","Extra":{"x":1}}"#;

    #[test]
    fn parses_the_contract_sample_and_reads_the_id() {
        let e = WebhookEnvelope::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(e.event_name, "referral-updated");
        assert_eq!(e.resource_name.as_deref(), Some("referral"));
        assert_eq!(e.audit_uri, None);
        assert_eq!(e.referral_id(), Some("5a3c-11"));
        assert_eq!(
            e.resource_change_utc_date.as_deref(),
            Some("2018-02-17T00:05:39.5485487+00:00")
        );
    }

    #[test]
    fn audit_url_spelling_is_accepted() {
        let e = WebhookEnvelope::parse(
            br#"{"EventName":"x","ResourceUri":"https://h/r/1/","AuditUrl":"https://h/audit/9"}"#,
        )
        .unwrap();
        assert_eq!(e.audit_uri.as_deref(), Some("https://h/audit/9"));
        assert_eq!(e.referral_id(), Some("1"), "a trailing slash is ignored");
    }

    #[test]
    fn missing_fields_and_non_json_are_rejected_without_quoting_the_body() {
        for body in [
            &br#"{"ResourceUri":"https://h/r/1"}"#[..],
            b"secret-text",
            b"[]",
        ] {
            let reason = WebhookEnvelope::parse(body).unwrap_err();
            assert_eq!(reason.status(), 400);
            assert!(!reason.to_string().contains("secret"), "{reason}");
        }
    }

    #[test]
    fn dedupe_key_is_stable_and_tells_events_apart() {
        let a = WebhookEnvelope::parse(SAMPLE.as_bytes()).unwrap();
        let b = WebhookEnvelope::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(a.dedupe_key(), b.dedupe_key());
        assert_eq!(a.dedupe_key().len(), 64);
        let later = WebhookEnvelope {
            resource_change_utc_date: Some("2018-02-17T00:05:40.0000000+00:00".into()),
            ..a.clone()
        };
        assert_ne!(a.dedupe_key(), later.dedupe_key());
        let created = WebhookEnvelope {
            event_name: "referral-created".into(),
            ..a.clone()
        };
        assert_ne!(a.dedupe_key(), created.dedupe_key());
    }

    #[test]
    fn referral_id_needs_a_path_segment() {
        let e = |uri: &str| WebhookEnvelope {
            event_name: "x".into(),
            resource_uri: uri.into(),
            resource_name: None,
            audit_uri: None,
            resource_change_utc_date: None,
        };
        assert_eq!(e("https://h/").referral_id(), None);
        assert_eq!(e("https://h/r/abc?x=1").referral_id(), Some("abc"));
    }
}
