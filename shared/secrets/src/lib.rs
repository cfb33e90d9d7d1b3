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
//!
//! In AWS the refresh token has a secret of its own (`token_secret_id`: the document
//! `{"refresh_token": "…", "public_client": false}`), so the functions — two of them behind
//! public URLs — may write only that secret, never the whole credentials document. Every token
//! written carries `refresh_token_at`, and the newer of the two wins: while the token secret
//! holds none (a stack deployed before it existed: `{}`) the credentials document's token is used
//! and the first rotation moves it; a `cosell login` run without the token secret configured
//! writes the credentials document, newer, and is used until the next rotation moves it again.
//! The file store keeps one file. `cosell setup` is a second writer
//! (it generates `webhook_key` when absent), so every write is a compare-and-swap
//! ([`CredentialStore::update`]): neither writer can put back a document the other replaced
//! meanwhile — a lost rotation would leave a revoked refresh token as the only one stored.

use std::path::{Path, PathBuf};

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
        /// The refresh token's own secret, when there is one (see the [crate docs](crate)).
        token_secret_id: Option<String>,
    },
    /// A local file, for the sandbox and self-hosting; rewritten atomically.
    File(PathBuf),
}

impl CredentialStore {
    /// `secret ARN` or `file PATH`, for sentences.
    pub fn name(&self) -> String {
        match self {
            CredentialStore::SecretsManager {
                secret_id,
                token_secret_id: Some(token),
                ..
            } => format!("secret {secret_id} (refresh token in {token})"),
            CredentialStore::SecretsManager { secret_id, .. } => format!("secret {secret_id}"),
            CredentialStore::File(path) => format!("file {}", path.display()),
        }
    }

