//! The process settings. CRM column names and the other Microsoft-solution settings are read by
//! [`cosell_mapping::CrmConfig::from_lookup`]; this adds where things are.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `COSELL_DATAVERSE_URL` | Web API base, `https://{org}.api.crm.dynamics.com/api/data/v9.2/` | required |
//! | `COSELL_PARTNER_CENTER_TENANT` | the partner's Entra ID tenant (id or domain) | required |
//! | `COSELL_CREDENTIALS_SECRET` | Secrets Manager secret (name or ARN) holding the credentials | one of these two |
//! | `COSELL_CREDENTIALS_FILE` | a local JSON file with the same document (sandbox, self-hosting) | |
//! | `COSELL_REFRESH_TOKEN_SECRET` | the Partner Center refresh token's own secret (`template.yaml` makes it), the only secret the functions write; with `COSELL_CREDENTIALS_SECRET` only | unset: the token stays in the credentials |
//! | `COSELL_TABLE` | DynamoDB table of the sync state | one of these two |
//! | `COSELL_SQLITE_PATH` | SQLite file of the sync state (local runs) | |
//! | `COSELL_LOGIN_URL` | the Entra ID host | `https://login.microsoftonline.com` |
//! | `COSELL_PARTNER_CENTER_URL` | the referrals host | `https://api.partner.microsoft.com` |
//! | `COSELL_PARTNER_CENTER_WEBHOOKS_URL` | the webhook registration host | `https://api.partnercenter.microsoft.com` |
//! | `COSELL_DYNAMICS_APP_URL` | where alerts link a Dynamics 365 record | the Web API host without `.api` |
//! | `COSELL_PARTNER_CENTER_REFERRAL_URL` | where alerts link a referral in Partner Center (`{id}` replaced; Microsoft documents no address) | `https://partner.microsoft.com/dashboard/referrals/v2/leads/{id}/details` |
//! | `COSELL_MAPPING_VERSION` | the mapping document version this deploy runs: the start fails while neither `COSELL_MAPPING` nor the store (`cosell mapping push`) holds it | unset: any |
//! | `COSELL_WEBHOOK_CERT_HOSTS`, `COSELL_WEBHOOK_TRUST_ROOTS` | how a Partner Center callback's signature is checked ([`VerifierConfig`]) | Microsoft's host and roots |
//! | `COSELL_DATAVERSE_WEBHOOK_HEADER` | the header carrying the Dataverse webhook's key | `x-cosell-key` |
//! | `COSELL_RETRY_*` | when parked work is due again, and when it is given up ([`Backoff`]) | |
//! | `COSELL_RECONCILE_OVERLAP_SECS` | how far before the watermark each sweep looks again | 300 |
//! | `COSELL_POLL_SCHEDULE`, `COSELL_RETRY_SCHEDULE`, `COSELL_RECONCILE_SCHEDULE` | the schedules, recorded for `cosell status` ([`jobs`]) | every minute, minute, 15 minutes |

use std::path::PathBuf;

use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::{self, VerifierConfig};
use cosell_sync::backoff::{Backoff, BackoffError};
use cosell_sync::{InboundSettings, OutboundSettings, ReconcileSettings, RetrySettings, jobs};
use http::HeaderName;

use crate::metrics::Metrics;

