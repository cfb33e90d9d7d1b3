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
//! | 200 | the opportunity (or those a solution row's change names) synced, unchanged, skipped or parked for retry; or the change was cosell's own (the context's `InitiatingUserId` is the application user: nothing read) |
//! | 401 | the shared key is missing or wrong — in the key header (the service endpoint's HttpHeader authentication) or the `code` query parameter (its WebhookKey authentication) — checked first, in constant time; nothing parsed, no request made |
//! | 404 | no key is configured: the webhook trigger is off |
//!
//! A key the function does not hold — made by `cosell setup` after this process started —
//! makes it read the credentials again, at most once a minute, before refusing.
//! | 400 / 413 | not a `RemoteExecutionContext` naming an opportunity id / a body over 1 MiB |
//! | 405 | not a POST |
//! | 503 | the outcome could not be stored: Dataverse retries on 503 |

mod context;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cosell_mapping::CrmConfig;
use cosell_runtime::metrics::MetricSet;
use cosell_secrets::CredentialStore;
use cosell_store::SyncStore;
use cosell_sync::outbound::feed::{PollError, PollReport};
use cosell_sync::{Crm, OutboundSettings, OutboundSync, Referrals, Synced, jobs};
use cosell_transport::Secret;
use http::header::HeaderName;
use http::{HeaderMap, Method, StatusCode};

use context::RemoteExecutionContext;
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
    /// The application user's `systemuserid`: a webhook context it initiated is cosell's own
    /// write and is answered without a read. `None`: asked of Dataverse (`WhoAmI`) at the first
    /// webhook call when [`App::with_identity_source`] gave a client, else every context is synced.
    pub application_user: Option<Uuid>,
}

/// How often, at most, a key the function does not hold makes it read the credentials again.
pub const KEY_REREAD: Duration = Duration::from_secs(60);

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
    /// Reads the `COSELL_*` CRM settings, `COSELL_RETRY_*`, the webhook header name and the
    /// poll's schedule ([`jobs::POLL_SCHEDULE`]) through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let header = lookup(WEBHOOK_HEADER)
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_WEBHOOK_HEADER.to_owned());
        let mut outbound = OutboundSettings {
            backoff: cosell_sync::backoff::Backoff::from_lookup(&lookup)?,
            ..OutboundSettings::default()
        };
        if let Some(interval) = jobs::interval_setting(&lookup, jobs::POLL_SCHEDULE) {
            outbound.poll_interval = interval;
        }
        Ok(Self {
            crm: CrmConfig::from_lookup(&lookup)?,
            outbound,
            webhook_key: None,
            webhook_header: HeaderName::try_from(header.as_str())
                .map_err(|_| SettingsError::Header(header))?,
            application_user: None,
        })
    }
}

