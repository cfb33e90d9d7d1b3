//! `cosell webhooks register|show|test`: Partner Center's webhook registration, through the
//! client's registration calls.
//!
//! - `register [URL]` subscribes URL (default `COSELL_WEBHOOK_URL`) to the four referral events,
//!   plus `test-created` so `test` can be used (the ingress ignores it). Partner Center keeps one
//!   URL per partner and refuses a `POST` over an existing registration, so an existing one —
//!   typically Microsoft's Power Automate flow — is replaced by `PUT`
//!   ([`PartnerCenter::register_webhook`]). What it replaces is printed and saved first
//!   (`--save`, default `cosell-webhook-previous.json`), so a migration can be rolled back with
//!   `register` and that URL. Registering the URL that is already there leaves the saved file
//!   alone, so a second run never overwrites the rollback with our own URL.
//! - `show` prints the registration.
//! - `test` asks Partner Center to send a `test-created` event (2 per minute; a 429 is waited out
//!   by the client) and polls its delivery status until it is delivered, fails, or `--timeout`
//!   passes ([`prove`], which `setup` runs too).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cosell_partner_center::webhook::config::{ENV_CERT_HOSTS, ENV_TRUST_ROOTS};
use cosell_partner_center::{
    PartnerCenter, ValidationResult, ValidationStatus, WebhookEvent, WebhookRegistration,
};
use cosell_runtime::Runtime;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::keys;
use crate::context::Context;
use crate::output::{self, FAILED, OK, Report};

/// Where `register` saves the registration it replaces, unless told otherwise.
pub const DEFAULT_SAVE_FILE: &str = "cosell-webhook-previous.json";

/// A registration as cosell prints and saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub webhook_url: String,
    pub webhook_events: Vec<String>,
    pub subscriber_id: Option<String>,
}

impl From<&WebhookRegistration> for Registration {
    fn from(r: &WebhookRegistration) -> Self {
        Self {
            webhook_url: r.webhook_url.clone(),
            webhook_events: r
                .webhook_events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            subscriber_id: r.subscriber_id.clone(),
        }
    }
}

impl Registration {
    fn line(&self) -> String {
        let subscriber = self
            .subscriber_id
            .as_deref()
            .map(|s| format!("  (subscriber {s})"))
            .unwrap_or_default();
        format!(
            "{} — {}{subscriber}",
            self.webhook_url,
            self.webhook_events.join(", ")
        )
    }
}

/// The file `register` writes: what was replaced, when, and by what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub previous: Registration,
    #[serde(with = "time::serde::rfc3339")]
    pub replaced_at: OffsetDateTime,
    pub replaced_by: String,
}

/// Builds the Partner Center client from the settings (the other clients are built too, cheaply;
/// nothing is called).
async fn partner_center(ctx: &Context) -> anyhow::Result<(PartnerCenter, Option<String>)> {
    let config = ctx.config()?.with_default_store();
    let runtime = Runtime::start(config.runtime()?).await?;
    Ok((runtime.partner_center, config.get(keys::WEBHOOK_URL)))
}

// ---- register ----

#[derive(Debug, Serialize)]
pub struct Registered {
    pub registered: Registration,
    /// What was there before (`None`: nothing was registered).
    pub previous: Option<Registration>,
    /// Where `previous` was saved (`None` when nothing was replaced).
    pub saved_to: Option<PathBuf>,
}

impl Report for Registered {
    fn human(&self) -> String {
        let mut out = format!("{OK} registered {}\n", self.registered.line());
        match (&self.previous, &self.saved_to) {
            (None, _) => out.push_str("  nothing was registered before\n"),
            (Some(previous), Some(file)) => out.push_str(&format!(
                "  replaced {}\n  saved to {}; roll back with: cosell webhooks register '{}'\n",
                previous.line(),
                file.display(),
                previous.webhook_url
            )),
            (Some(_), None) => {
                out.push_str("  the same URL was already registered; nothing saved\n")
            }
        }
        out
    }
}

