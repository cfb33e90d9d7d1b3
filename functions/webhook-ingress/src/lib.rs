//! The webhook-ingress function's handler: verify the Partner Center callback, then hand it to
//! the inbound use case ([`cosell_sync::InboundSync`]). No business rule lives here.
//!
//! `src/main.rs` (the Lambda glue) starts the runtime once, at cold start, makes an [`App`] over
//! it, and hands [`router`] to the Lambda runtime; `cosell serve` and the bench mount the same
//! router. Each delivery is answered by [`answer`], its metrics written as the runtime says.
//!
//! | answer | when |
//! |---|---|
//! | 200 | the event is durably stored: synced, unchanged, a duplicate, ignored, or parked for retry |
//! | 503 | another invocation is handling the same delivery (it may yet die): deliver it again later |
//! | 401 / 413 / 400 | the verifier refused the callback (nothing parsed, no Dataverse request) |
//! | 405 | not a POST |
//! | 503 | the event could not be stored: Partner Center must deliver it again |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cosell_partner_center::webhook::{self, WebhookVerifier};
use cosell_runtime::Runtime;
use cosell_runtime::metrics::{MetricSet, Metrics};
use cosell_runtime::webhook::TEXT;
use cosell_sync::{Handled, InboundSync};
use http::{HeaderMap, Method, StatusCode};
use time::OffsetDateTime;

/// What a request needs; built once per process.
pub struct App {
    pub verifier: WebhookVerifier,
    pub sync: Arc<InboundSync>,
    /// Where each delivery's metrics go.
    pub metrics: Metrics,
}

impl App {
    /// The verifier the settings describe, over the runtime's inbound use case.
    pub fn new(runtime: &Runtime) -> Result<Self, webhook::ConfigError> {
        Ok(Self {
            verifier: WebhookVerifier::new(runtime.settings.verifier.clone())?,
            sync: runtime.inbound_sync(),
            metrics: runtime.settings.metrics,
        })
    }

    /// The handler over a verifier and a use case the caller built; metrics are off.
    pub fn over(verifier: WebhookVerifier, sync: Arc<InboundSync>) -> Self {
        Self {
            verifier,
            sync,
            metrics: Metrics::Off,
        }
    }
}

/// The function's HTTP face: every path and method answered by [`answer`] (a Function URL has
/// one path; a host nests the router where it likes). The response carries the use case's
/// [`Handled`] as an extension, for a host that reports what was synced (`cosell serve`).
pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    cosell_runtime::webhook::answer(request, |parts, body, arrived| async move {
        let answer = answer(&app, &parts.method, &parts.headers, body).await;
        app.metrics.emit(metrics(&answer, arrived.elapsed()));
        let mut response = (answer.status, TEXT, answer.text).into_response();
        if let Some(handled) = answer.handled {
            response.extensions_mut().insert(handled);
        }
        response
    })
    .await
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
}
