//! Store leases that a sync waits a little for: a concurrent sync of the same record usually
//! finishes within milliseconds, and waiting for it beats parking the work.

use std::time::{Duration, Instant};

use cosell_store::{StoreError, SyncStore};
use time::OffsetDateTime;

/// How often a held lease is tried again while waiting.
const POLL: Duration = Duration::from_millis(25);

/// Takes the lease `name` for `ttl`, trying again for up to `wait` while someone else holds it;
/// `false` if it is still held then.
///
/// A record's lease is taken on the wall clock, not on the time a run began: a change-feed
/// page or a retry run can be minutes old by the time it reaches a record, and a lease stamped
/// with its start would be expired as it was taken — no lease at all (the chaos suite's
/// duplicate referrals).
pub async fn acquire_waiting(
    store: &dyn SyncStore,
    name: &str,
    owner: &str,
    ttl: Duration,
    wait: Duration,
) -> Result<bool, StoreError> {
    let started = Instant::now();
    loop {
        if store
            .acquire_lease(name, owner, OffsetDateTime::now_utc(), ttl)
            .await?
        {
            return Ok(true);
        }
        if started.elapsed() >= wait {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}
