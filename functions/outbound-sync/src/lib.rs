//! The outbound-sync function's handlers: the schedule ([`poll`]) and the optional Dataverse
//! webhook ([`webhook_answer`]), both handing work to [`cosell_sync::OutboundSync`]. No business
//! rule lives here.
//!
//! `src/main.rs` (the Lambda glue) builds the clients and the store once, at cold start, makes an
//! [`App`], and hands every event to [`handle_event`], which tells the two kinds apart.
//!
//! Dataverse webhook answers:
//!
//! | answer | when |
//! |---|---|
//! | 200 | the row was synced, unchanged, skipped, or parked for retry |
//! | 401 | the shared key is missing or wrong — in the key header (the service endpoint's HttpHeader authentication) or the `code` query parameter (its WebhookKey authentication) — checked first, in constant time; nothing parsed, no request made |
//! | 404 | no key is configured: the webhook trigger is off |
//! | 400 / 413 | not a `RemoteExecutionContext` naming an opportunity id / a body over 1 MiB |
//! | 405 | not a POST |
//! | 503 | the outcome could not be stored: Dataverse retries on 503 |

use std::sync::Arc;

use bytes::Bytes;
use cosell_mapping::CrmConfig;
use cosell_runtime::metrics::MetricSet;
use cosell_store::SyncStore;
use cosell_sync::outbound::feed::{PollError, PollReport};
use cosell_sync::{Crm, OutboundSettings, OutboundSync, Referrals, Synced};
use cosell_transport::Secret;
use http::header::HeaderName;
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

/// The header carrying the shared key Dataverse's service endpoint sends (default
/// [`DEFAULT_WEBHOOK_HEADER`]). The key itself is a credential (`dataverse.webhook_key` in the
/// credentials document), not a setting.
pub const WEBHOOK_HEADER: &str = "COSELL_DATAVERSE_WEBHOOK_HEADER";
pub const DEFAULT_WEBHOOK_HEADER: &str = "x-cosell-key";
/// A `RemoteExecutionContext` carries the row's images; a larger body is refused unread.
pub const MAX_BODY: usize = 1024 * 1024;

/// Everything the function reads from its environment, checked at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub crm: CrmConfig,
    pub outbound: OutboundSettings,
    /// `None`: the webhook trigger is off (only the schedule runs). From the credentials
    /// (`cosell_runtime::Runtime::dataverse_webhook_key`); [`Settings::from_lookup`] leaves it
    /// `None`.
    pub webhook_key: Option<Secret>,
    pub webhook_header: HeaderName,
}

/// A setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("Dataverse settings: {0}")]
    Crm(#[from] cosell_mapping::ConfigError),
    #[error("{WEBHOOK_HEADER} '{0}' is not a valid HTTP header name")]
    Header(String),
    #[error("retry settings: {0}")]
    Backoff(#[from] cosell_sync::backoff::BackoffError),
}

impl Settings {
    /// Reads the `COSELL_*` CRM settings, `COSELL_RETRY_*` and the webhook header name through
    /// `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let header = lookup(WEBHOOK_HEADER)
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_WEBHOOK_HEADER.to_owned());
        Ok(Self {
            crm: CrmConfig::from_lookup(&lookup)?,
            outbound: OutboundSettings {
                backoff: cosell_sync::backoff::Backoff::from_lookup(&lookup)?,
                ..OutboundSettings::default()
            },
            webhook_key: None,
            webhook_header: HeaderName::try_from(header.as_str())
                .map_err(|_| SettingsError::Header(header))?,
        })
    }
}

/// What an event needs; built once per process.
pub struct App {
    pub sync: Arc<OutboundSync>,
    webhook_key: Option<Secret>,
    webhook_header: HeaderName,
}

impl App {
    /// Whether the Dataverse webhook trigger is on (a key is configured).
    pub fn webhook_enabled(&self) -> bool {
        self.webhook_key.is_some()
    }

    /// Wires the outbound use case over the given ports.
    pub fn new(
        settings: Settings,
        store: Arc<dyn SyncStore>,
        referrals: Arc<dyn Referrals>,
        crm: Arc<dyn Crm>,
    ) -> Self {
        Self {
            sync: Arc::new(OutboundSync::new(
                store,
                referrals,
                crm,
                settings.crm,
                settings.outbound,
            )),
            webhook_key: settings.webhook_key,
            webhook_header: settings.webhook_header,
        }
    }
}

