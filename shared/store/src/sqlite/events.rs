//! Webhook event dedupe: a row per key, claimable while absent, expired, or held by a handler
//! whose hold has passed (`held_until_ns`; NULL once done).

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use time::OffsetDateTime;

use super::error::backend;
use crate::nanos;
use crate::port::{EventClaim, StoreError};

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
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;
    let recorded = put(&tx, key, now, ttl, None, OP)?;
    sweep(&tx, nanos::of(now), OP)?;
    tx.commit().map_err(backend(OP))?;
    Ok(recorded)
}

pub(super) fn claim(
    conn: &mut Connection,
    key: &str,
    now: OffsetDateTime,
    hold: Duration,
    ttl: Duration,
) -> Result<EventClaim, StoreError> {
    const OP: &str = "claim_event";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;
    let found = if put(&tx, key, now, ttl, Some(hold), OP)? {
        EventClaim::Claimed
    } else {
        let held: Option<i64> = tx
            .query_row(
                "SELECT held_until_ns FROM events WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .map_err(backend(OP))?;
        match held {
            None => EventClaim::Done,
            Some(until) => EventClaim::InFlight {
                until: nanos::to_time(until),
            },
        }
    };
    sweep(&tx, nanos::of(now), OP)?;
    tx.commit().map_err(backend(OP))?;
    Ok(found)
}

/// Writes the event's row — done (`hold` `None`), or held until `hold` has passed — if the key
/// is free: absent, expired, or held by a handler whose hold has passed. `false` when it is not.
fn put(
    tx: &rusqlite::Transaction,
    key: &str,
    now: OffsetDateTime,
    ttl: Duration,
    hold: Option<Duration>,
    op: &'static str,
) -> Result<bool, StoreError> {
    let held = hold.map(|hold| nanos::expiry(now, hold));
    let written = tx
        .prepare_cached(
            "INSERT INTO events (key, expires_ns, held_until_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE
               SET expires_ns = excluded.expires_ns, held_until_ns = excluded.held_until_ns
             WHERE events.expires_ns <= ?4 OR events.held_until_ns <= ?4",
        )
        .and_then(|mut statement| {
            statement.execute(params![key, nanos::expiry(now, ttl), held, nanos::of(now)])
        })
        .map_err(backend(op))?;
    Ok(written == 1)
}

pub(super) fn finish(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE events SET held_until_ns = NULL WHERE key = ?1",
        [key],
    )
    .map_err(backend("finish_event"))?;
    Ok(())
}

/// Deletes rows expired longer than the grace.
fn sweep(tx: &rusqlite::Transaction, now_ns: i64, op: &'static str) -> Result<(), StoreError> {
    let sweep_before = now_ns.saturating_sub(SWEEP_GRACE_NS);
    tx.prepare_cached("DELETE FROM events WHERE expires_ns <= ?1")
        .and_then(|mut statement| statement.execute([sweep_before]))
        .map_err(backend(op))?;
    Ok(())
}

pub(super) fn forget(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM events WHERE key = ?1", [key])
        .map_err(backend("forget_event"))?;
    Ok(())
}