/// The variable naming the header that carries the Dataverse webhook's key. The key itself is a
/// credential (`dataverse.webhook_key`), not a setting.
pub const WEBHOOK_HEADER: &str = "COSELL_DATAVERSE_WEBHOOK_HEADER";
pub const DEFAULT_WEBHOOK_HEADER: &str = "x-cosell-key";
/// The variable holding the reconciliation overlap, in seconds.
pub const OVERLAP: &str = "COSELL_RECONCILE_OVERLAP_SECS";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Every required setting that is not set, each with what it is.
    #[error("{}", missing(.0))]
    Missing(Vec<(&'static str, &'static str)>),
    #[error(transparent)]
    Unknown(#[from] crate::names::Unknown),
    /// A Dataverse URL that is not the Web API's (the app's address, or without the API path).
    #[error("COSELL_DATAVERSE_URL is '{given}', not the Dataverse Web API: use {fix}")]
    NotWebApi { given: String, fix: String },
    #[error("set only one of {0} and {1}")]
    Conflicting(&'static str, &'static str),
    #[error("{name} must be an http(s) URL, got '{value}'")]
    NotAUrl { name: &'static str, value: String },
    #[error(transparent)]
    Crm(#[from] cosell_mapping::ConfigError),
    #[error("COSELL_MAPPING_VERSION must be a whole number, got '{0}'")]
    MappingVersion(String),
    #[error("webhook verification settings: {0}")]
    Verifier(#[from] webhook::ConfigError),
    #[error("retry settings: {0}")]
    Backoff(#[from] BackoffError),
    #[error("{OVERLAP} must be a whole number of seconds, got '{0}'")]
    Overlap(String),
    #[error("{WEBHOOK_HEADER} '{0}' is not a valid HTTP header name")]
    Header(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    SecretsManager(String),
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSource {
    DynamoDb { table: String },
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub dataverse_url: String,
    pub partner_center_tenant: String,
    pub credentials: CredentialSource,
    /// The refresh token's own secret, with Secrets Manager credentials ([`cosell_secrets`]).
    pub refresh_token_secret: Option<String>,
    pub store: StoreSource,
    pub login_url: String,
    /// `…/v1.0/engagements/referrals`.
    pub partner_center_referrals_url: String,
    /// `…/webhooks/v1/registration`.
    pub partner_center_registration_url: String,
    pub crm: CrmConfig,
    /// The mapping version this deploy runs (`COSELL_MAPPING_VERSION`), if named.
    pub mapping_version: Option<u64>,
    /// A client-side ceiling on Dataverse requests (`cosell backfill` sets it to stay under the
    /// service's 6,000 per 5 minutes instead of bouncing off it). Not read from the environment.
    pub dataverse_rate_limit: Option<cosell_transport::RateLimit>,
    /// One request's limit, connect to last byte, for both services (default 30 s). `serve` sets
    /// it from `COSELL_HTTP_TIMEOUT`; the functions keep the default, well inside their timeouts.
    pub http_timeout: Option<std::time::Duration>,
    /// Where alerts link (`COSELL_DYNAMICS_APP_URL`, `COSELL_PARTNER_CENTER_REFERRAL_URL`).
    pub alert_links: cosell_sync::alerts::message::Links,
    /// How a Partner Center callback is verified.
    pub verifier: VerifierConfig,
    /// The header the Dataverse webhook's key arrives in.
    pub webhook_header: HeaderName,
    /// The use cases' and the jobs' own settings; the alert channels are filled in by
    /// [`crate::Runtime::start`] from the credentials.
    pub inbound: InboundSettings,
    pub outbound: OutboundSettings,
    pub retry: RetrySettings,
    pub reconcile: ReconcileSettings,
    /// Where metrics go: EMF lines in Lambda (the default); `serve` and the bench turn them off,
    /// their stdout being a person's. Not read from the environment.
    pub metrics: Metrics,
}

impl Settings {
    /// Reads the process environment, refusing a `COSELL_*` name nothing reads (a typo in a
    /// deployment's variables, said with the name meant).
    pub fn from_env() -> Result<Settings, SettingsError> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        crate::names::check("the environment", names.iter().map(String::as_str), &[])?;
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, in production), so tests need not
    /// touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let url = |name: &'static str, default: &str| -> Result<String, SettingsError> {
            let value = get(name).unwrap_or_else(|| default.to_owned());
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(value.trim_end_matches('/').to_owned())
            } else {
                Err(SettingsError::NotAUrl { name, value })
            }
        };
        let mut missing = Vec::new();
        let mut require = |name: &'static str, what: &'static str| {
            let value = get(name);
            if value.is_none() {
                missing.push((name, what));
            }
            value
        };
        let dataverse_url = require("COSELL_DATAVERSE_URL", DATAVERSE_URL_EXAMPLE);
        let partner_center_tenant = require(
            "COSELL_PARTNER_CENTER_TENANT",
            "the partner's Entra ID tenant id or domain",
        );
        let credentials = match (
            get("COSELL_CREDENTIALS_SECRET"),
            get("COSELL_CREDENTIALS_FILE"),
        ) {
            (Some(secret), None) => Some(CredentialSource::SecretsManager(secret)),
            (None, Some(file)) => Some(CredentialSource::File(file.into())),
            (Some(_), Some(_)) => {
                return Err(SettingsError::Conflicting(
                    "COSELL_CREDENTIALS_SECRET",
                    "COSELL_CREDENTIALS_FILE",
                ));
            }
            (None, None) => require(
                "COSELL_CREDENTIALS_SECRET",
                "name the Secrets Manager secret, or COSELL_CREDENTIALS_FILE for a local file",
            )
            .map(CredentialSource::SecretsManager),
        };
        let store = match (get("COSELL_TABLE"), get("COSELL_SQLITE_PATH")) {
            (Some(table), None) => Some(StoreSource::DynamoDb { table }),
            (None, Some(path)) => Some(StoreSource::Sqlite { path: path.into() }),
            (Some(_), Some(_)) => {
                return Err(SettingsError::Conflicting(
                    "COSELL_TABLE",
                    "COSELL_SQLITE_PATH",
                ));
            }
            (None, None) => require(
                "COSELL_TABLE",
                "name the DynamoDB table, or COSELL_SQLITE_PATH for a local file",
            )
            .map(|table| StoreSource::DynamoDb { table }),
        };
        // Every required setting that is missing, in one message.
        let (Some(dataverse_url), Some(partner_center_tenant), Some(credentials), Some(store)) =
            (dataverse_url, partner_center_tenant, credentials, store)
        else {
            return Err(SettingsError::Missing(missing));
        };
        let dataverse_url = url("COSELL_DATAVERSE_URL", &dataverse_url)?;
        let dataverse_url = web_api_url(&dataverse_url)?;
        let refresh_token_secret = get("COSELL_REFRESH_TOKEN_SECRET");
        if refresh_token_secret.is_some() && matches!(credentials, CredentialSource::File(_)) {
            return Err(SettingsError::Conflicting(
                "COSELL_REFRESH_TOKEN_SECRET",
                "COSELL_CREDENTIALS_FILE",
            ));
        }
        let partner_center = url(
            "COSELL_PARTNER_CENTER_URL",
            "https://api.partner.microsoft.com",
        )?;
        let webhooks = url(
            "COSELL_PARTNER_CENTER_WEBHOOKS_URL",
            "https://api.partnercenter.microsoft.com",
        )?;
        let app = app_url(&dataverse_url);
        let backoff = Backoff::from_lookup(&lookup)?;
        let header = get(WEBHOOK_HEADER).unwrap_or_else(|| DEFAULT_WEBHOOK_HEADER.to_owned());
        let header = header.trim();
        let webhook_header =
            HeaderName::try_from(header).map_err(|_| SettingsError::Header(header.to_owned()))?;
        let schedule = |name| jobs::interval_setting(&lookup, name);
        let mut outbound = OutboundSettings {
            backoff,
            ..OutboundSettings::default()
        };
        if let Some(interval) = schedule(jobs::POLL_SCHEDULE) {
            outbound.poll_interval = interval;
        }
        let mut retry = RetrySettings::default();
        if let Some(interval) = schedule(jobs::RETRY_SCHEDULE) {
            retry.interval = interval;
        }
        let mut reconcile = ReconcileSettings::default();
        if let Some(interval) = schedule(jobs::RECONCILE_SCHEDULE) {
            reconcile.interval = interval;
        }
        if let Some(value) = get(OVERLAP) {
            let secs = value
                .trim()
                .parse()
                .map_err(|_| SettingsError::Overlap(value))?;
            reconcile.overlap = Duration::from_secs(secs);
        }
        Ok(Settings {
            dataverse_url,
            partner_center_tenant,
            credentials,
            refresh_token_secret,
            store,
            login_url: url("COSELL_LOGIN_URL", "https://login.microsoftonline.com")?,
            partner_center_referrals_url: format!("{partner_center}/v1.0/engagements/referrals"),
            partner_center_registration_url: format!("{webhooks}/webhooks/v1/registration"),
            crm: CrmConfig::from_lookup(&lookup)?,
            mapping_version: match lookup("COSELL_MAPPING_VERSION").filter(|v| !v.trim().is_empty())
            {
                None => None,
                Some(value) => Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| SettingsError::MappingVersion(value.clone()))?,
                ),
            },
            dataverse_rate_limit: None,
            http_timeout: None,
            alert_links: cosell_sync::alerts::message::Links {
                dynamics: url("COSELL_DYNAMICS_APP_URL", &app)?,
                partner_center: get("COSELL_PARTNER_CENTER_REFERRAL_URL").unwrap_or_else(|| {
                    cosell_sync::alerts::message::PARTNER_CENTER_REFERRAL_URL.to_owned()
                }),
            },
            verifier: VerifierConfig::from_env_lookup(&lookup)?,
            webhook_header,
            inbound: InboundSettings {
                backoff,
                ..InboundSettings::default()
            },
            outbound,
            retry,
            reconcile,
            metrics: Metrics::default(),
        })
    }

    /// The v2 token endpoint of `tenant` on the configured login host.
    pub fn token_url(&self, tenant: &str) -> String {
        self.login_endpoint(tenant, "token")
    }

    /// `{login}/{tenant}/oauth2/v2.0/{endpoint}`: `token`, `authorize`, `devicecode`.
    pub fn login_endpoint(&self, tenant: &str, endpoint: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/{endpoint}", self.login_url)
    }

    /// The Partner Center client's configuration for the app: the configured hosts, the
    /// partner's tenant, the HTTP timeout.
    pub fn partner_center_config(
        &self,
        client_id: String,
        client_secret: cosell_transport::Secret,
    ) -> cosell_partner_center::PartnerCenterConfig {
        let mut config = cosell_partner_center::PartnerCenterConfig::new(
            &self.partner_center_tenant,
            client_id,
            client_secret,
        );
        config.referrals_base_url = self.partner_center_referrals_url.clone();
        config.registration_base_url = self.partner_center_registration_url.clone();
        config.token_url = self.token_url(&self.partner_center_tenant);
        if let Some(timeout) = self.http_timeout {
            config.http.timeout = timeout;
        }
        config
    }
}

