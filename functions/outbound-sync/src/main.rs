//! Lambda glue for outbound-sync: build the clients, the store and the use case once at cold
//! start, then take two kinds of events on one function:
//!
//! - a Function URL (or HTTP API) request — the Dataverse webhook — recognised by
//!   `requestContext.http` (the payload format 2.0 every Function URL event has), answered by
//!   [`outbound_sync::webhook_answer`];
//! - anything else — the EventBridge Scheduler's every-minute event, which has no
//!   `requestContext` — runs [`outbound_sync::poll`]. A failed poll fails the invocation, so the
//!   scheduler's retry policy and the error metric see it.
//!
//! [`outbound_sync::handle_event`] does the telling apart; it is tested with both event shapes.

use std::sync::Arc;

use cosell_transport::deadline::within;
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use outbound_sync::{App, Settings, handle_event};
use serde_json::Value;
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The runtime's subscriber: JSON when the function's log format is JSON (template.yaml).
    lambda_http::tracing::init_default_subscriber();
    let app = match start().await {
        Ok(app) => Arc::new(app),
        Err(error) => {
            tracing::error!(%error, "outbound-sync cannot start");
            eprintln!("outbound-sync cannot start: {error}");
            return Err(error);
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let deadline = cosell_runtime::budget::lambda(event.context.deadline);
            let work = handle_event(&app, event.payload, OffsetDateTime::now_utc());
            within(Some(deadline), work).await.map_err(Error::from)
        }
    }))
    .await
}

/// Everything built once per cold start; any bad setting stops here, named.
async fn start() -> Result<App, Error> {
    let env = |name: &str| std::env::var(name).ok();
    let mut settings = Settings::from_lookup(env)?;
    let runtime =
        cosell_runtime::Runtime::start(cosell_runtime::Settings::from_lookup(env)?).await?;
    settings.crm = runtime.settings.crm.clone(); // with the cached metadata laid over
    settings.webhook_key = runtime.dataverse_webhook_key;
    settings.outbound.alerts = runtime.alerts.names();
    if settings.webhook_key.is_none() {
        tracing::info!("no dataverse.webhook_key in the credentials yet: read again on a call");
    }
    Ok(App::new(
        settings,
        runtime.store,
        Arc::new(runtime.partner_center),
        Arc::new(runtime.dataverse.clone()),
    )
    .with_key_source(runtime.credentials)
    .with_identity_source(runtime.dataverse))
}
