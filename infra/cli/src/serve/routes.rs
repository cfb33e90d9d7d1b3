//! The HTTP side of `serve`: the two functions' own webhook routers ([`cosell_host::Apps::router`]),
//! each sync they report told as a [`SyncEvent`], and a health check.
//!
//! | route | answered by |
//! |---|---|
//! | `POST /webhooks/partner-center` | webhook-ingress's router ([`webhook_ingress::router`]) |
//! | `POST /webhooks/dataverse` | outbound-sync's webhook router ([`outbound_sync::router`]) |
//! | `GET /healthz` | `200 {"status":"ok","store":"reachable"}`, or `503` naming the store error |

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cosell_sync::Handled;
use tokio::time::Instant;

use super::Services;
use super::events::SyncEvent;

pub fn router(services: Arc<Services>) -> Router {
    let webhooks = services
        .apps
        .router()
        .layer(middleware::from_fn_with_state(services.clone(), narrate));
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(services)
        .merge(webhooks)
}

/// Tells what a webhook synced: the functions' routers carry the outcome on their responses.
async fn narrate(State(services): State<Arc<Services>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let latency = started.elapsed();
    let outcomes = response.extensions();
    let event = match (
        outcomes.get::<Handled>(),
        outcomes.get::<outbound_sync::Outcome>(),
    ) {
        (Some(handled), _) => SyncEvent::inbound(handled, latency),
        (None, Some(outbound_sync::Outcome(id, synced))) => {
            SyncEvent::outbound(*id, synced, latency)
        }
        (None, None) => None,
    };
    if let Some(event) = event {
        services.emit(event);
    }
    response
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
