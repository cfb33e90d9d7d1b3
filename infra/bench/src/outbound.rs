//! Outbound latency, seller's edit → referral written in Partner Center, by both triggers:
//!
//! - **the Dataverse webhook**: the edit, then Dataverse's call to outbound-sync's webhook
//!   handler, which reads the row, sends the referral (POST for a new deal, one JSON Patch for a
//!   change), writes ✔ and Audit back, stores the link, and only then answers; timed from
//!   request arrival to answer, as inbound;
//! - **the schedule**: the change-feed poll run as `cosell serve` runs it (at start, then
//!   `interval` after each run ends); timed from each edit to the moment the simulator holds the
//!   new deal value, so it includes the wait for the next poll.
//!
//! - **the webhook `cosell setup` registers**: the service endpoint and its steps written as
//!   setup writes them, then each edit delivered by the simulated Dataverse itself (no poll
//!   runs); timed from each edit to the moment the simulator holds the new value.
//!
//! Sellers' edits arrive at random moments at `edits_per_sec` on average (an open arrival, not
//! a closed loop of callers), for each phase: deals marked for sync, then edited with the
//! webhook, then edited under the schedule, then edited with the registered webhook.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use rand::Rng as _;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use crate::deliver::{self, Answer};
use crate::seed;
use crate::stack::{Options, Stack};
use crate::stats::Latencies;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Deals created, then edited through the webhook, then edited again under the schedule.
    pub deals: usize,
    /// Sellers' edits per second, on average.
    pub edits_per_sec: f64,
    /// The schedule's interval between the end of one poll and the start of the next.
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub deals: usize,
    pub edits_per_sec: f64,
    /// A new deal marked for sync → referral created (POST) and written back.
    pub webhook_create: Latencies,
    /// A deal value edit → JSON Patch sent and written back.
    pub webhook_update: Latencies,
    pub poll_interval_ms: u64,
    /// Edit → new value in Partner Center, under the schedule.
    pub schedule_update: Latencies,
    pub polls: usize,
    /// How long each poll run took.
    pub poll_runs: Latencies,
    /// Edit → new value in Partner Center, through the webhook registered as `setup` does and
    /// delivered by the simulator.
    pub delivered_update: Latencies,
}

