//! Fetching the signing certificate, and caching it by URL.
//!
//! Partner Center signs every callback with the same certificate, so it is fetched once and
//! kept for [`TTL`] (a certificate replaced at the same URL is picked up after that). The cache
//! holds at most [`CAPACITY`] URLs; only allow-listed URLs reach it. Concurrent callbacks for
//! one URL share one fetch; a failed fetch leaves nothing behind, so the next callback tries
//! again.
//!
//! Forged callbacks cannot make it fetch at will or push the real certificate out: a URL is
//! cached by its origin and path (a query or fragment varied per callback names the same
//! entry), a full cache gives up entries that hold no certificate before one that does, and a
//! host is fetched from at most [`FETCHES_PER_MINUTE`] times a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cosell_transport::{ApiError, Call, Http};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use url::Url;

use super::rejection::Reason;
use super::trust::{SigningCert, TrustStore, ca_issuer_url, decode_all};

pub const CAPACITY: usize = 16;
/// Fetches from one host in any minute, certificates and issuing CAs together.
pub const FETCHES_PER_MINUTE: usize = 6;
pub const TTL: time::Duration = time::Duration::hours(1);
/// Issuing CAs fetched through AIA for one certificate: its issuing CA and, rarely, that CA's
/// own issuer.
pub const MAX_AIA_FETCHES: usize = 2;
/// A certificate (or a short PEM chain) is a few KiB; anything far larger is not one.
const MAX_CERT_BYTES: usize = 256 * 1024;

const FETCH: Call = Call {
    service: "partner-center-webhook-cert",
    operation: "fetch certificate",
    idempotent: true,
};

type Fetched = (Arc<SigningCert>, OffsetDateTime);

struct Slot {
    cell: Arc<OnceCell<Fetched>>,
    created: OffsetDateTime,
}

pub(crate) struct CertCache {
    http: Http,
    slots: Mutex<HashMap<String, Slot>>,
    /// When each host was last fetched from, within the last minute.
    fetched: Mutex<HashMap<String, Vec<OffsetDateTime>>>,
}

impl CertCache {
    pub(crate) fn new(http: Http) -> Self {
        Self {
            http,
            slots: Mutex::new(HashMap::new()),
            fetched: Mutex::new(HashMap::new()),
        }
    }

    /// The certificate at `url`, from the cache while it is younger than [`TTL`] at `now`.
    pub(crate) async fn get(
        &self,
        url: &Url,
        trust: &TrustStore,
        now: OffsetDateTime,
    ) -> Result<Arc<SigningCert>, Reason> {
        let cell = self.slot(&cache_key(url), now);
        let (cert, _) = cell
            .get_or_try_init(|| async {
                self.admit(url, now)?;
                let bytes = self
                    .fetch(url)
                    .await
                    .map_err(|e| Reason::CertFetch(e.to_owned()))?;
                let mut cert = SigningCert::decode(&bytes)?;
                self.find_issuers(&mut cert, trust, now).await?;
                tracing::info!(
                    host = url.host_str().unwrap_or(""),
                    "webhook signing certificate fetched"
                );
                Ok::<_, Reason>((Arc::new(cert), now))
            })
            .await?;
        Ok(cert.clone())
    }

    /// When the chain lacks an issuer (a leaf served alone whose issuing CA is neither a root
    /// nor in the bundle — the usual case with the public web roots), fetches it from the
    /// "CA Issuers" URL of the certificate's Authority Information Access, as the Windows
    /// chain builder behind Microsoft's sample receiver does. At most [`MAX_AIA_FETCHES`].
    async fn find_issuers(
        &self,
        cert: &mut SigningCert,
        trust: &TrustStore,
        now: OffsetDateTime,
    ) -> Result<(), Reason> {
        for _ in 0..MAX_AIA_FETCHES {
            if !matches!(trust.chain(cert, now), Err(Reason::CertUntrusted)) {
                return Ok(());
            }
            let Some(issuer_url) = ca_issuer_url(cert.last()) else {
                return Ok(()); // the checks report the untrusted chain
            };
            self.admit(&issuer_url, now)?;
            let bytes = self
                .fetch(&issuer_url)
                .await
                .map_err(|e| Reason::CertFetch(format!("issuing CA (AIA): {e}")))?;
            cert.add_intermediates(decode_all(&bytes)?);
            tracing::info!(
                host = issuer_url.host_str().unwrap_or(""),
                "issuing CA certificate fetched through AIA"
            );
        }
        Ok(())
    }

