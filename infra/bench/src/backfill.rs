//! Backfill against the Dataverse simulator's service-protection limit, the way `cosell backfill`
//! does it (its code lives in the CLI binary, so this drives the same use case the same way):
//! list the open referrals in Partner Center, then, one at a time, the reconciler's
//! `bring_up_to_date` — over a Dataverse client capped by `RateLimit { per_second: rate, burst:
//! rate }`, which is what `--rate` sets.
//!
//! Time is scaled by shortening the window, not by speeding up: the simulator allows
//! `max_requests` per `window_secs` (default 600 per 30 s), the same 20 requests per second as
//! Dataverse's 6,000 per 300 s, so the client's pace and the ceiling compare as in production.

use std::time::Duration;

use anyhow::Context as _;
use cosell_sim::dataverse::LimitConfig;
use cosell_sync::Handled;
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

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub referrals: usize,
    /// `cosell backfill --rate`: Dataverse requests per second at most.
    pub rate: u32,
    /// The simulator's window; its request limit keeps Dataverse's rate.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub referrals: usize,
    pub rate: u32,
    pub window_secs: u64,
    pub max_requests: u32,
    /// The ceiling, requests per second.
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
    /// Dataverse requests the simulator admitted, per second of the run.
    pub achieved_per_sec: f64,
    pub percent_of_ceiling: f64,
    /// 429s the simulator answered (its counters) and the client saw (its own count).
    pub throttled_by_simulator: u64,
    pub throttled_seen_by_client: u64,
    pub requests: Counts,
}

pub async fn run(config: Config) -> anyhow::Result<Outcome> {
    let scale = DATAVERSE_WINDOW_SECS as f64 / config.window_secs as f64;
    let max_requests = (DATAVERSE_REQUESTS as f64 / scale).round() as u32;
    let limits = LimitConfig {
        max_requests,
        window_secs: config.window_secs,
        max_execution_secs: Some((DATAVERSE_EXECUTION_SECS as f64 / scale).round() as u64),
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
    let (mut synced, mut in_sync, mut parked, mut errors) = (0, 0, 0, 0);
    for referral in &listed {
        match reconciler
            .bring_up_to_date(referral, OffsetDateTime::now_utc())
            .await
        {
            Ok(None) => in_sync += 1,
            Ok(Some(Handled::Parked { .. })) => parked += 1,
            Ok(Some(_)) => synced += 1,
            Err(_) => errors += 1,
        }
    }
    let wall = started.elapsed();
    let requests = Counts::now(&stack).minus(&before);
    let throttled_seen_by_client = cosell_transport::throttled::take()
        .into_iter()
        .filter(|(service, _)| service.eq_ignore_ascii_case("dataverse"))
        .map(|(_, n)| n)
        .sum();
    let opportunities = seed::opportunities_made(&stack, &ids);
    anyhow::ensure!(
        listed.len() == config.referrals && synced > 0,
        "backfill listed {} of {} referrals and synced {synced}",
        listed.len(),
        config.referrals
    );
    let ceiling_per_sec = max_requests as f64 / config.window_secs as f64;
    let admitted = requests.dataverse - requests.dataverse_throttled;
    let achieved_per_sec = admitted / wall.as_secs_f64();
    Ok(Outcome {
        referrals: config.referrals,
        rate: config.rate,
        window_secs: config.window_secs,
        max_requests,
        ceiling_per_sec,
        listed: listed.len(),
        synced,
        in_sync,
        parked,
        errors,
        opportunities,
        wall_secs: wall.as_secs_f64(),
        achieved_per_sec,
        percent_of_ceiling: achieved_per_sec / ceiling_per_sec * 100.0,
        throttled_by_simulator: requests.dataverse_throttled as u64,
        throttled_seen_by_client,
        requests,
    })
}

impl Outcome {
    pub fn failures(&self) -> usize {
        self.parked + self.errors + (self.referrals - self.opportunities.min(self.referrals))
    }

    /// Why the pace is under `target` % of the ceiling, from what this run measured.
    pub fn why_under(&self, target: f64) -> String {
        let cap = self.rate as f64 / self.ceiling_per_sec * 100.0;
        if cap < target {
            return format!(
                "the client is capped at --rate {} = {cap:.0} % of the {:.0}/s ceiling (a short run gains a first burst of {} on top), below the {target:.0} % target by construction",
                self.rate, self.ceiling_per_sec, self.rate
            );
        }
        let per_referral = self.requests.dataverse / self.referrals.max(1) as f64;
        let mut why = format!(
            "the client paces {} requests/s but the run averaged {:.1}/s ({per_referral:.2} Dataverse requests per referral)",
            self.rate, self.achieved_per_sec
        );
        if self.throttled_by_simulator > 0 {
            why += &format!(
                "; {} requests were refused with 429 (a burst of {} on top of the steady rate can exceed {} in a {} s window) and each Retry-After paused the whole client",
                self.throttled_by_simulator, self.rate, self.max_requests, self.window_secs
            );
        } else {
            why += "; no 429 was served, so the time went to the sequential syncs between requests";
        }
        why
    }
}

/// A run's duration, for the progress line.
pub fn wall(outcome: &Outcome) -> Duration {
    Duration::from_secs_f64(outcome.wall_secs)
}