/// The scheduled run: the change feed (parked work is the retry scheduler's).
pub async fn poll(app: &App, now: OffsetDateTime) -> Result<PollReport, PollError> {
    let report = app.sync.poll(now).await?;
    tracing::info!(
        busy = report.busy,
        baseline = report.baseline,
        seen = report.synced.len(),
        worked = report.worked(),
        "outbound poll done"
    );
    Ok(report)
}

/// Why an event got no answer (the invocation fails, so Lambda's retries and metrics see it).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error("not a Function URL request: {0}")]
    Request(#[from] serde_json::Error),
    #[error("the request body is not base64: {0}")]
    Body(#[from] base64::DecodeError),
}

/// One Lambda event of either kind. A Function URL (or HTTP API) request has
/// `requestContext.http` (payload format 2.0): the Dataverse webhook, answered with the Function
/// URL response shape. Anything else — the EventBridge Scheduler's event, which has no
/// `requestContext` — is the schedule: [`poll`].
pub async fn handle_event(
    app: &App,
    event: serde_json::Value,
    now: OffsetDateTime,
) -> Result<serde_json::Value, EventError> {
    use base64::Engine;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;

    if event.pointer("/requestContext/http").is_none() {
        let report = poll(app, now).await?;
        let mut sets = poll_metrics(&report);
        sets.extend(cosell_runtime::metrics::throttled());
        cosell_runtime::metrics::emit(&sets);
        return Ok(serde_json::json!({
            "busy": report.busy,
            "baseline": report.baseline,
            "seen": report.synced.len(),
            "worked": report.worked(),
        }));
    }
    let request: ApiGatewayV2httpRequest = serde_json::from_value(event)?;
    let body = match (request.body, request.is_base64_encoded) {
        (None, _) => Bytes::new(),
        (Some(body), false) => Bytes::from(body),
        (Some(body), true) => base64::engine::general_purpose::STANDARD
            .decode(body)?
            .into(),
    };
    let method = request.request_context.http.method.clone();
    let started = std::time::Instant::now();
    let query = request.raw_query_string.as_deref();
    let answer = webhook_answer(app, &method, &request.headers, query, body).await;
    let mut sets: Vec<MetricSet> = answer
        .synced
        .iter()
        .flat_map(|(_, synced)| cosell_runtime::metrics::outbound(synced, Some(started.elapsed())))
        .collect();
    sets.extend(cosell_runtime::metrics::throttled());
    cosell_runtime::metrics::emit(&sets);
    Ok(serde_json::json!({
        "statusCode": answer.status.as_u16(),
        "headers": {"content-type": "text/plain; charset=utf-8"},
        "body": answer.text,
    }))
}

/// What a poll did, as metrics: one sync outcome per opportunity seen (rows not shared and
/// deleted rows are not syncs).
pub fn poll_metrics(report: &PollReport) -> Vec<MetricSet> {
    report
        .synced
        .iter()
        .zip(&report.latencies)
        .flat_map(|((_, synced), latency)| {
            cosell_runtime::metrics::outbound(synced, Some(*latency))
        })
        .collect()
}

/// The part of Dataverse's `RemoteExecutionContext` used: which row changed. The payload is a
/// trigger only; the row is read again.
#[derive(Debug, Deserialize)]
struct RemoteExecutionContext {
    #[serde(rename = "PrimaryEntityName")]
    entity: String,
    #[serde(rename = "PrimaryEntityId")]
    id: Uuid,
}

/// The answer to one Dataverse webhook call, with the use case's outcome for a host that
/// reports what was synced (`cosell serve` narrates it).
#[derive(Debug)]
pub struct WebhookAnswer {
    pub status: StatusCode,
    pub text: String,
    /// The opportunity and its outcome; `None` when the use case did not run.
    pub synced: Option<(Uuid, Synced)>,
}

/// Answers one Dataverse webhook call: the key first (a refusal reads nothing and makes no
/// request), then the one row it names. `query` is the request's query string, without `?`.
pub async fn webhook_answer(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
) -> WebhookAnswer {
    let refused = |status: StatusCode, text: String| WebhookAnswer {
        status,
        text,
        synced: None,
    };
    if method != Method::POST {
        return refused(StatusCode::METHOD_NOT_ALLOWED, "POST only\n".into());
    }
    let Some(key) = &app.webhook_key else {
        return refused(
            StatusCode::NOT_FOUND,
            "the Dataverse webhook trigger is not enabled\n".into(),
        );
    };
    if !key_presented(key, headers.get(&app.webhook_header), query) {
        tracing::warn!(header = %app.webhook_header, "Dataverse webhook refused: missing or wrong key");
        return refused(StatusCode::UNAUTHORIZED, "missing or wrong key\n".into());
    }
    if body.len() > MAX_BODY {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n".into());
    }
    let context: RemoteExecutionContext = match serde_json::from_slice(&body) {
        Ok(context) => context,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("not a RemoteExecutionContext with PrimaryEntityId: {error}\n"),
            );
        }
    };
    if !context.entity.eq_ignore_ascii_case("opportunity") {
        return refused(
            StatusCode::OK,
            format!("ignored: {} is not an opportunity\n", context.entity),
        );
    }
    match app
        .sync
        .sync_opportunity(context.id, OffsetDateTime::now_utc())
        .await
    {
        Ok(synced) => WebhookAnswer {
            status: StatusCode::OK,
            text: format!("{}\n", summary(&synced)),
            synced: Some((context.id, synced)),
        },
        Err(error) => {
            tracing::error!(%error, "outbound sync outcome not stored");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "not stored; call again\n".into(),
            )
        }
    }
}

