//! Hostile callbacks for the webhook verifier: whatever reaches the Function URL is either an
//! envelope or a [`Rejection`] with a status and a one-line reason that quotes neither the headers
//! nor the body.
//!
//! The headers (`Authorization: Signature …` / `x-ms-signature`, `x-ms-certificate-url`,
//! `x-ms-signature-algorithm`) and the envelope are parsed by private functions, so both are driven
//! through [`WebhookVerifier::verify`]: the envelope with bodies really signed by the simulator's
//! key and its certificate served from a local route, so that only the body decides the outcome.

use std::sync::OnceLock;
use std::time::Duration;

use axum::routing::get;
use base64::Engine;
use cosell_partner_center::webhook::default_http_config;
use cosell_partner_center::{
    HttpConfig, Rejection, RetryPolicy, TrustRoots, VerifierConfig, WebhookEnvelope,
    WebhookVerifier,
};
use cosell_sim::partner_center::signing::Signer;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Cases per property.
const CASES: u32 = 256;
/// Cases for the properties that sign every body: an RSA private-key operation each.
const SIGNED_CASES: u32 = 128;
const MAX_BODY: usize = 16 * 1024;

const SAMPLE: &str = r#"{"EventName":"referral-updated",
    "ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/5a3c-11",
    "ResourceName":"referral","AuditUri":null,
    "ResourceChangeUtcDate":"2018-02-17T00:05:39.5485487+00:00"}"#;

// ---------------------------------------------------------------------------------------------
// One runtime, one certificate route and one verifier for every case

struct World {
    runtime: tokio::runtime::Runtime,
    verifier: WebhookVerifier,
    /// `http://127.0.0.1:<port>`, the only allow-listed certificate host.
    base_url: String,
    /// Where the simulator's signing certificate is served.
    cert_url: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let signer = Signer::get();
        let base_url = runtime.block_on(async {
            let leaf = signer.leaf_der.clone();
            let app = axum::Router::new().route(
                "/cert/leaf.cer",
                get(move || {
                    let leaf = leaf.clone();
                    async move { leaf }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base_url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            base_url
        });
        let verifier = WebhookVerifier::with_http(
            VerifierConfig {
                cert_hosts: vec![base_url.trim_start_matches("http://").to_owned()],
                trust_roots: TrustRoots::Pem(signer.ca_pem.clone().into_bytes()),
                max_body: MAX_BODY,
            },
            HttpConfig {
                timeout: Duration::from_secs(2),
                retry: RetryPolicy {
                    max_attempts: 1,
                    ..default_http_config().retry
                },
                ..default_http_config()
            },
        )
        .expect("verifier config is valid");
        World {
            runtime,
            verifier,
            cert_url: format!("{base_url}/cert/leaf.cer"),
            base_url,
        }
    })
}

fn verify(headers: &HeaderMap, body: &[u8]) -> Result<WebhookEnvelope, Rejection> {
    let world = world();
    world.runtime.block_on(
        world
            .verifier
            .verify(headers, body, OffsetDateTime::now_utc()),
    )
}

/// The headers Partner Center sends for `body`, signed with the simulator's key.
fn signed(body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Signature {}", Signer::get().sign(body))).unwrap(),
    );
    headers.insert(
        "x-ms-certificate-url",
        HeaderValue::from_str(&world().cert_url).unwrap(),
    );
    headers.insert(
        "x-ms-signature-algorithm",
        HeaderValue::from_static("rsa-sha256"),
    );
    headers
}

// ---------------------------------------------------------------------------------------------
// What a rejection may say

