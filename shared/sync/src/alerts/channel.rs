//! Where alerts are posted: the [`Channel`] port and its one adapter, an incoming webhook URL
//! (Teams Workflows or Slack). The URL is a secret — it is the credential — so it is never logged
//! nor put in an error.

use std::time::Duration;

use async_trait::async_trait;
use cosell_transport::Secret;
use serde_json::Value;

use super::Alert;
use super::message::{self, Links};

/// Why a post failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PostError {
    /// The webhook answered 4xx: the same post will not succeed (a deleted workflow, a revoked
    /// Slack hook, a payload it refuses).
    #[error("the {channel} webhook refused the alert: HTTP {status}: {answer}")]
    Refused {
        channel: String,
        status: u16,
        answer: String,
    },
    /// 5xx, 429, a timeout, no connection: may succeed later.
    #[error("the {channel} webhook did not take the alert: {problem}")]
    Failed { channel: String, problem: String },
}

impl PostError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

/// A place alerts are posted to.
#[async_trait]
pub trait Channel: Send + Sync {
    /// The name in item ids (`teams`, `slack`).
    fn name(&self) -> &str;

    /// Posts `alerts` as one message.
    async fn post(&self, alerts: &[Alert]) -> Result<(), PostError>;
}

/// The channels a process posts to, compared and printed by name (their URLs are secrets).
#[derive(Clone, Default)]
pub struct Channels(pub Vec<std::sync::Arc<dyn Channel>>);

impl Channels {
    /// Their names, for [`super::Alerts`]: the channels alert items are queued for.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|c| c.name().to_owned()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PartialEq for Channels {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for Channels {}

/// The two kinds of incoming webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Teams Workflows webhook: an Adaptive Card message. (Teams' Office 365 connector
    /// webhooks are being retired; their MessageCard payload is not sent.)
    Teams,
    /// A Slack incoming webhook: Block Kit.
    Slack,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Teams => "teams",
            Self::Slack => "slack",
        }
    }
}

/// An incoming webhook.
pub struct Webhook {
    kind: Kind,
    url: Secret,
    links: Links,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(kind: Kind, url: Secret, links: Links) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            kind,
            url,
            links,
            http,
        }
    }

    fn body(&self, alerts: &[Alert]) -> Value {
        match self.kind {
            Kind::Teams => message::teams(alerts, &self.links),
            Kind::Slack => message::slack(alerts, &self.links),
        }
    }
}

#[async_trait]
impl Channel for Webhook {
    fn name(&self) -> &str {
        self.kind.name()
    }

    async fn post(&self, alerts: &[Alert]) -> Result<(), PostError> {
        let channel = self.name().to_owned();
        let failed = |problem: String| PostError::Failed {
            channel: channel.clone(),
            problem,
        };
        let response = self
            .http
            .post(self.url.expose())
            .json(&self.body(alerts))
            .send()
            .await
            // Without the URL: reqwest's error would print it.
            .map_err(|e| {
                failed(
                    if e.is_timeout() {
                        "timed out"
                    } else {
                        "no answer"
                    }
                    .into(),
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        if status.is_client_error() && status.as_u16() != 429 {
            return Err(PostError::Refused {
                channel,
                status: status.as_u16(),
                answer,
            });
        }
        Err(failed(format!("HTTP {}", status.as_u16())))
    }
}
