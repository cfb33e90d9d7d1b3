//! Store leases: a deal's record leases, taken in one order, and the leases of scheduled jobs.
//!
//! A record's lease is taken on the wall clock, not on the time a run began: a change-feed page
//! or a retry run can be minutes old by the time it reaches a record, and a lease stamped with
//! its start would be expired as it was taken — no lease at all (the chaos suite's duplicate
//! referrals).

use std::future::Future;
use std::time::{Duration, Instant};

use cosell_store::{StoreError, SyncStore};
use time::OffsetDateTime;
use uuid::Uuid;

use super::WorkKey;

/// How often a held lease is tried again while waiting.
const POLL: Duration = Duration::from_millis(25);

/// Why a deal's leases were not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    /// Another sync held one of them for longer than the wait.
    #[error("another sync of this deal did not finish in time")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether taking a lease kept the ones already held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Held throughout: what was read under them still holds.
    Kept,
    /// The new lease comes earlier in the deal order, so every lease was given up and taken
    /// again in order: read again what was read under them.
    Retaken,
}

/// The record leases one sync holds on a deal. Both directions take them in one order —
/// [`WorkKey::deal_order`]: the opportunity's, then the referral's — so neither ever waits for a
/// lease while holding one the other waits for. Release with [`DealLock::release`].
pub(crate) struct DealLock<'a> {
    store: &'a dyn SyncStore,
    owner: String,
    ttl: Duration,
    wait: Duration,
    held: Vec<WorkKey>,
}

impl<'a> DealLock<'a> {
    /// No lease held yet; each is held for `ttl` and waited for up to `wait`.
    pub fn new(store: &'a dyn SyncStore, ttl: Duration, wait: Duration) -> Self {
        Self {
            store,
            owner: Uuid::new_v4().to_string(),
            ttl,
            wait,
            held: Vec::new(),
        }
    }

    pub fn holds(&self, key: &WorkKey) -> bool {
        self.held.contains(key)
    }

    /// Takes `key`'s lease too. One that comes before a held one in the deal order cannot be
    /// waited for while holding that one: every lease is then released and all are taken again,
    /// in order ([`Taken::Retaken`]).
    pub async fn take(&mut self, key: WorkKey) -> Result<Taken, LockError> {
        if self.holds(&key) {
            return Ok(Taken::Kept);
        }
        let in_order = self
            .held
            .iter()
            .all(|held| held.deal_order() <= key.deal_order());
        if in_order {
            self.acquire(&key).await?;
            self.held.push(key);
            return Ok(Taken::Kept);
        }
        let mut keys = std::mem::take(&mut self.held);
        self.release_all(&keys).await;
        keys.push(key);
        keys.sort_by_key(WorkKey::deal_order);
        for key in keys {
            self.acquire(&key).await?;
            self.held.push(key);
        }
        Ok(Taken::Retaken)
    }

    /// Renews every held lease for another `ttl` (before a step that must not run twice, such
    /// as a create's `POST`); [`LockError::Busy`] when one expired and another sync took it.
    pub async fn renew(&self) -> Result<(), LockError> {
        for key in &self.held {
            let name = key.to_string();
            let now = OffsetDateTime::now_utc();
            if !self
                .store
                .acquire_lease(&name, &self.owner, now, self.ttl)
                .await?
            {
                return Err(LockError::Busy);
            }
        }
        Ok(())
    }

    /// Gives every lease up, the last taken first.
    pub async fn release(mut self) {
        let held = std::mem::take(&mut self.held);
        self.release_all(&held).await;
    }

    async fn acquire(&self, key: &WorkKey) -> Result<(), LockError> {
        let name = key.to_string();
        let started = Instant::now();
        loop {
            let now = OffsetDateTime::now_utc();
            if self
                .store
                .acquire_lease(&name, &self.owner, now, self.ttl)
                .await?
            {
                return Ok(());
            }
            if started.elapsed() >= self.wait {
                return Err(LockError::Busy);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn release_all(&self, keys: &[WorkKey]) {
        for key in keys.iter().rev() {
            let name = key.to_string();
            if let Err(error) = self.store.release_lease(&name, &self.owner).await {
                tracing::warn!(%error, lease = %name, "lease not released; it expires on its own");
            }
        }
    }
}

/// Runs `job` holding the scheduled job's lease `name` (taken at `now` for `ttl`), so two runs
/// never work together; `None`, without running it, while another run holds it.
pub(crate) async fn with_lease<T, E>(
    store: &dyn SyncStore,
    name: &str,
    now: OffsetDateTime,
    ttl: Duration,
    job: impl Future<Output = Result<T, E>>,
) -> Result<Option<T>, E>
where
    E: From<StoreError>,
{
    let owner = Uuid::new_v4().to_string();
    if !store.acquire_lease(name, &owner, now, ttl).await? {
        tracing::info!(lease = name, "another run holds the lease; nothing to do");
        return Ok(None);
    }
    let result = job.await;
    if let Err(error) = store.release_lease(name, &owner).await {
        tracing::warn!(%error, lease = name, "lease not released; it expires on its own");
    }
    result.map(Some)
}
