//! Backfill against the Dataverse simulator's service-protection limits, both ways in one run:
//! **one by one**, as `cosell backfill` did before issue 32 (the reconciler's `bring_up_to_date`
//! for each open referral in turn), and **in bulk**, as it does now (the same call for each, in
//! `cosell_sync::Bulk` groups). Each path has its own simulators and store, seeded alike; the
//! Dataverse client is capped by `RateLimit { per_second: rate, burst: rate }`, what `--rate`
//! sets.
//!
//! Time is scaled by shortening the window, not by speeding up: the simulator allows
//! `max_requests` and `max_execution_secs` per `window_secs` (default 600 requests and 120 s per
//! 30 s), Dataverse's 6,000 and 1,200 s per 300 s at the same rates (20 requests/s, 4 s of server
//! time a second), so the paces and the ceilings compare as in production. Each operation costs
//! the simulator's default server time (`LimitConfig::cost`: a read 10 ms, a write 30 ms).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::Context as _;
use cosell_partner_center::Listed;
use cosell_sim::dataverse::LimitConfig;
use cosell_sync::{Bulk, BulkReport, Handled};
use cosell_transport::RateLimit;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::counts::Counts;
use crate::seed;
use crate::stack::{Options, Stack};

/// Dataverse's limit per user: 6,000 requests per 300 s.
pub const DATAVERSE_REQUESTS: u32 = 6000;
pub const DATAVERSE_WINDOW_SECS: u64 = 300;
/// Its combined execution time per window, 1,200 s per 300 s.
const DATAVERSE_EXECUTION_SECS: u64 = 1200;

/// How the referrals are synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    OneByOne,
    Bulk,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Path::OneByOne => "one by one",
            Path::Bulk => "bulk",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub referrals: usize,
    pub path: Path,
    /// `cosell backfill --rate`: Dataverse requests per second at most.
    pub rate: u32,
    /// The simulator's window; its limits keep Dataverse's rates.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub path: Path,
    pub referrals: usize,
    pub rate: u32,
    pub window_secs: u64,
    pub max_requests: u32,
    pub max_execution_secs: u64,
    /// The request ceiling, requests per second.
    pub ceiling_per_sec: f64,
    pub listed: usize,
    pub synced: usize,
    pub in_sync: usize,
    /// Syncs that failed and were parked as retry items.
    pub parked: usize,
    /// Syncs that returned an error (the CLI stops there).
    pub errors: usize,
    pub opportunities: usize,
    pub wall_secs: f64,
    /// Referrals brought up to date per second of the run (listing included).
    pub referrals_per_sec: f64,
    /// Dataverse requests the simulator admitted, per second of the run.
    pub achieved_per_sec: f64,
    pub percent_of_ceiling: f64,
    /// 429s the simulator answered, by code, and the ones the client saw.
    pub throttled_by_simulator: BTreeMap<String, u64>,
    pub throttled_seen_by_client: u64,
    /// The bulk run's groups and batches, and its pace at the end.
    pub bulk: Option<BulkReport>,
    /// A digest of every account, contact, opportunity and task as written (without times and
    /// versions), to compare the two paths.
    pub rows_digest: u64,
    pub rows: usize,
    pub requests: Counts,
}

