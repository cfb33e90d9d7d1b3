use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::call::Call;
use crate::error::ApiError;
use crate::http::{Http, read_json};
use crate::secret::Secret;

/// An OAuth2 token answer. A refresh-token grant may return a new refresh token, which the
/// caller must persist: the old one may already be revoked.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    /// Seconds. The v1 endpoint sends it as a string, v2 as a number.
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: u64,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// POSTs a token request form and parses the answer.
///
/// A refresh-token grant is not retried once it may have reached the server: the server may have
/// redeemed (and revoked) the token even if its answer was lost, and a blind retry would then
/// fail with `invalid_grant` and hide what happened.
pub async fn request_token(
    http: &Http,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, ApiError> {
    let rotating = form
        .iter()
        .any(|(k, v)| *k == "grant_type" && *v == "refresh_token");
    let call = Call {
        service: "token",
        operation: "token",
        idempotent: !rotating,
    };
    let response = http
        .send(call, |client| client.post(url).form(form))
        .await?;
    read_json(call, response).await
}

/// One cached access token, reused until `margin` before it expires. The lock is held across the
/// fetch so that concurrent callers wait for one token request instead of each making their own.
pub struct TokenCache {
    margin: Duration,
    slot: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub fn new(margin: Duration) -> Self {
        Self {
            margin,
            slot: Mutex::new(None),
        }
    }

    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Secret, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, ApiError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((token, fresh_until)) = &*slot
            && Instant::now() < *fresh_until
        {
            return Ok(token.clone());
        }
        let answer = fetch().await?;
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(self.margin);
        *slot = Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(answer.access_token)
    }

    /// Forgets the token, after a 401, so the next call fetches a fresh one.
    pub async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn answer(token: &str, expires_in: u64) -> Result<TokenResponse, ApiError> {
        Ok(TokenResponse {
            access_token: Secret::new(token),
            expires_in,
            refresh_token: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_a_token_until_the_margin_before_expiry() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            answer(&format!("t{n}"), 3_600)
        };
        assert_eq!(cache.get(fetch).await.unwrap().expose(), "t0");
        tokio::time::advance(Duration::from_secs(3_500)).await;
        assert_eq!(cache.get(fetch).await.unwrap().expose(), "t0");
        tokio::time::advance(Duration::from_secs(50)).await; // inside the 60 s margin
        assert_eq!(cache.get(fetch).await.unwrap().expose(), "t1");
        cache.invalidate().await;
        assert_eq!(cache.get(fetch).await.unwrap().expose(), "t2");
    }

    #[test]
    fn reads_expires_in_as_number_or_string() {
        let v1: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3599","access_token":"a"}"#,
        )
        .unwrap();
        let v2: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"a","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!((v1.expires_in, v2.expires_in), (3599, 3599));
        assert_eq!(v2.refresh_token.unwrap().expose(), "r");
    }
}
