//! Retries through cosell-transport: 429 with Retry-After, a dropped connection, a 401.

use std::time::{Duration, Instant};

use cosell_mapping::Referral;
use serde_json::{Value, json};

use cosell_testkit::sim::WithPartnerCenter;
use cosell_testkit::{microsoft, sim};

async fn one_referral(setup: &WithPartnerCenter) -> String {
    let draft = Referral {
        name: Some("Retried".into()),
        ..Referral::default()
    };
    setup
        .client
        .create_referral(&draft)
        .await
        .unwrap()
        .value
        .id
        .unwrap()
}

#[tokio::test]
async fn a_429_waits_at_least_retry_after_then_succeeds() {
    let setup = sim::with_partner_center().await;
    let id = one_referral(&setup).await;
    let sim = &setup.sim;
    microsoft::admin(
        sim,
        reqwest::Method::PUT,
        "faults/partner-center",
        Some(json!({"retry_after_secs": 1})),
    )
    .await;
    microsoft::admin(
        sim,
        reqwest::Method::POST,
        "faults/partner-center/next",
        Some(json!(["429"])),
    )
    .await;

    let started = Instant::now();
    let fetched = setup.client.get_referral(&id).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(fetched.value.id.as_deref(), Some(id.as_str()));
    assert_eq!(sim::event(sim, "partner-center 429"), 1);
    assert_eq!(
        sim::route(sim, "partner-center GET /v1.0/engagements/referrals/{id}"),
        2
    );
}

#[tokio::test]
async fn a_dropped_connection_on_a_get_is_retried() {
    let setup = sim::with_partner_center().await;
    let id = one_referral(&setup).await;
    microsoft::admin(
        &setup.sim,
        reqwest::Method::POST,
        "faults/partner-center/next",
        Some(json!(["drop"])),
    )
    .await;

    let fetched = setup.client.get_referral(&id).await.unwrap();
    assert_eq!(fetched.value.id.as_deref(), Some(id.as_str()));
    assert_eq!(sim::event(&setup.sim, "partner-center drop"), 1);
    assert_eq!(
        sim::route(
            &setup.sim,
            "partner-center GET /v1.0/engagements/referrals/{id}"
        ),
        2
    );
}

#[tokio::test]
async fn a_dropped_create_is_not_repeated() {
    let setup = sim::with_partner_center().await;
    one_referral(&setup).await; // signs in first, so the scripted drop hits the POST
    microsoft::admin(
        &setup.sim,
        reqwest::Method::POST,
        "faults/partner-center/next",
        Some(json!(["drop"])),
    )
    .await;
    let draft = Referral {
        name: Some("Maybe created".into()),
        ..Referral::default()
    };
    let error = setup.client.create_referral(&draft).await.unwrap_err();
    assert!(
        error
            .api()
            .is_some_and(|e| matches!(e, cosell_partner_center::ApiError::Transport { .. })),
        "{error:?}"
    );
    assert_eq!(
        sim::route(
            &setup.sim,
            "partner-center POST /v1.0/engagements/referrals"
        ),
        2
    );
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_once_after_a_401() {
    let setup = sim::with_partner_center().await;
    let id = one_referral(&setup).await;
    microsoft::admin(&setup.sim, reqwest::Method::POST, "tokens/expire", None).await;
    let fetched = setup.client.get_referral(&id).await.unwrap();
    assert_eq!(fetched.value.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        setup.sink.stored().len(),
        2,
        "signed in twice, each rotating the refresh token"
    );

    // Both tries of the get carried one request id; the create before had its own.
    let log: Value = microsoft::admin(
        &setup.sim,
        reqwest::Method::GET,
        "partner-center/requests",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let ids: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{log}");
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[0], ids[1]);
    assert!(uuid::Uuid::parse_str(ids[1]).is_ok());
}