/// The start of every reason the verifier gives (rejection.rs); the variable part after it is
/// a header *name*, a number or a few fixed words, never input.
const REASONS: &[&str] = &[
    "body of ",
    "missing header ",
    "header authorization is not visible ASCII",
    "header x-ms-signature is not visible ASCII",
    "header x-ms-certificate-url is not visible ASCII",
    "header x-ms-signature-algorithm is not visible ASCII",
    "signature is not valid base64",
    "signature of ",
    "unsupported x-ms-signature-algorithm (only rsa-sha256 is accepted)",
    "x-ms-certificate-url is not an absolute URL",
    "x-ms-certificate-url carries credentials",
    "x-ms-certificate-url must use https",
    "certificate host is not in COSELL_WEBHOOK_CERT_HOSTS",
    "certificate fetch failed: ",
    "certificate fetches from this host are over ",
    "certificate is not an X.509 certificate",
    "signature does not verify over the body with the certificate's key",
    "verified body is not a webhook envelope (",
];

/// A rejection as the contract wants it: the expected status, one of the known reasons on one
/// line, and none of `inputs` (header values, body) quoted in it.
fn check_rejection(
    rejection: &Rejection,
    status: u16,
    inputs: &[&[u8]],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(rejection.status, status, "{}", rejection);
    let reason = &rejection.reason;
    prop_assert!(
        REASONS.iter().any(|known| reason.starts_with(known)),
        "unknown reason {reason:?}"
    );
    prop_assert!(!reason.contains('\n') && !reason.contains('\r'), "one line");
    prop_assert!(!reason.contains("panicked"), "{reason}");
    prop_assert!(rejection.to_string().contains(reason.as_str()));
    for input in inputs {
        // Short inputs can occur in the fixed words by chance; a long one cannot.
        if let Ok(text) = std::str::from_utf8(input)
            && text.trim().len() >= 16
        {
            prop_assert!(!reason.contains(text.trim()), "{reason:?} quotes the input");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Bytes a header value may hold: visible ASCII, space and tab, and sometimes obs-text
/// (0x80–0xFF), which `HeaderValue::to_str` refuses.
fn header_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(prop_oneof![20 => 0x20u8..=0x7e, 1 => Just(b'\t')], 0..80),
        1 => prop::collection::vec(
            prop_oneof![8 => 0x20u8..=0x7e, 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
            0..80,
        ),
    ]
    .boxed()
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `signature` in any case, with the whitespace the parser must tolerate.
fn scheme() -> BoxedStrategy<String> {
    (
        select(&["Signature", "signature", "SIGNATURE", "sIgNaTuRe"][..]),
        select(&["", " ", "  ", "\t"][..]),
        select(&[" ", "  "][..]),
    )
        .prop_map(|(name, before, after)| format!("{before}{name}{after}"))
        .boxed()
}

/// A signature header value: well formed, nearly well formed, or junk.
fn signature_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => (scheme(), prop::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(scheme, sig)| format!("{scheme}{}", base64_of(&sig)).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(|sig| base64_of(&sig).into_bytes()),
        1 => (scheme(), "[A-Za-z0-9+/=_.-]{0,80}").prop_map(|(s, junk)| format!("{s}{junk}").into_bytes()),
        1 => select(&["Bearer abc", "Signature", "Signature ", "Basic dXNlcjpwYXNz", ""][..])
            .prop_map(|v| v.as_bytes().to_vec()),
        1 => header_bytes(),
    ]
    .boxed()
}

/// A certificate URL: the real one, the allowed host with another path, other hosts, other
/// schemes, credentials, or junk.
fn certificate_url() -> BoxedStrategy<Vec<u8>> {
    let base = world().base_url.clone();
    let real = world().cert_url.clone();
    prop_oneof![
        Just(real.clone().into_bytes()),
        "[a-z0-9/._-]{0,30}".prop_map(move |path| format!("{base}/{path}").into_bytes()),
        "[a-z]{1,12}".prop_map(|host| format!("https://{host}.example/cert.cer").into_bytes()),
        select(
            &[
                "http://10.0.0.1/cert.cer",
                "ftp://127.0.0.1/cert.cer",
                "file:///etc/passwd",
                "https://user:pass@3psostorageacct.blob.core.windows.net/c.cer",
                "//no-scheme/c.cer",
                "https://[::1",
                "https://",
            ][..]
        )
        .prop_map(|v| v.as_bytes().to_vec()),
        Just(
            real.replacen("http://", "http://user:secret@", 1)
                .into_bytes()
        ),
        header_bytes(),
    ]
    .boxed()
}

fn algorithm() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => select(&["rsa-sha256", "RSA-SHA256", " rsa-sha256 ", "rsa-sha1", "hmac-sha256", ""][..])
            .prop_map(|v| v.as_bytes().to_vec()),
        1 => header_bytes(),
    ]
    .boxed()
}

