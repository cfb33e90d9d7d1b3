//! The callers' side: Partner Center's signed webhook deliveries and Dataverse's webhook calls,
//! sent to the stack's server as the services send them.
//!
//! Deliveries are signed by the benchmark with the simulator's own signing key and certificate
//! URL (what the simulator's delivery worker does), rather than by that worker: it sends first
//! attempts one at a time, in order, so it cannot keep 16 deliveries in flight. Each is signed
//! before the clock starts, so the RSA signing does not compete with the handlers for the CPU.

use std::time::Duration;

use bytes::Bytes;
use cosell_sim::partner_center::signing::Signer;
use cosell_sim::partner_center::timestamp;
use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use crate::stack::{
    DATAVERSE_ROUTE, DATAVERSE_WEBHOOK_HEADER, DATAVERSE_WEBHOOK_KEY, HANDLED_HEADER,
    PARTNER_CENTER_ROUTE, Stack,
};

/// One webhook call's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub text: String,
    /// Request arrival → answer, measured by the server.
    pub handled: Duration,
    /// Send → full answer, measured by the caller (adds the loopback hop and the client).
    pub round_trip: Duration,
}

impl Answer {
    /// 200 and the handler's one-line summary starts with `word` (`synced`, `duplicate`…).
    pub fn is(&self, word: &str) -> bool {
        self.status == 200 && self.text.starts_with(word)
    }
}

/// A Partner Center callback, signed and ready to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub referral_id: String,
    pub body: Bytes,
    signature: String,
}

impl Delivery {
    /// `event` (`referral-created`, `referral-updated`) for `referral_id`, dated now.
    pub fn new(event: &str, referral_id: &str) -> Delivery {
        let body = json!({
            "EventName": event,
            "ResourceUri": format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"),
            "ResourceName": "referral",
            "AuditUri": null,
            "ResourceChangeUtcDate": timestamp::envelope(OffsetDateTime::now_utc()),
        });
        let body = Bytes::from(body.to_string());
        Delivery {
            referral_id: referral_id.to_owned(),
            signature: Signer::get().sign(&body),
            body,
        }
    }

    pub async fn send(&self, stack: &Stack) -> anyhow::Result<Answer> {
        let request = stack
            .client
            .post(format!("{}{PARTNER_CENTER_ROUTE}", stack.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-ms-certificate-url", &stack.sim.state.pc.certificate_url)
            .header("x-ms-signature-algorithm", "rsa-sha256")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Signature {}", self.signature),
            )
            .body(self.body.clone());
        answer(request).await
    }
}

/// Dataverse's webhook call for an update of opportunity `id` (its service endpoint posts the
/// `RemoteExecutionContext`; the handler reads only which row changed).
pub async fn dataverse_update(stack: &Stack, id: Uuid) -> anyhow::Result<Answer> {
    let context = json!({
        "MessageName": "Update",
        "PrimaryEntityId": id,
        "PrimaryEntityName": "opportunity",
        "Depth": 1,
        "Stage": 40,
        "InputParameters": [{"key": "Target", "value": {"Id": id, "LogicalName": "opportunity"}}],
    });
    let request = stack
        .client
        .post(format!("{}{DATAVERSE_ROUTE}", stack.url))
        .header(DATAVERSE_WEBHOOK_HEADER, DATAVERSE_WEBHOOK_KEY)
        .json(&context);
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
    let sent = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let handled = response
        .headers()
        .get(HANDLED_HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map(Duration::from_micros)
        .ok_or_else(|| anyhow::anyhow!("the answer has no {HANDLED_HEADER} header"))?;
    let text = response.text().await?;
    Ok(Answer {
        status,
        text: text.trim_end().to_owned(),
        handled,
        round_trip: sent.elapsed(),
    })
}