pub async fn run(config: Config) -> anyhow::Result<Outcome> {
    let stack = Stack::start(Options {
        ..Options::default()
    })
    .await?;
    let currency = seed::currency(&stack)?;
    let deals = (0..config.deals)
        .map(|n| seed::deal(&stack, currency, n))
        .collect::<anyhow::Result<Vec<Uuid>>>()?;
    let span = Duration::from_secs_f64(config.deals as f64 / config.edits_per_sec);

    // Each deal was marked for sync: its webhook creates its referral.
    let created = paced_webhooks(&stack, &deals, span, "created", |_, _| Ok(())).await?;
    let referrals = deals
        .iter()
        .map(|id| seed::referral_of(&stack, *id).context("a created deal names its referral"))
        .collect::<anyhow::Result<Vec<String>>>()?;

    // Each deal's value edited, then its webhook.
    let value = |phase: u64, n: usize| phase * 1_000_000 + n as u64;
    let updated = paced_webhooks(&stack, &deals, span, "updated", |n, id| {
        seed::edit_value(&stack, id, value(1, n))
    })
    .await?;
    for (n, referral) in referrals.iter().enumerate() {
        let held = seed::deal_value_in_partner_center(&stack, referral);
        anyhow::ensure!(
            held == Some(value(1, n) as f64),
            "referral {referral} holds {held:?} after its webhook, not {}",
            value(1, n)
        );
    }

    // The schedule: one untimed poll takes the change feed's baseline (every row, unchanged),
    // then the polls run on their interval while sellers edit.
    outbound_sync::poll(&stack.services.outbound, OffsetDateTime::now_utc()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let schedule = tokio::spawn(poll_loop(
        stack.services.clone(),
        config.poll_interval,
        stop.clone(),
    ));
    let edits: Vec<(Duration, usize)> = arrivals(config.deals, span).into_iter().zip(0..).collect();
    let within = span + config.poll_interval * 10 + Duration::from_secs(60);
    let scheduled = watch_edits(&stack, &deals, &referrals, edits, |n| value(2, n), within).await;
    stop.store(true, Ordering::SeqCst);
    let poll_runs = schedule.await.context("the poll loop")??;
    let scheduled = scheduled?;

    // The webhook `cosell setup` registers, delivered by the simulator: no poll runs now.
    register_webhook(&stack).await?;
    let edits: Vec<(Duration, usize)> = arrivals(config.deals, span).into_iter().zip(0..).collect();
    let within = span + Duration::from_secs(60);
    let delivered = watch_edits(&stack, &deals, &referrals, edits, |n| value(3, n), within).await?;

    Ok(Outcome {
        deals: config.deals,
        edits_per_sec: config.edits_per_sec,
        webhook_create: Latencies::of(&created).context("no create timed")?,
        webhook_update: Latencies::of(&updated).context("no update timed")?,
        poll_interval_ms: config.poll_interval.as_millis() as u64,
        schedule_update: Latencies::of(&scheduled).context("no scheduled edit timed")?,
        polls: poll_runs.len(),
        poll_runs: Latencies::of(&poll_runs).context("no poll ran")?,
        delivered_update: Latencies::of(&delivered).context("no delivered edit timed")?,
    })
}

/// The Dataverse webhook as `cosell setup` registers it: an endpoint at the stack's route with
/// the stack's key (WebhookKey), and the opportunity Update step watching what the outbound
/// sync reads.
async fn register_webhook(stack: &Stack) -> anyhow::Result<()> {
    use cosell_dataverse::pipeline::{Apply, StepSpec};
    let dataverse = stack.dataverse()?;
    let url = format!("{}{}", stack.url, crate::stack::DATAVERSE_ROUTE);
    let key = cosell_transport::Secret::new(crate::stack::DATAVERSE_WEBHOOK_KEY);
    let (endpoint, _) = dataverse
        .ensure_webhook_endpoint("cosell outbound sync", &url, &key, true, Apply::Write)
        .await?;
    let read =
        cosell_mapping::outbound::OutboundInput::select(&cosell_mapping::CrmConfig::default());
    let update = StepSpec {
        name: "cosell: Update of opportunity".into(),
        message: "Update".into(),
        table: Some("opportunity".into()),
        filtering_attributes: Some(read.join(",")),
        pre_image: None,
    };
    dataverse
        .ensure_step(&update, endpoint, Apply::Write)
        .await?;
    Ok(())
}

/// `count` moments spread at random over `span`, in order.
fn arrivals(count: usize, span: Duration) -> Vec<Duration> {
    let mut rng = rand::rng();
    let mut at: Vec<Duration> = (0..count)
        .map(|_| span.mul_f64(rng.random::<f64>()))
        .collect();
    at.sort();
    at
}

/// For each deal, at a random moment within `span`: `before` (the seller's edit), then its
/// webhook; every answer must start with `expected`. The handlers' times.
async fn paced_webhooks(
    stack: &Stack,
    deals: &[Uuid],
    span: Duration,
    expected: &str,
    before: impl Fn(usize, Uuid) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let before = &before;
    let started = Instant::now();
    let moments = arrivals(deals.len(), span);
    let answers: Vec<anyhow::Result<Answer>> =
        futures::stream::iter(moments.into_iter().enumerate())
            .map(|(n, at)| async move {
                tokio::time::sleep_until(started + at).await;
                before(n, deals[n])?;
                deliver::dataverse_update(stack, deals[n]).await
            })
            .buffer_unordered(deals.len().max(1))
            .collect()
            .await;
    let mut times = Vec::with_capacity(answers.len());
    for answer in answers {
        let answer = answer?;
        anyhow::ensure!(
            answer.is(expected),
            "a Dataverse webhook was answered {} {} (expected {expected})",
            answer.status,
            answer.text
        );
        times.push(answer.handled);
    }
    Ok(times)
}

/// `serve`'s schedule: a poll at start, then `interval` after each run ends, until `stop`.
async fn poll_loop(
    services: Arc<cosell_host::Apps>,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Duration>> {
    let mut runs = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        outbound_sync::poll(&services.outbound, OffsetDateTime::now_utc()).await?;
        runs.push(started.elapsed());
        let wake = Instant::now() + interval;
        while Instant::now() < wake && !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5).min(interval)).await;
        }
    }
    Ok(runs)
}

/// Makes each edit at its moment and notes when Partner Center holds its value (checked every
/// millisecond); edit → held, per edit.
async fn watch_edits(
    stack: &Stack,
    deals: &[Uuid],
    referrals: &[String],
    edits: Vec<(Duration, usize)>,
    value: impl Fn(usize) -> u64,
    within: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let started = Instant::now();
    let deadline = started + within;
    let mut due: VecDeque<(Duration, usize)> = edits.into();
    let mut pending: Vec<(usize, Instant)> = Vec::new();
    let mut done = Vec::with_capacity(due.len());
    while !(due.is_empty() && pending.is_empty()) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} scheduled edits not in Partner Center after {:?}",
            pending.len() + due.len(),
            deadline - started
        );
        while let Some((at, n)) = due.front().copied() {
            if started + at > Instant::now() {
                break;
            }
            due.pop_front();
            seed::edit_value(stack, deals[n], value(n))?;
            pending.push((n, Instant::now()));
        }
        pending.retain(|(n, edited)| {
            let held = seed::deal_value_in_partner_center(stack, &referrals[*n]);
            if held == Some(value(*n) as f64) {
                done.push(edited.elapsed());
                false
            } else {
                true
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(done)
}
