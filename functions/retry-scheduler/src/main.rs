//! Lambda glue for retry-scheduler: build the clients, the store and the two jobs once at cold
//! start, then run the job each EventBridge Scheduler event names
//! ([`retry_scheduler::handle_event`]).

use std::sync::Arc;

use cosell_transport::deadline::within;
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use retry_scheduler::{App, Settings, handle_event};
use serde_json::Value;
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The runtime's subscriber: JSON when the function's log format is JSON (template.yaml).
    lambda_http::tracing::init_default_subscriber();
    let app = match start().await {
        Ok(app) => Arc::new(app),
        Err(error) => {
            tracing::error!(%error, "retry-scheduler cannot start");
            eprintln!("retry-scheduler cannot start: {error}");
            return Err(error);
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let deadline = cosell_runtime::budget::lambda(event.context.deadline);
            let work = handle_event(&app, &event.payload, OffsetDateTime::now_utc());
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
    settings.alerts(&runtime.alerts);
    let dataverse = Arc::new(runtime.dataverse);
    Ok(App::new(
        settings,
        runtime.store,
        Arc::new(runtime.partner_center),
        dataverse.clone(),
    )
    .with_schema(dataverse))
}