/// What an event needs; built once per process.
pub struct App {
    pub sync: Arc<OutboundSync>,
    webhook_key: RwLock<Option<Secret>>,
    webhook_header: HeaderName,
    application_user: tokio::sync::OnceCell<Uuid>,
    /// Who answers `WhoAmI` for the application user ([`App::with_identity_source`]).
    identity_source: Option<cosell_dataverse::DataverseClient>,
    /// Where the key is read again from ([`App::with_key_source`]).
    key_source: Option<CredentialStore>,
    /// When the credentials were last read again for a key.
    key_read: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether a webhook call presents the key.
enum KeyCheck {
    Accepted,
    Refused,
    /// No key anywhere: the trigger is off.
    Off,
}

impl App {
    /// Whether the Dataverse webhook trigger is on (a key is configured).
    pub fn webhook_enabled(&self) -> bool {
        self.key().is_some()
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
            webhook_key: RwLock::new(settings.webhook_key),
            webhook_header: settings.webhook_header,
            application_user: settings
                .application_user
                .map_or_else(tokio::sync::OnceCell::new, |id| {
                    tokio::sync::OnceCell::new_with(Some(id))
                }),
            identity_source: None,
            key_source: None,
            key_read: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the credentials again from `store` when a call presents a key this process does
    /// not hold (at most every [`KEY_REREAD`]), so a key `cosell setup` made after the start
    /// works without a redeploy.
    pub fn with_key_source(mut self, store: CredentialStore) -> Self {
        self.key_source = Some(store);
        self
    }

    /// Asks `dataverse` who the application user is (`WhoAmI`) at the first webhook call, rather
    /// than at start: a cold start or a scheduled poll never waits for it.
    pub fn with_identity_source(mut self, dataverse: cosell_dataverse::DataverseClient) -> Self {
        self.identity_source = Some(dataverse);
        self
    }

    /// The application user's id: given, or asked once (a failure is asked again next time).
    async fn application_user(&self) -> Option<Uuid> {
        if let Some(id) = self.application_user.get() {
            return Some(*id);
        }
        let dataverse = self.identity_source.as_ref()?;
        self.application_user
            .get_or_try_init(|| async { application_user(dataverse).await.ok_or(()) })
            .await
            .ok()
            .copied()
    }

    fn key(&self) -> Option<Secret> {
        self.webhook_key.read().expect("key lock").clone()
    }

    async fn check_key(&self, header: Option<&http::HeaderValue>, query: Option<&str>) -> KeyCheck {
        let presented = |key: Option<Secret>| key.is_some_and(|k| key_presented(&k, header, query));
        if presented(self.key()) {
            return KeyCheck::Accepted;
        }
        // Whether this call read the credentials or waited for a concurrent call that did, the
        // key held now is the one to compare.
        self.read_key_again().await;
        if presented(self.key()) {
            return KeyCheck::Accepted;
        }
        match self.key() {
            Some(_) => KeyCheck::Refused,
            None => KeyCheck::Off,
        }
    }

    /// Reads the key from the credentials, unless that was done less than [`KEY_REREAD`] ago
    /// (calls arriving together wait for the one that reads).
    async fn read_key_again(&self) {
        let Some(source) = &self.key_source else {
            return;
        };
        let mut last = self.key_read.lock().await;
        if last.is_some_and(|at| at.elapsed() < KEY_REREAD) {
            return;
        }
        *last = Some(Instant::now());
        match source.load().await {
            Ok(credentials) => {
                *self.webhook_key.write().expect("key lock") = credentials.dataverse.webhook_key;
                tracing::info!("Dataverse webhook key read again from the credentials");
            }
            Err(error) => {
                tracing::warn!(%error, "credentials not read again for the webhook key");
            }
        }
    }
}

/// The application user's id: one `WhoAmI` request, given up on after a second (that call's
/// context is then synced like any other).
async fn application_user(dataverse: &cosell_dataverse::DataverseClient) -> Option<Uuid> {
    match tokio::time::timeout(Duration::from_secs(1), dataverse.who_am_i()).await {
        Ok(Ok(id)) => Some(id),
        Ok(Err(error)) => {
            tracing::warn!(%error, "WhoAmI failed: this call is read like any other");
            None
        }
        Err(_) => {
            tracing::warn!("WhoAmI too slow: this call is read like any other");
            None
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
    match app.check_key(headers.get(&app.webhook_header), query).await {
        KeyCheck::Accepted => {}
        KeyCheck::Off => {
            return refused(
                StatusCode::NOT_FOUND,
                "the Dataverse webhook trigger is not enabled\n".into(),
            );
        }
        KeyCheck::Refused => {
            tracing::warn!(header = %app.webhook_header, "Dataverse webhook refused: missing or wrong key");
            return refused(StatusCode::UNAUTHORIZED, "missing or wrong key\n".into());
        }
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
    if context.initiating_user.is_some() && context.initiating_user == app.application_user().await
    {
        return refused(
            StatusCode::OK,
            format!(
                "ours: {} of {} by the application user\n",
                context.message.as_deref().unwrap_or("a change"),
                context.entity
            ),
        );
    }
    let opportunities = context.opportunities();
    if opportunities.is_empty() {
        return refused(
            StatusCode::OK,
            format!("ignored: {} names no opportunity\n", context.entity),
        );
    }
    let mut answer = WebhookAnswer {
        status: StatusCode::OK,
        text: String::new(),
        synced: None,
    };
    for id in opportunities {
        match app
            .sync
            .sync_opportunity(id, OffsetDateTime::now_utc())
            .await
        {
            Ok(synced) => {
                answer.text.push_str(&format!("{}\n", summary(&synced)));
                answer.synced.get_or_insert((id, synced));
            }
            Err(error) => {
                tracing::error!(%error, "outbound sync outcome not stored");
                return refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not stored; call again\n".into(),
                );
            }
        }
    }
    answer
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
        assert!(key_presented(
            &key,
            Some(&wrong),
            Some("code=s3cret%2F%2B%3D")
        ));
    }
}
