//! Brings a database file to the schema this build knows, in one transaction, and refuses a file
//! written by a newer build rather than misreading it.

use rusqlite::{Connection, TransactionBehavior};

use super::error::backend;
use crate::port::StoreError;

const SCHEMA: &str = include_str!("schema.sql");
/// The `PRAGMA user_version` that `schema.sql` produces.
pub const SCHEMA_VERSION: i64 = 2;

/// What brings a file of each older version one version up. Version 2: an event can be claimed
/// and not yet done; rows from version 1 had no such state and read as done (NULL).
const UPGRADES: &[(i64, &str)] = &[(1, "ALTER TABLE events ADD COLUMN held_until_ns INTEGER;")];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    const OP: &str = "migrate";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend(OP))?;
    match found {
        0 => {
            tx.execute_batch(SCHEMA).map_err(backend(OP))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(backend(OP))?;
            tracing::info!(version = SCHEMA_VERSION, "created the sync state schema");
        }
        SCHEMA_VERSION => {}
        older if older < SCHEMA_VERSION => {
            for (from, sql) in UPGRADES.iter().filter(|(from, _)| *from >= older) {
                tx.execute_batch(sql).map_err(backend(OP))?;
                tracing::info!(from, to = from + 1, "upgraded the sync state schema");
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(backend(OP))?;
        }
        other => {
            return Err(StoreError::Backend {
                operation: OP,
                message: format!(
                    "the database has schema version {other}, this build knows only up to \
                     {SCHEMA_VERSION}: use a newer cosell or another file"
                ),
            });
        }
    }
    tx.commit().map_err(backend(OP))
}