/// The Dynamics 365 app of a Web API base: `https://contoso.api.crm.dynamics.com/api/data/v9.2/`
/// → `https://contoso.crm.dynamics.com`.
fn app_url(web_api: &str) -> String {
    let origin = match web_api.find("/api/") {
        Some(at) => &web_api[..at],
        None => web_api.trim_end_matches('/'),
    };
    origin.replacen(".api.", ".", 1)
}

/// What `COSELL_DATAVERSE_URL` is, for the message when it is missing.
const DATAVERSE_URL_EXAMPLE: &str =
    "the Dataverse Web API base, e.g. https://contoso.api.crm.dynamics.com/api/data/v9.2/";

/// The sentence for the required settings that are not set.
fn missing(settings: &[(&str, &str)]) -> String {
    match settings {
        [(name, what)] => format!("{name} is not set: {what}"),
        _ => {
            let each: Vec<_> = settings.iter().map(|(n, w)| format!("{n} ({w})")).collect();
            format!(
                "{} settings are not set: {}",
                settings.len(),
                each.join("; ")
            )
        }
    }
}

/// The Web API base (with its trailing slash) from a URL given without one. What the browser
/// shows of Dynamics 365 (`https://contoso.crm.dynamics.com/main.aspx…`), or a host without the
/// API's path, answers every request 404: refused at start, with the address meant.
fn web_api_url(given: &str) -> Result<String, SettingsError> {
    let (scheme, rest) = given.split_once("://").unwrap_or(("https", given));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if format!("/{path}")
        .to_ascii_lowercase()
        .contains("/api/data/v9.")
    {
        return Ok(format!("{given}/"));
    }
    // `org.crm.dynamics.com` (and crm4…, the sovereign clouds' crm.*) → `org.api.crm…`.
    let labels: Vec<&str> = host.split('.').collect();
    let api_host = match labels.as_slice() {
        [org, region, ..] if region.starts_with("crm") => {
            format!("{org}.api.{}", labels[1..].join("."))
        }
        _ => host.to_owned(),
    };
    Err(SettingsError::NotWebApi {
        given: given.to_owned(),
        fix: format!("{scheme}://{api_host}/api/data/v9.2/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_address_and_a_bare_host_are_refused_with_the_web_api_meant() {
        let fix = |given: &str| match web_api_url(given) {
            Err(SettingsError::NotWebApi { fix, .. }) => fix,
            other => panic!("{given}: {other:?}"),
        };
        let meant = "https://contoso.api.crm.dynamics.com/api/data/v9.2/";
        assert_eq!(fix("https://contoso.crm.dynamics.com"), meant);
        assert_eq!(
            fix("https://contoso.crm.dynamics.com/main.aspx?appid=1"),
            meant
        );
        assert_eq!(fix("https://contoso.api.crm.dynamics.com"), meant);
        assert_eq!(
            fix("https://fabrikam.crm4.dynamics.com"),
            "https://fabrikam.api.crm4.dynamics.com/api/data/v9.2/"
        );
        let error = web_api_url("https://contoso.crm.dynamics.com").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "COSELL_DATAVERSE_URL is 'https://contoso.crm.dynamics.com', not the Dataverse \
                 Web API: use {meant}"
            )
        );
    }

    #[test]
    fn a_web_api_base_is_taken_with_its_slash() {
        let base = "https://contoso.api.crm.dynamics.com/api/data/v9.2";
        assert_eq!(web_api_url(base).unwrap(), format!("{base}/"));
        // The simulator's, on a loopback port under a prefix.
        let sim = "http://127.0.0.1:7070/dataverse/api/data/v9.2";
        assert_eq!(web_api_url(sim).unwrap(), format!("{sim}/"));
    }

    #[test]
    fn every_missing_required_setting_is_named_in_one_message() {
        let error = Settings::from_lookup(|_| None).unwrap_err();
        let SettingsError::Missing(missing) = &error else {
            panic!("{error:?}");
        };
        let names: Vec<_> = missing.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "COSELL_DATAVERSE_URL",
                "COSELL_PARTNER_CENTER_TENANT",
                "COSELL_CREDENTIALS_SECRET",
                "COSELL_TABLE"
            ]
        );
        let text = error.to_string();
        assert!(
            text.starts_with("4 settings are not set: COSELL_DATAVERSE_URL (the Dataverse"),
            "{text}"
        );
    }
}
