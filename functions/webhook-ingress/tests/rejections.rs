//! Callbacks the verifier refuses are answered 401/413 before anything is parsed: no store
//! write, no Partner Center read, no Dataverse request.

use cosell_sim::partner_center::signing::Signer;
use cosell_store::SyncStore;
use serde_json::json;

use cosell_testkit::http;
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

fn body() -> Vec<u8> {
    body_naming("r-1")
}

fn body_naming(referral_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "EventName": "referral-created",
        "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"),
        "ResourceName": "referral",
        "AuditUri": null,
        "ResourceChangeUtcDate": "2026-01-01T00:00:00+00:00",
    }))
    .unwrap()
}

struct Callback {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn signed(stack: &Stack, body: Vec<u8>) -> Callback {
    let signature = Signer::get().sign(&body);
    Callback {
        headers: vec![
            ("content-type", "application/json".into()),
            ("authorization", format!("Signature {signature}")),
            (
                "x-ms-certificate-url",
                stack.sim.state.pc.certificate_url.clone(),
            ),
            ("x-ms-signature-algorithm", "rsa-sha256".into()),
        ],
        body,
    }
}

async fn post(stack: &Stack, callback: Callback) -> (u16, String) {
    let mut request = http().post(&stack.ingress().url).body(callback.body);
    for (name, value) in callback.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn without(mut callback: Callback, header: &str) -> Callback {
    callback.headers.retain(|(name, _)| *name != header);
    callback
}

fn replaced(mut callback: Callback, header: &'static str, value: String) -> Callback {
    callback.headers.retain(|(name, _)| *name != header);
    callback.headers.push((header, value));
    callback
}

#[tokio::test]
async fn forged_tampered_unsigned_foreign_and_oversized_callbacks_cost_no_dataverse_request() {
    let stack = Stack::inbound().await;
    stack.reset_counters();
    let foreign_host = stack
        .sim
        .state
        .pc
        .certificate_url
        .replace("127.0.0.1", "localhost");
    let mut tampered = signed(&stack, body());
    tampered.body = String::from_utf8(tampered.body)
        .unwrap()
        .replace("r-1", "r-2")
        .into_bytes();
    let forged = {
        let mut callback = signed(&stack, body());
        let other = Signer::get().sign(b"another body");
        callback = replaced(callback, "authorization", format!("Signature {other}"));
        callback
    };
    let cases = [
        ("forged signature", forged, 401),
        ("tampered body", tampered, 401),
        (
            "missing signature",
            without(signed(&stack, body()), "authorization"),
            401,
        ),
        (
            "missing certificate url",
            without(signed(&stack, body()), "x-ms-certificate-url"),
            401,
        ),
        (
            "missing algorithm",
            without(signed(&stack, body()), "x-ms-signature-algorithm"),
            401,
        ),
        (
            "other algorithm",
            replaced(
                signed(&stack, body()),
                "x-ms-signature-algorithm",
                "rsa-sha1".into(),
            ),
            401,
        ),
        (
            "unknown certificate host",
            replaced(signed(&stack, body()), "x-ms-certificate-url", foreign_host),
            401,
        ),
        (
            "oversized body",
            signed(&stack, vec![b' '; 64 * 1024 + 1]),
            413,
        ),
    ];
    for (case, callback, expected) in cases {
        let (status, reason) = post(&stack, callback).await;
        assert_eq!(status, expected, "{case}: {reason}");
        assert!(!reason.trim().is_empty(), "{case}: a one-line reason");
    }
    assert_eq!(stack.requests("dataverse"), 0);
    let snapshot = stack.sim.state.counters.snapshot();
    assert_eq!(
        snapshot
            .routes
            .keys()
            .filter(|r| r.contains("referrals"))
            .count(),
        0,
        "no referral was read: {:?}",
        snapshot.routes
    );
    assert!(
        stack
            .store
            .link_by_referral(&rid("r-1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(stack.store.retry("inbound:r-1").await.unwrap().is_none());

    // The same callback, correctly signed, gets through (so the cases above failed for their
    // reason, not for the harness).
    let (status, reason) = post(&stack, signed(&stack, body())).await;
    assert_eq!(status, 200, "{reason}");
}

#[tokio::test]
async fn only_post_is_accepted() {
    let stack = Stack::inbound().await;
    let response = http().get(&stack.ingress().url).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_signed_callback_naming_an_id_no_request_can_carry_is_ignored_and_named() {
    let stack = Stack::inbound().await;
    stack.deliver_nowhere().await;
    stack.reset_counters();
    let (status, text) = post(&stack, signed(&stack, body_naming("r%2F1"))).await;
    // Verified, then ignored with the reason: redelivering it could never help.
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("ignored: "), "{text}");
    assert!(text.contains("'r%2F1'"), "{text}");
    assert_eq!(stack.requests("dataverse"), 0);
    let partner_center = stack.sim.state.counters.snapshot().services;
    assert_eq!(
        partner_center.get("partner-center").copied().unwrap_or(0),
        0
    );
}
