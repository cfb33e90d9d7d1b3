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
    /// Put the webhook signature in `x-ms-signature` instead of `Authorization: Signature …`
    /// (Partner Center's `SignatureTokenToMsSignatureHeader`).
    pub signature_in_ms_signature_header: bool,
    /// `POST …/validationEvents` allowed per minute (the real service: 2); more get 429.
    pub validation_events_per_minute: u32,
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
            signature_in_ms_signature_header: false,
            validation_events_per_minute: 2,
            delivery: DeliveryConfig::default(),
            webhooks: WebhookKnobs::default(),
        }
    }
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