pub async fn run(config: Config) -> anyhow::Result<Outcome> {
    let scale = DATAVERSE_WINDOW_SECS as f64 / config.window_secs as f64;
    let max_requests = (DATAVERSE_REQUESTS as f64 / scale).round() as u32;
    let max_execution_secs = (DATAVERSE_EXECUTION_SECS as f64 / scale).round() as u64;
    let limits = LimitConfig {
        max_requests,
        window_secs: config.window_secs,
        max_execution_secs: Some(max_execution_secs),
        ..LimitConfig::default()
    };
    let stack = Stack::start(Options {
        dataverse_rate: Some(RateLimit {
            per_second: config.rate,
            burst: config.rate,
        }),
        dataverse_limits: Some(limits),
        ..Options::default()
    })
    .await?;
    seed::currency(&stack)?;
    seed::seller(&stack)?;
    let ids = seed::referrals(&stack, 0, config.referrals)?;
    let _ = cosell_transport::throttled::take();

    let before = Counts::now(&stack);
    let started = Instant::now();
    let listed = stack
        .partner_center
        .open_referrals()
        .await
        .context("listing the open referrals in Partner Center")?;
    let reconciler = &stack.services.jobs.reconciler;
    let sync = |index: usize| {
        let entry: &Listed = &listed[index];
        async move {
            reconciler
                .bring_up_to_date(entry, OffsetDateTime::now_utc())
                .await
        }
    };
    let (results, bulk) = match config.path {
        Path::OneByOne => {
            let mut results = Vec::with_capacity(listed.len());
            for index in 0..listed.len() {
                results.push(sync(index).await);
            }
            (results, None)
        }
        Path::Bulk => {
            // The allowance scaled as the simulator's is: the client spends it at Dataverse's
            // rate, 4 s of server time a second.
            let bulk = Bulk::within(
                Duration::from_secs(max_execution_secs),
                Duration::from_secs(config.window_secs),
            );
            let results = bulk.run(listed.len(), sync, |_, _| {}).await;
            (results, Some(bulk.report()))
        }
    };
    let wall = started.elapsed();
    let requests = Counts::now(&stack).minus(&before);
    let (mut synced, mut in_sync, mut parked, mut errors) = (0, 0, 0, 0);
    for result in &results {
        match result {
            Ok(None) => in_sync += 1,
            Ok(Some(Handled::Parked { .. })) => parked += 1,
            Ok(Some(_)) => synced += 1,
            Err(_) => errors += 1,
        }
    }
    let throttled_seen_by_client = cosell_transport::throttled::take()
        .into_iter()
        .filter(|(service, _)| service.eq_ignore_ascii_case("dataverse"))
        .map(|(_, n)| n)
        .sum();
    let throttled_by_simulator = stack
        .sim
        .state
        .counters
        .snapshot()
        .events
        .into_iter()
        .filter_map(|(name, n)| Some((name.strip_prefix("dataverse throttled ")?.to_owned(), n)))
        .collect();
    let opportunities = seed::opportunities_made(&stack, &ids);
    anyhow::ensure!(
        listed.len() == config.referrals && synced > 0,
        "backfill listed {} of {} referrals and synced {synced}",
        listed.len(),
        config.referrals
    );
    let (rows_digest, rows) = digest(&stack);
    let ceiling_per_sec = max_requests as f64 / config.window_secs as f64;
    let admitted = requests.dataverse - requests.dataverse_throttled;
    let achieved_per_sec = admitted / wall.as_secs_f64();
    Ok(Outcome {
        path: config.path,
        referrals: config.referrals,
        rate: config.rate,
        window_secs: config.window_secs,
        max_requests,
        max_execution_secs,
        ceiling_per_sec,
        listed: listed.len(),
        synced,
        in_sync,
        parked,
        errors,
        opportunities,
        wall_secs: wall.as_secs_f64(),
        referrals_per_sec: config.referrals as f64 / wall.as_secs_f64(),
        achieved_per_sec,
        percent_of_ceiling: achieved_per_sec / ceiling_per_sec * 100.0,
        throttled_by_simulator,
        throttled_seen_by_client,
        bulk,
        rows_digest,
        rows,
        requests,
    })
}

/// A digest of the rows the backfill wrote, and how many.
fn digest(stack: &Stack) -> (u64, usize) {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut count = 0;
    for set in ["accounts", "contacts", "opportunities", "tasks"] {
        let rows = cosell_testkit::crm::rows_as_written(&stack.sim, set);
        count += rows.len();
        serde_json::to_string(&rows)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    (hasher.finish(), count)
}

impl Outcome {
    pub fn failures(&self) -> usize {
        self.parked + self.errors + (self.referrals - self.opportunities.min(self.referrals))
    }
}

/// A run's duration, for the progress line.
pub fn wall(outcome: &Outcome) -> Duration {
    Duration::from_secs_f64(outcome.wall_secs)
}
