//! Signed webhook delivery (contract §7).
//!
//! Each referral change becomes a job on a queue. One worker starts first attempts in order, at
//! most `delivery.concurrency` in flight (1: each waits for the one before). A failed delivery
//! (non-2xx, timeout, connection error) is retried in its own task on the
//! configured delays, up to `max_attempts` (10, like the real service), then parked in the
//! offline list. The knobs drop, duplicate or reorder (hold back) deliveries at a given rate,
//! drawn from the simulator's seeded dice. Everything is logged for `/_admin/partner-center`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::config::WebhookKnobs;
use super::signing::Signer;
use super::timestamp;
use crate::{Service, SimState};

/// What happened to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
}

/// The callback body, in the documented key order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope<'a> {
    event_name: &'a str,
    resource_uri: &'a str,
    resource_name: &'a str,
    audit_uri: Option<&'a str>,
    resource_change_utc_date: String,
}

/// One delivery to make.
#[derive(Debug, Clone)]
struct Job {
    id: u64,
    url: String,
    body: Bytes,
    correlation_id: Option<String>,
}

/// One delivery as the admin routes show it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: u64,
    pub event: String,
    pub resource_uri: String,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    /// Set on the second copy the duplicate knob made.
    pub duplicate_of: Option<u64>,
    /// Held back by the reorder knob.
    pub reordered: bool,
    pub correlation_id: Option<String>,
    /// The exact body sent (what the signature covers).
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    Queued,
    Retrying,
    Delivered,
    /// Lost by the drop knob: never sent.
    Dropped,
    /// Gave up after `max_attempts`: in the offline list.
    Parked,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: String,
    /// The receiver's status, or none when the request failed.
    pub status: Option<u16>,
    pub error: Option<String>,
}

pub struct Webhooks {
    knobs: Mutex<WebhookKnobs>,
    sender: mpsc::UnboundedSender<Job>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    log: Mutex<Vec<DeliveryRecord>>,
    next_id: AtomicU64,
}

impl Webhooks {
    pub fn new(knobs: WebhookKnobs) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            knobs: Mutex::new(knobs),
            sender,
            receiver: Mutex::new(Some(receiver)),
            log: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn knobs(&self) -> WebhookKnobs {
        self.knobs.lock().expect("knobs lock").clone()
    }

    pub fn set_knobs(&self, knobs: WebhookKnobs) {
        *self.knobs.lock().expect("knobs lock") = knobs;
    }

    /// Every delivery so far, oldest first.
    pub fn log(&self) -> Vec<DeliveryRecord> {
        self.log.lock().expect("delivery log lock").clone()
    }

    /// The offline list: deliveries that failed every attempt.
    pub fn parked(&self) -> Vec<DeliveryRecord> {
        self.log()
            .into_iter()
            .filter(|d| d.state == DeliveryState::Parked)
            .collect()
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut DeliveryRecord)) {
        let mut log = self.log.lock().expect("delivery log lock");
        if let Some(record) = log.iter_mut().find(|d| d.id == id) {
            change(record);
        }
    }

    /// Logs a copy of `job` under a new id (the duplicate knob).
    fn duplicate(&self, job: &Job) -> Job {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut log = self.log.lock().expect("delivery log lock");
        let original = log.iter().find(|d| d.id == job.id).cloned();
        if let Some(mut record) = original {
            record.id = id;
            record.duplicate_of = Some(job.id);
            record.attempts.clear();
            log.push(record);
        }
        Job { id, ..job.clone() }
    }
}

