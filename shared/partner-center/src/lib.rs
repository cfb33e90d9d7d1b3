//! Client for the Partner Center co-sell Referrals API and webhook registration
//! (contract `partner-center.md`).
//!
//! Every call goes through `cosell-transport` (retries, `Retry-After`, typed errors), carries a
//! bearer token for its audience and one `client-request-id` per logical call, reused on every
//! retry. A 401 is retried once with a fresh token, unless it says MFA is missing
//! ([`Error::MfaRequired`]: a new sign-in, `cosell login`, is the only fix).
//!
//! Tokens come from the refresh-token grant (App+User). Entra ID may rotate the refresh token on
//! every redemption; the client keeps the newest one in memory and hands each new one to the
//! caller's [`RefreshTokenSink`] to persist, so the next cold start has a token that still works.
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | [`PartnerCenterConfig`]: hosts, app credentials, scopes, HTTP policy |
//! | [`auth`] | [`RefreshTokenSink`] and the per-audience token caches |
//! | [`client`] | [`PartnerCenter`], the client |
//! | [`referrals`] | list / get / create / replace / patch, [`ListQuery`], [`PatchOp`], [`Versioned`] |
//! | [`changes`] | [`Changes`]: what changed after a time, under whichever [`Reading`] the service honours |
//! | [`listing`] | [`Listed`]: referrals read one by one, an [`Unreadable`] one set apart |
//! | [`filter`] | [`Filter`]: `$filter` built from typed clauses, strings escaped |
//! | [`webhooks`] | webhook registration: events, register, view, update, test, delivery status |
//! | [`webhook`] | inbound callback verification: [`WebhookVerifier`], [`WebhookEnvelope`], [`Rejection`] |
//! | [`sign_in`] | [`SignIn`]: who a token speaks for and whether it carries MFA |
//! | [`error`] | [`Error`], with MFA refusals told apart |

pub mod auth;
pub mod changes;
pub mod client;
pub mod config;
pub mod error;
pub mod filter;
pub mod listing;
pub mod reading;
pub mod referrals;
pub mod sign_in;
pub mod webhook;
pub mod webhooks;

pub use auth::RefreshTokenSink;
pub use changes::{Changes, Resume};
pub use client::PartnerCenter;
pub use config::PartnerCenterConfig;
pub use cosell_mapping::{Referral, ReferralPage};
pub use cosell_transport::{ApiError, HttpConfig, RetryPolicy, Secret};
pub use error::BoxError;
pub use error::Error;
pub use filter::{Field, Filter};
pub use listing::{Listed, ListedPage, Unreadable};
pub use reading::{Reading, Stamp};
pub use referrals::{
    ListQuery, OrderBy, PATCHABLE, PatchOp, PatchOpKind, READ_ONLY, Versioned, patchable, writable,
};
pub use sign_in::SignIn;
pub use webhook::{
    ConfigError as WebhookConfigError, Rejection, TrustRoots, VerifierConfig, WebhookEnvelope,
    WebhookVerifier,
};
pub use webhooks::{
    ValidationEvent, ValidationResult, ValidationStatus, WebhookEvent, WebhookRegistration,
};
