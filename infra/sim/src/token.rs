//! The Entra ID token endpoint, both grants cosell uses: client credentials (Dataverse) and the
//! refresh-token grant (Partner Center, App+User), which rotates the refresh token like the real
//! service. Access tokens are opaque random strings bound to an audience and an expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::SimState;

/// Which API a token is good for, from the `scope` (v2) or `resource` (v1) it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Audience {
    /// `https://api.partner.microsoft.com` — referrals.
    PartnerCenter,
    /// `https://api.partnercenter.microsoft.com` — webhook registration.
    PartnerCenterWebhooks,
    /// `https://{org}.crm.dynamics.com` — anything else is taken to be a Dataverse environment.
    Dataverse,
}

impl Audience {
    fn of_scope(scope: &str) -> Audience {
        if scope.contains("api.partner.microsoft.com") {
            Audience::PartnerCenter
        } else if scope.contains("api.partnercenter.microsoft.com") {
            Audience::PartnerCenterWebhooks
        } else {
            Audience::Dataverse
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredential {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Registered confidential apps.
    pub apps: Vec<AppCredential>,
    /// Refresh tokens valid at start (the one a partner admin obtained interactively).
    pub refresh_tokens: Vec<String>,
    pub expires_in_secs: u64,
    /// Whether redeeming a refresh token revokes it. Entra ID does not always, but a client that
    /// forgets to store the rotated one must fail here, not in production a month later.
    pub rotation_revokes_old: bool,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            apps: vec![AppCredential {
                client_id: "sim-client".into(),
                client_secret: "sim-secret".into(),
            }],
            refresh_tokens: vec!["sim-refresh-token".into()],
            expires_in_secs: 3599,
            rotation_revokes_old: true,
        }
    }
}

pub struct TokenAuthority {
    config: Mutex<TokenConfig>,
    access: Mutex<HashMap<String, (Audience, Instant)>>,
    refresh: Mutex<Vec<String>>,
}

impl TokenAuthority {
    pub fn new(config: TokenConfig) -> Self {
        Self {
            refresh: Mutex::new(config.refresh_tokens.clone()),
            config: Mutex::new(config),
            access: Mutex::new(HashMap::new()),
        }
    }

    /// Issues an access token directly (admin and tests), bypassing the grant.
    pub fn issue(&self, audience: Audience) -> (String, u64) {
        let ttl = self.config.lock().expect("token config").expires_in_secs;
        let token = format!("sim-at-{}", uuid::Uuid::new_v4().simple());
        self.access.lock().expect("access tokens").insert(
            token.clone(),
            (audience, Instant::now() + Duration::from_secs(ttl)),
        );
        (token, ttl)
    }

    /// Mints a new refresh token, as a partner admin signing in again would.
    pub fn mint_refresh_token(&self) -> String {
        let token = format!("sim-rt-{}", uuid::Uuid::new_v4().simple());
        self.refresh
            .lock()
            .expect("refresh tokens")
            .push(token.clone());
        token
    }

    /// Makes every access token issued so far invalid, to exercise a client's re-authentication.
    pub fn expire_all(&self) {
        self.access.lock().expect("access tokens").clear();
    }

    pub fn set_expires_in(&self, secs: u64) {
        self.config.lock().expect("token config").expires_in_secs = secs;
    }

    /// Checks `Authorization: Bearer …` for a live token of the audience.
    pub fn authorize(&self, headers: &HeaderMap, audience: Audience) -> Result<(), &'static str> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("missing bearer token")?;
        let access = self.access.lock().expect("access tokens");
        match access.get(token) {
            Some((aud, _)) if *aud != audience => Err("token issued for another audience"),
            Some((_, expires)) if *expires <= Instant::now() => Err("token expired"),
            Some(_) => Ok(()),
            None => Err("unknown token"),
        }
    }

    fn app_is_valid(&self, id: &str, secret: &str) -> bool {
        let config = self.config.lock().expect("token config");
        config
            .apps
            .iter()
            .any(|a| a.client_id == id && a.client_secret == secret)
    }

    fn redeem_refresh_token(&self, token: &str) -> Option<String> {
        let revoke = self
            .config
            .lock()
            .expect("token config")
            .rotation_revokes_old;
        let mut refresh = self.refresh.lock().expect("refresh tokens");
        let position = refresh.iter().position(|t| t == token)?;
        if revoke {
            refresh.remove(position);
        }
        let next = format!("sim-rt-{}", uuid::Uuid::new_v4().simple());
        refresh.push(next.clone());
        Some(next)
    }
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/{tenant}/oauth2/token", post(token))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
}

async fn token(State(state): State<Arc<SimState>>, Form(req): Form<TokenRequest>) -> Response {
    let tokens = &state.tokens;
    let (Some(id), Some(secret)) = (req.client_id.as_deref(), req.client_secret.as_deref()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
            900144,
        );
    };
    if !tokens.app_is_valid(id, secret) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
            7000215,
        );
    }
    let audience = Audience::of_scope(
        req.scope
            .as_deref()
            .or(req.resource.as_deref())
            .unwrap_or(""),
    );
    let refresh_token = match req.grant_type.as_str() {
        "client_credentials" => None,
        "refresh_token" => {
            let presented = req.refresh_token.as_deref().unwrap_or("");
            match tokens.redeem_refresh_token(presented) {
                Some(next) => Some(next),
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "AADSTS70000: The provided grant has expired due to it being revoked.",
                        70000,
                    );
                }
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
                70003,
            );
        }
    };
    let (access_token, expires_in) = tokens.issue(audience);
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "access_token": access_token,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    Json(body).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str, code: u32) -> Response {
    let body = serde_json::json!({
        "error": error,
        "error_description": description,
        "error_codes": [code],
    });
    (status, Json(body)).into_response()
}
