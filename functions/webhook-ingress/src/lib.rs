//! The webhook-ingress function's handler: verify the Partner Center callback, then hand it to
//! the inbound use case ([`cosell_sync::InboundSync`]). No business rule lives here.
//!
//! `src/main.rs` (the Lambda glue) builds the clients and the store once, at cold start, makes an
//! [`App`], and answers every request with [`answer`].
//!
//! | answer | when |
//! |---|---|
//! | 200 | the event is durably stored: synced, unchanged, a duplicate, ignored, or parked for retry |
//! | 503 | another invocation is handling the same delivery (it may yet die): deliver it again later |
//! | 401 / 413 / 400 | the verifier refused the callback (nothing parsed, no Dataverse request) |
//! | 405 | not a POST |
//! | 503 | the event could not be stored: Partner Center must deliver it again |

use std::sync::Arc;

use bytes::Bytes;
use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::{self, VerifierConfig, WebhookVerifier};
use cosell_runtime::metrics::MetricSet;
use cosell_store::SyncStore;
use cosell_sync::{Crm, Handled, InboundSettings, InboundSync, ReferralSource};
use http::{HeaderMap, Method, StatusCode};
use time::OffsetDateTime;

/// Everything the function reads from its environment, checked at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub verifier: VerifierConfig,
    pub crm: CrmConfig,
    pub inbound: InboundSettings,
}

/// A setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("webhook verification settings: {0}")]
    Verifier(#[from] webhook::ConfigError),
    #[error("Dataverse settings: {0}")]
    Crm(#[from] cosell_mapping::ConfigError),
    #[error("retry settings: {0}")]
    Backoff(#[from] cosell_sync::backoff::BackoffError),
}

impl Settings {
    /// Reads `COSELL_WEBHOOK_*`, `COSELL_RETRY_*` and the `COSELL_*` CRM settings through `lookup`, e.g.
    /// `Settings::from_lookup(|k| std::env::var(k).ok())`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        Ok(Self {
            verifier: VerifierConfig::from_env_lookup(&lookup)?,
            crm: CrmConfig::from_lookup(&lookup)?,
            inbound: InboundSettings {
                backoff: cosell_sync::backoff::Backoff::from_lookup(&lookup)?,
                ..InboundSettings::default()
            },
        })
    }
}

/// What a request needs; built once per process.
pub struct App {
    pub verifier: WebhookVerifier,
    pub sync: Arc<InboundSync>,
}

impl App {
    /// Wires the verifier and the inbound use case over the given ports.
    pub fn new(
        settings: Settings,
        store: Arc<dyn SyncStore>,
        referrals: Arc<dyn ReferralSource>,
        crm: Arc<dyn Crm>,
    ) -> Result<Self, SettingsError> {
        Ok(Self {
            verifier: WebhookVerifier::new(settings.verifier)?,
            sync: Arc::new(InboundSync::new(
                store,
                referrals,
                crm,
                settings.crm,
                settings.inbound,
            )),
        })
    }
}

/// The answer to one callback, with the use case's outcome for a host that reports what was
/// synced (`cosell serve` narrates it).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub text: String,
    /// `None` when the use case did not run (refused) or its outcome was not stored.
    pub handled: Option<Handled>,
}

/// Answers one callback: verify first (a refusal costs no Dataverse request), then the use case.
pub async fn answer(app: &App, method: &Method, headers: &HeaderMap, body: Bytes) -> Answer {
    let refused = |status: StatusCode, text: String| Answer {
        status,
        text,
        handled: None,
    };
    if method != Method::POST {
        return refused(StatusCode::METHOD_NOT_ALLOWED, "POST only\n".into());
    }
    let now = OffsetDateTime::now_utc();
    let envelope = match app.verifier.verify(headers, &body, now).await {
        Ok(envelope) => envelope,
        Err(rejection) => {
            let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return refused(status, format!("{}\n", rejection.reason));
        }
    };
    match app.sync.handle(&envelope, now).await {
        Ok(handled @ Handled::InFlight { .. }) => Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            text: format!("{}; deliver it again\n", summary(&handled)),
            handled: Some(handled),
        },
        Ok(handled) => Answer {
            status: StatusCode::OK,
            text: format!("{}\n", summary(&handled)),
            handled: Some(handled),
        },
        Err(error) => {
            tracing::error!(%error, "webhook event not stored");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "event not stored; deliver it again\n".into(),
            )
        }
    }
}