/// The four callback headers, each mostly present with a generated value.
fn hostile_headers() -> BoxedStrategy<Vec<(&'static str, Vec<u8>)>> {
    (
        prop::option::weighted(0.8, signature_value()),
        prop::option::weighted(0.5, signature_value()),
        prop::option::weighted(0.9, certificate_url()),
        prop::option::weighted(0.9, algorithm()),
    )
        .prop_map(|(authorization, ms_signature, url, algorithm)| {
            [
                ("authorization", authorization),
                ("x-ms-signature", ms_signature),
                ("x-ms-certificate-url", url),
                ("x-ms-signature-algorithm", algorithm),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
        })
        .boxed()
}

fn header_map(headers: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).expect("generated bytes are a valid header value"),
        );
    }
    map
}

/// Keys of the envelope and values of every JSON type, for bodies that are almost envelopes.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        select(
            &[
                "",
                "   ",
                "https://h/",
                "https://h/r/1?x#y",
                "://",
                "referral-created"
            ][..]
        )
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        select(
            &[
                "EventName",
                "ResourceUri",
                "ResourceName",
                "AuditUri",
                "AuditUrl",
                "ResourceChangeUtcDate",
                "eventName",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..7)
                .prop_map(|e| Value::Object(e.into_iter().collect())),
        ]
    })
    .boxed()
}

/// The contract's sample with fields dropped, retyped or replaced, or nested past the JSON
/// reader's recursion limit.
fn almost_envelope() -> BoxedStrategy<Vec<u8>> {
    let sample: Value = serde_json::from_str(SAMPLE).unwrap();
    let fields: Vec<String> = sample.as_object().unwrap().keys().cloned().collect();
    prop_oneof![
        (prop::collection::vec((any::<Index>(), prop::option::of(json_value())), 1..4)).prop_map(
            move |edits| {
                let mut value = sample.clone();
                let map = value.as_object_mut().unwrap();
                for (index, replacement) in edits {
                    let field = index.get(&fields);
                    match replacement {
                        None => map.remove(field),
                        Some(v) => map.insert(field.clone(), v),
                    };
                }
                serde_json::to_vec(&value).unwrap()
            }
        ),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop_oneof![1usize..400, 1usize..(MAX_BODY / 2 - 64)].prop_map(|depth| {
            format!(
                r#"{{"EventName":"x","ResourceUri":"https://h/r/1","Extra":{}0{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()
        }),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            bytes
        }),
        prop::collection::vec(any::<u8>(), 0..512),
    ]
    .boxed()
}

