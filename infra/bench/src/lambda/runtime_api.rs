//! The two calls of Lambda's Runtime API (version 2018-06-01) a function makes before its first
//! event: `GET /runtime/invocation/next` — the moment it is ready — and, when its start fails,
//! `POST /runtime/init/error`. Nothing else is served: the benchmark stops each function while
//! it waits for its first event.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::BenchError;

pub enum Signal {
    /// When the `next` request arrived.
    Ready(Instant),
    /// The body the function posted to `init/error`.
    InitError(String),
}

/// The emulated Runtime API, on a loopback port; stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    signals: mpsc::UnboundedReceiver<Signal>,
    release: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    signals: mpsc::UnboundedSender<Signal>,
    release: Arc<Notify>,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, BenchError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(BenchError::io("binding the Runtime API"))?;
        let addr = listener
            .local_addr()
            .map_err(BenchError::io("binding the Runtime API"))?;
        let (sender, signals) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let shared = Shared {
            signals: sender,
            release: release.clone(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            addr,
            signals,
            release,
            server,
        })
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` takes it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next call a function made.
    pub async fn signal(&mut self) -> Signal {
        self.signals
            .recv()
            .await
            .expect("the server holds a sender while it runs")
    }

    /// Forgets calls left from an earlier start.
    pub fn drain(&mut self) {
        while self.signals.try_recv().is_ok() {}
    }

    /// Answers the `next` requests still waiting (their functions are stopped by then).
    pub fn release(&self) {
        self.release.notify_waiters();
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Notes the time, then holds the request as Lambda does until an event comes — none will.
async fn next(State(shared): State<Shared>) -> StatusCode {
    let arrived = Instant::now();
    let released = shared.release.notified();
    let mut released = std::pin::pin!(released);
    // Registered before the benchmark can hear of this call, so its release cannot be missed.
    released.as_mut().enable();
    let _ = shared.signals.send(Signal::Ready(arrived));
    released.await;
    StatusCode::GONE
}

async fn init_error(State(shared): State<Shared>, body: String) -> StatusCode {
    let _ = shared.signals.send(Signal::InitError(body));
    StatusCode::ACCEPTED
}
