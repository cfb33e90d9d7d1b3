//! The accept loop. It is hand-rolled (not `axum::serve`) for one reason: an injected "dropped
//! connection" must close the TCP socket without any response, which only the connection's owner
//! can do. Each connection gets a [`ConnKill`] in its requests' extensions.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Closes the connection the request came on, mid-request, as a crashed proxy would.
#[derive(Clone)]
pub struct ConnKill(Arc<Notify>);

impl ConnKill {
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

pub async fn serve(listener: TcpListener, app: Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let kill = ConnKill(Arc::new(Notify::new()));
        let app = app.clone();
        let conn_kill = kill.clone();
        let service =
            TowerToHyperService::new(app.map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(conn_kill.clone());
                req.map(Body::new)
            }));
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = kill.0.notified() => {} // dropping `conn` closes the socket
            }
        });
    }
}