/// The two fields an envelope must have, read without a depth limit on the rest (as the verifier
/// reads it: unknown keys are skipped, however deep they are nested).
#[derive(serde::Deserialize)]
struct Fields {
    #[serde(rename = "EventName")]
    event_name: String,
    #[serde(rename = "ResourceUri")]
    resource_uri: String,
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Any combination of the four headers, over any body: refused with 401 (nothing here is
    /// signed by the certificate's key), for a known reason that quotes no header and no body.
    #[test]
    fn hostile_headers_are_refused_without_quoting_them(
        headers in hostile_headers(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let rejection = verify(&header_map(&headers), &body)
            .expect_err("an unsigned callback is never accepted");
        let mut inputs: Vec<&[u8]> = headers.iter().map(|(_, v)| v.as_slice()).collect();
        inputs.push(&body);
        check_rejection(&rejection, 401, &inputs)?;
    }

    /// Well-formed headers in every spelling the contract allows (either signature header, any
    /// case of the scheme and algorithm, surrounding whitespace) parse: the callback gets past
    /// the headers to the certificate host check, or with the real certificate URL, to the
    /// signature check.
    #[test]
    fn well_formed_headers_in_any_spelling_are_read(
        // As long as an RSA signature by a 2048- to 4096-bit key: anything else is refused
        // before the certificate host is looked at.
        signature in prop::collection::vec(any::<u8>(), 256..=512),
        scheme in scheme(),
        spelling in 0..4u8,
        algorithm in select(&["rsa-sha256", "RSA-SHA256", " Rsa-Sha256\t"][..]),
        allowed in any::<bool>(),
        host in "[a-z]{1,12}",
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let encoded = base64_of(&signature);
        let mut headers = HeaderMap::new();
        let prefixed = HeaderValue::from_str(&format!("{scheme}{encoded}")).unwrap();
        let bare = HeaderValue::from_str(&encoded).unwrap();
        match spelling {
            0 => headers.insert("authorization", prefixed),
            1 => headers.insert("x-ms-signature", bare),
            2 => headers.insert("x-ms-signature", prefixed),
            _ => {
                headers.insert("authorization", HeaderValue::from_static("Bearer not-a-signature"));
                headers.insert("x-ms-signature", bare)
            }
        };
        let url = if allowed {
            world().cert_url.clone()
        } else {
            format!("https://{host}.example/cert.cer")
        };
        headers.insert("x-ms-certificate-url", HeaderValue::from_str(&url).unwrap());
        headers.insert("x-ms-signature-algorithm", HeaderValue::from_static(algorithm));

        let rejection = verify(&headers, &body).expect_err("a random signature never verifies");
        check_rejection(&rejection, 401, &[&body])?;
        let expected = if allowed {
            "signature does not verify over the body with the certificate's key"
        } else {
            "certificate host is not in COSELL_WEBHOOK_CERT_HOSTS"
        };
        prop_assert_eq!(&rejection.reason, expected);
    }

    /// A body over the limit is refused with 413 before any header is looked at.
    #[test]
    fn an_oversized_body_is_413_whatever_the_headers(
        headers in hostile_headers(),
        extra in 1usize..4096,
    ) {
        let body = vec![b'{'; MAX_BODY + extra];
        let rejection = verify(&header_map(&headers), &body).expect_err("too large");
        check_rejection(&rejection, 413, &[])?;
        let expected = format!("body of {} bytes is over the {MAX_BODY}-byte limit", body.len());
        prop_assert_eq!(&rejection.reason, &expected);
    }

    /// The referral id and the dedupe key of any `ResourceUri`: no panic; an id is the last
    /// non-empty path segment, without query or fragment; the key is 64 hex digits and depends
    /// on the URI.
    #[test]
    fn referral_id_and_dedupe_key_of_any_uri(
        uri in prop_oneof![
            any::<String>(),
            "(https?://)?[a-z./?#:]{0,12}(/[a-zA-Z0-9-]{0,6}){0,4}/?([?#][ -~]{0,8})?",
            select(&["://", "https://", "https://h", "https://h/", "//", "/", "", "a://b?/c"][..])
                .prop_map(str::to_owned),
        ],
        date in prop::option::of(any::<String>()),
    ) {
        let envelope = WebhookEnvelope {
            event_name: "referral-updated".into(),
            resource_uri: uri.clone(),
            resource_name: None,
            audit_uri: None,
            resource_change_utc_date: date,
        };
        if let Some(id) = envelope.referral_id() {
            prop_assert!(!id.is_empty());
            prop_assert!(!id.contains(['/', '?', '#']), "{id:?} of {uri:?}");
            let before_query = uri.split(['?', '#']).next().unwrap();
            prop_assert!(before_query.trim_end_matches('/').ends_with(id), "{id:?} of {uri:?}");
        }
        let key = envelope.dedupe_key();
        prop_assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert_eq!(&key, &envelope.clone().dedupe_key());
        let other = WebhookEnvelope { resource_uri: format!("{uri}x"), ..envelope };
        prop_assert_ne!(key, other.dedupe_key());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNED_CASES))]

