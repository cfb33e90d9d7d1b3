//! Webhook event dedupe: a row per key, claimable while absent or expired.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use time::OffsetDateTime;

use super::error::backend;
use crate::nanos;
use crate::port::StoreError;

/// How long (one hour, in nanoseconds) an expired row is kept before `record` sweeps it, like
/// DynamoDB's lazy TTL. Expired rows already count as unseen; the grace only keeps a caller whose
/// clock runs a little behind from seeing a sweep another caller made.
const SWEEP_GRACE_NS: i64 = 3600 * 1_000_000_000;

pub(super) fn record(
    conn: &mut Connection,
    key: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    const OP: &str = "record_event";
    let now_ns = nanos::of(now);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;
    let claimed = tx
        .prepare_cached(
            "INSERT INTO events (key, expires_ns) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET expires_ns = excluded.expires_ns
             WHERE events.expires_ns <= ?3",
        )
        .and_then(|mut statement| statement.execute(params![key, nanos::expiry(now, ttl), now_ns]))
        .map_err(backend(OP))?;
    let sweep_before = now_ns.saturating_sub(SWEEP_GRACE_NS);
    tx.prepare_cached("DELETE FROM events WHERE expires_ns <= ?1")
        .and_then(|mut statement| statement.execute([sweep_before]))
        .map_err(backend(OP))?;
    tx.commit().map_err(backend(OP))?;
    Ok(claimed == 1)
}

pub(super) fn forget(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM events WHERE key = ?1", [key])
        .map_err(backend("forget_event"))?;
    Ok(())
}
