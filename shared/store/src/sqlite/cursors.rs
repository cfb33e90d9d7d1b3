//! Cursors: a row per stream, written only over the version the writer read.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::error::{backend, decode, encode, version};
use crate::model::Cursor;
use crate::port::StoreError;

pub(super) fn get(conn: &Connection, name: &str) -> Result<Option<Cursor>, StoreError> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM cursors WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(backend("cursor"))?;
    body.map(|body| decode(format!("cursor {name}"), &body))
        .transpose()
}

pub(super) fn put(conn: &mut Connection, cursor: &Cursor) -> Result<Cursor, StoreError> {
    const OP: &str = "put_cursor";
    let stored = Cursor {
        version: cursor.version + 1,
        ..cursor.clone()
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;
    let current: Option<i64> = tx
        .query_row(
            "SELECT version FROM cursors WHERE name = ?1",
            [&cursor.name],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend(OP))?;
    if current.unwrap_or(0) != version(cursor.version, OP)? {
        return Err(StoreError::Conflict {
            what: format!("cursor {}", cursor.name),
        });
    }
    tx.execute(
        "INSERT INTO cursors (name, version, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, body = excluded.body",
        params![
            stored.name,
            version(stored.version, OP)?,
            encode(&stored, OP)?
        ],
    )
    .map_err(backend(OP))?;
    tx.commit().map_err(backend(OP))?;
    Ok(stored)
}
