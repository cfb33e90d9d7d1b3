//! Latency and injected failures, per simulated service, changeable at run time. The dice are
//! seeded so a failing run can be replayed with the same `--seed`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::SimState;
use crate::server::ConnKill;

/// Which simulated service a request belongs to, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    PartnerCenter,
    Dataverse,
    Token,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::PartnerCenter, Service::Dataverse, Service::Token];

    pub fn of_path(path: &str) -> Option<Service> {
        if path.starts_with("/api/data/") {
            Some(Service::Dataverse)
        } else if path.starts_with("/v1.0/engagements/")
            // Where Microsoft's documented next links point.
            || path.starts_with("/v1.0/referrals")
            || path.starts_with("/webhooks/")
        {
            Some(Service::PartnerCenter)
        } else if path.contains("/oauth2/") {
            Some(Service::Token)
        } else {
            None // certificates and anything unrouted: never faulted
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::PartnerCenter => "partner-center",
            Service::Dataverse => "dataverse",
            Service::Token => "token",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What to do to one service's requests. Rates are probabilities in 0..=1, drawn independently
/// per request in the order 429, 500, 503, timeout, drop, lost answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSettings {
    /// Added before every request is handled.
    pub latency_ms: u64,
    pub rate_429: f64,
    pub rate_500: f64,
    pub rate_503: f64,
    /// The request hangs for `hang_ms`, longer than any sane client timeout, then gets a 504.
    pub rate_timeout: f64,
    /// The TCP connection is closed without a response.
    pub rate_drop: f64,
    /// The request is handled — a write is committed — and then the connection is closed
    /// without the answer: the case that makes a non-idempotent `POST` dangerous to repeat.
    pub rate_lost_answer: f64,
    /// `Retry-After` seconds on injected 429 and 503.
    pub retry_after_secs: u64,
    pub hang_ms: u64,
}

/// An injected failure, as decided by the dice or scripted for the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    #[serde(rename = "429")]
    TooManyRequests,
    #[serde(rename = "500")]
    ServerError,
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "drop")]
    Drop,
    #[serde(rename = "lost")]
    LostAnswer,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::TooManyRequests => "429",
            Fault::ServerError => "500",
            Fault::Unavailable => "503",
            Fault::Timeout => "timeout",
            Fault::Drop => "drop",
            Fault::LostAnswer => "lost",
        }
    }
}

pub struct Faults {
    settings: Mutex<HashMap<Service, FaultSettings>>,
    /// Faults the next requests of a service get, in order, before any dice are rolled: what a
    /// test uses to say "the next GET is answered 429" exactly.
    scripted: Mutex<HashMap<Service, VecDeque<Fault>>>,
    rng: Mutex<StdRng>,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            settings: Mutex::new(HashMap::new()),
            scripted: Mutex::new(HashMap::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    pub fn get(&self, service: Service) -> FaultSettings {
        let settings = self.settings.lock().expect("fault settings lock");
        settings.get(&service).cloned().unwrap_or_default()
    }

    pub fn set(&self, service: Service, new: FaultSettings) {
        self.settings
            .lock()
            .expect("fault settings lock")
            .insert(service, new);
    }

    /// Queues faults for the next requests of `service`, after any already queued.
    pub fn script(&self, service: Service, faults: impl IntoIterator<Item = Fault>) {
        self.scripted
            .lock()
            .expect("scripted faults lock")
            .entry(service)
            .or_default()
            .extend(faults);
    }

    /// A uniform draw in 0..1 from the seeded dice; also used by the services' own knobs
    /// (webhook duplication and so on) so one seed replays a whole run.
    pub fn roll(&self) -> f64 {
        self.rng.lock().expect("fault rng lock").random()
    }

    fn decide(&self, service: Service, s: &FaultSettings) -> Option<Fault> {
        let scripted = self
            .scripted
            .lock()
            .expect("scripted faults lock")
            .get_mut(&service)
            .and_then(VecDeque::pop_front);
        if scripted.is_some() {
            return scripted;
        }
        [
            (s.rate_429, Fault::TooManyRequests),
            (s.rate_500, Fault::ServerError),
            (s.rate_503, Fault::Unavailable),
            (s.rate_timeout, Fault::Timeout),
            (s.rate_drop, Fault::Drop),
            (s.rate_lost_answer, Fault::LostAnswer),
        ]
        .into_iter()
        .find(|(rate, _)| *rate > 0.0 && self.roll() < *rate)
        .map(|(_, fault)| fault)
    }
}

/// Middleware around every service route: counts the request, adds latency, maybe fails it.
pub async fn inject(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let Some(service) = Service::of_path(req.uri().path()) else {
        return next.run(req).await;
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    state
        .counters
        .request(service, &format!("{} {route}", req.method()));

    let settings = state.faults.get(service);
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    let Some(fault) = state.faults.decide(service, &settings) else {
        return next.run(req).await;
    };
    state.counters.fault(service, fault.name());
    match fault {
        Fault::TooManyRequests => throttled(
            service,
            StatusCode::TOO_MANY_REQUESTS,
            settings.retry_after_secs,
        ),
        Fault::Unavailable => throttled(
            service,
            StatusCode::SERVICE_UNAVAILABLE,
            settings.retry_after_secs,
        ),
        Fault::ServerError => error_body(
            service,
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "injected failure",
        ),
        Fault::Timeout => {
            tokio::time::sleep(Duration::from_millis(settings.hang_ms.max(30_000))).await;
            error_body(
                service,
                StatusCode::GATEWAY_TIMEOUT,
                "generalException",
                "injected timeout",
            )
        }
        Fault::Drop => {
            if let Some(kill) = req.extensions().get::<ConnKill>() {
                kill.kill();
            }
            // The connection is gone; this response is never written.
            std::future::pending::<Response>().await
        }
        Fault::LostAnswer => {
            let kill = req.extensions().get::<ConnKill>().cloned();
            let _handled = next.run(req).await;
            if let Some(kill) = kill {
                kill.kill();
            }
            std::future::pending::<Response>().await
        }
    }
}

fn throttled(service: Service, status: StatusCode, retry_after_secs: u64) -> Response {
    let (code, message) = match service {
        Service::Dataverse => (
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        ),
        _ => ("serviceNotAvailable", "Too many requests; retry later."),
    };
    let mut response = error_body(service, status, code, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs.max(1)),
    );
    response
}

/// The error body each service uses: `{"error":{"code","message"}}` for Partner Center and
/// Dataverse, the OAuth shape for the token endpoint.
pub fn error_body(service: Service, status: StatusCode, code: &str, message: &str) -> Response {
    let body = match service {
        Service::Token => serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": format!("AADSTS50196: {message}"),
            "error_codes": [50196],
        }),
        _ => serde_json::json!({ "error": { "code": code, "message": message } }),
    };
    (status, axum::Json(body)).into_response()
}
