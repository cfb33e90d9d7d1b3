//! How old the stored Partner Center refresh token is, where that can be known.
//!
//! The contract (`partner-center.md` §2) says a refresh token may rotate on every redemption and
//! must then be stored, but gives no lifetime. Entra ID's documented default is that a refresh
//! token outside single-page apps stays valid for 90 days *of inactivity*: every redemption
//! starts a fresh window. So what matters is how long ago the token was last redeemed, which no
//! store records. What can be read is when the stored credentials were last written — cosell
//! writes them whenever a redemption rotates the token — and that is an upper bound on the
//! inactivity when the token rotates (Entra ID usually rotates). It is read from:
//!
//! - a credentials file: its modification time;
//! - Secrets Manager: the secret's `LastChangedDate` (any change of the secret moves it).
//!
//! It must be read before anything redeems the token, since a redemption may rewrite it.

use std::time::{Duration, SystemTime};

use cosell_runtime::CredentialSource;

/// Entra ID's default inactivity lifetime of a refresh token.
pub const LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Age {
    /// Time since the credentials were last written, and where that was read.
    Known { age: Duration, source: String },
    /// Why it cannot be told.
    Unknown(String),
}

/// Reads the age from where the refresh token lives: its own secret when there is one (every
/// rotation writes it), else the credentials.
pub async fn measure(source: &CredentialSource, token_secret: Option<&str>) -> Age {
    if let Some(token_secret) = token_secret {
        return secret_changed(token_secret).await;
    }
    match source {
        CredentialSource::File(path) => match std::fs::metadata(path).and_then(|m| m.modified()) {
            Ok(modified) => Age::Known {
                age: SystemTime::now()
                    .duration_since(modified)
                    .unwrap_or_default(),
                source: format!("{} last written", path.display()),
            },
            Err(error) => Age::Unknown(format!("{}: {error}", path.display())),
        },
        CredentialSource::SecretsManager(secret_id) => secret_changed(secret_id).await,
    }
}

async fn secret_changed(secret_id: &str) -> Age {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    match client.describe_secret().secret_id(secret_id).send().await {
        Ok(described) => match described.last_changed_date() {
            Some(changed) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                let age = (now - changed.as_secs_f64()).max(0.0);
                Age::Known {
                    age: Duration::from_secs_f64(age),
                    source: format!("secret {secret_id} last changed"),
                }
            }
            None => Age::Unknown(format!("secret {secret_id} has no LastChangedDate")),
        },
        Err(error) => Age::Unknown(format!(
            "secret {secret_id} not described: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(&error)
        )),
    }
}

/// Whole days, for the check line.
pub fn days(age: Duration) -> u64 {
    age.as_secs() / (24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_age_is_its_modification_time() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let source = CredentialSource::File(file.path().to_owned());
        match measure(&source, None).await {
            Age::Known { age, source } => {
                assert!(age < Duration::from_secs(60), "{age:?}");
                assert!(source.ends_with("last written"), "{source}");
            }
            other => panic!("{other:?}"),
        }
        let missing = CredentialSource::File("/nonexistent/cosell-credentials.json".into());
        assert!(matches!(measure(&missing, None).await, Age::Unknown(_)));
        assert_eq!(days(Duration::from_secs(3 * 24 * 3600 + 5)), 3);
    }
}
