//! Where the mapping document lives beside the sync state, for documents too large for the
//! functions' environment (4 KB in all): the store cursor [`CURSOR`], written by
//! `cosell mapping push`, read by every process at start ([`resolve`]).
//!
//! A deploy names the version it runs (`COSELL_MAPPING_VERSION`, the template's `MappingVersion`):
//! changing it changes the functions' configuration, so Lambda starts fresh execution
//! environments that read the document again, and a start fails — naming the fix — while the
//! store holds an older one. Between a push and the deploy, a fresh start may read the newer
//! document while a warm one keeps the older: the sync then leaves a link's mapped fields to the
//! newer process (see `DealState::mapping_version`), so two versions never undo each other.

use cosell_mapping::ConfigError;
use cosell_mapping::custom::Mapping;
use cosell_store::{Cursor, StoreError, SyncStore};
use time::OffsetDateTime;

/// The store cursor holding the mapping document (JSON) and when it was pushed.
pub const CURSOR: &str = "mapping:document";

#[derive(Debug, thiserror::Error)]
pub enum MappingStoreError {
    #[error("the mapping store failed: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the stored mapping document does not read: {0}; push a valid one with `cosell mapping push`"
    )]
    Unreadable(ConfigError),
    #[error(
        "this deploy runs mapping version {required}, and the store holds {}: run `cosell mapping push` with version {required}",
        .stored.map_or_else(|| "none".to_owned(), |v| format!("version {v}"))
    )]
    Behind { stored: Option<u64>, required: u64 },
    #[error(
        "the store already holds mapping version {stored}; raise `version` above it to push a change"
    )]
    NotNewer { stored: u64, pushed: u64 },
}

/// The stored document, if any.
pub async fn stored(store: &dyn SyncStore) -> Result<Option<Mapping>, MappingStoreError> {
    let Some(cursor) = store.cursor(CURSOR).await? else {
        return Ok(None);
    };
    Mapping::parse(&cursor.value)
        .map(Some)
        .map_err(MappingStoreError::Unreadable)
}

/// The document a process runs: the stored one when it is newer than the one the settings
/// carry (`COSELL_MAPPING`), else the settings'. With `required` (`COSELL_MAPPING_VERSION`), the
/// result must be at least that version.
pub async fn resolve(
    store: &dyn SyncStore,
    configured: &Mapping,
    required: Option<u64>,
) -> Result<Option<Mapping>, MappingStoreError> {
    let stored = stored(store).await?;
    let stored_version = stored.as_ref().map(|m| m.version);
    let chosen = stored.filter(|s| s.version > configured.version);
    let running = chosen.as_ref().map_or(configured.version, |m| m.version);
    if let Some(required) = required
        && running < required
    {
        return Err(MappingStoreError::Behind {
            stored: stored_version,
            required,
        });
    }
    Ok(chosen)
}

/// What [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Stored; the version it replaced.
    Stored { replaced: Option<u64> },
    /// The store holds this very document already.
    Same,
}

/// Stores `mapping` if its version is above the stored one (the same document again is a no-op).
pub async fn push(
    store: &dyn SyncStore,
    mapping: &Mapping,
    now: OffsetDateTime,
) -> Result<Pushed, MappingStoreError> {
    let current = store.cursor(CURSOR).await?;
    let before = match &current {
        Some(cursor) => Some(Mapping::parse(&cursor.value).map_err(MappingStoreError::Unreadable)?),
        None => None,
    };
    if let Some(before) = &before {
        if before == mapping {
            return Ok(Pushed::Same);
        }
        if mapping.version <= before.version {
            return Err(MappingStoreError::NotNewer {
                stored: before.version,
                pushed: mapping.version,
            });
        }
    }
    let cursor = Cursor {
        name: CURSOR.to_owned(),
        value: mapping.to_json(),
        updated_at: now,
        version: current.map_or(0, |c| c.version),
    };
    store.put_cursor(&cursor).await?;
    Ok(Pushed::Stored {
        replaced: before.map(|m| m.version),
    })
}
