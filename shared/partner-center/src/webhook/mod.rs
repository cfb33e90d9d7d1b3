//! Inbound webhook verification (contract §7, "Validating a callback").
//!
//! [`WebhookVerifier::verify`] runs the checks in this order and stops at the first failure:
//!
//! 1. body size ≤ `max_body`, else **413** (nothing else is done with the body);
//! 2. the signature (`Authorization: Signature …` or `x-ms-signature`), `x-ms-certificate-url`
//!    and `x-ms-signature-algorithm` = `rsa-sha256` are present;
//! 3. the certificate URL is https to an allow-listed `host[:port]`, or plain http to an
//!    allow-listed loopback host (sandbox, simulator); no credentials in it;
//! 4. the certificate is fetched with `cosell-transport` (DER, or PEM with the leaf first and
//!    any intermediates after it) and cached by URL (see [`cache`]);
//! 5. its chain reaches a configured root (rustls-webpki; bundle certificates that are not
//!    self-signed serve as intermediates; an issuing CA found nowhere else is fetched once from
//!    the leaf's AIA "CA Issuers" URL; any extended key usage is accepted), and every
//!    certificate in the path is within its dates at `now` (roots from a PEM bundle too; the
//!    built-in web roots carry no dates);
//! 6. the leaf's **issuer** organisation (O) is `Microsoft Corporation`, as Microsoft's sample
//!    receiver checks; the real signing certificate's subject is not published, so requiring it
//!    too could refuse every genuine callback;
//! 7. RSASSA-PKCS1-v1_5 / SHA-256 over the exact raw body with the leaf's key;
//!
//! each failing with **401**. Only then is the body parsed; a verified body that is not an
//! envelope gets **400** (the sender is authentic, so "unauthorised" would mislead; either way
//! nothing is processed and Partner Center redelivers). Reasons are one line and never contain
//! header values or body text.
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | [`VerifierConfig`], [`TrustRoots`], [`ConfigError`], the host allow-list |
//! | [`headers`] | reading the three headers |
//! | [`cache`] | fetching and caching the signing certificate |
//! | [`trust`] | the trust store, chain, organisation and signature checks |
//! | [`envelope`] | [`WebhookEnvelope`] |
//! | [`rejection`] | [`Rejection`] |

pub mod cache;
pub mod config;
pub mod envelope;
pub mod headers;
pub mod rejection;
pub mod trust;

use std::sync::Arc;
use std::time::Duration;

use cosell_transport::{Http, HttpConfig, RetryPolicy};
use http::HeaderMap;
use time::OffsetDateTime;

pub use config::{ConfigError, DEFAULT_CERT_HOST, DEFAULT_MAX_BODY, TrustRoots, VerifierConfig};
pub use envelope::WebhookEnvelope;
pub use rejection::Rejection;

use cache::CertCache;
use config::{AllowedHost, is_loopback, parse_hosts};
use headers::SignedHeaders;
use rejection::Reason;
use trust::TrustStore;

/// Verifies Partner Center callbacks. Cheap to clone: clones share the certificate cache.
#[derive(Clone)]
pub struct WebhookVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hosts: Vec<AllowedHost>,
    trust: TrustStore,
    max_body: usize,
    cache: CertCache,
}

impl WebhookVerifier {
    /// With [`default_http_config`] for the certificate fetch.
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::with_http(config, default_http_config())
    }

    /// With the given timeouts and retries for the certificate fetch.
    pub fn with_http(config: VerifierConfig, http: HttpConfig) -> Result<Self, ConfigError> {
        if config.max_body == 0 {
            return Err(ConfigError::MaxBody);
        }
        let hosts = parse_hosts(&config.cert_hosts)?;
        let trust = TrustStore::new(&config.trust_roots)?;
        let http = Http::new(http).map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                hosts,
                trust,
                max_body: config.max_body,
                cache: CertCache::new(http),
            }),
        })
    }

    /// Checks everything the contract's "Validating a callback" lists, before the body is
    /// parsed; then parses it. `now` is the clock the certificates' dates are checked against.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<WebhookEnvelope, Rejection> {
        match self.check(headers, body, now).await {
            Ok(envelope) => {
                tracing::debug!(event = %envelope.event_name, "webhook verified");
                Ok(envelope)
            }
            Err(reason) => {
                let rejection = Rejection::from(reason);
                tracing::warn!(status = rejection.status, reason = %rejection.reason, "webhook rejected");
                Err(rejection)
            }
        }
    }

    async fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<WebhookEnvelope, Reason> {
        let inner = &*self.inner;
        if body.len() > inner.max_body {
            return Err(Reason::BodyTooLarge {
                size: body.len(),
                max: inner.max_body,
            });
        }
        let signed = SignedHeaders::read(headers)?;
        let url = &signed.certificate_url;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Reason::CertUrlCredentials);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url) => {}
            _ => return Err(Reason::CertUrlScheme),
        }
        if !inner.hosts.iter().any(|h| h.matches(url)) {
            return Err(Reason::CertHostNotAllowed);
        }
        let cert = inner.cache.get(url, &inner.trust, now).await?;
        inner.trust.verify(&cert, body, &signed.signature, now)?;
        WebhookEnvelope::parse(body)
    }
}

/// A callback is answered within seconds, so the certificate fetch gets a short budget:
/// 5 s per attempt, 3 attempts.
pub fn default_http_config() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(2),
        },
        rate_limit: None,
    }
}
