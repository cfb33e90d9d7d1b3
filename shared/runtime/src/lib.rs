//! The composition root: what every cosell process (the three Lambda functions, `cosell serve`,
//! the CLI's commands, the bench) does once at start — read every `COSELL_*` setting, failing
//! with a sentence that names it; load the credentials; build the clients, the store and, over
//! them, the use cases and the scheduled jobs. Handlers get the result and stay thin.
//!
//! | module | holds |
//! |---|---|
//! | [`settings`] | [`Settings`]: every setting, parsed once |
//! | [`jobs`] | [`Jobs`]: the retry run and the sweep over the use cases |
//! | `webhook` | what both webhook routers share: their deadline, handling a hang-up cannot cancel (feature `webhook`) |
//! | [`metrics`] | the EMF metrics the handlers write |
//! | [`budget`] | how long one invocation may work |

pub mod budget;
pub mod jobs;
pub mod metrics;
pub mod names;
pub mod settings;
#[cfg(feature = "webhook")]
pub mod webhook;

use std::sync::{Arc, OnceLock};

use cosell_dataverse::{DataverseClient, DataverseConfig};
use cosell_partner_center::PartnerCenter;
use cosell_secrets::CredentialStore;
use cosell_store::{DynamoStore, SqliteStore, SyncStore};
use cosell_sync::alerts::channel::{Channel, Channels, Kind, Webhook};
use cosell_sync::alerts::message::Links;
use cosell_sync::{InboundSync, OutboundSync};
use cosell_transport::Secret;

