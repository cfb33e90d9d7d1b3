//! Alerts where sellers work (optional, off unless a channel is configured): a Teams Workflows
//! webhook (Adaptive Card) and/or a Slack incoming webhook, their URLs in the credentials secret.
//!
//! - [`Alerts::raise`] is all a sync does: it records the event once (the store's event dedupe,
//!   keyed by event and subject) and queues one retry item per channel
//!   (`alert:<channel>:<event>:<subject>`, due now). It never posts, never fails the sync: a
//!   store error is logged and the alert dropped.
//! - The retry scheduler posts what is due ([`deliver`]): per channel one message a run, at most
//!   [`deliver::PER_POST`] alerts in it, so hundreds of referrals at once make a few messages a
//!   minute, never a storm. A post answered 2xx removes its items; 4xx parks them dead with the
//!   answer; anything else parks them with backoff, as any other work.
//! - An alert names the deal and the referral, days left where it matters, and links to the
//!   Dynamics 365 record and to Partner Center — never the customer's contact details.

pub mod channel;
pub mod deliver;
pub mod message;

use std::sync::Arc;
use std::time::Duration;

use cosell_store::{CrmKind, RetryItem, RetryState, SyncStore};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::record::WorkKey;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// Microsoft sent a referral.
    New,
    /// A referral nobody answered expires soon.
    Expiring,
    /// Microsoft accepted a co-sell referral we sent.
    Accepted,
    /// Microsoft declined a co-sell referral we sent.
    Declined,
    /// A sync went dead and waits for `cosell replay`.
    Dead,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Expiring => "expiring",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Dead => "dead",
        }
    }
}

/// One alert, as queued and as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub event: Event,
    /// What it is about: a referral id, or the dead item's id.
    pub subject: String,
    /// The deal's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<(CrmKind, Uuid)>,
    /// Days until the referral expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// One more sentence (a dead sync's error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Tells apart two occurrences of one event on one subject that should both alert (a sync
    /// that dies again after a replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
}

impl Alert {
    pub fn new(event: Event, subject: impl Into<String>) -> Self {
        Self {
            event,
            subject: subject.into(),
            deal: None,
            referral_id: None,
            record: None,
            days_left: None,
            detail: None,
            occurrence: None,
        }
    }
}

/// How long an event is remembered, so the same event of the same subject alerts once (longer
/// than a referral's 14 days before it expires).
const REMEMBER: Duration = Duration::from_secs(30 * 24 * 3600);

/// The queue side of alerts, held by every sync. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    store: Arc<dyn SyncStore>,
    /// The configured channels' names (`teams`, `slack`); none: alerts are off.
    channels: Vec<String>,
}

impl Alerts {
    /// Alerts queued in `store` for `channels`; with no channel, [`Self::raise`] does nothing.
    pub fn new(store: Arc<dyn SyncStore>, channels: Vec<String>) -> Self {
        Self { store, channels }
    }

    /// Queues `alert` once per channel, the first time its event and subject are seen. Best
    /// effort: an alert never fails the sync that raised it.
    pub async fn raise(&self, alert: Alert, now: OffsetDateTime) {
        if self.channels.is_empty() {
            return;
        }
        let store = &self.store;
        let mut key = format!("alert:{}:{}", alert.event.as_str(), alert.subject);
        if let Some(occurrence) = &alert.occurrence {
            key = format!("{key}#{occurrence}");
        }
        match store.record_event(&key, now, REMEMBER).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, event = alert.event.as_str(), "alert not queued");
                return;
            }
        }
        let payload = serde_json::to_value(&alert).unwrap_or_default();
        for channel in &self.channels {
            let id = WorkKey::Alert {
                channel: channel.clone(),
                event: alert.event.as_str().to_owned(),
                subject: alert.subject.clone(),
            };
            let item = RetryItem {
                id: id.to_string(),
                payload: payload.clone(),
                due_at: now,
                attempts: 0,
                last_error: None,
                state: RetryState::Pending,
            };
            if let Err(error) = store.put_retry(&item).await {
                tracing::warn!(%error, item = %item.id, "alert not queued");
            }
        }
        tracing::info!(event = alert.event.as_str(), subject = %alert.subject, "alert queued");
    }
}
