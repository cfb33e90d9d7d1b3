//! Entra ID, as far as cosell meets it: the token endpoint with the grants cosell uses — client
//! credentials (Dataverse), the refresh-token grant (Partner Center, App+User), which rotates the
//! refresh token like the real service, and the two interactive sign-ins `cosell login` starts
//! (authorization code with PKCE, device code; see [`signin`]).
//!
//! Access tokens are JWTs ([`jwt`]) naming the user and, in `amr`, whether the sign-in behind
//! them did multi-factor authentication; the authority also remembers each one, so it can revoke
//! them and check their audience and expiry. Partner Center's routes refuse an App+User token
//! without `mfa` when [`TokenConfig::require_mfa`] is on (the default: Microsoft enforces it for
//! every App+User call since 1 April 2026).

pub mod jwt;
pub mod signin;

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

    /// The `aud` claim.
    fn uri(self) -> &'static str {
        match self {
            Audience::PartnerCenter => "https://api.partner.microsoft.com",
            Audience::PartnerCenterWebhooks => "https://api.partnercenter.microsoft.com",
            Audience::Dataverse => "https://sim.crm.dynamics.com",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredential {
    pub client_id: String,
    pub client_secret: String,
    /// The registration's "Allow public client flows": the device code grant without the
    /// secret. Off, as on a new web app registration.
    #[serde(default)]
    pub public_client_flows: bool,
}

/// A Partner Center user who can sign in interactively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// The sign-in name (`upn`), also what `login_hint` names.
    pub username: String,
    pub name: String,
    pub oid: String,
    /// `Referrals Admin`, `Referrals User`, or none: Partner Center refuses the referrals API to
    /// a user without one (403).
    pub referrals_role: Option<String>,
    /// Whether this user's sign-in does multi-factor authentication (per-user MFA or a
    /// conditional access policy, in the real tenant).
    pub mfa: bool,
}

impl SimUser {
    fn new(username: &str, name: &str, role: Option<&str>, mfa: bool) -> Self {
        Self {
            username: username.into(),
            name: name.into(),
            oid: uuid::Uuid::new_v4().to_string(),
            referrals_role: role.map(Into::into),
            mfa,
        }
    }
}

/// The sign-in users the default configuration has, by role.
pub mod users {
    /// Referrals Admin, signs in with MFA: the refresh tokens of [`super::TokenConfig`] are theirs.
    pub const ADMIN: &str = "ada@contoso.example";
    /// Referrals Admin whose sign-in does no MFA.
    pub const NO_MFA: &str = "nils@contoso.example";
    /// Signs in with MFA, holds no Referrals role.
    pub const NO_ROLE: &str = "rita@contoso.example";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Registered confidential apps.
    pub apps: Vec<AppCredential>,
    /// Refresh tokens valid at start (the one a partner admin obtained interactively), all of
    /// the first user's sign-in.
    pub refresh_tokens: Vec<String>,
    pub expires_in_secs: u64,
    /// Whether redeeming a refresh token revokes it. Entra ID does not always, but a client that
    /// forgets to store the rotated one must fail here, not in production a month later.
    pub rotation_revokes_old: bool,
    /// Who can sign in; the first one owns `refresh_tokens`.
    pub users: Vec<SimUser>,
    /// Partner Center refuses App+User tokens whose `amr` lacks `mfa` (Microsoft, from 1 April
    /// 2026). On by default; off plays the time before.
    pub require_mfa: bool,
    /// The polling interval a device-code sign-in is told (Entra ID says 5 s).
    pub device_code_interval_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            apps: vec![AppCredential {
                client_id: "sim-client".into(),
                client_secret: "sim-secret".into(),
                public_client_flows: false,
            }],
            refresh_tokens: vec!["sim-refresh-token".into()],
            expires_in_secs: 3599,
            rotation_revokes_old: true,
            users: vec![
                SimUser::new(users::ADMIN, "Ada Admin", Some("Referrals Admin"), true),
                SimUser::new(users::NO_MFA, "Nils Nomfa", Some("Referrals Admin"), false),
                SimUser::new(users::NO_ROLE, "Rita Norole", None, true),
            ],
            require_mfa: true,
            device_code_interval_secs: 5,
        }
    }
}

/// Who a token speaks for: a user's sign-in (App+User), or the app alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    /// Issued through a public client flow (device code, no secret): Entra ID then refuses a
    /// secret when the refresh token is redeemed (AADSTS700025), and requires none.
    pub public: bool,
    /// The user's sign-in name; `None` for client credentials.
    pub user: Option<String>,
    /// Whether the sign-in did MFA; a refresh token carries it to every access token it yields.
    pub mfa: bool,
}

