//! Lambda glue for webhook-ingress: the runtime started once at cold start, the function's
//! router ([`webhook_ingress::router`]) handed to the Lambda runtime.

use std::sync::Arc;

use cosell_runtime::Runtime;
use lambda_http::Error;
use webhook_ingress::{App, router};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runtime = Runtime::for_lambda("webhook-ingress").await?;
    let app = App::new(&runtime)?;
    lambda_http::run(router(Arc::new(app))).await
}
