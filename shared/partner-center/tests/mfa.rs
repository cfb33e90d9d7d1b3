//! A sign-in without multi-factor authentication: Partner Center refuses it (401, 900421), and
//! the client says so once, without signing in again, instead of a 401 the retry path repeats.

use cosell_partner_center::{PartnerCenter, Secret};
use cosell_sim::token::{AppCredential, Grant, TokenConfig, users};
use cosell_sim::{Sim, SimConfig};

use cosell_testkit::sim;

fn grant(user: &str, mfa: bool) -> Grant {
    Grant {
        client_id: "sim-client".into(),
        public: false,
        user: Some(user.into()),
        mfa,
    }
}

#[tokio::test]
async fn a_token_without_mfa_is_refused_once_and_named_with_the_fix() {
    let sim = sim::start().await;
    let without = sim
        .state
        .tokens
        .mint_refresh_token_for(grant(users::NO_MFA, false));
    let (refused, _) = sim::partner_center(&sim, &without);
    let signed_in = refused.sign_in().await.unwrap().unwrap();
    assert_eq!(signed_in.user.as_deref(), Some(users::NO_MFA));
    assert!(!signed_in.mfa());

    let before = sim.state.pc.requests.all().len();
    let error = refused
        .list_referral_page(&Default::default())
        .await
        .unwrap_err();
    assert!(error.is_mfa_required(), "{error:?}");
    assert_eq!(error.status(), Some(401));
    assert!(error.to_string().contains("run `cosell login`"), "{error}");
    assert_eq!(
        sim.state.pc.requests.all().len() - before,
        1,
        "no second attempt with a fresh token of the same sign-in"
    );

    // A client with an MFA sign-in is accepted, and its claims say so.
    let with = sim
        .state
        .tokens
        .mint_refresh_token_for(grant(users::ADMIN, true));
    let (client, _) = sim::partner_center(&sim, &with);
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    assert!(client.sign_in().await.unwrap().unwrap().mfa());
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_redeemed_without_the_secret() {
    let sim = Sim::start(SimConfig {
        token: TokenConfig {
            apps: vec![AppCredential {
                client_id: "sim-client".into(),
                client_secret: "sim-secret".into(),
                public_client_flows: true,
            }],
            ..TokenConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let public = sim.state.tokens.mint_refresh_token_for(Grant {
        public: true,
        ..grant(users::ADMIN, true)
    });
    let (confidential, _) = sim::partner_center(&sim, &public);
    let refused = confidential.sign_in().await.unwrap_err();
    assert_eq!(refused.code(), Some("invalid_client"), "{refused}");

    let mut config = sim::partner_center_config(&sim, sim::http(4));
    config.public_client = true;
    let sink = std::sync::Arc::new(sim::MemorySink::default());
    let client = PartnerCenter::new(config, Secret::new(public), sink.clone()).unwrap();
    client
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    assert_eq!(sink.stored().len(), 1, "the rotated token is kept as ever");
}
