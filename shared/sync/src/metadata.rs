//! Discovery of the co-sell schema from Dataverse metadata: the help column's option values and
//! the solutions relationship ([`Discovered`]), cached in the store with its age. The scheduled
//! function refreshes it once a day; the others read the cache at start, beside their other
//! start-up work, and keep the settings when it is missing — discovery never makes a cold start
//! slower or failing.

use std::time::Duration;

use async_trait::async_trait;
use cosell_dataverse::{ChoiceOption, DataverseClient, DataverseError};
use cosell_mapping::CrmConfig;
use cosell_mapping::metadata::{Discovered, DiscoveredOption};
use cosell_store::{Cursor, StoreError, SyncStore};
use time::OffsetDateTime;

/// The store cursor holding the cached [`Discovered`] (JSON) and when it was read.
pub const CURSOR: &str = "metadata:opportunity";

/// How old the cache may grow before the scheduled function reads metadata again.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Table metadata: what [`DataverseClient`] reads from `EntityDefinitions`.
#[async_trait]
pub trait Schema: Send + Sync {
    async fn option_values(
        &self,
        table: &str,
        column: &str,
    ) -> Result<Vec<ChoiceOption>, DataverseError>;

    async fn navigations_to(&self, table: &str, other: &str)
    -> Result<Vec<String>, DataverseError>;

    async fn max_lengths(&self, table: &str) -> Result<Vec<(String, usize)>, DataverseError>;

    async fn choice_columns(&self, table: &str) -> Result<Vec<String>, DataverseError>;
}

#[async_trait]
impl Schema for DataverseClient {
    async fn option_values(
        &self,
        table: &str,
        column: &str,
    ) -> Result<Vec<ChoiceOption>, DataverseError> {
        DataverseClient::option_values(self, table, column).await
    }

    async fn navigations_to(
        &self,
        table: &str,
        other: &str,
    ) -> Result<Vec<String>, DataverseError> {
        DataverseClient::navigations_to(self, table, other).await
    }

    async fn max_lengths(&self, table: &str) -> Result<Vec<(String, usize)>, DataverseError> {
        DataverseClient::max_lengths(self, table).await
    }

    async fn choice_columns(&self, table: &str) -> Result<Vec<String>, DataverseError> {
        DataverseClient::choice_columns(self, table).await
    }
}

/// The tables whose column lengths the inbound sync fits its text to.
const WRITTEN_TABLES: [&str; 4] = ["opportunity", "account", "contact", "lead"];

/// Why metadata could not be discovered or kept.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("reading Dataverse metadata failed: {0}")]
    Read(#[from] DataverseError),
    #[error("the metadata cache failed: {0}")]
    Store(#[from] StoreError),
}

/// Reads the help column's options, the solutions relationship, the written tables' column
/// lengths and the options of the Services columns that are choices (twelve requests and one
/// per such column, once a day).
pub async fn discover(
    schema: &dyn Schema,
    config: &CrmConfig,
) -> Result<Discovered, MetadataError> {
    let options = schema
        .option_values("opportunity", &config.columns.help)
        .await?;
    let relationships = schema
        .navigations_to("opportunity", &config.solutions_table)
        .await?;
    let mut lengths = std::collections::BTreeMap::new();
    for table in WRITTEN_TABLES {
        for (column, max) in schema.max_lengths(table).await? {
            lengths.insert(format!("{table}.{column}"), max);
        }
    }
    let choices = schema.choice_columns("opportunity").await?;
    let mut services_choices = std::collections::BTreeMap::new();
    for (_, _, column) in config.services.fields() {
        let Some(column) = column.filter(|c| choices.iter().any(|choice| choice == c)) else {
            continue;
        };
        let options = schema.option_values("opportunity", column).await?;
        // The English label: Partner Center's taxonomy is English, a user's labels may not be.
        let options = options
            .into_iter()
            .map(|o| DiscoveredOption {
                value: o.value,
                label: o.english.or(o.label),
            })
            .collect();
        services_choices.insert(column.to_owned(), options);
    }
    Ok(Discovered {
        help_options: options
            .into_iter()
            .map(|o| DiscoveredOption {
                value: o.value,
                label: o.label,
            })
            .collect(),
        solutions_relationships: relationships,
        lengths,
        services_choices,
    })
}

/// The cached metadata and when it was read; `None` when there is none or it cannot be read
/// (logged: the settings then stand).
pub async fn cached(store: &dyn SyncStore) -> Option<(Discovered, OffsetDateTime)> {
    let cursor = match store.cursor(CURSOR).await {
        Ok(cursor) => cursor?,
        Err(error) => {
            tracing::warn!(%error, "metadata cache not read; using the settings");
            return None;
        }
    };
    match serde_json::from_str(&cursor.value) {
        Ok(discovered) => Some((discovered, cursor.updated_at)),
        Err(error) => {
            tracing::warn!(%error, "metadata cache unreadable; using the settings");
            None
        }
    }
}

/// The settings with the cached metadata laid over them, or as they are without a cache.
pub async fn configured(store: &dyn SyncStore, config: &CrmConfig) -> CrmConfig {
    let Some((discovered, read_at)) = cached(store).await else {
        return config.clone();
    };
    if let Some(found) = discovered.solutions_relationship(config) {
        tracing::info!(
            configured = %config.solutions.relationship,
            found,
            %read_at,
            "solutions relationship taken from metadata"
        );
    }
    discovered.apply(config)
}

/// What [`refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The cache is younger than [`MAX_AGE`].
    Fresh,
    /// Metadata was read and cached.
    Read(Discovered),
}

/// Reads metadata again when the cache is missing or older than [`MAX_AGE`]; a concurrent
/// refresh that wins leaves this one's read unstored, which is as good.
pub async fn refresh(
    store: &dyn SyncStore,
    schema: &dyn Schema,
    config: &CrmConfig,
    now: OffsetDateTime,
) -> Result<Refreshed, MetadataError> {
    let current = store.cursor(CURSOR).await?;
    if let Some(cursor) = &current
        && now - cursor.updated_at < MAX_AGE
    {
        return Ok(Refreshed::Fresh);
    }
    let discovered = discover(schema, config).await?;
    let cursor = Cursor {
        name: CURSOR.to_owned(),
        value: serde_json::to_string(&discovered).expect("plain data serialises"),
        updated_at: now,
        version: current.map_or(0, |c| c.version),
    };
    match store.put_cursor(&cursor).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(Refreshed::Read(discovered)),
        Err(error) => Err(error.into()),
    }
}
