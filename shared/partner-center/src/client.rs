//! [`PartnerCenter`]: the client, and the one path every call takes (token, request id, 401).

use std::sync::Arc;

use cosell_transport::{ApiError, Call, Http, Secret};
use reqwest::header::{ACCEPT, HeaderValue};

use crate::auth::{Audience, Auth, RefreshTokenSink};
use crate::config::PartnerCenterConfig;
use crate::error::Error;
use crate::reading::Readings;
use crate::sign_in::SignIn;

pub(crate) const SERVICE: &str = "partner-center";

/// The Partner Center client. Cheap to clone; clones share tokens and the HTTP pool.
#[derive(Clone)]
pub struct PartnerCenter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: PartnerCenterConfig,
    http: Http,
    auth: Auth,
    /// What each kind of "changed after" listing uses in this process.
    pub(crate) readings: Readings,
}

impl PartnerCenter {
    /// `refresh_token` is the newest one stored; each rotated one goes to `sink`.
    pub fn new(
        config: PartnerCenterConfig,
        refresh_token: Secret,
        sink: Arc<dyn RefreshTokenSink>,
    ) -> Result<Self, Error> {
        for url in [
            &config.referrals_base_url,
            &config.registration_base_url,
            &config.token_url,
        ] {
            check_url(url)?;
        }
        let http = Http::new(config.http.clone())?;
        let auth = Auth::new(&config, http.clone(), refresh_token, sink);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                auth,
                readings: Readings::default(),
            }),
        })
    }

    pub fn config(&self) -> &PartnerCenterConfig {
        &self.inner.config
    }

    /// Who the referrals token speaks for and how they signed in, from its claims (a cached
    /// token, or one redemption). `None` inside when the token is not a JWT.
    pub async fn sign_in(&self) -> Result<Option<SignIn>, Error> {
        let token = self.inner.auth.access_token(Audience::Referrals).await?;
        Ok(SignIn::of_token(token.expose()))
    }

    /// Sends one logical call: a bearer token for `audience`, `Accept: application/json`, one
    /// `client-request-id` for every attempt, and the sync's `MS-CorrelationId` when in one. A 401 gets one more try with a fresh token.
    pub(crate) async fn send(
        &self,
        audience: Audience,
        call: Call,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let request_id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .expect("a uuid is a header value");
        // The sync this call belongs to, if any (see `cosell_transport::correlation`).
        let correlation =
            cosell_transport::correlation::current().and_then(|id| HeaderValue::from_str(&id).ok());
        let mut signed_in_again = false;
        loop {
            let token = self.inner.auth.access_token(audience).await?;
            let result = self
                .inner
                .http
                .send(call, |client| {
                    let request = build(client)
                        .bearer_auth(token.expose())
                        .header("client-request-id", request_id.clone())
                        .header(ACCEPT, "application/json");
                    match &correlation {
                        Some(id) => request.header("MS-CorrelationId", id.clone()),
                        None => request,
                    }
                })
                .await
                .map_err(Error::from);
            match result {
                // A fresh token from the same sign-in lacks MFA as much as this one did.
                Err(Error::Api(error)) if error.is_unauthorized() && !signed_in_again => {
                    tracing::info!(
                        operation = call.operation,
                        "401 from Partner Center; signing in again"
                    );
                    self.inner.auth.invalidate(audience).await;
                    signed_in_again = true;
                }
                other => return other,
            }
        }
    }
}

/// An http(s) URL that can take path segments, so building request URLs cannot fail later.
fn check_url(url: &str) -> Result<(), Error> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && !parsed.cannot_be_a_base() => {
            Ok(())
        }
        _ => Err(ApiError::Config(format!("'{url}' is not an http(s) URL")).into()),
    }
}

pub(crate) fn call(operation: &'static str, idempotent: bool) -> Call {
    Call {
        service: SERVICE,
        operation,
        idempotent,
    }
}
