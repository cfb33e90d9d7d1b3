//! The retry rules over real sockets, against the simulator's token endpoint with scripted faults.

use std::time::{Duration, Instant};

use cosell_sim::{Fault, Service, Sim, SimConfig};
use cosell_transport::{ApiError, Http, HttpConfig, RetryPolicy, request_token};

fn http(timeout: Duration) -> Http {
    Http::new(HttpConfig {
        timeout,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        },
        rate_limit: None,
    })
    .unwrap()
}

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[
    ("grant_type", "client_credentials"),
    ("client_id", "sim-client"),
    ("client_secret", "sim-secret"),
    ("scope", "https://org.crm.dynamics.com/.default"),
];

fn token_requests(sim: &Sim) -> u64 {
    sim.state
        .counters
        .snapshot()
        .services
        .get("token")
        .copied()
        .unwrap_or(0)
}

fn url(sim: &Sim) -> String {
    format!("{}/tenant/oauth2/v2.0/token", sim.base_url)
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.state
        .faults
        .script(Service::Token, [Fault::TooManyRequests]);
    let started = Instant::now();
    let token = request_token(
        &http(Duration::from_secs(5)),
        &url(&sim),
        CLIENT_CREDENTIALS,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(token.access_token.expose().split('.').count(), 3, "a JWT");
    assert_eq!(token_requests(&sim), 2);
    // Counted for the function's `Throttled` metric, then reset by taking.
    let taken = cosell_transport::throttled::take();
    assert!(
        taken
            .iter()
            .any(|(service, n)| *service == "token" && *n >= 1),
        "{taken:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_and_a_timeout_are_retried_when_safe() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.state
        .faults
        .script(Service::Token, [Fault::Drop, Fault::Timeout]);
    let token = request_token(
        &http(Duration::from_millis(300)),
        &url(&sim),
        CLIENT_CREDENTIALS,
    )
    .await
    .unwrap();
    assert_eq!(token.expires_in, 3599);
    assert_eq!(token_requests(&sim), 3);
}

#[tokio::test]
async fn a_refresh_grant_is_not_repeated_once_it_may_have_been_redeemed() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.state.faults.script(Service::Token, [Fault::Drop]);
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
        ("refresh_token", "sim-refresh-token"),
        (
            "scope",
            "https://api.partner.microsoft.com/.default offline_access",
        ),
    ];
    let error = request_token(&http(Duration::from_secs(5)), &url(&sim), &form)
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Transport { .. }), "{error:?}");
    assert_eq!(token_requests(&sim), 1);
}

#[tokio::test]
async fn a_client_error_comes_back_typed_at_once() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
        ("refresh_token", "not-a-token"),
    ];
    let error = request_token(&http(Duration::from_secs(5)), &url(&sim), &form)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.code(), Some("invalid_grant"));
    assert!(error.to_string().contains("AADSTS70000"), "{error}");
    assert_eq!(token_requests(&sim), 1);
}

#[tokio::test]
async fn gives_up_after_the_attempt_budget_with_the_last_error() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.state
        .faults
        .script(Service::Token, [Fault::ServerError; 4]);
    let error = request_token(
        &http(Duration::from_secs(5)),
        &url(&sim),
        CLIENT_CREDENTIALS,
    )
    .await
    .unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert_eq!(token_requests(&sim), 3);
}

/// A token request with the client's default settings, under `deadline`, answered with `fault`
/// (its knobs set by `settings`); the error and how many requests reached the simulator.
async fn under_deadline(
    deadline: Instant,
    fault: Fault,
    settings: cosell_sim::FaultSettings,
) -> (ApiError, u64) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.state.faults.set(Service::Token, settings);
    sim.state.faults.script(Service::Token, [fault]);
    let http = Http::new(HttpConfig::default()).unwrap();
    let token_url = url(&sim);
    let request = request_token(&http, &token_url, CLIENT_CREDENTIALS);
    let error = cosell_transport::deadline::within(Some(deadline), request)
        .await
        .unwrap_err();
    (error, token_requests(&sim))
}

/// A `Retry-After` longer than the time left is not waited out: the call ends at once, saying
/// why, so the caller can park the work while it still has time to store it.
#[tokio::test]
async fn a_retry_after_beyond_the_deadline_ends_the_call_at_once() {
    let deadline = Instant::now() + Duration::from_secs(10);
    let settings = cosell_sim::FaultSettings {
        retry_after_secs: 60,
        ..Default::default()
    };
    let (error, requests) = under_deadline(deadline, Fault::TooManyRequests, settings).await;
    assert!(error.is_out_of_time(), "{error:?}");
    assert!(
        error.to_string().contains("waiting 60 s after HTTP 429"),
        "{error}"
    );
    assert!(Instant::now() < deadline);
    assert_eq!(requests, 1);
}

/// An attempt that hangs is cut at the deadline, not at the client's 30 s timeout.
#[tokio::test]
async fn a_hanging_attempt_is_cut_at_the_deadline() {
    let deadline = Instant::now() + Duration::from_secs(2);
    let settings = cosell_sim::FaultSettings {
        hang_ms: 60_000,
        ..Default::default()
    };
    let (error, requests) = under_deadline(deadline, Fault::Timeout, settings).await;
    assert!(error.is_out_of_time(), "{error:?}");
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(late < Duration::from_secs(1), "{late:?} past the deadline");
    assert_eq!(requests, 1);
}
