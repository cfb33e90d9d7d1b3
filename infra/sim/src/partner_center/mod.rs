//! The Partner Center simulator (contract `partner-center.md`): the co-sell referrals API, webhook
//! registration, and signed webhook delivery, plus admin routes to seed, edit and inspect
//! referrals the way Microsoft or a Microsoft seller would.
//!
//! It stores referrals as raw JSON (`serde_json::Value`) and knows nothing of the client's model:
//! it is an independent reading of the contract, so it can catch a client model bug.
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | [`PcConfig`]: the simulated partner, paging, webhook signing and delivery knobs |
//! | [`store`] | the referrals and the server-filled fields (ids, dates, eTags, links) |
//! | [`referrals`] | the `/v1.0/engagements/referrals` routes |
//! | [`published`] | what Microsoft publishes (the connector's Swagger, partner-rest): PATCH allow-list, documented `$filter`s, next-link form, response codes, enums |
//! | [`query`] | `$filter`, `$orderby`, `$top` and the opaque `$skiptoken` |
//! | [`json_patch`] | RFC 6902 `add` / `replace` |
//! | [`status`] | the status machine (contract §5) |
//! | [`registration`] | the `/webhooks/v1/registration` routes |
//! | [`webhooks`] | the delivery queue, retries, offline (parked) list and the drop/duplicate/reorder knobs |
//! | [`signing`] | the test CA and the RSA-SHA256 signature |
//! | [`admin`] | `/_admin/partner-center/…` and `/cert/…` |
//! | [`http`] | the error body, auth extractors and the request-id headers |
//! | [`timestamp`] | the 7-digit RFC 3339 dates Partner Center writes |

pub mod admin;
pub mod config;
pub mod http;
pub mod json_patch;
pub mod published;
pub mod query;
pub mod referrals;
pub mod registration;
pub mod signing;
pub mod status;
pub mod store;
pub mod timestamp;
pub mod webhooks;

use std::sync::{Arc, Mutex};

use axum::Router;

pub use config::{DeliveryConfig, Honour, Lenient, PcConfig, WebhookKnobs};

use crate::SimState;

/// Everything the Partner Center simulator holds for one run.
pub struct PcState {
    pub config: PcConfig,
    /// `<base_url>/v1.0/engagements/referrals`: the base of `links` and `@odata.nextLink`.
    pub referrals_url: String,
    /// `<base_url>/cert/<name>.cer`: what `x-ms-certificate-url` says.
    pub certificate_url: String,
    pub store: Mutex<store::Store>,
    pub registration: Mutex<registration::Registrations>,
    pub webhooks: webhooks::Webhooks,
    pub requests: http::RequestLog,
}

impl PcState {
    pub fn new(config: PcConfig, base_url: &str) -> Self {
        let signer = signing::Signer::get(); // made once per process; later Sims reuse it
        debug_assert!(!signer.leaf_der.is_empty());
        Self {
            referrals_url: format!("{base_url}{}", referrals::PATH),
            certificate_url: format!("{base_url}/cert/{}.cer", signing::CERT_NAME),
            store: Mutex::new(store::Store::default()),
            registration: Mutex::new(registration::Registrations::default()),
            webhooks: webhooks::Webhooks::new(config.webhooks.clone()),
            requests: http::RequestLog::default(),
            config,
        }
    }
}

/// The service routes (faulted and counted by the caller's middleware) and the admin routes.
pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .merge(referrals::router())
        .merge(registration::router())
        .layer(axum::middleware::from_fn(http::request_ids))
        .merge(admin::router())
}

/// Starts the webhook delivery worker. It stops when the simulator's state is dropped.
pub fn start_background(state: &Arc<SimState>) {
    webhooks::start_worker(state);
}
