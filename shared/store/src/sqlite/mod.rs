//! The SQLite adapter: one file (or memory) with a table per record kind, the default for local
//! runs. Same semantics as the DynamoDB adapter, checked by the same contract tests.
//!
//! | table | key | what makes races safe |
//! |---|---|---|
//! | `links` | `referral_id`; `crm_id` UNIQUE | version checked and row written in one `BEGIN IMMEDIATE` transaction |
//! | `cursors` | `name` | as links |
//! | `events` | `key` | one upsert that overwrites only an expired row or a passed hold (`held_until_ns`) |
//! | `retries` | `id`; index `(state, due_ns)` | plain upsert: the id is the identity |
//! | `leases` | `name` | one upsert that overwrites only a free, expired or own lease |
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool and takes the one
//! connection's mutex; a file opened by several processes is shared through WAL and a busy
//! timeout, and write transactions take the write lock up front (`IMMEDIATE`) so two processes
//! cannot both read a version and then both write.

mod cursors;
mod error;
mod events;
mod leases;
mod links;
mod migrate;
mod retries;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use time::OffsetDateTime;

use crate::model::{CrmId, Cursor, Link, ReferralId, RetryItem};
use crate::port::{EventClaim, StoreError, SyncStore};
use error::backend;

pub use migrate::SCHEMA_VERSION;

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// [`SyncStore`] on an embedded SQLite database. Cheap to clone (one shared connection).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    /// Blocks briefly: call it at start-up.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        const OP: &str = "open";
        let conn = Connection::open(path.as_ref()).map_err(|e| StoreError::Backend {
            operation: OP,
            message: format!("{}: {e}", path.as_ref().display()),
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend(OP))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend(OP))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                mode,
                "SQLite did not switch to WAL; concurrent readers will wait"
            );
        }
        // Safe with WAL (a power cut may lose the last commits, never corrupt), and much faster.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend(OP))?;
        Self::with(conn)
    }

    /// A private database that lives as long as the store (tests, previews).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with(Connection::open_in_memory().map_err(backend("open"))?)
    }

    fn with(mut conn: Connection) -> Result<Self, StoreError> {
        migrate::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic mid-call leaves no open transaction (rusqlite rolls back on drop), so a
            // poisoned mutex still guards a usable connection.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend {
            operation,
            message: format!("the blocking task failed: {e}"),
        })?
    }
}

#[async_trait]
impl SyncStore for SqliteStore {
    async fn record_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.run("record_event", move |c| events::record(c, &key, now, ttl))
            .await
    }

    async fn claim_event(
        &self,
        key: &str,
        now: OffsetDateTime,
        hold: Duration,
        ttl: Duration,
    ) -> Result<EventClaim, StoreError> {
        let key = key.to_owned();
        self.run("claim_event", move |c| {
            events::claim(c, &key, now, hold, ttl)
        })
        .await
    }

    async fn finish_event(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run("finish_event", move |c| events::finish(c, &key))
            .await
    }

    async fn forget_event(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run("forget_event", move |c| events::forget(c, &key))
            .await
    }

    async fn link_by_referral(&self, referral_id: &ReferralId) -> Result<Option<Link>, StoreError> {
        let id = referral_id.clone();
        self.run("link_by_referral", move |c| links::by_referral(c, &id))
            .await
    }

    async fn link_by_crm(&self, crm_id: CrmId) -> Result<Option<Link>, StoreError> {
        self.run("link_by_crm", move |c| links::by_crm(c, crm_id))
            .await
    }

    async fn put_link(&self, link: &Link) -> Result<Link, StoreError> {
        let link = link.clone();
        self.run("put_link", move |c| links::put(c, &link)).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<Cursor>, StoreError> {
        let name = name.to_owned();
        self.run("cursor", move |c| cursors::get(c, &name)).await
    }

    async fn put_cursor(&self, cursor: &Cursor) -> Result<Cursor, StoreError> {
        let cursor = cursor.clone();
        self.run("put_cursor", move |c| cursors::put(c, &cursor))
            .await
    }

    async fn put_retry(&self, item: &RetryItem) -> Result<(), StoreError> {
        let item = item.clone();
        self.run("put_retry", move |c| retries::put(c, &item)).await
    }

    async fn retry(&self, id: &str) -> Result<Option<RetryItem>, StoreError> {
        let id = id.to_owned();
        self.run("retry", move |c| retries::get(c, &id)).await
    }

    async fn due_retries(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<RetryItem>, StoreError> {
        self.run("due_retries", move |c| retries::due(c, now, limit))
            .await
    }

    async fn dead_retries(&self, limit: usize) -> Result<Vec<RetryItem>, StoreError> {
        self.run("dead_retries", move |c| retries::dead(c, limit))
            .await
    }

    async fn delete_retry(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run("delete_retry", move |c| retries::delete(c, &id))
            .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.run("acquire_lease", move |c| {
            leases::acquire(c, &name, &owner, now, ttl)
        })
        .await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.run("release_lease", move |c| leases::release(c, &name, &owner))
            .await
    }
}