/// What one callback was, as metrics: every delivery counts as `WebhookReceived`, a refused one
/// also as `WebhookRejected` (a spike of those is an alarm: a misconfigured certificate host, or
/// someone probing the URL), and what the sync did.
pub fn metrics(answer: &Answer, latency: std::time::Duration) -> Vec<MetricSet> {
    let mut sets = vec![MetricSet::new().count("WebhookReceived", 1)];
    if matches!(answer.status.as_u16(), 400 | 401 | 413) {
        sets.push(MetricSet::new().count("WebhookRejected", 1));
    }
    if let Some(handled) = &answer.handled {
        sets.extend(cosell_runtime::metrics::inbound(handled, Some(latency)));
    }
    sets
}

/// One line for the caller (Partner Center shows it in its delivery log); ids only.
fn summary(handled: &Handled) -> String {
    match handled {
        Handled::Duplicate => "duplicate".into(),
        Handled::InFlight { until } => format!("being handled until {until}"),
        Handled::Ignored { reason } => format!("ignored: {reason}"),
        Handled::Unchanged { referral_id } => format!("unchanged: {referral_id}"),
        Handled::AlreadyClosed { referral_id, .. } => format!("closed: {referral_id}"),
        Handled::Synced {
            referral_id,
            crm_id,
            ..
        } => format!("synced: {referral_id} -> {crm_id}"),
        Handled::Parked {
            referral_id,
            retry_id,
            ..
        } => format!("accepted, parked as {retry_id}: {referral_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn a_refused_delivery_counts_as_received_and_rejected_and_syncs_nothing() {
        let refused = Answer {
            status: StatusCode::UNAUTHORIZED,
            text: String::new(),
            handled: None,
        };
        let sets = metrics(&refused, std::time::Duration::ZERO);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].value("WebhookReceived"), Some(1.0));
        assert_eq!(sets[1].value("WebhookRejected"), Some(1.0));
        let duplicate = Answer {
            status: StatusCode::OK,
            text: String::new(),
            handled: Some(Handled::Duplicate),
        };
        let sets = metrics(&duplicate, std::time::Duration::ZERO);
        assert!(sets.iter().all(|s| s.value("WebhookRejected").is_none()));
        assert_eq!(sets[1].dimension_value("Outcome"), Some("duplicate"));
    }

    #[test]
    fn defaults_are_the_microsoft_solution_and_public_roots() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.crm, CrmConfig::default());
        assert_eq!(settings.verifier.cert_hosts, [webhook::DEFAULT_CERT_HOST]);
    }

    #[test]
    fn the_issue_setting_names_are_read() {
        let settings = settings(&[
            ("COSELL_SHOW_CHECKMARK", "false"),
            ("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue"),
            ("COSELL_COUNTRY_COLUMN", "new_countrycode"),
            ("COSELL_COLUMN_AUDIT", "new_audit"),
        ])
        .unwrap();
        assert!(!settings.crm.check_mark_in_name);
        assert_eq!(settings.crm.deal_value_column, "new_dealvalue");
        assert_eq!(settings.crm.country_code_column, "new_countrycode");
        assert_eq!(settings.crm.columns.audit, "new_audit");
    }

    #[test]
    fn invalid_settings_fail_with_a_message_naming_the_variable() {
        let error = settings(&[("COSELL_SHOW_CHECKMARK", "yes please")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Dataverse settings: COSELL_SHOW_CHECKMARK must be true or false, got 'yes please'"
        );
        let error = settings(&[("COSELL_COUNTRY_COLUMN", "address1 country")]).unwrap_err();
        assert!(
            error.to_string().contains("COSELL_COUNTRY_COLUMN"),
            "{error}"
        );
        let error = settings(&[("COSELL_WEBHOOK_TRUST_ROOTS", "/no/such/roots.pem")]).unwrap_err();
        assert!(
            error.to_string().contains("COSELL_WEBHOOK_TRUST_ROOTS"),
            "{error}"
        );
    }
}