/// Whether the caller presents the key in either form a Dataverse service endpoint sends it:
/// the key header (authentication type HttpHeader) or `?code=<key>` (WebhookKey, which Dataverse
/// appends to the URL). Both are compared, in constant time, whichever is present (a length
/// difference is not hidden; the key's length is not secret enough to matter).
fn key_presented(key: &Secret, header: Option<&http::HeaderValue>, query: Option<&str>) -> bool {
    let code = query.and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
    });
    let matches = |given: &[u8]| bool::from(given.ct_eq(key.expose().as_bytes()));
    let by_header = header.is_some_and(|h| matches(h.as_bytes()));
    let by_code = code.is_some_and(|c| matches(c.as_bytes()));
    by_header | by_code
}

/// One line for the caller; ids only.
pub fn summary(synced: &Synced) -> String {
    match synced {
        Synced::Missing => "missing".into(),
        Synced::NotShared => "not shared".into(),
        Synced::Unchanged => "unchanged".into(),
        Synced::Waiting { retry_id } => format!("waiting: {retry_id}"),
        Synced::Created { referral_id, .. } => format!("created: {referral_id}"),
        Synced::Updated { referral_id, .. } => format!("updated: {referral_id}"),
        Synced::Invalid { .. } => "invalid: see the opportunity's Audit".into(),
        Synced::Parked { retry_id, .. } => format!("parked: {retry_id}"),
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
    fn defaults_leave_the_webhook_off_and_use_the_default_header() {
        let settings = settings(&[]).unwrap();
        assert!(settings.webhook_key.is_none());
        assert_eq!(settings.webhook_header, DEFAULT_WEBHOOK_HEADER);
        assert_eq!(settings.crm, CrmConfig::default());
    }

    #[test]
    fn the_header_is_read_and_a_bad_header_is_named() {
        let settings = settings(&[(WEBHOOK_HEADER, "X-Dv-Key")]).unwrap();
        assert!(
            settings.webhook_key.is_none(),
            "a credential, not a setting"
        );
        assert_eq!(settings.webhook_header, "x-dv-key");
        let error = super::Settings::from_lookup(|k| {
            (k == WEBHOOK_HEADER).then(|| "bad header".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains(WEBHOOK_HEADER), "{error}");
    }

    #[test]
    fn keys_compare_exactly() {
        let key = Secret::new("s3cret");
        let value = |v: &str| http::HeaderValue::from_str(v).unwrap();
        assert!(key_presented(&key, Some(&value("s3cret")), None));
        assert!(!key_presented(&key, Some(&value("s3cre")), None));
        assert!(!key_presented(&key, Some(&value("s3cret!")), None));
        assert!(!key_presented(&key, None, None));
    }

    #[test]
    fn the_code_query_parameter_is_the_key_too() {
        let key = Secret::new("s3cret/+=");
        // Dataverse's WebhookKey form, percent-encoded as a URL carries it.
        assert!(key_presented(&key, None, Some("code=s3cret%2F%2B%3D")));
        assert!(key_presented(&key, None, Some("a=1&code=s3cret%2F%2B%3D")));
        assert!(!key_presented(&key, None, Some("code=s3cret")));
        assert!(!key_presented(&key, None, Some("key=s3cret%2F%2B%3D")));
        assert!(!key_presented(&key, None, Some("")));
        // A wrong header does not hide a right code, nor the other way round.
        let wrong = http::HeaderValue::from_static("nope");
        assert!(key_presented(&key, Some(&wrong), Some("code=s3cret%2F%2B%3D")));
    }
}