pub fn register(ctx: &Context, url: Option<String>, save: &Path) -> ExitCode {
    let result = ctx.block_on(async {
        let (pc, configured) = partner_center(ctx).await?;
        let url = url
            .or(configured)
            .with_context(|| format!("give the URL to register, or set {}", keys::WEBHOOK_URL))?;
        let previous = pc.view_webhook().await?.map(|r| Registration::from(&r));
        let replaced = previous
            .as_ref()
            .filter(|p| p.webhook_url.trim_end_matches('/') != url.trim_end_matches('/'));
        // Saved before overwriting: if saving fails, nothing is lost.
        let saved_to = match replaced {
            Some(previous) => {
                save_previous(save, previous, &url)?;
                Some(save.to_owned())
            }
            None => None,
        };
        let mut events = WebhookEvent::REFERRALS.to_vec();
        events.push(WebhookEvent::TestCreated);
        let registered = pc
            .register_webhook(&WebhookRegistration::new(url, events), previous.is_some())
            .await?;
        anyhow::Ok(Registered {
            registered: Registration::from(&registered),
            previous,
            saved_to,
        })
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "webhooks register", &error),
    }
}

fn save_previous(path: &Path, previous: &Registration, by: &str) -> anyhow::Result<()> {
    let saved = Saved {
        previous: previous.clone(),
        replaced_at: OffsetDateTime::now_utc(),
        replaced_by: by.to_owned(),
    };
    let text = serde_json::to_string_pretty(&saved).expect("a registration serialises");
    std::fs::write(path, text + "\n")
        .with_context(|| format!("saving the replaced registration to {}", path.display()))
}

// ---- show ----

#[derive(Debug, Serialize)]
pub struct Shown {
    pub registration: Option<Registration>,
}

impl Report for Shown {
    fn human(&self) -> String {
        match &self.registration {
            Some(registration) => format!("{}\n", registration.line()),
            None => "no webhook is registered\n".into(),
        }
    }
}

pub fn show(ctx: &Context) -> ExitCode {
    let result = ctx.block_on(async {
        let (pc, _) = partner_center(ctx).await?;
        let registration = pc.view_webhook().await?;
        anyhow::Ok(Shown {
            registration: registration.as_ref().map(Registration::from),
        })
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "webhooks show", &error),
    }
}

// ---- test ----

#[derive(Debug, Serialize)]
pub struct Attempt {
    pub response_code: Option<String>,
    pub response_message: Option<String>,
    pub system_error: Option<String>,
    pub date_time_utc: Option<String>,
}

