//! Retry items: a row per id, listed by `(state, due_ns)` through the `retries_by_due` index.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::error::{backend, decode, encode};
use crate::model::{RetryItem, RetryState};
use crate::nanos;
use crate::port::StoreError;

fn state(state: RetryState) -> &'static str {
    match state {
        RetryState::Pending => "pending",
        RetryState::Dead => "dead",
    }
}

pub(super) fn put(conn: &Connection, item: &RetryItem) -> Result<(), StoreError> {
    const OP: &str = "put_retry";
    conn.execute(
        "INSERT INTO retries (id, state, due_ns, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE
         SET state = excluded.state, due_ns = excluded.due_ns, body = excluded.body",
        params![
            item.id,
            state(item.state),
            nanos::of(item.due_at),
            encode(item, OP)?
        ],
    )
    .map_err(backend(OP))?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<RetryItem>, StoreError> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM retries WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()
        .map_err(backend("retry"))?;
    body.map(|body| decode(format!("retry {id}"), &body))
        .transpose()
}

pub(super) fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM retries WHERE id = ?1", [id])
        .map_err(backend("delete_retry"))?;
    Ok(())
}

pub(super) fn due(
    conn: &Connection,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<RetryItem>, StoreError> {
    list(
        conn,
        RetryState::Pending,
        nanos::of(now),
        limit,
        "due_retries",
    )
}

pub(super) fn dead(conn: &Connection, limit: usize) -> Result<Vec<RetryItem>, StoreError> {
    list(conn, RetryState::Dead, i64::MAX, limit, "dead_retries")
}

fn list(
    conn: &Connection,
    wanted: RetryState,
    due_by: i64,
    limit: usize,
    operation: &'static str,
) -> Result<Vec<RetryItem>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT id, body FROM retries WHERE state = ?1 AND due_ns <= ?2
             ORDER BY due_ns, id LIMIT ?3",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![state(wanted), due_by, limit], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect()
        })
        .map_err(backend(operation))?;
    rows.into_iter()
        .map(|(id, body)| decode(format!("retry {id}"), &body))
        .collect()
}
