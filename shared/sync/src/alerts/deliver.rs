//! The retry scheduler's side of alerts: the due `alert:` items posted, per channel one message
//! a run with at most [`PER_POST`] alerts; the rest wait for the next run (a minute later), so a
//! burst of referrals makes a few messages, never a storm.

use std::collections::BTreeMap;
use std::sync::Arc;

use cosell_store::{RetryItem, RetryState, StoreError, SyncStore};
use time::OffsetDateTime;

use super::Alert;
use super::channel::{Channel, PostError};
use crate::backoff::Backoff;
use crate::record::WorkKey;
use crate::record::park::{Cause, park};

/// Alerts in one post at most.
pub const PER_POST: usize = 20;

/// What became of one alert item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Posted; the item is gone.
    Sent,
    /// Left for the next run: this run's post for its channel was full.
    Later,
    /// Not posted; the item waits for another attempt, or is dead (`permanent`) with the answer.
    Parked { message: String, permanent: bool },
}

impl Cause for PostError {
    fn is_permanent(&self) -> bool {
        PostError::is_permanent(self)
    }
}

/// A channel alerts are queued for but that is not configured (any more).
#[derive(Debug)]
struct Unconfigured(String);

impl std::fmt::Display for Unconfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no '{}' alert channel is configured", self.0)
    }
}

impl Cause for Unconfigured {
    fn is_permanent(&self) -> bool {
        true
    }
}

/// Posts the due alert `items`, grouped by channel.
pub async fn deliver(
    store: &dyn SyncStore,
    channels: &[Arc<dyn Channel>],
    items: Vec<RetryItem>,
    backoff: &Backoff,
    now: OffsetDateTime,
) -> Result<Vec<(String, Delivered)>, StoreError> {
    let mut done = Vec::new();
    for (name, mut queued) in by_channel(store, items).await? {
        // Past this run's post: due again a minute on, so work due before then comes first.
        for (_, item, _) in queued.split_off(queued.len().min(PER_POST)) {
            let later = RetryItem {
                due_at: now + LATER,
                ..item
            };
            store.put_retry(&later).await?;
            done.push((later.id, Delivered::Later));
        }
        let channel = channels.iter().find(|c| c.name() == name);
        let posted = post(store, channel, &name, queued, backoff, now).await?;
        done.extend(posted);
    }
    Ok(done)
}

/// An alert waiting to go out: its work key, its item, and the alert the item holds.
type Queued = (WorkKey, RetryItem, Alert);

/// The due alert items by channel, in order; an unreadable one is dropped.
async fn by_channel(
    store: &dyn SyncStore,
    items: Vec<RetryItem>,
) -> Result<BTreeMap<String, Vec<Queued>>, StoreError> {
    let mut by_channel: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
    for item in items {
        let Some(key @ WorkKey::Alert { .. }) = WorkKey::parse(&item.id) else {
            continue;
        };
        let WorkKey::Alert { channel, .. } = &key else {
            continue;
        };
        let channel = channel.clone();
        match serde_json::from_value::<Alert>(item.payload.clone()) {
            Ok(alert) => by_channel
                .entry(channel)
                .or_default()
                .push((key, item, alert)),
            Err(error) => {
                tracing::error!(item = %item.id, %error, "alert item unreadable; dropped");
                store.delete_retry(&item.id).await?;
            }
        }
    }
    Ok(by_channel)
}

/// Posts one channel's alerts in one message (each alone when the channel refuses the batch: it
/// may hold one alert the webhook cannot take), parking what did not go out; a channel no longer
/// configured parks them all.
async fn post(
    store: &dyn SyncStore,
    channel: Option<&Arc<dyn Channel>>,
    name: &str,
    queued: Vec<Queued>,
    backoff: &Backoff,
    now: OffsetDateTime,
) -> Result<Vec<(String, Delivered)>, StoreError> {
    let mut done = Vec::new();
    let Some(channel) = channel else {
        let cause = Unconfigured(name.to_owned());
        for (key, _, _) in queued {
            done.push(park_alert(store, &key, backoff, &cause, now).await?);
        }
        return Ok(done);
    };
    let alerts: Vec<Alert> = queued.iter().map(|(_, _, a)| a.clone()).collect();
    let answers = match channel.post(&alerts).await {
        Err(error) if error.is_permanent() && alerts.len() > 1 => {
            let mut answers = Vec::new();
            for alert in &alerts {
                answers.push(channel.post(std::slice::from_ref(alert)).await);
            }
            answers
        }
        answer => vec![answer; alerts.len()],
    };
    for ((key, item, _), answer) in queued.into_iter().zip(answers) {
        match answer {
            Ok(()) => {
                store.delete_retry(&item.id).await?;
                done.push((item.id, Delivered::Sent));
            }
            Err(error) => {
                tracing::warn!(channel = %name, %error, "alert not posted");
                done.push(park_alert(store, &key, backoff, &error, now).await?);
            }
        }
    }
    tracing::info!(channel = %name, alerts = alerts.len(), "alerts delivered");
    Ok(done)
}

/// Parks an alert that did not go out, its payload kept.
async fn park_alert(
    store: &dyn SyncStore,
    key: &WorkKey,
    backoff: &Backoff,
    cause: &(impl Cause + ?Sized),
    now: OffsetDateTime,
) -> Result<(String, Delivered), StoreError> {
    let keep =
        |item: Option<&RetryItem>, _: &_| item.map(|i| i.payload.clone()).unwrap_or_default();
    let (item, verdict) = park(store, key, backoff, cause, now, keep).await?;
    Ok((item.id, parked(verdict.message, verdict.permanent)))
}

/// How long an alert left out of a full post waits.
const LATER: time::Duration = time::Duration::minutes(1);

fn parked(message: String, permanent: bool) -> Delivered {
    Delivered::Parked { message, permanent }
}

/// The alert items among `items` (the rest are other work).
pub fn is_alert(item: &RetryItem) -> bool {
    item.state == RetryState::Pending
        && matches!(WorkKey::parse(&item.id), Some(WorkKey::Alert { .. }))
}
