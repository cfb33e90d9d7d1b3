//! Who a Partner Center access token speaks for, and whether its sign-in did multi-factor
//! authentication — read from the token's claims without checking its signature: this is a
//! diagnostic (`cosell check`, `cosell login`), never an authorization decision.
//!
//! Since 1 April 2026 Partner Center refuses App+User calls whose token lacks MFA (its
//! authentication page); Microsoft's own `Test-PartnerSecurityRequirement` passes a token whose
//! `amr` claim contains `mfa`. `amr` is a v1-token claim (Entra ID's access token claims
//! reference), which is what the Partner Center audience issues; `ngcmfa` counts as `mfa`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The claims of one access token that say who signed in and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignIn {
    /// The sign-in name: `upn`, else `preferred_username`, else `unique_name`.
    pub user: Option<String>,
    /// The display name (`name`).
    pub name: Option<String>,
    /// The user's object id (`oid`).
    pub object_id: Option<String>,
    /// The authentication methods (`amr`), as the token lists them.
    pub methods: Vec<String>,
}

impl SignIn {
    /// Reads the claims of a JWT. `None` when the token is not one (an opaque token).
    pub fn of_token(token: &str) -> Option<SignIn> {
        #[derive(Deserialize)]
        struct Claims {
            upn: Option<String>,
            preferred_username: Option<String>,
            unique_name: Option<String>,
            name: Option<String>,
            oid: Option<String>,
            #[serde(default)]
            amr: Vec<String>,
        }
        let payload = token.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims: Claims = serde_json::from_slice(&bytes).ok()?;
        Some(SignIn {
            user: claims
                .upn
                .or(claims.preferred_username)
                .or(claims.unique_name),
            name: claims.name,
            object_id: claims.oid,
            methods: claims.amr,
        })
    }

    /// Whether `amr` says a second factor was used (`mfa`, or `ngcmfa`, Windows Hello's).
    pub fn mfa(&self) -> bool {
        self.methods.iter().any(|m| m.contains("mfa"))
    }

    /// `ada@contoso.com (Ada Lovelace)`, or what of it is known.
    pub fn who(&self) -> String {
        match (&self.user, &self.name) {
            (Some(user), Some(name)) => format!("{user} ({name})"),
            (Some(user), None) => user.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => match &self.object_id {
                Some(oid) => format!("user {oid}"),
                None => "an unnamed user".into(),
            },
        }
    }

    /// `pwd, mfa`, or `none` when the token lists no method.
    pub fn methods_text(&self) -> String {
        if self.methods.is_empty() {
            "none".into()
        } else {
            self.methods.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: serde_json::Value) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn reads_who_and_how_from_the_claims() {
        // The claims of a v1 access token, as Entra ID's access token claims reference lists them.
        let signed = SignIn::of_token(&token(serde_json::json!({
            "upn": "ada@contoso.com", "name": "Ada", "oid": "o-1", "amr": ["pwd", "mfa"]
        })))
        .unwrap();
        assert!(signed.mfa());
        assert_eq!(signed.who(), "ada@contoso.com (Ada)");

        let hello = SignIn::of_token(&token(serde_json::json!({"amr": ["ngcmfa"], "oid": "o-2"})));
        assert!(hello.as_ref().unwrap().mfa());
        assert_eq!(hello.unwrap().who(), "user o-2");

        let password = SignIn::of_token(&token(serde_json::json!({
            "preferred_username": "nils@contoso.com", "amr": ["pwd"]
        })))
        .unwrap();
        assert!(!password.mfa());
        assert_eq!(password.methods_text(), "pwd");
        assert_eq!(password.user.as_deref(), Some("nils@contoso.com"));

        let none = SignIn::of_token(&token(serde_json::json!({"upn": "x"}))).unwrap();
        assert!(!none.mfa());
        assert_eq!(none.methods_text(), "none");
        assert_eq!(SignIn::of_token("opaque-token"), None);
    }
}
