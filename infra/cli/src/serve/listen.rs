//! The HTTP server under `serve`'s routes, hardened for a public port: HTTP/1.1 only, a
//! connection that sends no complete request head within [`HEADER_TIMEOUT`] is closed (idle
//! keep-alive connections too), a request body must arrive within [`BODY_TIMEOUT`], and at most
//! [`MAX_CONNECTIONS`] connections are served at once — past that, new ones wait in the
//! kernel's backlog instead of taking the process's file descriptors. Graceful: on shutdown
//! no new connection is taken and the requests in flight finish.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// A request head not complete by then closes the connection; so does a keep-alive connection
/// idle that long.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body not complete by then is answered 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// The largest body read: a webhook is a few KiB (the Partner Center verifier refuses over
/// 64 KiB; a Dataverse context is larger, still far below this).
const MAX_BODY: usize = 1024 * 1024;

/// How long a client may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub body: Duration,
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header: HEADER_TIMEOUT,
            body: BODY_TIMEOUT,
            connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` until `stopped` turns true, then lets the connections in flight
/// finish their requests.
pub async fn serve(listener: TcpListener, router: Router, stopped: watch::Receiver<bool>) {
    serve_within(listener, router, stopped, Limits::default()).await;
}

/// [`serve`] with these limits.
pub async fn serve_within(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
    limits: Limits,
) {
    let body_limit = limits.body;
    let router = router.layer(axum::middleware::from_fn(move |request, next| {
        body_in_time(request, next, body_limit)
    }));
    let permits = Arc::new(Semaphore::new(limits.connections));
    let (closing, _) = watch::channel(false);
    let closing = Arc::new(closing);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = turned_true(&mut stopped) => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "connection not accepted");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = turned_true(&mut stopped) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let mut closing = closing.subscribe();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let closed = async move { turned_true(&mut closing).await };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = closed => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    let _ = closing.send(true);
    // Wait for the connections in flight: each holds a permit until it ends.
    let _ = permits.acquire_many(limits.connections as u32).await;
}

/// Waits until `flag` is true (or its sender is gone). The guard `wait_for` returns is
/// dropped here, so the futures awaiting this stay `Send`.
async fn turned_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// Reads the body within `limit` (a client trickling it is answered 408), then hands the
/// request on with the body in memory.
async fn body_in_time(request: Request, next: Next, limit: Duration) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large or cut short\n",
        )
            .into_response(),
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "body not received in time\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const SHORT: Limits = Limits {
        header: Duration::from_millis(300),
        body: Duration::from_millis(300),
        connections: 2,
    };

    async fn start() -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/echo", post(|body: axum::body::Bytes| async move { body }));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve_within(listener, router, stopped, SHORT));
        (addr, stop)
    }

    /// Reads until the server closes the connection; what it sent.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        read.await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_a_slow_body_refused() {
        let (addr, _stop) = start().await;
        // Connected, and nothing sent: closed once the header timeout passes.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        assert_eq!(until_closed(&mut idle).await, "");
        assert!(started.elapsed() >= SHORT.header, "{:?}", started.elapsed());

        // A body promised and not sent: 408.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nten bytes.")
            .await
            .unwrap();
        let answer = until_closed(&mut slow).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }

    #[tokio::test]
    async fn connections_past_the_limit_wait_for_one_to_end() {
        let (addr, _stop) = start().await;
        let _first = TcpStream::connect(addr).await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The third is accepted only when an idle one is closed (after the header timeout).
        let started = Instant::now();
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut third).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            started.elapsed() >= SHORT.header / 2,
            "answered before a connection slot was free: {:?}",
            started.elapsed()
        );
    }
}