    pub async fn load(&self) -> Result<Credentials, SecretsError> {
        let mut document = self.read().await?;
        if let Some(token) = self.token_document().await? {
            let slot = section(&mut document, "partner_center", &self.name())?;
            if newer(&token, slot) {
                for field in ["refresh_token", "public_client"] {
                    if let Some(value) = token.get(field) {
                        slot.insert(field.into(), value.clone());
                    }
                }
            }
        }
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

    /// The Dataverse webhook's key: the stored one, or `generate()`'s, stored now. `true` when
    /// it was made here. Never logged.
    pub async fn ensure_webhook_key(
        &self,
        generate: impl Fn() -> Secret,
    ) -> Result<(Secret, bool), SecretsError> {
        let made = std::sync::Mutex::new(None);
        let found = std::sync::Mutex::new(None);
        self.update(|document| {
            let dataverse = section(document, "dataverse", &self.name())?;
            match dataverse.get("webhook_key").and_then(Value::as_str) {
                Some(key) if !key.is_empty() => {
                    *found.lock().expect("lock") = Some(Secret::new(key));
                    Ok(false)
                }
                _ => {
                    let key = generate();
                    dataverse.insert("webhook_key".into(), key.expose().into());
                    *made.lock().expect("lock") = Some(key);
                    Ok(true)
                }
            }
        })
        .await?;
        if let Some(key) = found.into_inner().expect("lock") {
            return Ok((key, false));
        }
        let key = made
            .into_inner()
            .expect("lock")
            .expect("made when not found");
        tracing::info!(store = %self.name(), "stored a new Dataverse webhook key");
        Ok((key, true))
    }

    /// Replaces the fields in `partner_center` (keys the operator added stay), or, with a token
    /// secret, that secret's document — carrying `public_client` over from the credentials
    /// document the first time, so a device-code sign-in stays redeemed as one.
    async fn update_partner_center(
        &self,
        token: &Secret,
        public_client: Option<bool>,
    ) -> Result<(), SecretsError> {
        if let CredentialStore::SecretsManager {
            client,
            token_secret_id: Some(token_secret),
            ..
        } = self
        {
            // A rotation keeps how the token it replaces is redeemed: that of the newer of the
            // two stored tokens, the one the client signed in with.
            let public_client = match public_client {
                Some(public_client) => public_client,
                None => self.load().await?.partner_center.public_client,
            };
            return self
                .update_secret(client, token_secret, |document| {
                    if !document.is_object() {
                        *document = Value::Object(serde_json::Map::new());
                    }
                    let slot = document.as_object_mut().expect("an object");
                    slot.insert("refresh_token".into(), token.expose().into());
                    slot.insert(WRITTEN_AT.into(), now().into());
                    slot.insert("public_client".into(), public_client.into());
                    Ok(true)
                })
                .await;
        }
        self.update(|document| {
            let slot = section(document, "partner_center", &self.name())?;
            slot.insert("refresh_token".into(), token.expose().into());
            slot.insert(WRITTEN_AT.into(), now().into());
            if let Some(public_client) = public_client {
                slot.insert("public_client".into(), public_client.into());
            }
            Ok(true)
        })
        .await
    }

    /// The token secret's document when it holds a refresh token; `None` without a token
    /// secret or while it holds none.
    async fn token_document(&self) -> Result<Option<Value>, SecretsError> {
        let CredentialStore::SecretsManager {
            client,
            token_secret_id: Some(token_secret),
            ..
        } = self
        else {
            return Ok(None);
        };
        let (document, _) = self.read_secret(client, token_secret).await?;
        let has_token = document
            .get("refresh_token")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        Ok(has_token.then_some(document))
    }

    /// Reads the document, lets `change` edit it (`false`: nothing to write) and writes it back
    /// only if no one wrote in between; otherwise reads again and repeats, a few times.
    /// - Secrets Manager: the new version is put under a staging label of cosell's own, then
    ///   `AWSCURRENT` is moved to it *from the version read* (`UpdateSecretVersionStage` with
    ///   `RemoveFromVersionId`), which Secrets Manager refuses once `AWSCURRENT` has moved on.
    /// - A file: under an exclusive lock on `<file>.lock`, held from the read to the rename.
    pub async fn update(
        &self,
        change: impl Fn(&mut Value) -> Result<bool, SecretsError>,
    ) -> Result<(), SecretsError> {
        match self {
            CredentialStore::SecretsManager {
                client, secret_id, ..
            } => self.update_secret(client, secret_id, change).await,
            CredentialStore::File(path) => {
                let _lock = FileLock::take(path)
                    .await
                    .map_err(|e| SecretsError::Write {
                        source_name: self.name(),
                        message: format!("locking: {e}"),
                    })?;
                let mut document = self.read().await?;
                if change(&mut document)? {
                    self.write_file(path, &document).await?;
                }
                Ok(())
            }
        }
    }

    /// [`Self::update`] of one Secrets Manager secret.
    async fn update_secret(
        &self,
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
        change: impl Fn(&mut Value) -> Result<bool, SecretsError>,
    ) -> Result<(), SecretsError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let (mut document, read_version) = self.read_secret(client, secret_id).await?;
            if !change(&mut document)? {
                return Ok(());
            }
            if self
                .swap(client, secret_id, &document, &read_version)
                .await?
            {
                return Ok(());
            }
            tracing::info!(store = %self.name(), "credentials changed while writing; reading again");
        }
        Err(SecretsError::Write {
            source_name: self.name(),
            message: format!("another writer changed the secret {UPDATE_ATTEMPTS} times in a row"),
        })
    }

    /// Puts `document` as a new version and makes it current if `read_version` still is:
    /// `false` when another writer got there first.
    async fn swap(
        &self,
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
        document: &Value,
        read_version: &str,
    ) -> Result<bool, SecretsError> {
        let write_error = |message: String| SecretsError::Write {
            source_name: self.name(),
            message,
        };
        let text = serde_json::to_string_pretty(document).expect("a JSON value serialises");
        let put = client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(text)
            .version_stages(STAGED)
            .send()
            .await
            .map_err(|e| write_error(aws_error(&e)))?;
        let written = put
            .version_id
            .ok_or_else(|| write_error("PutSecretValue answered no VersionId".into()))?;
        match client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(written)
            .remove_from_version_id(read_version)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // AWSCURRENT is no longer on the version read: someone wrote meanwhile.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_parameter_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(write_error(aws_error(&error))),
        }
    }

    /// A secret's document and the version it was read from.
    async fn read_secret(
        &self,
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<(Value, String), SecretsError> {
        let read_error = |message: String| SecretsError::Read {
            source_name: self.name(),
            message,
        };
        let answer = client
            .get_secret_value()
            .secret_id(secret_id)
            // Explicit, though it is the default: moto's server, which the tests run against,
            // keeps answering the first version without it once AWSCURRENT has moved.
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| read_error(aws_error(&e)))?;
        let version = answer
            .version_id
            .ok_or_else(|| read_error("the secret has no VersionId".into()))?;
        let text = answer
            .secret_string
            .ok_or_else(|| read_error("the secret has no string value".into()))?;
        let document = serde_json::from_str(&text).map_err(|e| SecretsError::Invalid {
            source_name: self.name(),
            message: without_values(&e),
        })?;
        Ok((document, version))
    }

    async fn read(&self) -> Result<Value, SecretsError> {
        let read_error = |message: String| SecretsError::Read {
            source_name: self.name(),
            message,
        };
        let text = match self {
            CredentialStore::SecretsManager {
                client, secret_id, ..
            } => return Ok(self.read_secret(client, secret_id).await?.0),
            CredentialStore::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| read_error(e.to_string()))?,
        };
        serde_json::from_str(&text).map_err(|e| SecretsError::Invalid {
            source_name: self.name(),
            message: without_values(&e),
        })
    }

    /// Writes the file whole: a temporary file, owner-only, renamed over it.
    async fn write_file(&self, path: &Path, document: &Value) -> Result<(), SecretsError> {
        let write_error = |message: String| SecretsError::Write {
            source_name: self.name(),
            message,
        };
        let text = serde_json::to_string_pretty(document).expect("a JSON value serialises");
        let temporary = path.with_extension("tmp");
        tokio::fs::write(&temporary, text)
            .await
            .map_err(|e| write_error(e.to_string()))?;
        restrict_to_owner(&temporary)
            .await
            .map_err(|e| write_error(e.to_string()))?;
        tokio::fs::rename(&temporary, path)
            .await
            .map_err(|e| write_error(e.to_string()))
    }
}

