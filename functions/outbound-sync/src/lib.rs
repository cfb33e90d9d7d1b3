//! The outbound-sync function's handlers: the schedule ([`poll`]) and the optional Dataverse
//! webhook ([`webhook_answer`]), both handing work to [`cosell_sync::OutboundSync`]. No business
//! rule lives here.
//!
//! `src/main.rs` (the Lambda glue) starts the runtime once, at cold start, makes an [`App`] over
//! it, and hands every event to [`handle_event`], which tells the two kinds apart; `cosell serve`
//! and the bench mount the same [`router`].
//!
//! Dataverse webhook answers:
//!
//! | answer | when |
//! |---|---|
//! | 200 | the opportunity (or those a solution row's change names) synced, unchanged, skipped or parked for retry; or the change was cosell's own (the context's `InitiatingUserId` is the application user: nothing read) |
//! | 401 | the shared key is missing or wrong — in the key header (the service endpoint's HttpHeader authentication) or the `code` query parameter (its WebhookKey authentication) — checked first, in constant time; nothing parsed, no request made |
//! | 404 | no key is configured: the webhook trigger is off |
//! | 400 / 413 | not a `RemoteExecutionContext` naming an opportunity id / a body over 1 MiB |
//! | 405 | not a POST |
//! | 503 | the outcome could not be stored: Dataverse retries on 503 |
//!
//! A key the function does not hold — made by `cosell setup` after this process started —
//! makes it read the credentials again, at most once a minute, before refusing.

mod context;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cosell_runtime::Runtime;
use cosell_runtime::metrics;
use cosell_runtime::metrics::{MetricSet, Metrics};
use cosell_runtime::webhook::TEXT;
use cosell_secrets::CredentialStore;
use cosell_sync::outbound::feed::{PollError, PollReport};
use cosell_sync::{OutboundSync, Synced};
use cosell_transport::Secret;
use http::header::HeaderName;
use http::{HeaderMap, Method, StatusCode};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::{RequestExt, tower::ServiceExt};

use context::RemoteExecutionContext;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

/// A `RemoteExecutionContext` carries the row's images; a larger body is refused unread.
pub const MAX_BODY: usize = 1024 * 1024;

/// How often, at most, a key the function does not hold makes it read the credentials again.
pub const KEY_REREAD: Duration = Duration::from_secs(60);

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
    /// Where each event's metrics go.
    metrics: Metrics,
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

    /// The Dataverse webhook over the runtime's outbound use case: the key from the credentials
    /// (read again when a call presents one this process does not hold), the application user
    /// asked of Dataverse at the first call.
    pub fn new(runtime: &Runtime) -> Self {
        if runtime.dataverse_webhook_key.is_none() {
            tracing::info!("no dataverse.webhook_key in the credentials yet: read again on a call");
        }
        let mut app = Self::over(
            runtime.outbound_sync(),
            runtime.dataverse_webhook_key.clone(),
            runtime.settings.webhook_header.clone(),
        )
        .with_key_source(runtime.credentials.clone())
        .with_identity_source(runtime.dataverse.clone());
        app.metrics = runtime.settings.metrics;
        app
    }

    /// The webhook over a use case the caller built: `key` is the one a call must present (none:
    /// the trigger is off) in `header` or `?code=`. Metrics are off.
    pub fn over(sync: Arc<OutboundSync>, key: Option<Secret>, header: HeaderName) -> Self {
        Self {
            sync,
            webhook_key: RwLock::new(key),
            webhook_header: header,
            application_user: tokio::sync::OnceCell::new(),
            identity_source: None,
            key_source: None,
            key_read: tokio::sync::Mutex::new(None),
            metrics: Metrics::Off,
        }
    }

    /// A context this user initiated is cosell's own write, answered without a read.
    pub fn with_application_user(self, id: Uuid) -> Self {
        Self {
            application_user: tokio::sync::OnceCell::new_with(Some(id)),
            ..self
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
    #[error("the answer's body could not be read: {0}")]
    Answer(#[from] axum::Error),
}

/// How the Lambda runtime reports a failed event.
impl From<EventError> for lambda_http::lambda_runtime::Diagnostic {
    fn from(error: EventError) -> Self {
        Self {
            error_type: "outbound_sync::EventError".into(),
            error_message: error.to_string(),
        }
    }
}

/// One Lambda event of either kind — why this function keeps a dispatcher where
/// webhook-ingress hands its router to `lambda_http::run`: one function, one Dataverse
/// credential and one change-feed lease for both triggers. A Function URL (or HTTP API) request
/// has `requestContext.http` (payload format 2.0): the Dataverse webhook, answered by [`router`]
/// in the Function URL response shape. Anything else — the EventBridge Scheduler's event, which
/// has no `requestContext` — is the schedule: [`poll`], within the invocation's deadline.
pub async fn handle_event(
    app: &Arc<App>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, EventError> {
    let LambdaEvent { payload, context } = event;
    if payload.pointer("/requestContext/http").is_none() {
        let deadline = cosell_runtime::budget::lambda(context.deadline);
        let now = OffsetDateTime::now_utc();
        let report = cosell_transport::deadline::within(Some(deadline), poll(app, now)).await?;
        app.metrics.emit(poll_metrics(&report));
        return Ok(serde_json::json!({
            "busy": report.busy,
            "baseline": report.baseline,
            "seen": report.synced.len(),
            "worked": report.worked(),
        }));
    }
    let request =
        lambda_http::request::from_str(&payload.to_string())?.with_lambda_context(context);
    let Ok(response) = router(app.clone()).oneshot(request).await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await?;
    Ok(serde_json::json!({
        "statusCode": parts.status.as_u16(),
        "headers": {"content-type": TEXT[0].1},
        "body": String::from_utf8_lossy(&body),
    }))
}

/// What one webhook call synced, carried on its response for a host that reports it (`cosell
/// serve` narrates it): the first opportunity the context named, and its outcome.
#[derive(Debug, Clone)]
pub struct Outcome(pub Uuid, pub Synced);

/// The Dataverse webhook's HTTP face: every path and method answered by [`webhook_answer`] (a
/// Function URL has one path; a host nests the router where it likes), the response carrying
/// the [`Outcome`] as an extension.
pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    cosell_runtime::webhook::answer(request, |parts, body, arrived| async move {
        let query = parts.uri.query();
        let answer = webhook_answer(&app, &parts.method, &parts.headers, query, body).await;
        let latency = arrived.elapsed();
        let sets = answer.synced.iter();
        let sets = sets.flat_map(|(_, synced)| metrics::outbound(synced, Some(latency)));
        app.metrics.emit(sets.collect());
        let mut response = (answer.status, TEXT, answer.text).into_response();
        if let Some((id, synced)) = answer.synced {
            response.extensions_mut().insert(Outcome(id, synced));
        }
        response
    })
    .await
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
