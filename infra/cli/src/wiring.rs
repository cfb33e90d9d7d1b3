//! The commands that act on the sync state outside `serve` (`status`, `replay`, `backfill`)
//! build what they need here, from the same settings the functions read.

use std::sync::Arc;

use cosell_dataverse::DataverseClient;
use cosell_partner_center::PartnerCenter;
use cosell_runtime::{Jobs, Runtime, StoreSource};
use cosell_store::SyncStore;
use cosell_transport::RateLimit;

use crate::config::Config;

/// The scheduled jobs (and the use cases under them) over the configured services.
pub struct Wired {
    pub jobs: Jobs,
    pub partner_center: PartnerCenter,
    pub dataverse: DataverseClient,
}

/// Starts the runtime as a function does, from the same settings; `dataverse_rate` caps the
/// Dataverse client's requests per second.
pub async fn wire(config: &Config, dataverse_rate: Option<RateLimit>) -> anyhow::Result<Wired> {
    let mut settings = config.runtime()?;
    settings.dataverse_rate_limit = dataverse_rate;
    let runtime = Runtime::start(settings).await?;
    Ok(Wired {
        jobs: runtime.jobs(),
        partner_center: runtime.partner_center,
        dataverse: runtime.dataverse,
    })
}

/// The store alone: reading the sync state needs no credentials.
pub async fn store(config: &Config) -> anyhow::Result<Arc<dyn SyncStore>> {
    let source = config.runtime()?.store;
    let aws = match source {
        StoreSource::DynamoDb { .. } => {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        }
        StoreSource::Sqlite { .. } => None,
    };
    Ok(cosell_runtime::open_store(&source, aws.as_ref())?)
}

/// The store a read-only command looks at. One that does not exist is an error, not a new empty
/// database: a typo in `COSELL_SQLITE_PATH` would otherwise read as "nothing synced yet".
pub async fn existing_store(config: &Config) -> anyhow::Result<Arc<dyn SyncStore>> {
    if let StoreSource::Sqlite { path } = &config.runtime()?.store
        && !path.exists()
    {
        anyhow::bail!(
            "there is no sync state at {}: no such file (serve, the sandbox and backfill create \
             it); check COSELL_SQLITE_PATH",
            path.display()
        );
    }
    store(config).await
}
