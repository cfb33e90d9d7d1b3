//! The interactive sign-ins `cosell login` starts, with the user's side played by whoever drives
//! the simulator (a test, the sandbox):
//!
//! - **Authorization code with PKCE**: `GET /{tenant}/oauth2/v2.0/authorize` signs in the user
//!   named by `login_hint` (the first user without one) at once and redirects the browser to the
//!   loopback `redirect_uri` with `code` and `state`; the token endpoint redeems the code once,
//!   for the same app and redirect URI, against the S256 `code_verifier`.
//! - **Device code**: `POST /{tenant}/oauth2/v2.0/devicecode` hands out a device and a user
//!   code; `POST /devicelogin` (form `user_code`, `username`, `action=approve|decline`) is the
//!   person entering the code on the verification page; the token endpoint answers
//!   `authorization_pending` until then.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Grant, OAuthError, TokenAuthority, TokenRequest, oauth_error};
use crate::SimState;

pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An authorization code or a device code lives this long (Entra ID: codes about 10 minutes,
/// device codes 15).
const CODE_TTL: Duration = Duration::from_secs(600);
const DEVICE_CODE_TTL: Duration = Duration::from_secs(900);

struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    grant: Grant,
    expires: Instant,
}

#[derive(Clone)]
enum DeviceState {
    Pending,
    Approved(Grant),
    Declined,
}

struct Device {
    client_id: String,
    user_code: String,
    state: DeviceState,
    expires: Instant,
}

/// Codes handed out and not yet redeemed.
#[derive(Default)]
pub(crate) struct Pending {
    codes: Mutex<HashMap<String, IssuedCode>>,
    devices: Mutex<HashMap<String, Device>>,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/devicelogin", post(device_login))
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
}

/// Entra ID shows an error page, not a redirect, when it cannot trust the redirect URI.
fn error_page(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("Sign in failed. {description}\n"),
    )
        .into_response()
}

/// A loopback redirect URI: Entra ID takes `http://localhost` (and `127.0.0.1`) on any port.
fn is_loopback(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
    })
}

async fn authorize(
    State(state): State<Arc<SimState>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let tokens = &state.tokens;
    let client_id = query.client_id.unwrap_or_default();
    if tokens.app(&client_id).is_none() {
        return error_page(&format!(
            "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
        ));
    }
    let redirect_uri = query.redirect_uri.unwrap_or_default();
    if !is_loopback(&redirect_uri) {
        return error_page(&format!(
            "AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not \
             match the redirect URIs configured for the application '{client_id}'."
        ));
    }
    let mut back = url::Url::parse(&redirect_uri).expect("checked above");
    let state_value = query.state.clone().unwrap_or_default();
    let fail = |mut back: url::Url, error: &str, description: &str| {
        back.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", description)
            .append_pair("state", &state_value);
        found(back.as_str())
    };
    if query.response_type.as_deref() != Some("code") {
        return fail(
            back,
            "unsupported_response_type",
            "AADSTS70005: response_type 'code' is the only one this app may use.",
        );
    }
    let challenge = match (query.code_challenge, query.code_challenge_method.as_deref()) {
        (Some(challenge), Some("S256")) if !challenge.is_empty() => challenge,
        _ => {
            return fail(
                back,
                "invalid_request",
                "Proof Key for Code Exchange is required: code_challenge with \
                 code_challenge_method=S256.",
            );
        }
    };
    let user = match query.login_hint.as_deref() {
        Some(hint) => tokens.user(hint),
        None => tokens.config().users.first().cloned(),
    };
    let Some(user) = user else {
        return error_page("AADSTS50034: The user account does not exist in the directory.");
    };
    let code = format!("sim-code-{}", uuid::Uuid::new_v4().simple());
    tokens.signin.codes.lock().expect("codes").insert(
        code.clone(),
        IssuedCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            grant: Grant {
                client_id,
                public: false,
                user: Some(user.username),
                mfa: user.mfa,
            },
            expires: Instant::now() + CODE_TTL,
        },
    );
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state_value);
    found(back.as_str())
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

/// `invalid_grant` with Entra ID's wording.
fn invalid_grant(description: &str, code: u32) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description, code)
}