/// Queues the event for a referral change, if the partner registered for it. The event is
/// `related-referral-*` when another referral shares the engagement.
pub fn notify_referral(state: &SimState, change: Change, referral_id: &str) {
    let related = state
        .pc
        .store
        .lock()
        .expect("store lock")
        .has_related(referral_id);
    let event = match (change, related) {
        (Change::Created, false) => "referral-created",
        (Change::Updated, false) => "referral-updated",
        (Change::Created, true) => "related-referral-created",
        (Change::Updated, true) => "related-referral-updated",
    };
    let url = state
        .pc
        .registration
        .lock()
        .expect("registration lock")
        .url_for(event);
    let Some(url) = url else {
        state
            .counters
            .event(Service::PartnerCenter, "webhook-not-registered");
        return;
    };
    let resource_uri =
        format!("https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}");
    enqueue(state, event, &url, &resource_uri, "referral", None);
}

/// Queues one event for `url`.
pub fn enqueue(
    state: &SimState,
    event: &str,
    url: &str,
    resource_uri: &str,
    resource_name: &str,
    correlation_id: Option<String>,
) {
    let envelope = Envelope {
        event_name: event,
        resource_uri,
        resource_name,
        audit_uri: None,
        resource_change_utc_date: timestamp::envelope(OffsetDateTime::now_utc()),
    };
    let body = Bytes::from(serde_json::to_vec(&envelope).expect("an envelope serializes"));
    let webhooks = &state.pc.webhooks;
    let id = webhooks.next_id.fetch_add(1, Ordering::Relaxed);
    webhooks
        .log
        .lock()
        .expect("delivery log lock")
        .push(DeliveryRecord {
            id,
            event: event.to_owned(),
            resource_uri: resource_uri.to_owned(),
            url: url.to_owned(),
            state: DeliveryState::Queued,
            attempts: Vec::new(),
            duplicate_of: None,
            reordered: false,
            correlation_id: correlation_id.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    let job = Job {
        id,
        url: url.to_owned(),
        body,
        correlation_id,
    };
    // The worker is gone only when the simulator is shutting down.
    let _ = webhooks.sender.send(job);
}

/// Spawns the worker; it holds the state weakly and ends with the simulator.
pub fn start_worker(state: &Arc<SimState>) {
    let Some(receiver) = state
        .pc
        .webhooks
        .receiver
        .lock()
        .expect("receiver lock")
        .take()
    else {
        return; // already started
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(state.pc.config.delivery.timeout_ms))
        .build()
        .expect("a plain HTTP client builds");
    tokio::spawn(run(Arc::downgrade(state), receiver, client));
}

async fn run(
    state: Weak<SimState>,
    mut receiver: mpsc::UnboundedReceiver<Job>,
    client: reqwest::Client,
) {
    let mut held: VecDeque<(Instant, Job)> = VecDeque::new();
    let in_flight = state
        .upgrade()
        .map_or(1, |s| s.pc.config.delivery.concurrency.max(1));
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        let deadline = held.front().map(|(at, _)| *at);
        let job = tokio::select! {
            job = receiver.recv() => match job {
                Some(job) => job,
                None => return,
            },
            () = sleep_until(deadline), if deadline.is_some() => {
                let (_, job) = held.pop_front().expect("a held job");
                let Some(state) = state.upgrade() else { return };
                dispatch(&slots, &state, &client, job).await;
                continue;
            }
        };
        let Some(state) = state.upgrade() else { return };
        let knobs = state.pc.webhooks.knobs();
        let webhooks = &state.pc.webhooks;
        if roll(&state, knobs.drop_rate) {
            webhooks.update(job.id, |d| d.state = DeliveryState::Dropped);
            state
                .counters
                .event(Service::PartnerCenter, "webhook-dropped");
            continue;
        }
        if roll(&state, knobs.reorder_rate) {
            webhooks.update(job.id, |d| d.reordered = true);
            state
                .counters
                .event(Service::PartnerCenter, "webhook-reordered");
            let hold = Duration::from_millis(state.pc.config.delivery.reorder_hold_ms);
            held.push_back((Instant::now() + hold, job));
            continue;
        }
        let duplicate = roll(&state, knobs.duplicate_rate).then(|| webhooks.duplicate(&job));
        dispatch(&slots, &state, &client, job).await;
        if let Some(copy) = duplicate {
            state
                .counters
                .event(Service::PartnerCenter, "webhook-duplicated");
            dispatch(&slots, &state, &client, copy).await;
        }
        // What was held back arrives after a later event: out of order.
        while let Some((_, job)) = held.pop_front() {
            dispatch(&slots, &state, &client, job).await;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn roll(state: &SimState, rate: f64) -> bool {
    rate > 0.0 && state.faults.roll() < rate
}

/// Starts a delivery once a slot is free; the slot is held until its first attempt ends.
async fn dispatch(
    slots: &Arc<Semaphore>,
    state: &Arc<SimState>,
    client: &reqwest::Client,
    job: Job,
) {
    let Ok(slot) = slots.clone().acquire_owned().await else {
        return;
    };
    let (state, client) = (state.clone(), client.clone());
    tokio::spawn(async move {
        deliver(&state, &client, job).await;
        drop(slot);
    });
}

/// The first attempt, in line; on failure the rest of the ladder runs in its own task.
async fn deliver(state: &Arc<SimState>, client: &reqwest::Client, job: Job) {
    if attempt(state, client, &job).await {
        return;
    }
    let weak = Arc::downgrade(state);
    let client = client.clone();
    tokio::spawn(async move {
        let Some(delivery) = weak.upgrade().map(|s| s.pc.config.delivery.clone()) else {
            return;
        };
        for number in 2..=delivery.max_attempts {
            tokio::time::sleep(delivery.delay_before(number)).await;
            let Some(state) = weak.upgrade() else { return };
            if attempt(&state, &client, &job).await {
                return;
            }
        }
        let Some(state) = weak.upgrade() else { return };
        state
            .pc
            .webhooks
            .update(job.id, |d| d.state = DeliveryState::Parked);
        state
            .counters
            .event(Service::PartnerCenter, "webhook-parked");
        if let Some(correlation_id) = &job.correlation_id {
            state
                .pc
                .registration
                .lock()
                .expect("registration lock")
                .record_parked(correlation_id);
        }
        tracing::warn!(
            delivery = job.id,
            "webhook delivery parked after every attempt failed"
        );
    });
}

/// One signed POST; records the outcome and says whether it was delivered.
async fn attempt(state: &SimState, client: &reqwest::Client, job: &Job) -> bool {
    let signature = Signer::get().sign(&job.body);
    let mut request = client
        .post(&job.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-ms-certificate-url", &state.pc.certificate_url)
        .header("x-ms-signature-algorithm", "rsa-sha256")
        .body(job.body.clone());
    request = if state.pc.config.signature_in_ms_signature_header {
        request.header("x-ms-signature", signature)
    } else {
        request.header(
            reqwest::header::AUTHORIZATION,
            format!("Signature {signature}"),
        )
    };
    let outcome = request.send().await;
    let now = OffsetDateTime::now_utc();
    let (status, error) = match &outcome {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let record = Attempt {
        at: timestamp::referral(now),
        status,
        error: error.clone(),
    };
    state.pc.webhooks.update(job.id, |d| {
        d.attempts.push(record);
        d.state = if delivered {
            DeliveryState::Delivered
        } else {
            DeliveryState::Retrying
        };
    });
    let event = if delivered {
        "webhook-delivered"
    } else {
        "webhook-attempt-failed"
    };
    state.counters.event(Service::PartnerCenter, event);
    if let Some(correlation_id) = &job.correlation_id {
        let result = serde_json::json!({
            "responseCode": status.map_or_else(|| "0".to_owned(), |s| s.to_string()),
            "responseMessage": status.map(|s| reqwest::StatusCode::from_u16(s).map(|c| c.canonical_reason().unwrap_or("").to_owned()).unwrap_or_default()),
            "systemError": error,
            "dateTimeUtc": timestamp::referral(now),
        });
        state
            .pc
            .registration
            .lock()
            .expect("registration lock")
            .record_attempt(correlation_id, result, delivered);
    }
    delivered
}
