//! The credentials cosell runs with, and where they live: one Secrets Manager secret in AWS, or a
//! local JSON file for the sandbox — never the repository. The document:
//!
//! ```json
//! {
//!   "partner_center": { "client_id": "…", "client_secret": "…", "refresh_token": "…" },
//!   "dataverse":      { "tenant_id": "…", "client_id": "…", "client_secret": "…",
//!                       "webhook_key": "…" },
//!   "alerts":         { "teams_workflow_url": "…", "slack_webhook_url": "…" }
//! }
//! ```
//!
//! `alerts` is optional, and so is each URL in it: a Teams Workflows webhook and a Slack incoming
//! webhook to post alerts to. The URLs carry their own credential, so they live here, never in
//! a setting or a log.
//!
//! `public_client` (optional, `false` when absent) says the refresh token came from a device-code
//! sign-in, a public client flow: it is then redeemed without the secret, as Entra ID requires.
//! `cosell login` writes `refresh_token` and `public_client` together.
//!
//! `webhook_key` is optional: the shared key Dataverse sends with its webhook (the push trigger of
//! outbound sync); without it that trigger is off and the schedule alone polls.
//!
//! Partner Center may rotate the refresh token on every redemption, so the store is also the
//! client's [`RefreshTokenSink`]: a new token is written back (read, replace that one field, write
//! a new version), keeping any other keys the operator added.

use std::path::PathBuf;

use async_trait::async_trait;
use cosell_partner_center::{BoxError, RefreshTokenSink};
use cosell_transport::Secret;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub partner_center: PartnerCenterCredentials,
    pub dataverse: DataverseCredentials,
    #[serde(default)]
    pub alerts: AlertUrls,
}

/// Where alerts are posted; both optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertUrls {
    #[serde(default)]
    pub teams_workflow_url: Option<Secret>,
    #[serde(default)]
    pub slack_webhook_url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartnerCenterCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    #[serde(default)]
    pub public_client: bool,
}

/// The Partner Center app alone: what a sign-in needs before any refresh token exists.
#[derive(Debug, Clone, Deserialize)]
pub struct PartnerCenterApp {
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataverseCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default)]
    pub webhook_key: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("reading credentials from {source_name}: {message}")]
    Read {
        source_name: String,
        message: String,
    },
    #[error("writing the refresh token to {source_name}: {message}")]
    Write {
        source_name: String,
        message: String,
    },
    /// The document does not have the documented shape. The message names the field, never a value.
    #[error("credentials in {source_name} are not valid: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// Where the credentials document lives.
#[derive(Clone)]
pub enum CredentialStore {
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
    /// A local file, for the sandbox and self-hosting; rewritten atomically.
    File(PathBuf),
}

impl CredentialStore {
    /// `secret ARN` or `file PATH`, for sentences.
    pub fn name(&self) -> String {
        match self {
            CredentialStore::SecretsManager { secret_id, .. } => format!("secret {secret_id}"),
            CredentialStore::File(path) => format!("file {}", path.display()),
        }
    }

    pub async fn load(&self) -> Result<Credentials, SecretsError> {
        let document = self.read().await?;
        serde_path_to_error::deserialize(document).map_err(|e| SecretsError::Invalid {
            source_name: self.name(),
            message: format!("{}: {}", e.path(), without_values(e.inner())),
        })
    }

    /// Reads only `partner_center.client_id` and `client_secret` (`cosell login`, which may run
    /// before there is a refresh token or any Dataverse credential).
    pub async fn load_partner_center_app(&self) -> Result<PartnerCenterApp, SecretsError> {
        let document = self.read().await?;
        let section =
            document
                .get("partner_center")
                .cloned()
                .ok_or_else(|| SecretsError::Invalid {
                    source_name: self.name(),
                    message: "missing object `partner_center`".into(),
                })?;
        serde_path_to_error::deserialize(section).map_err(|e| SecretsError::Invalid {
            source_name: self.name(),
            message: format!("partner_center.{}: {}", e.path(), without_values(e.inner())),
        })
    }

    /// Replaces `partner_center.refresh_token` in the stored document (a rotation).
    pub async fn store_refresh_token(&self, token: &Secret) -> Result<(), SecretsError> {
        self.update_partner_center(token, None).await?;
        tracing::info!(store = %self.name(), "stored rotated Partner Center refresh token");
        Ok(())
    }

    /// Stores the refresh token of a new sign-in and how it is redeemed, together.
    pub async fn store_sign_in(
        &self,
        token: &Secret,
        public_client: bool,
    ) -> Result<(), SecretsError> {
        self.update_partner_center(token, Some(public_client))
            .await?;
        tracing::info!(store = %self.name(), public_client, "stored a new Partner Center sign-in");
        Ok(())
    }

    /// Read, replace the fields in `partner_center`, write a new version: keys the operator
    /// added stay.
    async fn update_partner_center(
        &self,
        token: &Secret,
        public_client: Option<bool>,
    ) -> Result<(), SecretsError> {
        let mut document = self.read().await?;
        let slot = document
            .get_mut("partner_center")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| SecretsError::Invalid {
                source_name: self.name(),
                message: "missing object `partner_center`".into(),
            })?;
        slot.insert("refresh_token".into(), token.expose().into());
        if let Some(public_client) = public_client {
            slot.insert("public_client".into(), public_client.into());
        }
        self.write(&document).await
    }

    async fn read(&self) -> Result<Value, SecretsError> {
        let read_error = |message: String| SecretsError::Read {
            source_name: self.name(),
            message,
        };
        let text = match self {
            CredentialStore::SecretsManager { client, secret_id } => client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| read_error(aws_error(&e)))?
                .secret_string
                .ok_or_else(|| read_error("the secret has no string value".into()))?,
            CredentialStore::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| read_error(e.to_string()))?,
        };
        serde_json::from_str(&text).map_err(|e| SecretsError::Invalid {
            source_name: self.name(),
            message: without_values(&e),
        })
    }

    async fn write(&self, document: &Value) -> Result<(), SecretsError> {
        let write_error = |message: String| SecretsError::Write {
            source_name: self.name(),
            message,
        };
        let text = serde_json::to_string_pretty(document).expect("a JSON value serialises");
        match self {
            CredentialStore::SecretsManager { client, secret_id } => {
                client
                    .put_secret_value()
                    .secret_id(secret_id)
                    .secret_string(text)
                    .send()
                    .await
                    .map_err(|e| write_error(aws_error(&e)))?;
            }
            CredentialStore::File(path) => {
                let temporary = path.with_extension("tmp");
                tokio::fs::write(&temporary, text)
                    .await
                    .map_err(|e| write_error(e.to_string()))?;
                restrict_to_owner(&temporary)
                    .await
                    .map_err(|e| write_error(e.to_string()))?;
                tokio::fs::rename(&temporary, path)
                    .await
                    .map_err(|e| write_error(e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RefreshTokenSink for CredentialStore {
    async fn store(&self, refresh_token: &Secret) -> Result<(), BoxError> {
        Ok(self.store_refresh_token(refresh_token).await?)
    }
}

#[cfg(unix)]
async fn restrict_to_owner(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).await
}

#[cfg(not(unix))]
async fn restrict_to_owner(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// serde_json's message for a wrong type quotes the value it found, which here could be a
/// secret: keep the message only when it names a field, and the position otherwise.
fn without_values(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        message
    } else {
        format!(
            "{:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    }
}

fn aws_error(error: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string()
}
