//! When each direction last wrote something, for `cosell status` and the operator: one store
//! cursor per direction (`last-sync:inbound`, `last-sync:outbound`) holding the time; and when
//! the last Partner Center webhook arrived ([`LAST_WEBHOOK`]), for the `WebhookAge` metric.
//!
//! Noting is best effort and never goes backwards: two syncs noting at once may lose one of
//! their writes, which is harmless since both are "just now".

use cosell_mapping::timestamp;
use cosell_store::{Cursor, StoreError, SyncStore};
use time::OffsetDateTime;

/// A sync direction (not a referral's `direction`, [`cosell_mapping::Direction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncDirection {
    /// Partner Center → Dataverse.
    Inbound,
    /// Dataverse → Partner Center.
    Outbound,
}

impl SyncDirection {
    pub const ALL: [SyncDirection; 2] = [SyncDirection::Inbound, SyncDirection::Outbound];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncDirection::Inbound => "inbound",
            SyncDirection::Outbound => "outbound",
        }
    }

    /// The store cursor holding this direction's last sync.
    pub fn cursor(self) -> String {
        format!("last-sync:{}", self.as_str())
    }
}

/// The store cursor holding when the last verified Partner Center webhook arrived (the
/// `WebhookAge` metric and its alarm: Power Automate's silent failure is webhooks that stop).
pub const LAST_WEBHOOK: &str = "last-webhook:partner-center";

/// Records that `direction` wrote something at `at`, unless a later time is already kept.
pub async fn note(store: &dyn SyncStore, direction: SyncDirection, at: OffsetDateTime) {
    note_named(store, &direction.cursor(), at).await;
}

/// Records `at` under the cursor `name`, unless a later time is already kept. Best effort.
pub async fn note_named(store: &dyn SyncStore, name: &str, at: OffsetDateTime) {
    let name = name.to_owned();
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
            tracing::warn!(%error, cursor = %name, "time not noted")
        }
    }
}

/// When `direction` last wrote something, if ever.
pub async fn last(
    store: &dyn SyncStore,
    direction: SyncDirection,
) -> Result<Option<OffsetDateTime>, StoreError> {
    last_named(store, &direction.cursor()).await
}

/// The time noted under `name`, if any.
pub async fn last_named(
    store: &dyn SyncStore,
    name: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(store.cursor(name).await?.map(|c| c.updated_at))
}
