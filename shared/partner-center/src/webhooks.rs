//! Webhook registration (contract §7), with a token for `api.partnercenter.microsoft.com`.
//! One URL per partner for the events it lists. Registering never overwrites: Microsoft's REST
//! reference ("Webhook - Create Registration Partner") refuses a `POST` when a registration
//! exists ("registration already exists, please use PUT"); [`PartnerCenter::register_webhook`]
//! takes whichever of `PUT` and `POST` the service accepts.

use std::fmt;

use cosell_transport::read_json;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::auth::Audience;
use crate::client::{PartnerCenter, call};
use crate::error::Error;

/// A webhook event name. Names this version does not know are kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    ReferralCreated,
    ReferralUpdated,
    RelatedReferralCreated,
    RelatedReferralUpdated,
    /// Sent by [`PartnerCenter::send_test_event`].
    TestCreated,
    Other(String),
}

impl WebhookEvent {
    /// The four referral events cosell listens to.
    pub const REFERRALS: [WebhookEvent; 4] = [
        WebhookEvent::ReferralCreated,
        WebhookEvent::ReferralUpdated,
        WebhookEvent::RelatedReferralCreated,
        WebhookEvent::RelatedReferralUpdated,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            WebhookEvent::ReferralCreated => "referral-created",
            WebhookEvent::ReferralUpdated => "referral-updated",
            WebhookEvent::RelatedReferralCreated => "related-referral-created",
            WebhookEvent::RelatedReferralUpdated => "related-referral-updated",
            WebhookEvent::TestCreated => "test-created",
            WebhookEvent::Other(name) => name,
        }
    }
}

impl From<&str> for WebhookEvent {
    fn from(name: &str) -> Self {
        [
            WebhookEvent::ReferralCreated,
            WebhookEvent::ReferralUpdated,
            WebhookEvent::RelatedReferralCreated,
            WebhookEvent::RelatedReferralUpdated,
            WebhookEvent::TestCreated,
        ]
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| WebhookEvent::Other(name.to_owned()))
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WebhookEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(WebhookEvent::from(
            String::deserialize(deserializer)?.as_str(),
        ))
    }
}

/// The partner's registration: where events go and which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRegistration {
    #[serde(rename = "WebhookUrl", alias = "webhookUrl")]
    pub webhook_url: String,
    #[serde(rename = "WebhookEvents", alias = "webhookEvents")]
    pub webhook_events: Vec<WebhookEvent>,
    /// Set by the service.
    #[serde(
        rename = "SubscriberId",
        alias = "subscriberId",
        default,
        skip_serializing
    )]
    pub subscriber_id: Option<String>,
}

impl WebhookRegistration {
    pub fn new(
        webhook_url: impl Into<String>,
        webhook_events: impl Into<Vec<WebhookEvent>>,
    ) -> Self {
        Self {
            webhook_url: webhook_url.into(),
            webhook_events: webhook_events.into(),
            subscriber_id: None,
        }
    }
}

/// The answer to [`PartnerCenter::send_test_event`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationEvent {
    pub correlation_id: String,
}

/// How a test event's delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationStatus {
    pub correlation_id: String,
    /// Undocumented values; the simulator says `pending`, `completed` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub results: Vec<ValidationResult>,
}

/// One delivery attempt of a test event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResult {
    /// The receiver's HTTP status, as a number or a string.
    #[serde(default, deserialize_with = "text_or_number")]
    pub response_code: Option<String>,
    #[serde(default)]
    pub response_message: Option<String>,
    #[serde(default)]
    pub system_error: Option<String>,
    #[serde(default)]
    pub date_time_utc: Option<String>,
}

/// Whether a refused `POST` may be Partner Center's "registration already exists, please use
/// PUT", whose status Microsoft does not publish: any 4xx but the sign-in's (401, 403) and
/// throttling's (429).
fn may_mean_exists(error: &Error) -> bool {
    error
        .status()
        .is_some_and(|s| (400..500).contains(&s) && !matches!(s, 401 | 403 | 429))
}

fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl PartnerCenter {
    /// The event names the partner may register for.
    pub async fn webhook_events(&self) -> Result<Vec<WebhookEvent>, Error> {
        let call = call("list webhook events", true);
        let url = self.registration_url("/events");
        let response = self.send(Audience::Webhooks, call, |c| c.get(&url)).await?;
        Ok(read_json(call, response).await?)
    }

    /// Puts `registration` in place, whatever is there now: `PUT` over an existing registration,
    /// `POST` when there is none. `exists` is the caller's last [`view_webhook`](Self::view_webhook)
    /// and picks the first request; each falls back to the other, so a registration made or
    /// removed in between, or a view that was wrong, still ends registered:
    /// - a `POST` refused with any 4xx but 401, 403 and 429 is sent again as `PUT` — Microsoft
    ///   names no status for "registration already exists, please use PUT" ("other status
    ///   codes"); if that `PUT` finds no registration (404), the `POST`'s refusal is the answer;
    /// - a `PUT` that finds no registration (404) is sent again as `POST`.
    ///
    /// The answer carries the `SubscriberId`.
    pub async fn register_webhook(
        &self,
        registration: &WebhookRegistration,
        exists: bool,
    ) -> Result<WebhookRegistration, Error> {
        if exists {
            return match self.update_webhook(registration).await {
                Err(none) if none.is_not_found() => self.create_webhook(registration).await,
                answer => answer,
            };
        }
        match self.create_webhook(registration).await {
            Err(refused) if may_mean_exists(&refused) => {
                match self.update_webhook(registration).await {
                    Err(none) if none.is_not_found() => Err(refused),
                    answer => answer,
                }
            }
            answer => answer,
        }
    }

    /// `POST`: creates the registration; refused when one exists.
    async fn create_webhook(
        &self,
        registration: &WebhookRegistration,
    ) -> Result<WebhookRegistration, Error> {
        // Safe to repeat: a retry after a lost answer is refused as existing, and
        // register_webhook's PUT fallback then puts the same body in place.
        let call = call("register webhook", true);
        let url = self.registration_url("");
        let response = self
            .send(Audience::Webhooks, call, |c| {
                c.post(&url).json(registration)
            })
            .await?;
        Ok(read_json(call, response).await?)
    }

    /// The current registration, or `None` when there is none.
    pub async fn view_webhook(&self) -> Result<Option<WebhookRegistration>, Error> {
        let call = call("view webhook registration", true);
        let url = self.registration_url("");
        match self.send(Audience::Webhooks, call, |c| c.get(&url)).await {
            Ok(response) => Ok(Some(read_json(call, response).await?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT`: replaces the existing registration (404 when there is none).
    pub async fn update_webhook(
        &self,
        registration: &WebhookRegistration,
    ) -> Result<WebhookRegistration, Error> {
        let call = call("update webhook registration", true);
        let url = self.registration_url("");
        let response = self
            .send(Audience::Webhooks, call, |c| c.put(&url).json(registration))
            .await?;
        Ok(read_json(call, response).await?)
    }

    /// Asks Partner Center to send a `test-created` event to the registered URL (the event must
    /// be registered; the service allows 2 per minute).
    pub async fn send_test_event(&self) -> Result<ValidationEvent, Error> {
        let call = call("send webhook test event", false);
        let url = self.registration_url("/validationEvents");
        let response = self
            .send(Audience::Webhooks, call, |c| c.post(&url))
            .await?;
        Ok(read_json(call, response).await?)
    }

    /// How the test event `correlation_id` was delivered.
    pub async fn test_event_status(&self, correlation_id: &str) -> Result<ValidationStatus, Error> {
        let call = call("get webhook test event status", true);
        let mut url = url::Url::parse(&self.registration_url("/validationEvents"))
            .expect("registration_base_url is a URL");
        url.path_segments_mut()
            .expect("registration_base_url is an http(s) URL")
            .push(correlation_id);
        let response = self
            .send(Audience::Webhooks, call, |c| c.get(url.clone()))
            .await?;
        Ok(read_json(call, response).await?)
    }

    fn registration_url(&self, suffix: &str) -> String {
        let base = self
            .inner
            .config
            .registration_base_url
            .trim_end_matches('/');
        format!("{base}{suffix}")
    }
}
