//! The HTTP side of `serve`: the two webhook endpoints, answered by the functions' own handlers,
//! and a health check.
//!
//! | route | answered by |
//! |---|---|
//! | `POST /webhooks/partner-center` | webhook-ingress ([`webhook_ingress::answer`]) |
//! | `POST /webhooks/dataverse` | outbound-sync's webhook ([`outbound_sync::webhook_answer`]) |
//! | `GET /healthz` | `200 {"status":"ok","store":"reachable"}`, or `503` naming the store error |

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use tokio::time::Instant;

use super::Services;
use super::events::SyncEvent;

pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route("/webhooks/partner-center", post(partner_center))
        .route("/webhooks/dataverse", post(dataverse))
        .route("/healthz", get(healthz))
        .with_state(services)
}

const TEXT: [(&str, &str); 1] = [("content-type", "text/plain; charset=utf-8")];

async fn partner_center(
    State(services): State<Arc<Services>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    to_completion(async move {
        let started = Instant::now();
        let answer = webhook_ingress::answer(&services.inbound, &method, &headers, body).await;
        if let Some(event) = answer
            .handled
            .as_ref()
            .and_then(|handled| SyncEvent::inbound(handled, started.elapsed()))
        {
            services.emit(event);
        }
        (answer.status, TEXT, answer.text).into_response()
    })
    .await
}

async fn dataverse(
    State(services): State<Arc<Services>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    to_completion(async move {
        let started = Instant::now();
        let answer = outbound_sync::webhook_answer(
            &services.outbound,
            &method,
            &headers,
            query.as_deref(),
            body,
        )
        .await;
        if let Some(event) = answer
            .synced
            .as_ref()
            .and_then(|(id, synced)| SyncEvent::outbound(*id, synced, started.elapsed()))
        {
            services.emit(event);
        }
        (answer.status, TEXT, answer.text).into_response()
    })
    .await
}

/// Runs a webhook's handling on its own task, so a caller that hangs up (a delivery timeout)
/// does not cancel it halfway — as in Lambda, where an invocation runs to its end. Cancelled
/// midway, a sync would leave its event claimed but neither synced nor parked (a redelivery takes
/// it over once the claim's hold passes), and its lease held until it expires.
///
/// The handling has serve's webhook budget ([`cosell_runtime::budget::WEBHOOK`]), as the
/// function has its timeout: what cannot finish in it is parked, and the caller answered.
async fn to_completion(
    work: impl std::future::Future<Output = Response> + Send + 'static,
) -> Response {
    let deadline = std::time::Instant::now() + cosell_runtime::budget::WEBHOOK;
    let work = cosell_transport::deadline::within(Some(deadline), work);
    match tokio::spawn(work).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "webhook handling panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, TEXT, "internal error\n").into_response()
        }
    }
}

/// A read of the store: the process is up and can keep state.
async fn healthz(State(services): State<Arc<Services>>) -> Response {
    match services.store_reachable().await {
        Ok(()) => Json(serde_json::json!({"status": "ok", "store": "reachable"})).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "degraded", "store": error.to_string()})),
        )
            .into_response(),
    }
}
