//! Lambda glue for retry-scheduler: the runtime started once at cold start; each EventBridge
//! Scheduler event runs the job it names ([`retry_scheduler::invoke`]).

use cosell_runtime::Runtime;
use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use retry_scheduler::invoke;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let jobs = Runtime::for_lambda("retry-scheduler").await?.jobs();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| invoke(&jobs, event))).await
}
