//! [`Error`]: a service or transport failure ([`ApiError`], with the service's code and message),
//! or one of the few things that fail in this client itself.
//!
//! `ApiError` is kept whole rather than split into many variants: its `status()`/`code()` carry
//! everything a caller branches on, and the helpers here ([`Error::is_precondition_failed`]…)
//! name the common cases.

use cosell_transport::ApiError;

/// Any error a caller's own code returns (a [`crate::RefreshTokenSink`]'s).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service said no (non-2xx after retries), did not answer, or answered out of shape.
    #[error(transparent)]
    Api(ApiError),
    /// Partner Center (or Entra ID, redeeming the refresh token) wants multi-factor
    /// authentication the stored sign-in did not do. Nothing but a new sign-in helps, so this is
    /// never retried.
    #[error(
        "Partner Center requires multi-factor authentication and the stored sign-in has none \
         ({0}): run `cosell login` as a Referrals admin and complete the MFA prompt"
    )]
    MfaRequired(ApiError),
    /// Entra ID refused the refresh token (`invalid_grant`): it expired (90 days unused), was
    /// revoked, or was redeemed elsewhere. Only a new sign-in helps; said so wherever it shows.
    #[error(
        "the Partner Center sign-in is no longer valid ({0}): run `cosell login` as a Referrals \
         admin, then `cosell replay --dead`"
    )]
    SignInExpired(ApiError),
    /// A new refresh token was issued but the sink could not store it. The client keeps using it
    /// and offers it to the sink again on the next call; until that works, a restart would
    /// start from a revoked token.
    #[error("could not store the rotated Partner Center refresh token: {0}")]
    RefreshTokenNotStored(#[source] BoxError),
    /// An `@odata.nextLink` pointing at another origin than the referrals host: the bearer token
    /// is not sent there.
    #[error("refusing to follow @odata.nextLink to another host: {0}")]
    ForeignNextLink(String),
    /// A referral that does not fit the documented shape: retrying cannot help.
    #[error(transparent)]
    Unreadable(#[from] crate::listing::Unreadable),
}

/// Entra ID's codes for "this sign-in needs (or must register) a second factor": AADSTS50076,
/// 50079 and 50074 (its error code reference), and Partner Center's "401 … with error code
/// 900421" (Partner Center blog, CSP technical changes FY26 Q4), which publishes no body: the
/// code is looked for wherever the answer has text, and so is the word.
const MFA_CODES: [&str; 4] = ["900421", "AADSTS50076", "AADSTS50079", "AADSTS50074"];

/// Whether an answer says multi-factor authentication is missing.
fn names_mfa(error: &ApiError) -> bool {
    let (Some(status), Some(code), Some(message)) = (error.status(), error.code(), error.message())
    else {
        return false;
    };
    let text = format!("{code} {message}");
    let lower = text.to_lowercase();
    let says_mfa = lower.contains("multi-factor")
        || lower.contains("multifactor")
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "mfa");
    MFA_CODES.iter().any(|c| text.contains(c)) || (matches!(status, 400 | 401 | 403) && says_mfa)
}

/// Whether the token endpoint refused the refresh token itself.
fn refused_grant(error: &ApiError) -> bool {
    matches!(error, ApiError::Service { service: "token", code, .. } if code == "invalid_grant")
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        if names_mfa(&error) {
            Error::MfaRequired(error)
        } else if refused_grant(&error) {
            Error::SignInExpired(error)
        } else {
            Error::Api(error)
        }
    }
}

impl Error {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) | Error::MfaRequired(e) | Error::SignInExpired(e) => Some(e),
            _ => None,
        }
    }

    /// A referral whose data can never be read as it is ([`Error::Unreadable`]).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, Error::Unreadable(_))
    }

    /// The sign-in behind the refresh token lacks MFA: `cosell login` must sign in again.
    pub fn is_mfa_required(&self) -> bool {
        matches!(self, Error::MfaRequired(_))
    }

    pub fn status(&self) -> Option<u16> {
        self.api().and_then(ApiError::status)
    }

    /// The service's error code, e.g. `invalidRequest`, `preconditionFailed`.
    pub fn code(&self) -> Option<&str> {
        self.api().and_then(ApiError::code)
    }

    /// The service's message, e.g. why it refused a request.
    pub fn message(&self) -> Option<&str> {
        self.api().and_then(ApiError::message)
    }

    /// The request itself was refused (400): sending it again as it is cannot succeed.
    pub fn is_refused(&self) -> bool {
        self.status() == Some(400)
    }

    /// A stale `If-Match` (412): re-read, merge, try again.
    pub fn is_precondition_failed(&self) -> bool {
        self.api().is_some_and(ApiError::is_precondition_failed)
    }

    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_not_found)
    }
}
