//! Throttling, retries, dropped connections and token renewal against the simulator.

use std::time::{Duration, Instant};

use cosell_dataverse::{DataverseError, Key, Query};
use cosell_sim::FaultSettings;
use cosell_sim::dataverse::LimitConfig;
use cosell_transport::{ApiError, RateLimit};
use serde_json::json;

use cosell_testkit::{object, sim};

fn tiny_limits(max_requests: u32, window_secs: u64) -> LimitConfig {
    LimitConfig {
        max_requests,
        window_secs,
        ..LimitConfig::default()
    }
}

#[tokio::test]
async fn a_429_is_waited_out_per_retry_after_then_succeeds() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    sim.state.dv.set_limits(tiny_limits(2, 2));
    client.query("accounts", &Query::new()).await.unwrap();
    client.query("accounts", &Query::new()).await.unwrap();

    let started = Instant::now();
    client
        .query("accounts", &Query::new())
        .await
        .expect("succeeds after waiting");
    let waited = started.elapsed();
    assert_eq!(
        sim::event(&sim, "dataverse throttled 0x80072322"),
        1,
        "one 429 from the request limit"
    );
    // The sim answered `Retry-After: 2` (the window frees 2 s after the first request).
    assert!(waited >= Duration::from_secs(2), "waited {waited:?}");
    // The client keeps the limit each 429 named, for a bulk caller to slow down by.
    let counts = client.throttles().counts();
    assert_eq!(counts.get("0x80072322"), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[tokio::test]
async fn the_client_side_limiter_keeps_a_burst_under_the_service_limit() {
    let (sim, _) = sim::dataverse(Default::default()).await;
    sim.state.dv.set_limits(tiny_limits(10, 1));
    let client = client_with_rate_limit(
        &sim,
        RateLimit {
            per_second: 4,
            burst: 4,
        },
    );
    let started = Instant::now();
    for _ in 0..12 {
        client
            .read(
                "accounts",
                &Key::Id(cosell_dataverse::Id::new_random()),
                &[],
            )
            .await
            .unwrap();
    }
    assert_eq!(sim::event(&sim, "dataverse throttled"), 0, "no 429 at all");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "4 at once, then 4/s"
    );

    // The same burst without the limiter does hit the limit (and still gets through).
    sim.state.dv.set_limits(tiny_limits(10, 1));
    let unlimited =
        cosell_dataverse::DataverseClient::new(sim::dataverse_config(&sim, sim::http(5))).unwrap();
    for _ in 0..12 {
        unlimited
            .read(
                "accounts",
                &Key::Id(cosell_dataverse::Id::new_random()),
                &[],
            )
            .await
            .unwrap();
    }
    assert!(
        sim::event(&sim, "dataverse throttled") > 0,
        "the control run was throttled"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_a_read() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = sim
        .state
        .dv
        .seed("accounts", object(json!({"name": "A"})))
        .unwrap();
    client.query("accounts", &Query::new()).await.unwrap(); // token fetched before the faults
    sim.state.faults.set(
        cosell_sim::Service::Dataverse,
        FaultSettings {
            rate_drop: 1.0,
            ..FaultSettings::default()
        },
    );
    let read = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .read("accounts", &Key::Id(cosell_dataverse::Id(id)), &["name"])
                .await
        }
    });
    while sim::event(&sim, "dataverse drop") == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sim.state
        .faults
        .set(cosell_sim::Service::Dataverse, FaultSettings::default());
    let record = read
        .await
        .unwrap()
        .expect("the retry got through")
        .expect("exists");
    assert_eq!(record.get_str("name"), Some("A"));
    assert!(sim::event(&sim, "dataverse drop") >= 1);
}

#[tokio::test]
async fn a_dropped_create_is_not_repeated() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    client.query("accounts", &Query::new()).await.unwrap();
    sim.state.faults.set(
        cosell_sim::Service::Dataverse,
        FaultSettings {
            rate_drop: 1.0,
            ..FaultSettings::default()
        },
    );
    let error = client
        .create("accounts", &object(json!({"name": "A"})))
        .await
        .unwrap_err();
    assert!(
        matches!(error, DataverseError::Api(ApiError::Transport { .. })),
        "{error}"
    );
    assert_eq!(
        sim::event(&sim, "dataverse drop"),
        1,
        "a create that may have landed is not sent twice"
    );
}

#[tokio::test]
async fn injected_server_errors_are_retried_with_backoff() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    sim.state.faults.set(
        cosell_sim::Service::Dataverse,
        FaultSettings {
            rate_500: 0.5,
            ..FaultSettings::default()
        },
    );
    for _ in 0..6 {
        client
            .query("accounts", &Query::new())
            .await
            .expect("gets through");
    }
    assert!(
        sim::event(&sim, "dataverse 500") >= 1,
        "some 500s were injected and retried"
    );
}

#[tokio::test]
async fn a_refused_token_is_renewed_once() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    client.query("accounts", &Query::new()).await.unwrap();
    sim.state.tokens.expire_all();
    client
        .query("accounts", &Query::new())
        .await
        .expect("renews the token and retries");
    let token_requests = sim
        .state
        .counters
        .snapshot()
        .services
        .get("token")
        .copied()
        .unwrap_or(0);
    assert_eq!(token_requests, 2);
}

#[tokio::test]
async fn wrong_credentials_fail_with_the_token_error() {
    let sim = cosell_sim::Sim::start(cosell_sim::SimConfig::default())
        .await
        .unwrap();
    let mut config = sim::dataverse_config(&sim, sim::http(5));
    config.client_secret = cosell_transport::Secret::new("wrong");
    let client = cosell_dataverse::DataverseClient::new(config).unwrap();
    let error = client.query("accounts", &Query::new()).await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.code(), Some("invalid_client"));
}

#[tokio::test]
async fn a_dropped_batch_of_upserts_is_sent_again_but_one_with_a_create_is_not() {
    use cosell_dataverse::{ChangeSet, Id, Precondition};
    use cosell_sim::{Fault, Service};

    let (sim, client) = sim::dataverse(Default::default()).await;
    client.query("accounts", &Query::new()).await.unwrap(); // token fetched before the fault
    let id = uuid::Uuid::new_v4();
    let mut upserts = ChangeSet::new();
    upserts.update(
        "accounts",
        Key::Id(Id(id)),
        object(json!({"name": "Upserted"})),
        Precondition::None,
    );
    sim.state.faults.script(Service::Dataverse, [Fault::Drop]);
    client
        .execute(&upserts)
        .await
        .expect("repeated after the drop");
    let stored = client
        .read("accounts", &Key::Id(Id(id)), &["name"])
        .await
        .unwrap()
        .expect("the upsert landed");
    assert_eq!(stored.get_str("name"), Some("Upserted"));

    let mut with_create = ChangeSet::new();
    with_create.create("accounts", object(json!({"name": "Created"})));
    sim.state.faults.script(Service::Dataverse, [Fault::Drop]);
    let error = client.execute(&with_create).await.unwrap_err();
    assert!(
        matches!(error, DataverseError::Api(ApiError::Transport { .. })),
        "{error}"
    );
    assert_eq!(sim::event(&sim, "dataverse drop"), 2);
}

fn client_with_rate_limit(
    sim: &cosell_sim::Sim,
    limit: cosell_transport::RateLimit,
) -> cosell_dataverse::DataverseClient {
    let mut config = sim::dataverse_config(sim, sim::http(5));
    config.http.rate_limit = Some(limit);
    cosell_dataverse::DataverseClient::new(config).expect("client")
}
