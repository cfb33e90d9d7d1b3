use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{CrmId, Cursor, Link, ReferralId, RetryItem};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost to another writer: re-read and decide again.
    #[error("{what} was changed by another writer")]
    Conflict { what: String },
    /// The backing store failed or could not be reached.
    #[error("store {operation}: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    /// A stored item that does not read back as what was written.
    #[error("store item {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

/// What [`SyncStore::claim_event`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClaim {
    /// Never seen, expired, or claimed by a handler whose hold has passed (it died): handle it.
    Claimed,
    /// Handled: its outcome is durable. A redelivery is a duplicate.
    Done,
    /// Another handler holds it until `until`: neither done nor free. Ask for a redelivery.
    InFlight { until: OffsetDateTime },
}

/// The sync state port. Every method is one atomic step; writes that two invocations could race
/// on are conditional and fail with [`StoreError::Conflict`] rather than overwrite.
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Records a webhook delivery as done at once; `true` the first time a key is seen, `false`
    /// for a duplicate. A key recorded `ttl` or longer before `now` counts as unseen again (the
    /// row may still exist: DynamoDB's TTL deletes lazily), and so does one claimed whose hold
    /// has passed ([`Self::claim_event`]). A duplicate does not extend the first record.
    async fn record_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Claims a webhook delivery for handling until `hold` has passed (the invocation's end).
    /// Unlike [`Self::record_event`] the key is not done yet: it is [`EventClaim::Done`] only once
    /// [`Self::finish_event`] says the outcome is durable, so a handler that dies mid-sync leaves
    /// a claim that a redelivery after `hold` takes over. A row stored by `record_event` (and
    /// every event row written before claims existed) reads as done. The row lives `ttl`.
    async fn claim_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        hold: Duration,
        ttl: Duration,
    ) -> Result<EventClaim, StoreError>;

    /// Marks a claimed delivery done: its outcome (synced, or a stored retry item) is durable,
    /// and a redelivery is a duplicate. Finishing a key that is gone is not an error.
    async fn finish_event(&self, key: &str) -> Result<(), StoreError>;

    /// Forgets a recorded event, so a delivery whose handling failed before anything durable was
    /// kept can be accepted again when Partner Center redelivers it.
    async fn forget_event(&self, key: &str) -> Result<(), StoreError>;

    async fn link_by_referral(&self, referral_id: &ReferralId) -> Result<Option<Link>, StoreError>;

    async fn link_by_crm(&self, crm_id: CrmId) -> Result<Option<Link>, StoreError>;

    /// Stores `link` if the stored version is still `link.version` (0: none stored yet), and
    /// returns it with its new version. A referral has at most one link, and so has a CRM id.
    async fn put_link(&self, link: &Link) -> Result<Link, StoreError>;

    async fn cursor(&self, name: &str) -> Result<Option<Cursor>, StoreError>;

    /// Stores `cursor` if the stored version is still `cursor.version`; returns it with its new
    /// version.
    async fn put_cursor(&self, cursor: &Cursor) -> Result<Cursor, StoreError>;

    /// Inserts or replaces the retry item with this id.
    async fn put_retry(&self, item: &RetryItem) -> Result<(), StoreError>;

    async fn retry(&self, id: &str) -> Result<Option<RetryItem>, StoreError>;

    /// Pending items due at or before `now`, earliest first, at most `limit`.
    async fn due_retries(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<RetryItem>, StoreError>;

    /// Dead items, for the operator and `replay`.
    async fn dead_retries(&self, limit: usize) -> Result<Vec<RetryItem>, StoreError>;

    /// Removes an item (done, or replayed). Removing a missing item is not an error.
    async fn delete_retry(&self, id: &str) -> Result<(), StoreError>;

    /// Takes the named lease for `ttl` if it is free, expired (taken `ttl` or longer before
    /// `now`), or already `owner`'s, which renews it; `false` if someone else holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `owner` holds it; otherwise does nothing.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;
}