pub use jobs::Jobs;
pub use settings::{CredentialSource, Settings, SettingsError, StoreSource};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Credentials(#[from] cosell_secrets::SecretsError),
    #[error("Partner Center client: {0}")]
    PartnerCenter(#[from] cosell_partner_center::Error),
    #[error("Dataverse client: {0}")]
    Dataverse(#[from] cosell_dataverse::DataverseError),
    #[error("store: {0}")]
    Store(#[from] cosell_store::StoreError),
    #[error(transparent)]
    Mapping(#[from] cosell_sync::mapping::MappingStoreError),
    #[error("the stored mapping document: {0}")]
    MappingEntry(#[from] cosell_mapping::ConfigError),
    #[error(transparent)]
    Schema(#[from] cosell_sync::schema::SchemaStoreError),
}

/// The ports, built once per process, and the use cases over them.
pub struct Runtime {
    /// As read, with the cached metadata, the co-sell schema and the stored mapping laid over
    /// `crm`, and the alert channels the credentials name in `inbound`, `outbound` and `retry`.
    pub settings: Settings,
    pub partner_center: PartnerCenter,
    pub dataverse: DataverseClient,
    pub store: Arc<dyn SyncStore>,
    /// The key Dataverse's webhook must present (credentials `dataverse.webhook_key`), if set.
    pub dataverse_webhook_key: Option<Secret>,
    /// Where the credentials live: read again for a webhook key made after this start, written
    /// by `cosell setup`.
    pub credentials: CredentialStore,
    inbound: OnceLock<Arc<InboundSync>>,
    outbound: OnceLock<Arc<OutboundSync>>,
}

impl Runtime {
    /// A Lambda function's start: JSON logs (the runtime's subscriber, as the function's log
    /// format says), the settings from the environment, then [`Runtime::start`]. A failure is
    /// logged and told on stderr, with the `function`'s name, before the function stops.
    pub async fn for_lambda(function: &str) -> Result<Runtime, StartError> {
        init_lambda_logs();
        let started = match Settings::from_env() {
            Ok(settings) => Runtime::start(settings).await,
            Err(error) => Err(error.into()),
        };
        if let Err(error) = &started {
            tracing::error!(%error, function, "cannot start");
            eprintln!("{function} cannot start: {error}");
        }
        started
    }

    /// The inbound use case (Partner Center → Dataverse), built at the first call and shared
    /// after: the webhook and the jobs never sync one record with two caches.
    pub fn inbound_sync(&self) -> Arc<InboundSync> {
        let build = || {
            Arc::new(InboundSync::new(
                self.store.clone(),
                Arc::new(self.partner_center.clone()),
                Arc::new(self.dataverse.clone()),
                self.settings.crm.clone(),
                self.settings.inbound.clone(),
            ))
        };
        self.inbound.get_or_init(build).clone()
    }

    /// The outbound use case (Dataverse → Partner Center), built at the first call and shared.
    pub fn outbound_sync(&self) -> Arc<OutboundSync> {
        let build = || {
            Arc::new(OutboundSync::new(
                self.store.clone(),
                Arc::new(self.partner_center.clone()),
                Arc::new(self.dataverse.clone()),
                self.settings.crm.clone(),
                self.settings.outbound.clone(),
            ))
        };
        self.outbound.get_or_init(build).clone()
    }

    /// The scheduled jobs over the shared use cases, refreshing the metadata cache from Dataverse.
    pub fn jobs(&self) -> Jobs {
        Jobs::new(
            self.store.clone(),
            self.inbound_sync(),
            self.outbound_sync(),
            Arc::new(self.partner_center.clone()),
            self.settings.retry.clone(),
            self.settings.reconcile.clone(),
        )
        .with_schema(Arc::new(self.dataverse.clone()))
    }

    /// Builds everything from the settings. AWS configuration (region, credentials) comes from
    /// the usual environment, as in Lambda.
    pub async fn start(settings: Settings) -> Result<Runtime, StartError> {
        let needs_aws = matches!(settings.credentials, CredentialSource::SecretsManager(_))
            || matches!(settings.store, StoreSource::DynamoDb { .. });
        let aws = match needs_aws {
            true => Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
            false => None,
        };
        let token_secret = settings.refresh_token_secret.as_deref();
        let credential_store = credential_store(&settings.credentials, token_secret, aws.as_ref());
        // The metadata cache is read beside the credentials, and given up on rather than waited
        // for: discovery never makes a cold start slower or failing.
        let store = open_store(&settings.store, aws.as_ref())?;
        // The mapping document is read beside them too, and is not optional: a process never
        // syncs with a mapping other than the one its deploy names.
        // So is the co-sell schema `cosell setup` recorded: never guessed.
        let (credentials, crm, mapping, schema) = tokio::join!(
            credential_store.load(),
            tokio::time::timeout(
                METADATA_WAIT,
                cosell_sync::metadata::configured(store.as_ref(), &settings.crm)
            ),
            cosell_sync::mapping::resolve(
                store.as_ref(),
                &settings.crm.mapping,
                settings.mapping_version
            ),
            cosell_sync::schema::in_use(store.as_ref()),
        );
        let credentials = credentials?;
        let schema = schema?;
        let mut settings = settings;
        match crm {
            Ok(crm) => settings.crm = crm,
            Err(_) => tracing::warn!("metadata cache too slow; using the settings"),
        }
        settings.crm = settings.crm.with_schema(schema);
        if let Some(mapping) = mapping? {
            tracing::info!(
                version = mapping.version,
                "mapping document read from the store"
            );
            settings.crm = settings.crm.with_mapping(mapping)?;
        }

        let pc = &credentials.partner_center;
        let mut pc_config =
            settings.partner_center_config(pc.client_id.clone(), pc.client_secret.clone());
        pc_config.public_client = pc.public_client;
        let partner_center = PartnerCenter::new(
            pc_config,
            pc.refresh_token.clone(),
            Arc::new(credential_store.clone()),
        )?;

        let dv = &credentials.dataverse;
        let mut dv_config = DataverseConfig::new(
            settings.dataverse_url.clone(),
            dv.tenant_id.clone(),
            dv.client_id.clone(),
            dv.client_secret.clone(),
        );
        dv_config.token_url = settings.token_url("{tenant}");
        dv_config.http.rate_limit = settings.dataverse_rate_limit.or(dv_config.http.rate_limit);
        if let Some(timeout) = settings.http_timeout {
            dv_config.http.timeout = timeout;
        }
        let dataverse = DataverseClient::new(dv_config)?;

        let alerts = alert_channels(&credentials.alerts, &settings.alert_links);
        settings.inbound.alerts = alerts.names();
        settings.outbound.alerts = alerts.names();
        settings.retry.channels = alerts;
        Ok(Runtime {
            settings,
            partner_center,
            dataverse,
            store,
            dataverse_webhook_key: credentials.dataverse.webhook_key,
            credentials: credential_store,
            inbound: OnceLock::new(),
            outbound: OnceLock::new(),
        })
    }
}

/// The alert channels the credentials name.
fn alert_channels(urls: &cosell_secrets::AlertUrls, links: &Links) -> Channels {
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    if let Some(url) = &urls.teams_workflow_url {
        channels.push(Arc::new(Webhook::new(
            Kind::Teams,
            url.clone(),
            links.clone(),
        )));
    }
    if let Some(url) = &urls.slack_webhook_url {
        channels.push(Arc::new(Webhook::new(
            Kind::Slack,
            url.clone(),
            links.clone(),
        )));
    }
    Channels(channels)
}

/// Where the credentials live, as a store that reads and writes them; `token_secret` is the
/// refresh token's own secret, if any. `aws` is the loaded AWS configuration, required for
/// Secrets Manager.
pub fn credential_store(
    source: &CredentialSource,
    token_secret: Option<&str>,
    aws: Option<&aws_config::SdkConfig>,
) -> CredentialStore {
    match source {
        CredentialSource::SecretsManager(secret_id) => CredentialStore::SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(aws.expect("AWS configuration loaded")),
            secret_id: secret_id.clone(),
            token_secret_id: token_secret.map(str::to_owned),
        },
        CredentialSource::File(path) => CredentialStore::File(path.clone()),
    }
}

/// How long a start waits for the metadata cache beyond the credentials it loads meanwhile.
const METADATA_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// The sync-state store alone (`cosell status` needs no credentials). `aws` is the loaded AWS
/// configuration, required for DynamoDB.
pub fn open_store(
    source: &StoreSource,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn SyncStore>, StartError> {
    Ok(match source {
        StoreSource::DynamoDb { table } => {
            let aws = aws.ok_or_else(|| {
                StartError::Store(cosell_store::StoreError::Backend {
                    operation: "open",
                    message: "DynamoDB needs the AWS configuration".into(),
                })
            })?;
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(aws),
                table.clone(),
            ))
        }
        StoreSource::Sqlite { path } => Arc::new(SqliteStore::open(path)?),
    })
}

/// A function's logs as Lambda's logging controls set them: JSON when `AWS_LAMBDA_LOG_FORMAT` is
/// `JSON` (template.yaml), at the one level `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`) names, INFO
/// otherwise. What `lambda_http`'s `init_default_subscriber` does, less its per-target
/// `EnvFilter`: that brings a regex engine (about 0.1 MiB) into every function for directives
/// Lambda never sets. `cosell serve` keeps them ([`init_tracing`]).
fn init_lambda_logs() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok());
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level.unwrap_or(LevelFilter::INFO));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    match json {
        true => logs.json().init(),
        false => logs.init(),
    }
}

/// `cosell serve`'s logs: structured JSON on stdout, levels and per-target directives from `RUST_LOG`
/// (default info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time() // Lambda stamps each line
        .init();
}
