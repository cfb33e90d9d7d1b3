//! Lambda glue for outbound-sync: the runtime started once at cold start; every event — the
//! schedule's or a Function URL request — handed to [`outbound_sync::handle_event`], which tells
//! them apart.

use std::sync::Arc;

use cosell_runtime::Runtime;
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use outbound_sync::{App, handle_event};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runtime = Runtime::for_lambda("outbound-sync").await?;
    let app = Arc::new(App::new(&runtime));
    let handler = service_fn(|event: LambdaEvent<Value>| handle_event(&app, event));
    lambda_runtime::run(handler).await
}
