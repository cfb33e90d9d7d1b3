//! The Partner Center simulator's webhooks: registration, signed delivery (checked with the
//! `rsa` and `x509-cert` crates against the simulator's own CA), retries, the offline list, and
//! the drop / duplicate / reorder knobs.

use std::time::Duration;

use base64::Engine;
use cosell_sim::partner_center::PcConfig;
use cosell_sim::{Audience, Sim};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::der::{Decode, DecodePem, Encode};

use cosell_testkit::api::{Received, create, receiver, register, token};
use cosell_testkit::{http, microsoft, sim};

const REFERRAL_EVENTS: &[&str] = &[
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
];

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name}"))
        .to_str()
        .unwrap()
}

/// An RSA public key from a certificate's SubjectPublicKeyInfo.
fn public_key(cert: &Certificate) -> rsa::PublicKey {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    rsa::PublicKey::from_public_key_der(&spki).unwrap()
}

/// What an inbound verifier does: fetch the certificate, check it chains to the CA and names
/// Microsoft, and verify the signature over the raw body.
async fn verify(sim: &Sim, received: &Received, signature: &str) {
    assert_eq!(header(received, "x-ms-signature-algorithm"), "rsa-sha256");
    let cert_url = header(received, "x-ms-certificate-url");
    assert!(
        cert_url.starts_with(&sim.base_url) && cert_url.ends_with(".cer"),
        "{cert_url}"
    );
    let der = http()
        .get(cert_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let leaf = Certificate::from_der(&der).unwrap();

    let ca_pem = http()
        .get(format!("{}/_admin/partner-center/ca.pem", sim.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ca = Certificate::from_pem(ca_pem.as_bytes()).unwrap();

    assert_eq!(
        leaf.tbs_certificate().issuer(),
        ca.tbs_certificate().subject()
    );
    let tbs = leaf.tbs_certificate().to_der().unwrap();
    public_key(&ca)
        .pkcs1v15_verify::<Sha256>(&tbs, leaf.signature().raw_bytes())
        .expect("the CA signed the leaf certificate");
    for name in [
        leaf.tbs_certificate().subject(),
        ca.tbs_certificate().subject(),
    ] {
        assert!(
            name.to_string().contains("O=Microsoft Corporation"),
            "{name}"
        );
    }

    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap();
    let key = public_key(&leaf);
    key.pkcs1v15_verify::<Sha256>(&received.body, &signature)
        .expect("the signature covers the exact body");
    let mut tampered = received.body.to_vec();
    tampered.push(b' ');
    assert!(
        key.pkcs1v15_verify::<Sha256>(&tampered, &signature)
            .is_err()
    );
}

#[tokio::test]
async fn delivery_is_signed_by_a_certificate_chaining_to_the_test_ca() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    let referral = create(&sim, json!({"name": "Signed"})).await;

    let received = hook.next().await;
    let body = received.json();
    assert_eq!(body["EventName"], "referral-created");
    assert_eq!(
        body["ResourceUri"],
        format!(
            "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{}",
            referral["id"].as_str().unwrap()
        )
    );
    assert_eq!(body["ResourceName"], "referral");
    assert_eq!(body["AuditUri"], Value::Null);
    let date = body["ResourceChangeUtcDate"].as_str().unwrap();
    assert!(
        date.ends_with("+00:00") && date.split('.').nth(1).unwrap().len() == 13,
        "{date}"
    );
    assert_eq!(header(&received, "content-type"), "application/json");

    let signature = header(&received, "authorization")
        .strip_prefix("Signature ")
        .unwrap()
        .to_owned();
    verify(&sim, &received, &signature).await;
}

#[tokio::test]
async fn signature_moves_to_x_ms_signature_when_configured() {
    let sim = sim::start_with(PcConfig {
        signature_in_ms_signature_header: true,
        ..PcConfig::default()
    })
    .await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    create(&sim, json!({"name": "Header"})).await;

    let received = hook.next().await;
    assert!(received.headers.get("authorization").is_none());
    let signature = header(&received, "x-ms-signature").to_owned();
    verify(&sim, &received, &signature).await;
}

#[tokio::test]
async fn updates_and_related_referrals_get_their_own_events() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    let first = microsoft::seed_referral(&sim, json!({"name": "From Microsoft"})).await;
    assert_eq!(hook.next().await.json()["EventName"], "referral-created");

    let id = first["id"].as_str().unwrap();
    let edit = http()
        .patch(format!(
            "{}/_admin/partner-center/referrals/{id}",
            sim.base_url
        ))
        .json(&json!({"details": {"notes": "a Microsoft seller wrote this"}}))
        .send()
        .await
        .unwrap();
    let edited: Value = edit.json().await.unwrap();
    assert_ne!(edited["eTag"], first["eTag"]);
    assert_eq!(hook.next().await.json()["EventName"], "referral-updated");

    create(
        &sim,
        json!({"name": "Connected", "engagementId": first["engagementId"]}),
    )
    .await;
    assert_eq!(
        hook.next().await.json()["EventName"],
        "related-referral-created"
    );
}

#[tokio::test]
async fn only_registered_events_are_sent() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, &["referral-updated"]).await;
    let referral = create(&sim, json!({"name": "Quiet"})).await;
    hook.assert_quiet(Duration::from_millis(200)).await;
    let id = referral["id"].as_str().unwrap();
    http()
        .patch(format!(
            "{}/_admin/partner-center/referrals/{id}",
            sim.base_url
        ))
        .json(&json!({"name": "Loud"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.next().await.json()["EventName"], "referral-updated");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_it_arrives() {
    let sim = sim::start().await;
    let mut hook = receiver(2).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    create(&sim, json!({"name": "Retried"})).await;

    let answers: Vec<u16> = [hook.next().await, hook.next().await, hook.next().await]
        .iter()
        .map(|r| r.answered)
        .collect();
    assert_eq!(answers, [500, 500, 200]);
    hook.assert_quiet(Duration::from_millis(100)).await;
    let log = microsoft::partner_center(&sim, "deliveries").await;
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_delivery_failing_ten_times_is_parked() {
    let sim = sim::start().await;
    let mut hook = receiver(u32::MAX).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    create(&sim, json!({"name": "Parked"})).await;
    for _ in 0..10 {
        assert_eq!(hook.next().await.answered, 500);
    }
    let mut parked = Value::Null;
    for _ in 0..50 {
        parked = microsoft::partner_center(&sim, "deliveries/parked").await;
        if parked.as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(parked[0]["attempts"].as_array().unwrap().len(), 10);
    hook.assert_quiet(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn the_duplicate_knob_sends_an_event_twice() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    microsoft::set_webhook_knobs(&sim, json!({"duplicate_rate": 1.0})).await;
    create(&sim, json!({"name": "Twice"})).await;
    let (first, second) = (hook.next().await, hook.next().await);
    assert_eq!(first.body, second.body);
    let log = microsoft::partner_center(&sim, "deliveries").await;
    assert_eq!(log[1]["duplicate_of"], log[0]["id"]);
}

#[tokio::test]
async fn the_drop_knob_loses_events() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    microsoft::set_webhook_knobs(&sim, json!({"drop_rate": 1.0})).await;
    create(&sim, json!({"name": "Lost"})).await;
    hook.assert_quiet(Duration::from_millis(200)).await;
    assert_eq!(
        microsoft::partner_center(&sim, "deliveries").await[0]["state"],
        "dropped"
    );
}

#[tokio::test]
async fn the_reorder_knob_delivers_a_held_event_after_the_next_one() {
    let sim = sim::start().await;
    let mut hook = receiver(0).await;
    register(&sim, &hook.url, REFERRAL_EVENTS).await;
    microsoft::set_webhook_knobs(&sim, json!({"reorder_rate": 1.0})).await;
    let first = create(&sim, json!({"name": "First"})).await;
    microsoft::set_webhook_knobs(&sim, json!({})).await;
    let second = create(&sim, json!({"name": "Second"})).await;
    let uri = |r: &Value| {
        r["ResourceUri"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let arrived = [
        uri(&hook.next().await.json()),
        uri(&hook.next().await.json()),
    ];
    assert_eq!(
        arrived,
        [
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
}

#[tokio::test]
async fn registration_round_trip_and_validation_events() {
    let sim = sim::start().await;
    let client = http();
    let url = format!("{}/webhooks/v1/registration", sim.base_url);
    let token = token(&sim, Audience::PartnerCenterWebhooks);

    let events: Vec<String> = client
        .get(format!("{url}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        events.contains(&"referral-updated".to_owned())
            && events.contains(&"test-created".to_owned())
    );
    let none = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(none.status(), 404);
    let wrong_audience = client
        .get(&url)
        .bearer_auth(token_for_referrals(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 401);

    let mut hook = receiver(0).await;
    let first = register(&sim, &hook.url, &["referral-created"]).await;
    // Microsoft's REST reference: POST over an existing registration is refused ("registration
    // already exists, please use PUT"), and the registration is left as it was.
    let again = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"WebhookUrl": "https://elsewhere.example/hook", "WebhookEvents": ["referral-updated"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let refusal: Value = again.json().await.unwrap();
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already exists, please use PUT")),
        "{refusal}"
    );
    let kept: Value = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["WebhookUrl"], hook.url.as_str());
    let test = client
        .post(format!("{url}/validationEvents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(test.status(), 400, "test-created is not registered yet");

    let updated: Value = client
        .put(&url)
        .bearer_auth(&token)
        .json(
            &json!({"WebhookUrl": hook.url, "WebhookEvents": ["referral-created", "test-created"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["SubscriberId"], first["SubscriberId"]);

    let mut correlation_ids = Vec::new();
    for _ in 0..2 {
        let answer: Value = client
            .post(format!("{url}/validationEvents"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        correlation_ids.push(answer["correlationId"].as_str().unwrap().to_owned());
        assert_eq!(hook.next().await.json()["EventName"], "test-created");
    }
    let third = client
        .post(format!("{url}/validationEvents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));

    // The simulator records the attempt once the receiver's answer is back: poll briefly.
    let mut status = Value::Null;
    for _ in 0..50 {
        status = client
            .get(format!("{url}/validationEvents/{}", correlation_ids[0]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "completed");
    assert_eq!(status["callbackUrl"], hook.url);
    assert_eq!(status["results"][0]["responseCode"], "200");
}

fn token_for_referrals(sim: &Sim) -> String {
    token(sim, Audience::PartnerCenter)
}
