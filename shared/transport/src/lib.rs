//! The HTTP plumbing both service clients stand on, so retry, throttling and token rules are
//! written once: every call goes through [`Http::send`], which retries what may succeed later
//! (429/503 after `Retry-After`, other 5xx, timeouts, dropped connections) with exponential
//! backoff and full jitter, and hands back a typed [`ApiError`] carrying the service's own code
//! and message for everything else.

mod call;
pub mod correlation;
pub mod deadline;
mod error;
mod http;
mod limit;
mod retry;
mod secret;
pub mod throttled;
mod token;

pub use call::Call;
pub use error::ApiError;
pub use http::{Http, HttpConfig, read_json, read_text};
pub use limit::RateLimit;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use token::{TokenCache, TokenResponse, request_token};
