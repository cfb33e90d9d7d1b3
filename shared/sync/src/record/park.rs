//! Parking: failed work kept as its retry item, for the retry scheduler or the operator.

use cosell_store::{RetryItem, RetryState, StoreError, SyncStore};
use serde_json::Value;
use time::OffsetDateTime;

use super::WorkKey;
use crate::backoff::Backoff;
use crate::intent::Intent;

/// What parking decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Dead: retrying cannot help, or the attempts are used up.
    pub permanent: bool,
    /// The problem as a sentence, with "(gave up after N attempts)" when the attempts ran out.
    pub message: String,
    /// Dead now, and not dead before (a first death, or one after a replay): what an alert
    /// is raised for, once.
    pub newly_dead: bool,
}

/// Why work failed, as parking needs it: a sentence for the item and the record, and whether
/// retrying the same can succeed.
pub(crate) trait Cause: std::fmt::Display {
    /// Retrying the same cannot succeed: the item goes dead at once.
    fn is_permanent(&self) -> bool;
}

/// Keeps failed work as the retry item `key`: one more attempt, due after the backoff — or dead
/// when the problem is permanent or the attempts are used up.
/// `payload` builds what the item holds from the item it replaces and the verdict. A create's
/// intent in the item it replaces is kept: that create may have reached Partner Center, and
/// without the intent the next attempt would post a second referral.
pub(crate) async fn park(
    store: &dyn SyncStore,
    key: &WorkKey,
    backoff: &Backoff,
    problem: &(impl Cause + ?Sized),
    now: OffsetDateTime,
    payload: impl FnOnce(Option<&RetryItem>, &Verdict) -> Value,
) -> Result<(RetryItem, Verdict), StoreError> {
    let id = key.to_string();
    // An unreadable earlier item counts as none: the work is kept either way.
    let previous = store.retry(&id).await.ok().flatten();
    let attempts = previous.as_ref().map_or(0, |item| item.attempts) + 1;
    let permanent = problem.is_permanent();
    let dead = permanent || backoff.exhausted(attempts);
    let mut message = problem.to_string();
    if dead && !permanent {
        message = format!("{message} (gave up after {attempts} attempts)");
    }
    let was_dead = previous
        .as_ref()
        .is_some_and(|item| item.state == RetryState::Dead);
    let verdict = Verdict {
        attempts,
        permanent: dead,
        message,
        newly_dead: dead && !was_dead,
    };
    let item = RetryItem {
        id,
        payload: payload(previous.as_ref(), &verdict),
        due_at: now + backoff.delay(attempts),
        attempts,
        last_error: Some(verdict.message.clone()),
        state: if dead {
            RetryState::Dead
        } else {
            RetryState::Pending
        },
    };
    let item = keeping_intent(item, previous.as_ref());
    store.put_retry(&item).await?;
    Ok((item, verdict))
}

/// Stores `item` over the one with its id, keeping the create intent that one held (see
/// [`park`]): for the items written outside it, such as a row parked until the seller's edit.
pub(crate) async fn put_keeping_intent(
    store: &dyn SyncStore,
    item: RetryItem,
) -> Result<RetryItem, StoreError> {
    let previous = store.retry(&item.id).await?;
    let item = keeping_intent(item, previous.as_ref());
    store.put_retry(&item).await?;
    Ok(item)
}

fn keeping_intent(item: RetryItem, previous: Option<&RetryItem>) -> RetryItem {
    RetryItem {
        payload: Intent::keep(item.payload, previous),
        ..item
    }
}