/// When a refresh token was written, beside it (RFC 3339): which of two stored tokens is newer.
const WRITTEN_AT: &str = "refresh_token_at";

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether the token secret's document holds a token written no earlier than the credentials
/// document's `partner_center` one.
fn newer(token: &Value, partner_center: &serde_json::Map<String, Value>) -> bool {
    written_at(token.get(WRITTEN_AT)) >= written_at(partner_center.get(WRITTEN_AT))
}

/// When a token was written, from its `refresh_token_at`; the earliest time for one written
/// before that was kept.
fn written_at(at: Option<&Value>) -> time::OffsetDateTime {
    at.and_then(Value::as_str)
        .and_then(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// How often a write is tried while other writers keep getting there first.
const UPDATE_ATTEMPTS: u32 = 5;
/// The staging label a version carries between being put and being made current.
const STAGED: &str = "COSELLSTAGED";

/// `document[name]` as an object, or the error naming it.
fn section<'a>(
    document: &'a mut Value,
    name: &str,
    source_name: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, SecretsError> {
    document
        .get_mut(name)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| SecretsError::Invalid {
            source_name: source_name.to_owned(),
            message: format!("missing object `{name}`"),
        })
}

/// An exclusive advisory lock on `<file>.lock`, released when dropped: the file store's writers
/// (serve, the CLI) take turns.
struct FileLock(std::fs::File);

impl FileLock {
    async fn take(path: &Path) -> std::io::Result<Self> {
        let lock_path = path.with_extension("lock");
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)?;
            file.lock()?;
            Ok(FileLock(file))
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
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
