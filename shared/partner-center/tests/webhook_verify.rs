//! Webhook verification over real sockets: real signed deliveries from the Partner Center
//! simulator, and certificates made here with rcgen (for the leaf, the simulator's RSA key, so
//! its signer signs the bodies) served from a tiny axum route that counts its hits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use cosell_partner_center::webhook::default_http_config;
use cosell_partner_center::{
    HttpConfig, Rejection, RetryPolicy, TrustRoots, VerifierConfig, WebhookEnvelope,
    WebhookVerifier,
};
use cosell_sim::partner_center::signing::Signer;
use cosell_sim::partner_center::{DeliveryConfig, PcConfig};
use cosell_sim::{Audience, Sim, SimConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use x509_cert::Certificate;
use x509_cert::der::asn1::Ia5String;
use x509_cert::der::oid::db::rfc5280::ID_AD_CA_ISSUERS;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

const MICROSOFT: &str = "Microsoft Corporation";

// ---------------------------------------------------------------------------------------------
// The simulator and a webhook receiver

async fn sim(pc: PcConfig) -> Sim {
    Sim::start(SimConfig {
        partner_center: PcConfig {
            delivery: DeliveryConfig::fast(),
            ..pc
        },
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `host:port` of a loopback base URL such as `http://127.0.0.1:4321`.
fn authority(base_url: &str) -> String {
    base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

struct Delivery {
    headers: HeaderMap,
    body: Bytes,
}

/// Registers a receiver on 127.0.0.1:0, creates a referral, and returns the signed delivery
/// and the referral's id.
async fn real_delivery(sim: &Sim) -> (Delivery, String) {
    let (sender, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(sender): State<mpsc::UnboundedSender<Delivery>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = sender.send(Delivery { headers, body });
                    StatusCode::OK
                },
            ),
        )
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let webhooks_token = sim.state.tokens.issue(Audience::PartnerCenterWebhooks).0;
    let registered = client()
        .post(format!("{}/webhooks/v1/registration", sim.base_url))
        .bearer_auth(webhooks_token)
        .json(&json!({"WebhookUrl": hook_url, "WebhookEvents": ["referral-created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);

    let referrals_token = sim.state.tokens.issue(Audience::PartnerCenter).0;
    let created = client()
        .post(format!("{}/v1.0/engagements/referrals", sim.base_url))
        .bearer_auth(referrals_token)
        .json(&json!({"name": "Verified"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let referral: Value = created.json().await.unwrap();

    let delivery = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .expect("a webhook arrives in time")
        .expect("receiver open");
    (delivery, referral["id"].as_str().unwrap().to_owned())
}

async fn sim_ca_pem(sim: &Sim) -> Vec<u8> {
    let response = client()
        .get(format!("{}/_admin/partner-center/ca.pem", sim.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

/// Small timeouts and a single attempt: a failed fetch is reported at once.
fn test_http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(20),
        },
        ..default_http_config()
    }
}

fn verifier(hosts: &[&str], roots_pem: &[u8]) -> WebhookVerifier {
    WebhookVerifier::with_http(
        VerifierConfig {
            cert_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            trust_roots: TrustRoots::Pem(roots_pem.to_vec()),
            max_body: 64 * 1024,
        },
        test_http(),
    )
    .expect("verifier config is valid")
}

/// The simulator, one real delivery, and a verifier trusting the simulator's CA and host.
async fn sim_setup() -> (Sim, Delivery, String, WebhookVerifier) {
    let sim = sim(PcConfig::default()).await;
    let (delivery, id) = real_delivery(&sim).await;
    let ca = sim_ca_pem(&sim).await;
    let verifier = verifier(&[&authority(&sim.base_url)], &ca);
    (sim, delivery, id, verifier)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[track_caller]
fn assert_rejected(result: Result<WebhookEnvelope, Rejection>, status: u16, fragment: &str) {
    let rejection = result.expect_err("the callback is rejected");
    assert_eq!(rejection.status, status, "{rejection}");
    assert!(
        rejection.reason.contains(fragment),
        "reason {:?} lacks {fragment:?}",
        rejection.reason
    );
    assert!(!rejection.reason.contains('\n'), "one line");
}

// ---------------------------------------------------------------------------------------------
// Certificates made here, served from a counted route

/// Serves `/cert/{name}` from a map and counts every request.
struct CertServer {
    base_url: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicU32>,
    /// Requests to answer 404 before serving files.
    fail_next: Arc<AtomicU32>,
}

#[derive(Clone)]
struct CertState {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicU32>,
    fail_next: Arc<AtomicU32>,
}

impl CertServer {
    async fn start() -> Self {
        let state = CertState {
            files: Arc::default(),
            hits: Arc::default(),
            fail_next: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/cert/{name}", get(serve_cert))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CertServer {
            base_url,
            files: state.files,
            hits: state.hits,
            fail_next: state.fail_next,
        }
    }

    /// Serves `bytes` and returns the URL.
    fn put(&self, name: &str, bytes: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(name.to_owned(), bytes);
        format!("{}/cert/{name}", self.base_url)
    }

    fn host(&self) -> String {
        authority(&self.base_url)
    }

    fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_cert(State(state): State<CertState>, Path(name): Path<String>) -> impl IntoResponse {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let failing = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let file = state.files.lock().unwrap().get(&name).cloned();
    match file {
        Some(bytes) if !failing => (StatusCode::OK, bytes),
        _ => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

fn dn(organisation: &str, common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::OrganizationName, organisation);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A CA made here (ECDSA key: fast to generate; only the leaf must be RSA).
struct Ca {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn root(organisation: &str, validity: (OffsetDateTime, OffsetDateTime)) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(organisation, "Cosell Test Root");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (params.not_before, params.not_after) = validity;
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    fn intermediate(&self, organisation: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(organisation, "Cosell Test Issuing CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf whose Authority Information Access names `issuer_url` as its issuer's home.
    fn leaf_with_aia(&self, issuer_url: &str) -> rcgen::Certificate {
        let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(
                Ia5String::new(issuer_url).unwrap(),
            ),
        }]);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(MICROSOFT, "api.partnercenter.microsoft.com");
        (params.not_before, params.not_after) = current();
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia.to_der().unwrap(),
            ));
        params.signed_by(&sim_signer_key(), &self.issuer).unwrap()
    }

    /// A leaf for the simulator signer's RSA key, so `Signer::get().sign` matches it.
    fn leaf(
        &self,
        organisation: &str,
        validity: (OffsetDateTime, OffsetDateTime),
    ) -> rcgen::Certificate {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(organisation, "api.partnercenter.microsoft.com");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        (params.not_before, params.not_after) = validity;
        params.signed_by(&sim_signer_key(), &self.issuer).unwrap()
    }
}

fn current() -> (OffsetDateTime, OffsetDateTime) {
    (
        now() - time::Duration::days(1),
        now() + time::Duration::days(30),
    )
}

/// The public key of the simulator's signing certificate.
fn sim_signer_key() -> rcgen::SubjectPublicKeyInfo {
    let leaf = Certificate::from_der(&Signer::get().leaf_der).unwrap();
    let spki = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    rcgen::SubjectPublicKeyInfo::from_der(&spki).unwrap()
}

/// Headers as Partner Center sends them, signed by the simulator's key.
fn signed_headers(body: &[u8], certificate_url: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Signature {}", Signer::get().sign(body))).unwrap(),
    );
    headers.insert(
        "x-ms-certificate-url",
        HeaderValue::from_str(certificate_url).unwrap(),
    );
    headers.insert(
        "x-ms-signature-algorithm",
        HeaderValue::from_static("rsa-sha256"),
    );
    headers
}

const BODY: &[u8] = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/ref-42","ResourceName":"referral","AuditUri":null,"ResourceChangeUtcDate":"2026-11-24T06:00:00.0000000+00:00"}"#;

// ---------------------------------------------------------------------------------------------
// Real deliveries from the simulator

#[tokio::test]
async fn a_real_signed_delivery_from_the_simulator_verifies() {
    let (_sim, delivery, id, verifier) = sim_setup().await;
    let envelope = verifier
        .verify(&delivery.headers, &delivery.body, now())
        .await
        .expect("the simulator's delivery verifies");
    assert_eq!(envelope.event_name, "referral-created");
    assert_eq!(envelope.referral_id(), Some(id.as_str()));
    assert_eq!(envelope.resource_name.as_deref(), Some("referral"));
    assert!(envelope.resource_change_utc_date.is_some());
}

#[tokio::test]
async fn a_signature_in_x_ms_signature_verifies() {
    let sim = sim(PcConfig {
        signature_in_ms_signature_header: true,
        ..PcConfig::default()
    })
    .await;
    let (delivery, id) = real_delivery(&sim).await;
    assert!(delivery.headers.get("authorization").is_none());
    let verifier = verifier(&[&authority(&sim.base_url)], &sim_ca_pem(&sim).await);
    let envelope = verifier
        .verify(&delivery.headers, &delivery.body, now())
        .await
        .unwrap();
    assert_eq!(envelope.referral_id(), Some(id.as_str()));

    // The same signature with a `Signature ` prefix in x-ms-signature is read too.
    let mut prefixed = delivery.headers.clone();
    let bare = prefixed["x-ms-signature"].to_str().unwrap().to_owned();
    prefixed.insert(
        "x-ms-signature",
        HeaderValue::from_str(&format!("Signature {bare}")).unwrap(),
    );
    verifier
        .verify(&prefixed, &delivery.body, now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_forged_signature_is_rejected() {
    let (_sim, delivery, _, verifier) = sim_setup().await;
    let mut headers = delivery.headers.clone();
    let value = headers["authorization"].to_str().unwrap().to_owned();
    let encoded = value.strip_prefix("Signature ").unwrap();
    use base64::Engine;
    let mut signature = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    signature[10] ^= 0xff;
    signature[100] ^= 0x01;
    let forged = base64::engine::general_purpose::STANDARD.encode(signature);
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Signature {forged}")).unwrap(),
    );
    assert_rejected(
        verifier.verify(&headers, &delivery.body, now()).await,
        401,
        "signature does not verify",
    );

    headers.insert("authorization", HeaderValue::from_static("Signature %%%"));
    assert_rejected(
        verifier.verify(&headers, &delivery.body, now()).await,
        401,
        "not valid base64",
    );
}

#[tokio::test]
async fn a_tampered_body_is_rejected() {
    let (_sim, delivery, id, verifier) = sim_setup().await;
    let tampered = String::from_utf8(delivery.body.to_vec())
        .unwrap()
        .replace(&id, "someone-elses-referral");
    assert_ne!(tampered.as_bytes(), &delivery.body[..]);
    assert_rejected(
        verifier
            .verify(&delivery.headers, tampered.as_bytes(), now())
            .await,
        401,
        "signature does not verify",
    );
    let mut spaced = delivery.body.to_vec();
    spaced.push(b' ');
    assert_rejected(
        verifier.verify(&delivery.headers, &spaced, now()).await,
        401,
        "signature does not verify",
    );
}

#[tokio::test]
async fn each_missing_header_is_rejected() {
    let (_sim, delivery, _, verifier) = sim_setup().await;
    for (name, fragment) in [
        ("authorization", "missing header authorization"),
        (
            "x-ms-certificate-url",
            "missing header x-ms-certificate-url",
        ),
        (
            "x-ms-signature-algorithm",
            "missing header x-ms-signature-algorithm",
        ),
    ] {
        let mut headers = delivery.headers.clone();
        headers.remove(name);
        assert_rejected(
            verifier.verify(&headers, &delivery.body, now()).await,
            401,
            fragment,
        );
    }
    // An Authorization header of another scheme does not carry the signature.
    let mut bearer = delivery.headers.clone();
    bearer.insert("authorization", HeaderValue::from_static("Bearer abc"));
    assert_rejected(
        verifier.verify(&bearer, &delivery.body, now()).await,
        401,
        "missing header authorization",
    );
    // Header names are case-insensitive: HeaderMap folds them, as HTTP/1.1 servers do.
    let mut upper = HeaderMap::new();
    for (name, value) in &delivery.headers {
        let shouted = name.as_str().to_ascii_uppercase();
        upper.insert(
            axum::http::HeaderName::from_bytes(shouted.as_bytes()).unwrap(),
            value.clone(),
        );
    }
    verifier
        .verify(&upper, &delivery.body, now())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_algorithm_other_than_rsa_sha256_is_rejected() {
    let (_sim, delivery, _, verifier) = sim_setup().await;
    for algorithm in ["rsa-sha1", "hmac-sha256", ""] {
        let mut headers = delivery.headers.clone();
        headers.insert(
            "x-ms-signature-algorithm",
            HeaderValue::from_str(algorithm).unwrap(),
        );
        assert_rejected(
            verifier.verify(&headers, &delivery.body, now()).await,
            401,
            "only rsa-sha256",
        );
    }
}

#[tokio::test]
async fn a_certificate_host_not_allow_listed_is_rejected_without_a_fetch() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let url = server.put("leaf.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let headers = signed_headers(BODY, &url);

    let other_port = verifier(&["127.0.0.1:1"], ca.pem().as_bytes());
    assert_rejected(
        other_port.verify(&headers, BODY, now()).await,
        401,
        "not in COSELL_WEBHOOK_CERT_HOSTS",
    );
    let default_hosts = WebhookVerifier::with_http(
        VerifierConfig {
            trust_roots: TrustRoots::Pem(ca.pem().into_bytes()),
            ..VerifierConfig::default()
        },
        test_http(),
    )
    .unwrap();
    assert_rejected(
        default_hosts.verify(&headers, BODY, now()).await,
        401,
        "not in COSELL_WEBHOOK_CERT_HOSTS",
    );
    assert_eq!(server.hits(), 0, "nothing fetched from an unlisted host");

    // The control: the same callback with the host listed verifies.
    let listed = verifier(&[&server.host()], ca.pem().as_bytes());
    listed.verify(&headers, BODY, now()).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_for_a_host_that_is_not_loopback() {
    let ca = Ca::root(MICROSOFT, current());
    let verifier = verifier(&["certs.example.com", "127.0.0.1:9"], ca.pem().as_bytes());
    for (url, fragment) in [
        ("http://certs.example.com/cert/a.cer", "must use https"),
        ("ftp://certs.example.com/cert/a.cer", "must use https"),
        (
            "https://user:pw@certs.example.com/cert/a.cer",
            "credentials",
        ),
        ("not a url", "not an absolute URL"),
        // https to a listed host passes the URL rules and gets as far as the fetch.
        ("https://127.0.0.1:9/cert/a.cer", "certificate fetch failed"),
    ] {
        assert_rejected(
            verifier
                .verify(&signed_headers(BODY, url), BODY, now())
                .await,
            401,
            fragment,
        );
    }
}

#[tokio::test]
async fn a_chain_to_an_untrusted_ca_is_rejected() {
    let (sim, delivery, _, _) = sim_setup().await;
    let stranger = Ca::root(MICROSOFT, current());
    let verifier = verifier(&[&authority(&sim.base_url)], stranger.pem().as_bytes());
    assert_rejected(
        verifier
            .verify(&delivery.headers, &delivery.body, now())
            .await,
        401,
        "does not chain to a configured trust root",
    );
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_certificate_is_rejected() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let expired = ca.leaf(
        MICROSOFT,
        (
            now() - time::Duration::days(30),
            now() - time::Duration::days(1),
        ),
    );
    let verifier = verifier(&[&server.host()], ca.pem().as_bytes());
    let url = server.put("expired.cer", expired.der().to_vec());
    assert_rejected(
        verifier
            .verify(&signed_headers(BODY, &url), BODY, now())
            .await,
        401,
        "certificate expired",
    );

    // A valid certificate is judged against the `now` given: before its start, after its end.
    let valid = server.put("valid.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let headers = signed_headers(BODY, &valid);
    verifier.verify(&headers, BODY, now()).await.unwrap();
    assert_rejected(
        verifier
            .verify(&headers, BODY, now() - time::Duration::days(2))
            .await,
        401,
        "not yet valid",
    );
    assert_rejected(
        verifier
            .verify(&headers, BODY, now() + time::Duration::days(31))
            .await,
        401,
        "certificate expired",
    );
}

#[tokio::test]
async fn a_trust_root_outside_its_dates_is_rejected() {
    let server = CertServer::start().await;
    let old_root = Ca::root(
        MICROSOFT,
        (
            now() - time::Duration::days(400),
            now() - time::Duration::days(1),
        ),
    );
    let url = server.put(
        "leaf.cer",
        old_root.leaf(MICROSOFT, current()).der().to_vec(),
    );
    let verifier = verifier(&[&server.host()], old_root.pem().as_bytes());
    assert_rejected(
        verifier
            .verify(&signed_headers(BODY, &url), BODY, now())
            .await,
        401,
        "trust root certificate is outside its validity dates",
    );
}

/// Microsoft's sample receiver checks the issuer's organisation, not the subject's (the real
/// signing certificate's subject is not published): a leaf Microsoft's CA issued is accepted
/// whatever its subject says, and one another organisation's CA issued is refused.
#[tokio::test]
async fn a_certificate_issued_by_another_organisation_is_rejected() {
    let server = CertServer::start().await;
    let microsoft_ca = Ca::root(MICROSOFT, current());
    let other_subject = server.put(
        "other-subject.cer",
        microsoft_ca
            .leaf("Partner Center Webhooks", current())
            .der()
            .to_vec(),
    );
    let verifier = verifier(&[&server.host()], microsoft_ca.pem().as_bytes());
    verifier
        .verify(&signed_headers(BODY, &other_subject), BODY, now())
        .await
        .expect("issued by Microsoft Corporation");

    // A Microsoft-named leaf issued by a CA of another organisation, or of a lookalike one.
    for (name, organisation) in [
        ("contoso-issued.cer", "Contoso Ltd"),
        ("lookalike-issued.cer", "Microsoft Corporation Fan Club"),
    ] {
        let ca = Ca::root(organisation, current());
        let url = server.put(name, ca.leaf(MICROSOFT, current()).der().to_vec());
        let verifier = verifier_for(&server, ca.pem().as_bytes());
        assert_rejected(
            verifier
                .verify(&signed_headers(BODY, &url), BODY, now())
                .await,
            401,
            "issuer organisation is not Microsoft Corporation",
        );
    }
}

fn verifier_for(server: &CertServer, roots_pem: &[u8]) -> WebhookVerifier {
    verifier(&[&server.host()], roots_pem)
}

#[tokio::test]
async fn intermediates_come_from_the_bundle_or_a_pem_certificate_file() {
    let server = CertServer::start().await;
    let root = Ca::root(MICROSOFT, current());
    let issuing = root.intermediate(MICROSOFT);
    let leaf = issuing.leaf(MICROSOFT, current());
    let der_url = server.put("leaf.cer", leaf.der().to_vec());
    let pem_url = server.put(
        "chain.pem",
        format!("{}{}", leaf.pem(), issuing.pem()).into_bytes(),
    );

    // Root only, the leaf alone: the issuing CA is missing.
    let root_only = verifier_for(&server, root.pem().as_bytes());
    assert_rejected(
        root_only
            .verify(&signed_headers(BODY, &der_url), BODY, now())
            .await,
        401,
        "does not chain",
    );
    // Root only, the leaf served as PEM followed by its issuing CA.
    root_only
        .verify(&signed_headers(BODY, &pem_url), BODY, now())
        .await
        .unwrap();
    // The issuing CA in the bundle (not self-signed: an intermediate, not a root).
    let bundle = format!("{}{}", root.pem(), issuing.pem());
    verifier_for(&server, bundle.as_bytes())
        .verify(&signed_headers(BODY, &der_url), BODY, now())
        .await
        .unwrap();
    // The issuing CA alone is not a root.
    let err = WebhookVerifier::new(VerifierConfig {
        cert_hosts: vec![server.host()],
        trust_roots: TrustRoots::Pem(issuing.pem().into_bytes()),
        max_body: 1024,
    })
    .err()
    .expect("a bundle without a root is refused");
    assert!(err.to_string().contains("no self-signed"), "{err}");
}

#[tokio::test]
async fn a_missing_issuing_ca_is_fetched_from_the_aia_url_once() {
    let server = CertServer::start().await;
    let root = Ca::root(MICROSOFT, current());
    let issuing = root.intermediate(MICROSOFT);
    let issuing_url = server.put("issuing.cer", issuing.cert.der().to_vec());
    let leaf_url = server.put(
        "leaf.cer",
        issuing.leaf_with_aia(&issuing_url).der().to_vec(),
    );
    let verifier = verifier_for(&server, root.pem().as_bytes());
    let headers = signed_headers(BODY, &leaf_url);

    verifier.verify(&headers, BODY, now()).await.unwrap();
    assert_eq!(server.hits(), 2, "the leaf, then its issuing CA");
    verifier.verify(&headers, BODY, now()).await.unwrap();
    assert_eq!(server.hits(), 2, "both cached");

    // An AIA URL that fails: rejected, and nothing cached.
    let broken = server.put(
        "broken-aia.cer",
        issuing
            .leaf_with_aia(&format!("{}/cert/missing.cer", server.base_url))
            .der()
            .to_vec(),
    );
    let headers = signed_headers(BODY, &broken);
    for expected_hits in [4, 6] {
        assert_rejected(
            verifier.verify(&headers, BODY, now()).await,
            401,
            "issuing CA (AIA): HTTP 404",
        );
        assert_eq!(server.hits(), expected_hits);
    }
}

#[tokio::test]
async fn an_oversized_body_gets_413_without_fetching_the_certificate() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let url = server.put("leaf.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let verifier = verifier_for(&server, ca.pem().as_bytes());

    let mut big = BODY.to_vec();
    big.resize(64 * 1024 + 1, b' ');
    assert_rejected(
        verifier
            .verify(&signed_headers(&big, &url), &big, now())
            .await,
        413,
        "over the 65536-byte limit",
    );
    // Even with no headers at all, the size is what is reported.
    assert_rejected(
        verifier.verify(&HeaderMap::new(), &big, now()).await,
        413,
        "over the",
    );
    assert_eq!(server.hits(), 0, "the certificate was not fetched");

    // Exactly at the limit is accepted (JSON allows trailing whitespace).
    big.truncate(64 * 1024);
    verifier
        .verify(&signed_headers(&big, &url), &big, now())
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn the_certificate_is_fetched_once_and_a_failed_fetch_is_not_cached() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let url = server.put("leaf.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let verifier = verifier_for(&server, ca.pem().as_bytes());
    let headers = signed_headers(BODY, &url);

    server.fail_next.store(1, Ordering::SeqCst);
    assert_rejected(
        verifier.verify(&headers, BODY, now()).await,
        401,
        "certificate fetch failed: HTTP 404",
    );
    assert_eq!(server.hits(), 1);

    verifier.verify(&headers, BODY, now()).await.unwrap();
    assert_eq!(server.hits(), 2, "the failure was not cached");
    verifier.verify(&headers, BODY, now()).await.unwrap();
    verifier
        .clone()
        .verify(&headers, BODY, now())
        .await
        .unwrap();
    assert_eq!(
        server.hits(),
        2,
        "later callbacks use the cached certificate"
    );

    // Concurrent callbacks on a cold cache share one fetch.
    let cold = verifier_for(&server, ca.pem().as_bytes());
    let results =
        futures::future::join_all((0..8).map(|_| cold.verify(&headers, BODY, now()))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.hits(), 3);

    // After the cache lifetime (judged by the `now` given) it is fetched again.
    verifier
        .verify(&headers, BODY, now() + time::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn a_verified_body_that_is_not_an_envelope_gets_400() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let url = server.put("leaf.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let verifier = verifier_for(&server, ca.pem().as_bytes());
    let body = br#"{"ResourceUri":"https://h/r/1","Note":"private text"}"#;
    let rejection = verifier
        .verify(&signed_headers(body, &url), body, now())
        .await
        .unwrap_err();
    assert_eq!(rejection.status, 400);
    assert!(
        rejection.reason.contains("not a webhook envelope"),
        "{rejection}"
    );
    assert!(
        !rejection.reason.contains("private"),
        "no body text in the reason"
    );

    // The unsigned same body never gets that far.
    let mut unsigned = signed_headers(body, &url);
    unsigned.insert("authorization", HeaderValue::from_static("Signature AAAA"));
    assert_rejected(
        verifier.verify(&unsigned, body, now()).await,
        401,
        "signature of 3 bytes is not an RSA signature",
    );
}

/// An allow-listed host that answers with a redirect is not followed: the certificate would
/// come from a host nobody allowed. (Here the redirect points at the simulator's real
/// certificate, which would verify the signature: followed, the forged route would pass.)
#[tokio::test]
async fn a_redirecting_certificate_host_is_refused() {
    let (_sim, delivery, _id, _) = sim_setup().await;
    let real_url = delivery.headers["x-ms-certificate-url"]
        .to_str()
        .unwrap()
        .to_owned();
    let app = axum::Router::new().route(
        "/cert",
        get(move || {
            let to = real_url.clone();
            async move { (StatusCode::FOUND, [("location", to)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirecting = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let ca = sim_ca_pem(&_sim).await;
    let verifier = verifier(&[&redirecting], &ca);
    let mut headers = delivery.headers.clone();
    headers.insert(
        "x-ms-certificate-url",
        HeaderValue::from_str(&format!("http://{redirecting}/cert")).unwrap(),
    );
    assert_rejected(
        verifier.verify(&headers, &delivery.body, now()).await,
        401,
        "certificate fetch failed: a redirect, which is not followed",
    );
}

/// Forged callbacks cannot make the verifier fetch at will nor push the real certificate out:
/// a varied query names the cached certificate, a signature of the wrong size is refused
/// before any fetch, and new paths on one host are fetched at most six times a minute.
#[tokio::test]
async fn forged_callbacks_fetch_little_and_never_evict_the_real_certificate() {
    let server = CertServer::start().await;
    let ca = Ca::root(MICROSOFT, current());
    let url = server.put("leaf.cer", ca.leaf(MICROSOFT, current()).der().to_vec());
    let verifier = verifier_for(&server, ca.pem().as_bytes());
    let at = now();
    verifier
        .verify(&signed_headers(BODY, &url), BODY, at)
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);

    let forged = |certificate_url: &str, signature_bytes: usize| {
        let mut headers = signed_headers(BODY, certificate_url);
        let signature = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![7u8; signature_bytes],
        );
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Signature {signature}")).unwrap(),
        );
        headers
    };
    for n in 0..20 {
        let headers = forged(&format!("{url}?v={n}"), 256);
        assert_rejected(
            verifier.verify(&headers, BODY, at).await,
            401,
            "does not verify",
        );
    }
    let headers = forged(&format!("{url}?v=short"), 64);
    assert_rejected(
        verifier.verify(&headers, BODY, at).await,
        401,
        "not an RSA signature",
    );
    assert_eq!(server.hits(), 1, "a varied query is the cached certificate");

    // Twenty new paths in one minute: five more fetches (six with the first), then refused.
    let mut refused = 0;
    for n in 0..20 {
        let headers = forged(&format!("{}/cert/other-{n}.cer", server.base_url), 256);
        let rejection = verifier.verify(&headers, BODY, at).await.unwrap_err();
        refused += usize::from(rejection.reason.contains("over 6 a minute"));
    }
    assert_eq!(server.hits(), 6);
    assert_eq!(refused, 15);
    // The real callbacks still verify, from the cache.
    verifier
        .verify(&signed_headers(BODY, &url), BODY, at)
        .await
        .unwrap();
    assert_eq!(server.hits(), 6);
    // A minute later the host may be fetched from again.
    let later = at + time::Duration::seconds(61);
    let headers = forged(&format!("{}/cert/other-x.cer", server.base_url), 256);
    assert_rejected(
        verifier.verify(&headers, BODY, later).await,
        401,
        "HTTP 404",
    );
    assert_eq!(server.hits(), 7);
}

#[test]
fn configuration_errors_are_reported_at_construction() {
    let bad_host = WebhookVerifier::new(VerifierConfig {
        cert_hosts: vec!["https://x.example".into()],
        ..VerifierConfig::default()
    });
    assert!(
        bad_host
            .err()
            .unwrap()
            .to_string()
            .contains("COSELL_WEBHOOK_CERT_HOSTS")
    );
    let bad_pem = WebhookVerifier::new(VerifierConfig {
        trust_roots: TrustRoots::Pem(b"not pem".to_vec()),
        ..VerifierConfig::default()
    });
    assert!(bad_pem.is_err());
    let no_size = WebhookVerifier::new(VerifierConfig {
        max_body: 0,
        ..VerifierConfig::default()
    });
    assert!(no_size.is_err());
    WebhookVerifier::new(VerifierConfig::default()).expect("the public web roots load");
}
