//! Access tokens as JWTs with the claims Entra ID puts in a v1 App+User token for Partner Center
//! (`aud`, `exp`, `appid`, `oid`, `upn`, `name`, `amr`, `scp`), unsigned (`alg: none`): clients
//! only read them for diagnostics, and the simulator checks a token by looking it up.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Grant, SimUser};

/// `header.claims.` (an empty signature, RFC 7519 §6).
pub(crate) fn access_token(
    audience: &str,
    ttl: u64,
    grant: &Grant,
    user: Option<&SimUser>,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut claims = serde_json::json!({
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "appid": grant.client_id,
        "ver": "1.0",
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(username) = &grant.user {
        // Entra ID lists the methods of the sign-in: `pwd`, plus `mfa` when a second factor was used.
        let amr: &[&str] = if grant.mfa { &["pwd", "mfa"] } else { &["pwd"] };
        claims["upn"] = username.as_str().into();
        claims["unique_name"] = username.as_str().into();
        claims["amr"] = serde_json::json!(amr);
        claims["scp"] = "user_impersonation".into();
        if let Some(user) = user {
            claims["name"] = user.name.as_str().into();
            claims["oid"] = user.oid.as_str().into();
        }
    }
    format!(
        "{}{}.",
        prefix(),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// How every access token the simulator issues begins (its encoded header and the dot): what a
/// test looks for to prove no token reached a log.
pub fn prefix() -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "none"});
    format!("{}.", URL_SAFE_NO_PAD.encode(header.to_string()))
}
