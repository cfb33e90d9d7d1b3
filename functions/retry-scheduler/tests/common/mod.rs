//! The inbound stack of webhook-ingress's tests (simulator, ingress handler on a real socket,
//! SQLite store), plus the retry-scheduler's jobs over the same store and clients.
#![allow(dead_code, unused_imports)] // each test file uses a different part

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_runtime::Jobs;
use cosell_store::{RetryItem, SyncStore};
use cosell_sync::backoff::{Backoff, Jitter};
use cosell_sync::{
    InboundSettings, InboundSync, OutboundSettings, OutboundSync, ReconcileSettings, RetrySettings,
};

#[path = "../../../webhook-ingress/tests/common/mod.rs"]
pub mod ingress;

pub use ingress::{Stack, start};

/// A schedule a test can assert: 10 s, 20 s, then 40 s for every later attempt.
pub fn backoff(max_attempts: u32) -> Backoff {
    Backoff {
        base: Duration::from_secs(10),
        cap: Duration::from_secs(40),
        max_attempts,
        jitter: Jitter::None,
    }
}

/// The retry-scheduler's two jobs over `stack`'s store and clients, with `crm` settings.
pub fn scheduler(stack: &Stack, crm: CrmConfig, backoff: Backoff) -> Jobs {
    scheduler_with(stack, crm, backoff, RetrySettings::default())
}

/// [`scheduler`] with its own run settings.
pub fn scheduler_with(
    stack: &Stack,
    crm: CrmConfig,
    backoff: Backoff,
    retry: RetrySettings,
) -> Jobs {
    scheduler_sweeping(stack, crm, backoff, retry, ReconcileSettings::default())
}

/// [`scheduler_with`] and its own sweep settings.
pub fn scheduler_sweeping(
    stack: &Stack,
    crm: CrmConfig,
    backoff: Backoff,
    retry: RetrySettings,
    reconcile: ReconcileSettings,
) -> Jobs {
    let store: Arc<dyn SyncStore> = stack.store.clone();
    let partner_center = Arc::new(stack.partner_center.clone());
    let dataverse = Arc::new(stack.dataverse.clone());
    let inbound = Arc::new(InboundSync::new(
        store.clone(),
        partner_center.clone(),
        dataverse.clone(),
        crm.clone(),
        InboundSettings {
            backoff,
            lease_wait: Duration::from_secs(3),
            alerts: retry.channels.names(),
            ..InboundSettings::default()
        },
    ));
    let outbound = Arc::new(OutboundSync::new(
        store.clone(),
        partner_center.clone(),
        dataverse,
        crm,
        OutboundSettings {
            backoff,
            alerts: retry.channels.names(),
            ..OutboundSettings::default()
        },
    ));
    Jobs::new(store, inbound, outbound, partner_center, retry, reconcile)
}

/// Seeds the Fabrikam co-sell referral (fires `referral-created`); its id.
pub async fn fabrikam(stack: &Stack) -> String {
    stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await
}

/// The referral's inbound retry item.
pub async fn item(stack: &Stack, referral_id: &str) -> Option<RetryItem> {
    stack
        .store
        .retry(&format!("inbound:{referral_id}"))
        .await
        .expect("store read")
}