/// A live access token.
#[derive(Debug, Clone)]
pub struct Access {
    pub audience: Audience,
    expires: Instant,
    pub grant: Grant,
}

pub struct TokenAuthority {
    config: Mutex<TokenConfig>,
    access: Mutex<HashMap<String, Access>>,
    refresh: Mutex<HashMap<String, Grant>>,
    pub(crate) signin: signin::Pending,
}

impl TokenAuthority {
    pub fn new(config: TokenConfig) -> Self {
        let owner = first_grant(&config);
        Self {
            refresh: Mutex::new(
                config
                    .refresh_tokens
                    .iter()
                    .map(|t| (t.clone(), owner.clone()))
                    .collect(),
            ),
            config: Mutex::new(config),
            access: Mutex::new(HashMap::new()),
            signin: signin::Pending::default(),
        }
    }

    fn config(&self) -> std::sync::MutexGuard<'_, TokenConfig> {
        self.config.lock().expect("token config")
    }

    /// The first user's App+User grant (the owner of the refresh tokens configured at start).
    fn default_grant(&self) -> Grant {
        first_grant(&self.config())
    }

    pub fn user(&self, username: &str) -> Option<SimUser> {
        self.config()
            .users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .cloned()
    }

    /// Issues an access token of the first user's grant directly (admin and tests).
    pub fn issue(&self, audience: Audience) -> (String, u64) {
        self.issue_for(audience, &self.default_grant())
    }

    /// Issues an access token for `grant`: a JWT with its claims, remembered until it expires.
    pub fn issue_for(&self, audience: Audience, grant: &Grant) -> (String, u64) {
        let ttl = self.config().expires_in_secs;
        let user = grant.user.as_deref().and_then(|u| self.user(u));
        let token = jwt::access_token(audience.uri(), ttl, grant, user.as_ref());
        self.access.lock().expect("access tokens").insert(
            token.clone(),
            Access {
                audience,
                expires: Instant::now() + Duration::from_secs(ttl),
                grant: grant.clone(),
            },
        );
        (token, ttl)
    }

    /// Mints a new refresh token of the first user's sign-in, as a partner admin signing in
    /// again would.
    pub fn mint_refresh_token(&self) -> String {
        self.mint_refresh_token_for(self.default_grant())
    }

    /// Mints a refresh token of `username`'s sign-in, with MFA as that user signs in.
    pub fn mint_refresh_token_of(&self, username: &str) -> Option<String> {
        let user = self.user(username)?;
        Some(self.mint_refresh_token_for(Grant {
            user: Some(user.username),
            mfa: user.mfa,
            ..self.default_grant()
        }))
    }

    /// Mints a refresh token of `grant`.
    pub fn mint_refresh_token_for(&self, grant: Grant) -> String {
        let token = format!("sim-rt-{}", uuid::Uuid::new_v4().simple());
        self.refresh
            .lock()
            .expect("refresh tokens")
            .insert(token.clone(), grant);
        token
    }

    /// Whether `token` is a live refresh token (tests: was the old one kept, revoked?).
    pub fn refresh_token_grant(&self, token: &str) -> Option<Grant> {
        self.refresh
            .lock()
            .expect("refresh tokens")
            .get(token)
            .cloned()
    }

    /// Makes every access token issued so far invalid, to exercise a client's re-authentication.
    pub fn expire_all(&self) {
        self.access.lock().expect("access tokens").clear();
    }

    pub fn set_expires_in(&self, secs: u64) {
        self.config().expires_in_secs = secs;
    }

    /// See [`TokenConfig::rotation_revokes_old`]: off, processes sharing one stored token (the
    /// functions and the CLI sharing one secret) may each redeem the one they read.
    pub fn set_rotation_revokes_old(&self, on: bool) {
        self.config().rotation_revokes_old = on;
    }

    pub fn set_require_mfa(&self, on: bool) {
        self.config().require_mfa = on;
    }

    pub fn require_mfa(&self) -> bool {
        self.config().require_mfa
    }

    /// Checks `Authorization: Bearer …` for a live token of the audience.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        audience: Audience,
    ) -> Result<Access, &'static str> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("missing bearer token")?;
        let access = self.access.lock().expect("access tokens");
        match access.get(token) {
            Some(found) if found.audience != audience => Err("token issued for another audience"),
            Some(found) if found.expires <= Instant::now() => Err("token expired"),
            Some(found) => Ok(found.clone()),
            None => Err("unknown token"),
        }
    }

    fn app(&self, id: &str) -> Option<AppCredential> {
        self.config()
            .apps
            .iter()
            .find(|a| a.client_id == id)
            .cloned()
    }

    /// Redeems `token` for `client_id`: its grant and the refresh token that replaces it.
    fn redeem_refresh_token(&self, token: &str, client_id: &str) -> Option<(Grant, String)> {
        let revoke = self.config().rotation_revokes_old;
        let mut refresh = self.refresh.lock().expect("refresh tokens");
        let grant = refresh
            .get(token)
            .filter(|g| g.client_id == client_id)?
            .clone();
        if revoke {
            refresh.remove(token);
        }
        let next = format!("sim-rt-{}", uuid::Uuid::new_v4().simple());
        refresh.insert(next.clone(), grant.clone());
        Some((grant, next))
    }
}