/// The authorization code grant: the code once, for its app and redirect URI and verifier.
pub(super) fn redeem_code(
    tokens: &TokenAuthority,
    client_id: &str,
    req: &TokenRequest,
) -> Result<Grant, OAuthError> {
    let code = req.code.as_deref().unwrap_or("");
    let issued = tokens.signin.codes.lock().expect("codes").remove(code);
    let Some(issued) = issued.filter(|c| c.expires > Instant::now()) else {
        return Err(invalid_grant(
            "AADSTS70008: The provided authorization code or refresh token has expired due to \
             inactivity. Send a new interactive authorization request for this user and resource.",
            70008,
        ));
    };
    if issued.client_id != client_id {
        return Err(invalid_grant(
            "AADSTS70002: The authorization code was issued to another application.",
            70002,
        ));
    }
    if req.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "AADSTS50011: The redirect URI does not match the one the code was issued for.",
            50011,
        ));
    }
    let verifier = req.code_verifier.as_deref().unwrap_or("");
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if computed != issued.challenge {
        return Err(invalid_grant(
            "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the \
             authorization request.",
            501481,
        ));
    }
    Ok(issued.grant)
}

#[derive(Debug, Deserialize)]
struct DeviceCodeRequest {
    client_id: Option<String>,
}

async fn device_code(
    State(state): State<Arc<SimState>>,
    Form(req): Form<DeviceCodeRequest>,
) -> Response {
    let tokens = &state.tokens;
    let client_id = req.client_id.unwrap_or_default();
    if tokens.app(&client_id).is_none() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the \
                 directory."
            ),
            700016,
        );
    }
    let device_code = format!("sim-device-{}", uuid::Uuid::new_v4().simple());
    let letters = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let user_code = letters[..9].to_owned();
    let verification_uri = format!("{}/devicelogin", state.base_url);
    tokens.signin.devices.lock().expect("devices").insert(
        device_code.clone(),
        Device {
            client_id,
            user_code: user_code.clone(),
            state: DeviceState::Pending,
            expires: Instant::now() + DEVICE_CODE_TTL,
        },
    );
    Json(serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_TTL.as_secs(),
        "interval": tokens.config().device_code_interval_secs,
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code \
             {user_code} to authenticate."
        ),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct DeviceLogin {
    user_code: String,
    username: Option<String>,
    /// `approve` (the default) or `decline`.
    action: Option<String>,
}

/// The person on the verification page: enters the code, signs in, approves or declines.
async fn device_login(
    State(state): State<Arc<SimState>>,
    Form(form): Form<DeviceLogin>,
) -> Response {
    let tokens = &state.tokens;
    let user = match form.username.as_deref() {
        Some(name) => tokens.user(name),
        None => tokens.config().users.first().cloned(),
    };
    let Some(user) = user else {
        return (StatusCode::NOT_FOUND, "no such user\n").into_response();
    };
    let mut devices = tokens.signin.devices.lock().expect("devices");
    let Some(device) = devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(form.user_code.trim()))
    else {
        return (StatusCode::NOT_FOUND, "that code is not valid\n").into_response();
    };
    device.state = match form.action.as_deref() {
        Some("decline") => DeviceState::Declined,
        _ => DeviceState::Approved(Grant {
            client_id: device.client_id.clone(),
            public: true,
            user: Some(user.username),
            mfa: user.mfa,
        }),
    };
    (StatusCode::OK, "You may now close this window.\n").into_response()
}

/// The device code grant: pending until the person acts, then the grant once.
pub(super) fn redeem_device_code(
    tokens: &TokenAuthority,
    client_id: &str,
    req: &TokenRequest,
) -> Result<Grant, OAuthError> {
    let code = req.device_code.as_deref().unwrap_or("");
    let mut devices = tokens.signin.devices.lock().expect("devices");
    let Some(device) = devices.get(code).filter(|d| d.client_id == client_id) else {
        return Err(invalid_grant(
            "AADSTS70019: The device code is not valid for this application.",
            70019,
        ));
    };
    if device.expires <= Instant::now() {
        devices.remove(code);
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            "AADSTS70020: The provided value for the input parameter 'device_code' is not \
             valid. This device code has expired.",
            70020,
        ));
    }
    match device.state.clone() {
        DeviceState::Pending => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            70016,
        )),
        DeviceState::Declined => {
            devices.remove(code);
            Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "authorization_declined",
                "AADSTS70000: The user declined the sign-in.",
                70000,
            ))
        }
        DeviceState::Approved(grant) => {
            devices.remove(code);
            Ok(grant)
        }
    }
}