impl From<&ValidationResult> for Attempt {
    fn from(r: &ValidationResult) -> Self {
        Self {
            response_code: r.response_code.clone(),
            response_message: r.response_message.clone(),
            system_error: r.system_error.clone(),
            date_time_utc: r.date_time_utc.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Tested {
    pub correlation_id: String,
    pub delivered: bool,
    /// Partner Center's status word (undocumented; the simulator says pending, completed, failed).
    pub status: Option<String>,
    pub callback_url: Option<String>,
    /// `true` when the timeout passed before a final status.
    pub timed_out: bool,
    pub attempts: Vec<Attempt>,
}

impl Tested {
    /// The receiver's last answer, `HTTP 401 …`, or `no attempt yet`.
    fn last(&self) -> String {
        self.attempts
            .last()
            .map(|a| {
                let code = a.response_code.as_deref().unwrap_or("no answer");
                let text = a
                    .response_message
                    .as_deref()
                    .or(a.system_error.as_deref())
                    .unwrap_or("")
                    .trim();
                format!("HTTP {code} {text}").trim().to_owned()
            })
            .unwrap_or_else(|| "no attempt yet".into())
    }

    /// The receiver refused the signature: cosell's ingress answers 401 to a callback it cannot
    /// verify, before reading its body.
    fn signature_refused(&self) -> bool {
        self.attempts
            .last()
            .and_then(|a| a.response_code.as_deref())
            == Some("401")
    }
}

impl Report for Tested {
    fn human(&self) -> String {
        let last = self.last();
        let url = self.callback_url.as_deref().unwrap_or("the registered URL");
        let attempts = self.attempts.len();
        if self.delivered {
            format!(
                "{OK} test event {} delivered to {url} and verified by cosell ({last}; {attempts} attempt{})\n",
                self.correlation_id,
                if attempts == 1 { "" } else { "s" }
            )
        } else if self.signature_refused() {
            format!(
                "{FAILED} test event {} reached {url}, which refused its signature ({last}) — \
                 Partner Center's signing certificate must chain to the trust roots \
                 ({ENV_TRUST_ROOTS}) and come from an allowed host ({ENV_CERT_HOSTS})\n",
                self.correlation_id
            )
        } else if self.timed_out {
            format!(
                "{FAILED} test event {} not delivered to {url} in time — last: {last} — check that the URL is reachable from the internet and answers 200\n",
                self.correlation_id
            )
        } else {
            format!(
                "{FAILED} test event {} failed ({}) — last: {last} — check that the URL answers 200 to a signed POST\n",
                self.correlation_id,
                self.status.as_deref().unwrap_or("no status")
            )
        }
    }

    fn ok(&self) -> bool {
        self.delivered
    }
}

/// Delivered: a 2xx attempt, or a status saying so.
fn delivered(status: &ValidationStatus) -> bool {
    let word = status.status.as_deref().unwrap_or("").to_ascii_lowercase();
    matches!(
        word.as_str(),
        "completed" | "succeeded" | "success" | "delivered"
    ) || status.results.iter().any(|r| {
        r.response_code
            .as_deref()
            .is_some_and(|c| c.starts_with('2'))
    })
}

/// Still going: no status yet, or one that says so — unless the receiver refused the signature,
/// which Partner Center's retries cannot change.
fn pending(status: &ValidationStatus) -> bool {
    let word = status.status.as_deref().unwrap_or("").to_ascii_lowercase();
    let refused = status
        .results
        .last()
        .is_some_and(|r| r.response_code.as_deref() == Some("401"));
    !refused
        && matches!(
            word.as_str(),
            "" | "pending" | "inprogress" | "in progress" | "queued" | "retrying"
        )
}

/// Asks Partner Center for a `test-created` event and polls its delivery status until it is
/// delivered, refused or failed, or `timeout` passes.
pub async fn prove(pc: &PartnerCenter, timeout: Duration) -> anyhow::Result<Tested> {
    let deadline = Instant::now() + timeout;
    let event = pc.send_test_event().await?;
    loop {
        let status = pc.test_event_status(&event.correlation_id).await?;
        let done = delivered(&status) || !pending(&status);
        let timed_out = !done && Instant::now() >= deadline;
        if done || timed_out {
            return Ok(Tested {
                correlation_id: status.correlation_id.clone(),
                delivered: delivered(&status),
                status: status.status.clone(),
                callback_url: status.callback_url.clone(),
                timed_out,
                attempts: status.results.iter().map(Attempt::from).collect(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn test(ctx: &Context, timeout: Duration) -> ExitCode {
    let result = ctx.block_on(async {
        let (pc, _) = partner_center(ctx).await?;
        prove(&pc, timeout).await
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "webhooks test", &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(word: Option<&str>, codes: &[&str]) -> ValidationStatus {
        ValidationStatus {
            correlation_id: "c".into(),
            status: word.map(str::to_owned),
            callback_url: None,
            results: codes
                .iter()
                .map(|c| ValidationResult {
                    response_code: Some((*c).to_owned()),
                    response_message: None,
                    system_error: None,
                    date_time_utc: None,
                })
                .collect(),
        }
    }

    #[test]
    fn delivery_status_words_are_read_tolerantly() {
        assert!(delivered(&status(Some("completed"), &[])));
        assert!(delivered(&status(Some("pending"), &["500", "200"])));
        assert!(!delivered(&status(Some("pending"), &["401"])));
        assert!(pending(&status(Some("Pending"), &["503"])));
        assert!(pending(&status(None, &[])));
        assert!(!pending(&status(Some("failed"), &["401"])));
        assert!(
            !pending(&status(Some("pending"), &["500", "401"])),
            "refused"
        );
        assert!(pending(&status(Some("pending"), &["401", "503"])));
    }
}