/// The first app's grant of the first user's sign-in.
fn first_grant(config: &TokenConfig) -> Grant {
    let user = config.users.first();
    Grant {
        client_id: config
            .apps
            .first()
            .map(|a| a.client_id.clone())
            .unwrap_or_default(),
        public: false,
        user: user.map(|u| u.username.clone()),
        mfa: user.is_some_and(|u| u.mfa),
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
    /// Authorization code grant.
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    /// Device code grant.
    device_code: Option<String>,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/{tenant}/oauth2/token", post(token))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .merge(signin::router())
}

async fn token(State(state): State<Arc<SimState>>, Form(req): Form<TokenRequest>) -> Response {
    let tokens = &state.tokens;
    let Some(id) = req.client_id.as_deref() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
            900144,
        );
    };
    let Some(app) = tokens.app(id) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{id}' was not found in the directory."
            ),
            700016,
        );
    };
    // A public client flow (a device code, or a refresh token it produced) goes without the
    // secret, and only where the registration allows public flows; everything else is the web
    // app's, with its secret.
    let public = match req.grant_type.as_str() {
        signin::DEVICE_CODE_GRANT => true,
        "refresh_token" => tokens
            .refresh_token_grant(req.refresh_token.as_deref().unwrap_or(""))
            .is_some_and(|g| g.public),
        _ => false,
    };
    match (public, req.client_secret.as_deref()) {
        (true, Some(_)) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS700025: Client is public so neither 'client_assertion' nor \
                 'client_secret' should be presented.",
                700025,
            );
        }
        (true, None) if app.public_client_flows => {}
        (_, None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: \
                 'client_assertion' or 'client_secret'.",
                7000218,
            );
        }
        (false, Some(secret)) if secret != app.client_secret => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
                7000215,
            );
        }
        (false, Some(_)) => {}
    }
    let audience = Audience::of_scope(
        req.scope
            .as_deref()
            .or(req.resource.as_deref())
            .unwrap_or(""),
    );
    let (grant, refresh_token) = match req.grant_type.as_str() {
        "client_credentials" => {
            let app = Grant {
                client_id: id.to_owned(),
                public: false,
                user: None,
                mfa: false,
            };
            (app, None)
        }
        "refresh_token" => {
            let presented = req.refresh_token.as_deref().unwrap_or("");
            match tokens.redeem_refresh_token(presented, id) {
                Some((grant, next)) => (grant, Some(next)),
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
        "authorization_code" => match signin::redeem_code(tokens, id, &req) {
            Ok(grant) => {
                let next = tokens.mint_refresh_token_for(grant.clone());
                (grant, Some(next))
            }
            Err(refusal) => return refusal.into_response(),
        },
        signin::DEVICE_CODE_GRANT => match signin::redeem_device_code(tokens, id, &req) {
            Ok(grant) => {
                let next = tokens.mint_refresh_token_for(grant.clone());
                (grant, Some(next))
            }
            Err(refusal) => return refusal.into_response(),
        },
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
                70003,
            );
        }
    };
    let (access_token, expires_in) = tokens.issue_for(audience, &grant);
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

/// Entra ID's error body: `{"error","error_description","error_codes"}`.
pub(crate) fn oauth_error(
    status: StatusCode,
    error: &str,
    description: &str,
    code: u32,
) -> Response {
    OAuthError::new(status, error, description, code).into_response()
}

/// A refused grant, answered as [`oauth_error`] (boxed: a `Result` carrying it stays small).
#[derive(Debug)]
pub(crate) struct OAuthError(Box<(StatusCode, String, String, u32)>);

impl OAuthError {
    pub(crate) fn new(status: StatusCode, error: &str, description: &str, code: u32) -> Self {
        Self(Box::new((status, error.into(), description.into(), code)))
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, description, code) = *self.0;
        let body = serde_json::json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
        });
        (status, Json(body)).into_response()
    }
}
