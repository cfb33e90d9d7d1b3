//! [`Error`]: a service or transport failure ([`ApiError`], with the service's code and message),
//! or one of the few things that fail in this client itself.
//!
//! `ApiError` is kept whole rather than split into many variants: its `status()`/`code()` carry
//! everything a caller branches on, and the helpers here ([`Error::is_precondition_failed`]…)
//! name the common cases.

use cosell_transport::ApiError;

use crate::auth::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service said no (non-2xx after retries), did not answer, or answered out of shape.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A new refresh token was issued but the sink could not store it. The client keeps using it
    /// and offers it to the sink again on the next call; until that works, a restart would
    /// start from a revoked token.
    #[error("could not store the rotated Partner Center refresh token: {0}")]
    RefreshTokenNotStored(#[source] BoxError),
    /// An `@odata.nextLink` pointing at another origin than the referrals host: the bearer token
    /// is not sent there.
    #[error("refusing to follow @odata.nextLink to another host: {0}")]
    ForeignNextLink(String),
}

impl Error {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
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
