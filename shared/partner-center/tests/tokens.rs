//! The refresh-token grant with rotation: each new refresh token reaches the sink, and the one
//! handed back is the one that works next.

use cosell_partner_center::{Error, PartnerCenter, Secret};

use cosell_testkit::sim;
use cosell_testkit::sim::WithPartnerCenter;

async fn redeem(sim: &cosell_sim::Sim, refresh_token: &str) -> reqwest::Response {
    cosell_testkit::http()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url,
            sim::TENANT
        ))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
            ("refresh_token", refresh_token),
            (
                "scope",
                "https://api.partner.microsoft.com/.default offline_access",
            ),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_rotated_refresh_token_is_handed_back_and_the_old_one_is_dead() {
    let WithPartnerCenter { sim, client, sink } = sim::with_partner_center().await;
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    let stored = sink.stored();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], "sim-refresh-token");

    let old = redeem(&sim, "sim-refresh-token").await;
    assert_eq!(
        old.status(),
        400,
        "the simulator revoked the redeemed token"
    );

    // A cold start with the handed-back token works, and rotates again.
    let (restarted, next_sink) = client_with(&sim, &stored[0]);
    restarted
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    assert_eq!(next_sink.stored().len(), 1);
    assert_ne!(next_sink.stored()[0], stored[0]);
}

#[tokio::test]
async fn both_audiences_share_one_rotating_refresh_token_and_cache_their_access_tokens() {
    let WithPartnerCenter { sim, client, sink } = sim::with_partner_center().await;
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    client.webhook_events().await.unwrap();
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    client.webhook_events().await.unwrap();
    let stored = sink.stored();
    assert_eq!(stored.len(), 2, "one sign-in per audience, then cached");
    assert_eq!(
        sim::route(&sim, "token POST /{tenant}/oauth2/v2.0/token"),
        2
    );
    // Only the newest token is alive.
    assert_eq!(redeem(&sim, &stored[0]).await.status(), 400);
    assert_eq!(redeem(&sim, &stored[1]).await.status(), 200);
}

#[tokio::test]
async fn a_sink_failure_fails_the_call_and_the_token_is_offered_again() {
    let WithPartnerCenter {
        client,
        sink,
        sim: _sim,
    } = sim::with_partner_center().await;
    *sink.failures_left.lock().unwrap() = 1;
    let error = client
        .list_referral_page(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::RefreshTokenNotStored(_)),
        "{error:?}"
    );
    assert!(sink.stored().is_empty());
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    assert_eq!(
        sink.stored().len(),
        1,
        "the same rotated token, stored on the next call"
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_is_an_invalid_grant_that_says_to_sign_in_again() {
    let sim = sim::start().await;
    let (client, _) = client_with(&sim, "not-a-refresh-token");
    let error = client
        .list_referral_page(&Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(400), Some("invalid_grant"))
    );
    assert!(
        matches!(error, cosell_partner_center::Error::SignInExpired(_)),
        "{error:?}"
    );
    // Wherever it is shown (preview, webhooks show, a dead item's last error): the fix.
    let text = error.to_string();
    assert!(text.contains("run `cosell login`"), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
}

fn client_with(
    sim: &cosell_sim::Sim,
    refresh_token: &str,
) -> (PartnerCenter, std::sync::Arc<sim::MemorySink>) {
    let sink = std::sync::Arc::new(sim::MemorySink::default());
    let client = PartnerCenter::new(
        sim::partner_center_config(sim, sim::http(4)),
        Secret::new(refresh_token),
        sink.clone(),
    )
    .unwrap();
    (client, sink)
}
