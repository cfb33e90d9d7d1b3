//! Access tokens for the two audiences (referrals; webhook registration), from one rotating
//! refresh token.
//!
//! Each redemption of the refresh token may return a new one and revoke the old. The current
//! token is held behind one lock, so the two audiences never redeem the same token twice, and
//! each new token is handed to the [`RefreshTokenSink`] before the call that caused it returns.

use std::sync::Arc;

use async_trait::async_trait;
use cosell_transport::{ApiError, Http, Secret, TokenCache, TokenResponse, request_token};

use crate::config::PartnerCenterConfig;
use crate::error::{BoxError, Error};

/// Where a newly issued refresh token goes to survive a restart (a secret store, in production).
#[async_trait]
pub trait RefreshTokenSink: Send + Sync {
    /// Persists `refresh_token`, which replaces the previous one. Called once per new token; on
    /// error it is called again with the same (or a newer) token on the next client call.
    async fn store(&self, refresh_token: &Secret) -> Result<(), BoxError>;
}

/// Which API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Referrals,
    Webhooks,
}

pub(crate) struct Auth {
    http: Http,
    token_url: String,
    client_id: String,
    /// `None` for a public client's refresh token (see [`PartnerCenterConfig::public_client`]).
    client_secret: Option<Secret>,
    referrals_scope: String,
    webhooks_scope: String,
    /// The newest refresh token; the async lock serialises redemptions.
    refresh_token: tokio::sync::Mutex<Secret>,
    /// A rotated token the sink has not accepted yet. The lock is held while the sink stores,
    /// so tokens reach the sink in the order they were issued.
    unsaved: tokio::sync::Mutex<Option<Secret>>,
    sink: Arc<dyn RefreshTokenSink>,
    referrals: TokenCache,
    webhooks: TokenCache,
}

impl Auth {
    pub(crate) fn new(
        config: &PartnerCenterConfig,
        http: Http,
        refresh_token: Secret,
        sink: Arc<dyn RefreshTokenSink>,
    ) -> Self {
        Self {
            http,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: (!config.public_client).then(|| config.client_secret.clone()),
            referrals_scope: config.referrals_scope.clone(),
            webhooks_scope: config.webhooks_scope.clone(),
            refresh_token: tokio::sync::Mutex::new(refresh_token),
            unsaved: tokio::sync::Mutex::new(None),
            sink,
            referrals: TokenCache::new(config.token_margin),
            webhooks: TokenCache::new(config.token_margin),
        }
    }

    fn cache(&self, audience: Audience) -> &TokenCache {
        match audience {
            Audience::Referrals => &self.referrals,
            Audience::Webhooks => &self.webhooks,
        }
    }

    /// A live access token for `audience`, redeeming the refresh token when the cache is cold.
    pub(crate) async fn access_token(&self, audience: Audience) -> Result<Secret, Error> {
        let token = self.cache(audience).get(|| self.redeem(audience)).await?;
        self.save_rotated().await?;
        Ok(token)
    }

    /// After a 401: the next call signs in again.
    pub(crate) async fn invalidate(&self, audience: Audience) {
        self.cache(audience).invalidate().await;
    }

    async fn redeem(&self, audience: Audience) -> Result<TokenResponse, ApiError> {
        let scope = match audience {
            Audience::Referrals => &self.referrals_scope,
            Audience::Webhooks => &self.webhooks_scope,
        };
        let mut current = self.refresh_token.lock().await;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", current.expose()),
            ("scope", scope.as_str()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let answer = request_token(&self.http, &self.token_url, &form).await?;
        if let Some(next) = &answer.refresh_token
            && next != &*current
        {
            *current = next.clone();
            *self.unsaved.lock().await = Some(next.clone());
            tracing::info!(?audience, "Partner Center refresh token rotated");
        }
        Ok(answer)
    }

    /// Hands a rotated refresh token to the sink; keeps it for the next try if that fails.
    async fn save_rotated(&self) -> Result<(), Error> {
        let mut unsaved = self.unsaved.lock().await;
        let Some(token) = unsaved.as_ref() else {
            return Ok(());
        };
        self.sink
            .store(token)
            .await
            .map_err(Error::RefreshTokenNotStored)?;
        *unsaved = None;
        Ok(())
    }
}
