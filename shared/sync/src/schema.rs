//! Which co-sell schema the environment has ([`Schema`]), as `cosell setup` records it in the
//! store cursor [`CURSOR`]; every process reads it at start, beside the credentials. No record
//! (a deployment set up before cosell could create its own schema): Microsoft's, as before. A
//! record that cannot be read stops the start: a process never guesses which columns to write.

use cosell_mapping::schema::Schema;
use cosell_store::{Cursor, StoreError, SyncStore};
use time::OffsetDateTime;

/// The store cursor naming the schema in use (`microsoft` or `cosell`).
pub const CURSOR: &str = "schema:in-use";

#[derive(Debug, thiserror::Error)]
pub enum SchemaStoreError {
    #[error(
        "the schema record could not be read: {0}; a process cannot tell which columns to write"
    )]
    Store(#[from] StoreError),
    #[error(
        "the schema record says '{0}', which this version does not know: run `cosell setup` with this version"
    )]
    Unknown(String),
}

/// The recorded schema; Microsoft's when none is recorded.
pub async fn in_use(store: &dyn SyncStore) -> Result<Schema, SchemaStoreError> {
    match store.cursor(CURSOR).await? {
        None => Ok(Schema::Microsoft),
        Some(cursor) => Schema::parse(&cursor.value).ok_or(SchemaStoreError::Unknown(cursor.value)),
    }
}

/// Records `schema`; `true` when that changed the record.
pub async fn record(
    store: &dyn SyncStore,
    schema: Schema,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let current = store.cursor(CURSOR).await?;
    if current.as_ref().is_some_and(|c| c.value == schema.as_str()) {
        return Ok(false);
    }
    store
        .put_cursor(&Cursor {
            name: CURSOR.to_owned(),
            value: schema.as_str().to_owned(),
            updated_at: now,
            version: current.map_or(0, |c| c.version),
        })
        .await?;
    Ok(true)
}
