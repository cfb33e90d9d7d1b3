//! Leases: a row per name; one upsert takes it only if free, expired or already the caller's.

use std::time::Duration;

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::error::backend;
use crate::nanos;
use crate::port::StoreError;

pub(super) fn acquire(
    conn: &Connection,
    name: &str,
    owner: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let taken = conn
        .execute(
            "INSERT INTO leases (name, owner, expires_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_ns = excluded.expires_ns
             WHERE leases.owner = excluded.owner OR leases.expires_ns <= ?4",
            params![name, owner, nanos::expiry(now, ttl), nanos::of(now)],
        )
        .map_err(backend("acquire_lease"))?;
    Ok(taken == 1)
}

pub(super) fn release(conn: &Connection, name: &str, owner: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
        [name, owner],
    )
    .map_err(backend("release_lease"))?;
    Ok(())
}