    /// The slot for `key`: the existing one unless its certificate is stale, else a new one
    /// (evicting the oldest slot when full).
    fn slot(&self, key: &str, now: OffsetDateTime) -> Arc<OnceCell<Fetched>> {
        let mut slots = self.slots.lock().expect("certificate cache lock");
        let fresh = |slot: &Slot| match slot.cell.get() {
            Some((_, fetched)) => now - *fetched < TTL,
            None => true, // being fetched, or the last fetch failed: join or retry
        };
        if let Some(slot) = slots.get(key)
            && fresh(slot)
        {
            return slot.cell.clone();
        }
        slots.remove(key);
        slots.retain(|_, slot| fresh(slot));
        while slots.len() >= CAPACITY {
            // Entries with no certificate (failed, or still fetching) go first, oldest first.
            let oldest = slots
                .iter()
                .min_by_key(|(_, slot)| (slot.cell.get().is_some(), slot.created))
                .map(|(k, _)| k.clone())
                .expect("a full cache has a slot");
            slots.remove(&oldest);
        }
        let cell = Arc::new(OnceCell::new());
        slots.insert(
            key.to_owned(),
            Slot {
                cell: cell.clone(),
                created: now,
            },
        );
        cell
    }

    /// Counts a fetch from `url`'s host at `now`, or refuses it when the host had
    /// [`FETCHES_PER_MINUTE`] in the minute before.
    fn admit(&self, url: &Url, now: OffsetDateTime) -> Result<(), Reason> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut fetched = self.fetched.lock().expect("fetch counts lock");
        fetched.retain(|_, times| {
            times.retain(|at| now - *at < time::Duration::MINUTE && *at <= now);
            !times.is_empty()
        });
        let times = fetched.entry(host).or_default();
        if times.len() >= FETCHES_PER_MINUTE {
            return Err(Reason::CertFetchRate(FETCHES_PER_MINUTE));
        }
        times.push(now);
        Ok(())
    }

    /// The answer's bytes, or what went wrong in a few words (never the server's text).
    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, &'static str> {
        let mut response = self
            .http
            .send(FETCH, |client| client.get(url.clone()))
            .await
            .map_err(|e| fetch_failure(&e))?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_CERT_BYTES as u64)
        {
            return Err("answer too large");
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "answer cut short")? {
            if bytes.len() + chunk.len() > MAX_CERT_BYTES {
                return Err("answer too large");
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The cache entry a URL names: its origin and path, without query or fragment.
fn cache_key(url: &Url) -> String {
    let mut key = url.clone();
    key.set_query(None);
    key.set_fragment(None);
    key.into()
}

fn fetch_failure(error: &ApiError) -> &'static str {
    match error {
        ApiError::Service { status: 404, .. } => "HTTP 404",
        ApiError::Service { status, .. } if (300..400).contains(status) => {
            "a redirect, which is not followed"
        }
        ApiError::Service { status, .. } if *status >= 500 => "HTTP 5xx",
        ApiError::Service { .. } => "HTTP 4xx",
        ApiError::Transport { .. } => "no answer",
        ApiError::Decode { .. } => "unreadable answer",
        ApiError::Config(_) => "client misconfigured",
        ApiError::OutOfTime { .. } => "out of time",
    }
}
