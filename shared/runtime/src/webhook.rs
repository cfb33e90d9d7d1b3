//! What both webhook routers (webhook-ingress's, outbound-sync's) share, so each host — the
//! Lambda runtime, `cosell serve`, the bench — runs them as they are: the deadline a delivery's
//! handling has, and handling a caller hanging up cannot cancel.

use std::future::Future;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;

use crate::budget;

/// The work deadline of a webhook request: the Lambda invocation's (`lambda_http` puts its
/// context on the request), else [`budget::WEBHOOK`] from now (`cosell serve`, the bench).
pub fn deadline(extensions: &http::Extensions) -> Instant {
    match extensions.lambda_context_ref() {
        Some(context) => budget::lambda(context.deadline),
        None => Instant::now() + budget::WEBHOOK,
    }
}

/// The content type of every webhook answer: a line for the caller's delivery log.
pub const TEXT: [(&str, &str); 1] = [("content-type", "text/plain; charset=utf-8")];

/// Answers one webhook request with `handler`, as every host runs it: the body read whole (413
/// over [`MAX_READ`]), then `handler` — given the request's parts, its body and when it arrived —
/// on its own task within the request's [`deadline`] ([`to_completion`]).
pub async fn answer<F, A>(request: Request, handler: F) -> Response
where
    F: FnOnce(Parts, Bytes, Instant) -> A,
    A: Future<Output = Response> + Send + 'static,
{
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let deadline = deadline(&parts.extensions);
    match self::body(body).await {
        Ok(body) => to_completion(deadline, handler(parts, body, arrived)).await,
        Err(refused) => refused,
    }
}

/// The most a webhook body is read to: a Function URL's own ceiling (6 MB). Each handler refuses
/// what is over its own, smaller limit, after its authentication.
pub const MAX_READ: usize = 6 * 1024 * 1024;

/// A request's body, read whole; over [`MAX_READ`], the 413 to answer.
pub async fn body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_READ)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, TEXT, "body too large\n").into_response())
}

/// Runs a webhook's handling on its own task within `deadline`, so a caller that hangs up (a
/// delivery timeout) does not cancel it halfway — as in Lambda, where an invocation runs to its
/// end. Cancelled midway, a sync would leave its event claimed but neither synced nor parked, and
/// its lease held until it expires. What cannot finish in time is parked, and the caller answered.
pub async fn to_completion(
    deadline: Instant,
    work: impl Future<Output = Response> + Send + 'static,
) -> Response {
    let work = cosell_transport::deadline::within(Some(deadline), work);
    match tokio::spawn(work).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "webhook handling panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, TEXT, "internal error\n").into_response()
        }
    }
}
