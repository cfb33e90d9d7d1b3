//! Store leases that a sync waits a little for: a concurrent sync of the same record usually
//! finishes within milliseconds, and waiting for it beats parking the work.

use std::time::{Duration, Instant};

use cosell_store::{StoreError, SyncStore};
use time::OffsetDateTime;

/// How often a held lease is tried again while waiting.
const POLL: Duration = Duration::from_millis(25);

/// Takes the lease `name` for `ttl`, trying again for up to `wait` while someone else holds it;
/// `false` if it is still held then. `now` is the caller's clock at the start; time spent
/// waiting is added to it.
pub async fn acquire_waiting(
    store: &dyn SyncStore,
    name: &str,
    owner: &str,
    now: OffsetDateTime,
    ttl: Duration,
    wait: Duration,
) -> Result<bool, StoreError> {
    let started = Instant::now();
    loop {
        if store
            .acquire_lease(name, owner, now + started.elapsed(), ttl)
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
