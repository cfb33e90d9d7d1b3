//! Lambda glue for webhook-ingress: build the clients, the store and the verifier once at cold
//! start, then answer each Function URL (or HTTP API) request with [`webhook_ingress::answer`],
//! within the invocation's deadline ([`cosell_runtime::budget`]), and write its metrics ([`webhook_ingress::metrics`]) as EMF lines.

use std::sync::Arc;

use cosell_transport::deadline::within;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use webhook_ingress::{App, Settings, answer, metrics};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The runtime's subscriber: JSON when the function's log format is JSON (template.yaml).
    lambda_http::tracing::init_default_subscriber();
    let app = match start().await {
        Ok(app) => Arc::new(app),
        Err(error) => {
            tracing::error!(%error, "webhook-ingress cannot start");
            eprintln!("webhook-ingress cannot start: {error}");
            return Err(error);
        }
    };
    lambda_http::run(service_fn(move |request: Request| {
        let app = app.clone();
        async move {
            let started = std::time::Instant::now();
            let deadline = request
                .lambda_context_ref()
                .map(|context| cosell_runtime::budget::lambda(context.deadline));
            let (parts, body) = request.into_parts();
            let body = bytes::Bytes::copy_from_slice(body.as_ref());
            let answer = within(deadline, answer(&app, &parts.method, &parts.headers, body)).await;
            let mut sets = metrics(&answer, started.elapsed());
            sets.extend(cosell_runtime::metrics::throttled());
            cosell_runtime::metrics::emit(&sets);
            Response::builder()
                .status(answer.status)
                .header("content-type", "text/plain; charset=utf-8")
                .body(Body::from(answer.text))
                .map_err(Error::from)
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
    settings.inbound.alerts = runtime.alerts.names();
    Ok(App::new(
        settings,
        runtime.store,
        Arc::new(runtime.partner_center),
        Arc::new(runtime.dataverse),
    )?)
}
