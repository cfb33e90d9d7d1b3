//! The commands that act on the sync state outside `serve` (`status`, `replay`, `backfill`)
//! build what they need here, from the same settings the functions read.

use std::sync::Arc;

use cosell_dataverse::DataverseClient;
use cosell_partner_center::PartnerCenter;
use cosell_runtime::{Runtime, StoreSource};
use cosell_store::SyncStore;
use cosell_transport::RateLimit;

use crate::config::Config;

/// The retry-scheduler's jobs (and the use cases under them) over the configured services.
pub struct Wired {
    pub jobs: retry_scheduler::App,
    pub partner_center: PartnerCenter,
    pub dataverse: DataverseClient,
}

/// Builds the clients, the store and the use cases, as the retry-scheduler function does;
/// `dataverse_rate` caps the Dataverse client's requests per second.
pub async fn wire(config: &Config, dataverse_rate: Option<RateLimit>) -> anyhow::Result<Wired> {
    let mut settings = retry_scheduler::Settings::from_lookup(config.lookup())?;
    let mut runtime_settings = config.runtime()?;
    runtime_settings.dataverse_rate_limit = dataverse_rate;
    let runtime = Runtime::start(runtime_settings).await?;
    settings.crm = runtime.settings.crm.clone();
    settings.alerts(&runtime.alerts);
    let partner_center = runtime.partner_center.clone();
    let dataverse = runtime.dataverse.clone();
    let jobs = retry_scheduler::App::new(
        settings,
        runtime.store.clone(),
        Arc::new(runtime.partner_center),
        Arc::new(runtime.dataverse),
    );
    Ok(Wired {
        jobs,
        partner_center,
        dataverse,
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
