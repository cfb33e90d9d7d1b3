//! Inbound end-to-end latency: a signed Partner Center webhook for a new referral reaches the
//! webhook-ingress handler, which verifies it, reads the referral, matches and writes the
//! account, contact and opportunity in one `$batch`, stores the link, and only then answers.
//! So request arrival → answer is webhook received → opportunity committed in Dataverse.

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Serialize;
use tokio::time::Instant;

use crate::counts::Counts;
use crate::deliver::{Answer, Delivery};
use crate::seed;
use crate::stack::{Options, Pace, Stack};
use crate::stats::Latencies;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub referrals: usize,
    pub concurrency: usize,
    /// Added before every simulated Partner Center, Dataverse and token request.
    pub latency_ms: u64,
    pub pace: Pace,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub latency_ms: u64,
    pub pace: Pace,
    pub referrals: usize,
    pub concurrency: usize,
    /// Request arrival → answer, at the server: the figure the target is about.
    pub handled: Latencies,
    /// Send → answer at the caller, for comparison (adds the loopback hop and the client).
    pub round_trip: Latencies,
    /// The process's first delivery, not among the timed ones: it fetches the signing
    /// certificate, both access tokens and the currency id.
    pub first_delivery_ms: f64,
    /// Opportunities found in the Dataverse simulator afterwards, one per referral expected.
    pub opportunities: usize,
    /// Requests to the simulators during the timed deliveries, per referral.
    pub per_referral: Counts,
    pub wall_secs: f64,
    /// Dataverse requests per second over the timed deliveries.
    pub dataverse_per_sec: f64,
}

pub async fn run(config: Config) -> anyhow::Result<Outcome> {
    let stack = Stack::start(Options {
        pace: config.pace,
        ..Options::default()
    })
    .await?;
    seed::currency(&stack)?;
    seed::seller(&stack)?;
    let ids = seed::referrals(&stack, 0, config.referrals + 1)?;
    stack.set_latency(config.latency_ms);

    let first = Delivery::new("referral-created", &ids[0])
        .send(&stack)
        .await?;
    anyhow::ensure!(
        first.is("synced"),
        "the first delivery was not synced: {} {}",
        first.status,
        first.text
    );
    let deliveries: Vec<Delivery> = ids[1..]
        .iter()
        .map(|id| Delivery::new("referral-created", id))
        .collect();

    let before = Counts::now(&stack);
    let started = Instant::now();
    let answers: Vec<anyhow::Result<Answer>> = futures::stream::iter(&deliveries)
        .map(|delivery| delivery.send(&stack))
        .buffer_unordered(config.concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let spent = Counts::now(&stack).minus(&before);

    let mut handled = Vec::with_capacity(answers.len());
    let mut round_trip = Vec::with_capacity(answers.len());
    let mut failures = Vec::new();
    for answer in answers {
        match answer {
            Ok(a) if a.is("synced") => {
                handled.push(a.handled);
                round_trip.push(a.round_trip);
            }
            Ok(a) => failures.push(format!("{} {}", a.status, a.text)),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let opportunities = seed::opportunities_made(&stack, &ids[1..]);
    // A benchmark that synced nothing must not report a fast nothing.
    anyhow::ensure!(
        failures.is_empty() && opportunities == config.referrals,
        "inbound at {} ms: {} of {} referrals became opportunities; {} deliveries failed, e.g. {:?}",
        config.latency_ms,
        opportunities,
        config.referrals,
        failures.len(),
        failures.iter().take(3).collect::<Vec<_>>()
    );
    Ok(Outcome {
        latency_ms: config.latency_ms,
        pace: config.pace,
        dataverse_per_sec: spent.dataverse / wall.as_secs_f64(),
        referrals: config.referrals,
        concurrency: config.concurrency,
        handled: Latencies::of(&handled).context("no timed delivery")?,
        round_trip: Latencies::of(&round_trip).context("no timed delivery")?,
        first_delivery_ms: first.handled.as_secs_f64() * 1000.0,
        opportunities,
        per_referral: spent.per(config.referrals),
        wall_secs: wall.as_secs_f64(),
    })
}

impl Outcome {
    pub fn referrals_per_sec(&self) -> f64 {
        self.referrals as f64 / self.wall_secs.max(f64::EPSILON)
    }

    /// Why the p99 is over `target_ms`, from what this run measured and, for a run at the
    /// shipped pace, the same run with the client's limit lifted.
    pub fn why_over(&self, target_ms: f64, lifted: Option<&Outcome>) -> String {
        let limit = cosell_dataverse::DEFAULT_RATE_LIMIT;
        let paced =
            self.pace == Pace::Shipped && self.dataverse_per_sec >= 0.8 * limit.per_second as f64;
        if !paced {
            return self.cost();
        }
        let mut why = format!(
            "the Dataverse client's own pace limit (cosell_dataverse::DEFAULT_RATE_LIMIT: {} requests/s after a burst of {}, per process) held the run to {:.1} Dataverse requests/s, i.e. {:.1} new referrals/s at {:.1} requests each, so the {} deliveries in flight wait for one another",
            limit.per_second,
            limit.burst,
            self.dataverse_per_sec,
            self.referrals_per_sec(),
            self.per_referral.dataverse,
            self.concurrency
        );
        if let Some(lifted) = lifted {
            why += &format!(
                "; with that limit lifted the same run's p99 is {} ms",
                crate::stats::ms(lifted.handled.p99_ms)
            );
            if lifted.handled.p99_ms > target_ms {
                why += &format!(", still over: {}", lifted.cost());
            }
        }
        why
    }

    /// What one sync costs: its calls in a row, the injected latency, the spread.
    fn cost(&self) -> String {
        let calls = self.per_referral.partner_center + self.per_referral.dataverse;
        let mut why = format!(
            "a new referral's sync makes {calls:.1} service calls one after another ({:.1} Partner Center, {:.1} Dataverse)",
            self.per_referral.partner_center, self.per_referral.dataverse
        );
        if self.latency_ms > 0 {
            why += &format!(
                ", so {:.0} ms of it is the simulated latency alone",
                calls * self.latency_ms as f64
            );
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        why += &format!(
            "; the median takes {} ms and the slowest 1 % {} ms more",
            crate::stats::ms(self.handled.p50_ms),
            crate::stats::ms(self.handled.p99_ms - self.handled.p50_ms),
        );
        if self.latency_ms == 0 {
            // Little's law: with a fixed number in flight, the mean wait is that number over
            // the throughput — here set by the CPUs, as nothing else waits.
            let rate = self.referrals_per_sec();
            why += &format!(
                ": {} in flight at {rate:.0} referrals/s is a mean of {} ms by Little's law, the throughput of {cpus} CPUs shared by the handlers, the simulators and the caller",
                self.concurrency,
                crate::stats::ms(self.concurrency as f64 / rate * 1000.0)
            );
        } else {
            why += &format!(
                ", {} deliveries in flight on {cpus} CPUs shared by the handlers, the simulators and the caller",
                self.concurrency
            );
        }
        why
    }
}
