//! The DynamoDB adapter: everything in one table keyed by string `pk` and `sk`, for Lambda.
//!
//! Each record kind has its own `pk` prefix, so kinds never collide and a reader of the table can
//! tell items apart; `sk` repeats the kind (the table's schema requires a sort key, and no record
//! needs more than one item per `pk`).
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | link | `link#<referral id>` | `link` | `version` N, `crm_id` S, `body` S (the [`Link`] as JSON) |
//! | CRM claim | `crm#<crm id>` | `crm` | `referral_id` S, `body` S (copy of the link) |
//! | cursor | `cursor#<name>` | `cursor` | `version` N, `write_token` S, `body` S (the [`Cursor`] as JSON) |
//! | event | `event#<key>` | `event` | `expires_ns` N, `expires_at` N (TTL), `write_token` S |
//! | retry | `retry#<id>` | `retry` | `queue` S (`pending`/`dead`), `due_ns` N, `body` S (the [`RetryItem`] as JSON) |
//! | lease | `lease#<name>` | `lease` | `owner` S, `expires_ns` N, `expires_at` N (TTL) |
//!
//! - A link and its CRM claim are written in one `TransactWriteItems`: the link conditioned on its
//!   version, the claim on being free or already this referral's, and a claim the link no longer
//!   uses deleted. So a CRM id can never belong to two referrals, and `link_by_crm` is one read.
//! - `*_ns` attributes are nanoseconds since the epoch (see `crate::nanos`); they are what the
//!   conditions compare. `expires_at` (epoch seconds, rounded up) only feeds DynamoDB's TTL
//!   sweeper, which deletes lazily, which is why expiry is checked in the conditions too.
//! - Due and dead retries come from the sparse GSI [`RETRY_INDEX`] (`queue` HASH,
//!   `due_ns` RANGE, projection ALL): only retry items carry `queue`, and a retry moves between
//!   the `pending` and `dead` partitions when its state changes, so neither list needs a scan.
//!   GSI reads are eventually consistent: a retry written a moment ago may show up a moment late.
//! - `write_token` makes a single conditional put safe to retry: the SDK retries a request whose
//!   answer was lost, and without the token the retry would fail the condition its own first
//!   attempt satisfied (a recorded event would come back as a duplicate and be dropped).
//!   Transactions get the same protection from a `ClientRequestToken`.

mod attrs;
mod cursors;
mod error;
mod events;
mod leases;
mod links;
mod retries;
mod schema;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use crate::model::{CrmId, Cursor, Link, ReferralId, RetryItem};
use crate::port::{EventClaim, StoreError, SyncStore};

pub use schema::{RETRY_DUE, RETRY_INDEX, RETRY_QUEUE, TTL_ATTRIBUTE, create_table};

/// [`SyncStore`] on one DynamoDB table (schema: [`create_table`], or `template.yaml`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`, which must already exist with the schema [`create_table`] makes.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl SyncStore for DynamoStore {
    async fn record_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        events::record(self, key, now, ttl).await
    }

    async fn claim_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        hold: Duration,
        ttl: Duration,
    ) -> Result<EventClaim, StoreError> {
        events::claim(self, key, now, hold, ttl).await
    }

    async fn finish_event(&self, key: &str) -> Result<(), StoreError> {
        events::finish(self, key).await
    }

    async fn forget_event(&self, key: &str) -> Result<(), StoreError> {
        events::forget(self, key).await
    }

    async fn link_by_referral(&self, referral_id: &ReferralId) -> Result<Option<Link>, StoreError> {
        links::by_referral(self, referral_id, "link_by_referral").await
    }

    async fn link_by_crm(&self, crm_id: CrmId) -> Result<Option<Link>, StoreError> {
        links::by_crm(self, crm_id).await
    }

    async fn put_link(&self, link: &Link) -> Result<Link, StoreError> {
        links::put(self, link).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<Cursor>, StoreError> {
        cursors::get(self, name).await
    }

    async fn put_cursor(&self, cursor: &Cursor) -> Result<Cursor, StoreError> {
        cursors::put(self, cursor).await
    }

    async fn put_retry(&self, item: &RetryItem) -> Result<(), StoreError> {
        retries::put(self, item).await
    }

    async fn retry(&self, id: &str) -> Result<Option<RetryItem>, StoreError> {
        retries::get(self, id).await
    }

    async fn due_retries(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<RetryItem>, StoreError> {
        retries::due(self, now, limit).await
    }

    async fn dead_retries(&self, limit: usize) -> Result<Vec<RetryItem>, StoreError> {
        retries::dead(self, limit).await
    }

    async fn delete_retry(&self, id: &str) -> Result<(), StoreError> {
        retries::delete(self, id).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        leases::acquire(self, name, owner, now, ttl).await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        leases::release(self, name, owner).await
    }
}
