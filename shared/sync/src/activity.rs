//! When each direction last wrote something, for `cosell status` and the operator: one store
//! cursor per direction (`last-sync:inbound`, `last-sync:outbound`) holding the time.
//!
//! Noting is best effort and never goes backwards: two syncs noting at once may lose one of
//! their writes, which is harmless since both are "just now".

use cosell_mapping::timestamp;
use cosell_store::{Cursor, StoreError, SyncStore};
use time::OffsetDateTime;

/// A sync direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Partner Center → Dataverse.
    Inbound,
    /// Dataverse → Partner Center.
    Outbound,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// The store cursor holding this direction's last sync.
    pub fn cursor(self) -> String {
        format!("last-sync:{}", self.as_str())
    }
}

/// Records that `direction` wrote something at `at`, unless a later time is already kept.
pub async fn note(store: &dyn SyncStore, direction: Direction, at: OffsetDateTime) {
    let name = direction.cursor();
    let result = async {
        let current = store.cursor(&name).await?;
        if current.as_ref().is_some_and(|c| c.updated_at >= at) {
            return Ok(());
        }
        let next = Cursor {
            name: name.clone(),
            value: timestamp::format(at),
            updated_at: at,
            version: current.map_or(0, |c| c.version),
        };
        store.put_cursor(&next).await.map(|_| ())
    }
    .await;
    match result {
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(error) => {
            tracing::warn!(%error, direction = direction.as_str(), "last sync time not noted")
        }
    }
}

/// When `direction` last wrote something, if ever.
pub async fn last(
    store: &dyn SyncStore,
    direction: Direction,
) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(store
        .cursor(&direction.cursor())
        .await?
        .map(|c| c.updated_at))
}
