//! [`PcConfig`]: what a simulator run is told about Partner Center. The webhook knobs can also be
//! changed at run time (`PUT /_admin/partner-center/webhooks/knobs`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PcConfig {
    /// The simulated partner's organization: written into every referral it sees.
    pub organization_id: String,
    pub organization_name: String,
    /// Referrals per list page (the real service: 100).
    pub page_size: usize,
    /// Whether `PUT` without `If-Match` is refused (`400 invalidRequest`). The contract pairs PUT
    /// with If-Match; refusing keeps clients from overwriting blindly. `If-Match: *` is accepted.
    pub require_if_match_on_put: bool,
    /// Whether a PATCH's `If-Match` is ignored: partner-rest documents it as honoured, the
    /// connector declares no such header. Ignored, a stale PATCH overwrites.
    pub ignore_if_match_on_patch: bool,
    /// Members a `PUT` may not change (JSON pointers, e.g. `/name`), refused with `400
    /// invalidRequest`. Microsoft documents PUT as replacing the referral and names no member it
    /// keeps; tests set this to prove a refused change never blocks the others.
    pub put_keeps: Vec<String>,
    /// Refuse a `Shared` create without `partnerRole`, `solutionArea` and `solutionPlay` (`400`):
    /// create-a-referral requires them "for Services co-sell referrals only", and which co-sell
    /// referrals are Services ones is not published, so tests turn this on.
    pub require_services_fields: bool,
    /// How `$orderby=updatedDateTime …` is taken: the connector's Swagger takes any `$orderby`,
    /// partner-rest documents only `createdDateTime`. Honoured by default; tests make it
    /// ignored or refused to show the sweep does not depend on it.
    pub updated_order: Honour,
    /// How `$orderby=createdDateTime …` (the documented one) is taken.
    pub created_order: Honour,
    /// How a clause on `updatedDateTime` (`$filter=updatedDateTime gt …`, which partner-rest
    /// lists as a filter parameter without an operator) is taken: refused as undocumented (the
    /// default), ignored (listed as if it were not there, as a service that drops a clause it
    /// does not know would), or honoured.
    pub updated_range: Honour,
    /// Readings more lenient than Microsoft's published definitions; all off by default.
    pub lenient: Lenient,
    /// Put the webhook signature in `x-ms-signature` instead of `Authorization: Signature …`
    /// (Partner Center's `SignatureTokenToMsSignatureHeader`).
    pub signature_in_ms_signature_header: bool,
    /// `POST …/validationEvents` allowed per minute (the real service: 2); more get 429.
    pub validation_events_per_minute: u32,
    /// The status of "registration already exists, please use PUT" when a `POST` meets an
    /// existing registration. Microsoft names no status ("other status codes"); the default is
    /// `published.toml`'s, and tests try others (400) to show a client does not depend on one.
    pub registration_exists_status: u16,
    pub delivery: DeliveryConfig,
    pub webhooks: WebhookKnobs,
}

impl Default for PcConfig {
    fn default() -> Self {
        Self {
            organization_id: "4f5a1c2e-9d7b-4a8e-b3c1-0d2e6f7a8b90".into(),
            organization_name: "Contoso Partner".into(),
            page_size: 100,
            require_if_match_on_put: true,
            ignore_if_match_on_patch: false,
            put_keeps: Vec::new(),
            require_services_fields: false,
            updated_order: Honour::Honoured,
            created_order: Honour::Honoured,
            updated_range: Honour::Refused,
            lenient: Lenient::default(),
            signature_in_ms_signature_header: false,
            validation_events_per_minute: 2,
            registration_exists_status: super::published::Published::get()
                .registration
                .exists_status,
            delivery: DeliveryConfig::default(),
            webhooks: WebhookKnobs::default(),
        }
    }
}

/// What the service does with a request part Microsoft does not pin down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Honour {
    #[default]
    Honoured,
    /// Taken and not acted on: the listing keeps its own order.
    Ignored,
    /// `400`.
    Refused,
}

/// Readings of the referrals API kinder than what Microsoft publishes (`published.toml`). Off by
/// default, so a client that relies on one fails here as it would on the real service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lenient {
    /// PATCH may change any member with `replace` or `add`, not only the connector's allow-list.
    pub any_patch_path: bool,
    /// PATCH answers `200` with the referral and an `ETag` when asked
    /// (`Prefer: return=representation`), instead of the declared bare `204`.
    pub patch_representation: bool,
    /// `$filter` takes any operator on any field the simulator knows (`updatedDateTime gt`,
    /// `status ne`), not only the documented `eq` clauses.
    pub any_filter: bool,
    /// `@odata.nextLink` on the base URL's own origin, instead of the documented
    /// `http://<host>/v1.0/referrals?$skiptoken=…` (another scheme, port and path).
    pub same_origin_next_link: bool,
}

/// How a webhook delivery is attempted and retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is parked in the offline list (the real service: 10).
    pub max_attempts: u32,
    /// Waits before the 2nd, 3rd… attempt; the last one repeats if the list is short.
    pub retry_delays_ms: Vec<u64>,
    /// How long one attempt may take before it counts as failed.
    pub timeout_ms: u64,
    /// How long the reorder knob holds a delivery back when no later one overtakes it.
    pub reorder_hold_ms: u64,
    /// Deliveries in flight at once (undocumented for the real service; 1: strictly one after
    /// another).
    pub concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            // Roughly the real service's spread: seconds at first, then minutes.
            retry_delays_ms: vec![
                5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
            ],
            timeout_ms: 10_000,
            reorder_hold_ms: 2_000,
            concurrency: 1,
        }
    }
}

impl DeliveryConfig {
    /// Small delays for tests: the whole retry ladder takes well under a second.
    pub fn fast() -> Self {
        Self {
            retry_delays_ms: vec![10],
            timeout_ms: 2_000,
            reorder_hold_ms: 200,
            ..Self::default()
        }
    }

    /// The wait before attempt number `attempt` (2 for the first retry).
    pub fn delay_before(&self, attempt: u32) -> std::time::Duration {
        let index =
            (attempt.saturating_sub(2) as usize).min(self.retry_delays_ms.len().saturating_sub(1));
        std::time::Duration::from_millis(self.retry_delays_ms.get(index).copied().unwrap_or(0))
    }
}

/// What happens to deliveries on the way out; rates are probabilities in 0..=1 drawn from the
/// simulator's seeded dice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookKnobs {
    /// The event is never sent (as if lost in Partner Center); only reconciliation finds it.
    pub drop_rate: f64,
    /// The event is sent twice.
    pub duplicate_rate: f64,
    /// The event is held back and sent after the next one (or after `reorder_hold_ms`).
    pub reorder_rate: f64,
}