    /// A correctly signed body of any shape: an envelope with a non-blank event name and
    /// resource URI taken from the body, or 400 "not a webhook envelope" quoting nothing of it.
    #[test]
    fn signed_bodies_become_an_envelope_or_a_400(body in almost_envelope()) {
        match verify(&signed(&body), &body) {
            Ok(envelope) => {
                let fields: Fields = serde_json::from_slice(&body).expect("an envelope is JSON");
                prop_assert_eq!(&fields.event_name, &envelope.event_name);
                prop_assert_eq!(&fields.resource_uri, &envelope.resource_uri);
                prop_assert!(!envelope.event_name.trim().is_empty());
                prop_assert!(!envelope.resource_uri.trim().is_empty());
                let _ = envelope.referral_id();
            }
            Err(rejection) => {
                check_rejection(&rejection, 400, &[&body])?;
                prop_assert!(rejection.reason.starts_with("verified body is not a webhook envelope ("));
            }
        }
    }

    /// A valid envelope with generated values: verified, with the event, the referral id at the
    /// end of `ResourceUri`, the audit link in either spelling and the change date as sent.
    #[test]
    fn a_generated_envelope_verifies_and_yields_its_referral_id(
        event in select(&["referral-created", "referral-updated"][..]),
        id in "[A-Za-z0-9][A-Za-z0-9-]{0,39}",
        audit in prop::option::of("[a-z0-9]{1,12}"),
        audit_spelling in select(&["AuditUri", "AuditUrl"][..]),
        date in "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{7}\\+00:00",
        trailing_slash in any::<bool>(),
        unknown in prop::option::of(json_value()),
    ) {
        let uri = format!(
            "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{id}{}",
            if trailing_slash { "/" } else { "" }
        );
        let audit_url = audit.map(|a| format!("https://api.partnercenter.microsoft.com/audit/{a}"));
        let mut body = json!({
            "EventName": event,
            "ResourceUri": uri,
            "ResourceName": "referral",
            "ResourceChangeUtcDate": date,
        });
        body[audit_spelling] = json!(audit_url);
        if let Some(unknown) = unknown {
            body["SomethingNew"] = unknown;
        }
        let body = serde_json::to_vec(&body).unwrap();
        let envelope = verify(&signed(&body), &body).expect("a signed envelope verifies");
        prop_assert_eq!(envelope.event_name.as_str(), event);
        prop_assert_eq!(envelope.referral_id(), Some(id.as_str()));
        prop_assert_eq!(envelope.audit_uri, audit_url);
        prop_assert_eq!(envelope.resource_change_utc_date, Some(date));
    }
}

/// An unknown key nested as deep as the body limit allows is skipped, not recursed into: the
/// envelope verifies and the stack survives. (The JSON reader's depth limit of 128 applies to
/// what is read, not to what is skipped.)
#[test]
fn an_unknown_key_nested_to_the_body_limit_is_skipped() {
    let depth = MAX_BODY / 2 - 64;
    let body = format!(
        r#"{{"EventName":"referral-updated","ResourceUri":"https://h/r/ref-9","Deep":{}0{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(body.len() <= MAX_BODY);
    let envelope = verify(&signed(body.as_bytes()), body.as_bytes()).expect("verifies");
    assert_eq!(envelope.referral_id(), Some("ref-9"));
}
