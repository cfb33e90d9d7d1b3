//! Bulk: `cosell backfill` (and `--mapped`) and the reconciliation sweep sync many referrals at
//! Dataverse's real ceiling. One by one, a new referral costs two requests (its match query, its
//! change set), so the 6,000 requests per 300 s a user may send cap it at 10 referrals a second;
//! a `$batch` counts as one request, so grouped, the ceiling is the one on execution time
//! ([`pace`]).
//!
//! [`Bulk::run`] cuts the work into groups ([`group`]) and runs a few at once. In a group every
//! referral runs the one-referral sync unchanged — its leases, its Partner Center read under
//! them, its link, its parking — concurrently with the others; their Dataverse queries go
//! together as one `$batch`, then their change sets (one per referral, each applied or rolled
//! back on its own) as another. The rows and links are the one-by-one path's; what moves is how
//! many requests carry them.
//!
//! Each referral's Partner Center `GET` is paid concurrently within its group, under its own
//! lease, as one by one: the listed copy is not written instead, because only a read under the
//! lease is surely no older than what a webhook synced meanwhile.
//!
//! A group starts when the pace lets one more run ([`pace`]) and the run's execution-time
//! allowance holds what it is expected to cost ([`budget`]).

pub mod budget;
mod group;
mod grouped;
pub mod pace;

use std::future::Future;
use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};

pub use budget::{Budget, Ticket};
use group::Group;
pub use group::Sent;
pub use grouped::Grouped;
pub use pace::Pace;

/// What a bulk run's batches did, for reports and benchmarks.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct BulkReport {
    pub groups: usize,
    pub batches: usize,
    /// Requests inside the batches.
    pub requests: usize,
    /// `429`s met while each group's batches were in flight, by the limit's code (groups in
    /// flight together may each count the same one: what the pace saw, not what was served).
    pub throttled: std::collections::BTreeMap<String, u64>,
    /// The pace at the end: referrals a group, groups at once.
    pub size: usize,
    pub lanes: usize,
    /// What a referral cost in server time at the end (its batches' share), milliseconds.
    pub each_ms: Option<u64>,
    /// Seconds the run waited for the execution-time allowance.
    pub held_secs: f64,
}

/// One bulk run: its pace learnt as its groups finish, its execution time spent within the
/// allowance.
#[derive(Debug)]
pub struct Bulk {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    pace: Pace,
    budget: Budget,
    /// What a referral cost in server time in the groups so far (unknown before the first).
    each: Option<Duration>,
    report: BulkReport,
}

impl Default for Bulk {
    fn default() -> Self {
        Self::new()
    }
}

impl Bulk {
    /// A run within Dataverse's published execution-time limit (1,200 s per 300 s).
    pub fn new() -> Self {
        Self::within(budget::EXECUTION_LIMIT, budget::WINDOW)
    }

    /// A run within `limit` of execution time per sliding `window` (an environment whose limits
    /// differ; a benchmark's scaled time).
    pub fn within(limit: Duration, window: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                pace: Pace::default(),
                budget: Budget::new(limit, window),
                each: None,
                report: BulkReport::default(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn report(&self) -> BulkReport {
        let state = self.state();
        BulkReport {
            size: state.pace.size,
            lanes: state.pace.lanes,
            each_ms: state.each.map(|each| each.as_millis() as u64),
            ..state.report.clone()
        }
    }

    /// Runs `work(i)` for every `i` in `0..count`, grouped; `each` is told every output as its
    /// group finishes. The outputs, in order.
    pub async fn run<O, Fut>(
        &self,
        count: usize,
        work: impl Fn(usize) -> Fut,
        mut each: impl FnMut(usize, &O),
    ) -> Vec<O>
    where
        Fut: Future<Output = O>,
    {
        let mut outputs: Vec<Option<O>> = std::iter::repeat_with(|| None).take(count).collect();
        let mut next = 0;
        let mut running = FuturesUnordered::new();
        loop {
            let mut hold = None;
            while next < count && running.len() < self.state().pace.lanes {
                let size = self.state().pace.size.min(count - next);
                match self.take(size) {
                    Ok(ticket) => {
                        let range = next..next + size;
                        next = range.end;
                        running.push(group(range, &work, ticket));
                    }
                    Err(wait) => {
                        hold = Some(wait);
                        break;
                    }
                }
            }
            let finished = match (hold, running.is_empty()) {
                (None, true) => break,
                (Some(wait), true) => {
                    self.state().report.held_secs += wait.as_secs_f64();
                    tokio::time::sleep(wait).await;
                    continue;
                }
                (Some(wait), false) => {
                    let held = Instant::now();
                    let finished = tokio::select! {
                        finished = running.next() => Some(finished),
                        () = tokio::time::sleep(wait) => None,
                    };
                    self.state().report.held_secs += held.elapsed().as_secs_f64();
                    match finished {
                        Some(finished) => finished,
                        None => continue,
                    }
                }
                (None, false) => running.next().await,
            };
            let Some((range, done, sent, ticket)) = finished else {
                break;
            };
            self.learn(range.len(), &sent, ticket);
            for (index, output) in range.zip(done) {
                each(index, &output);
                outputs[index] = Some(output);
            }
        }
        outputs
            .into_iter()
            .map(|output| output.expect("every item ran"))
            .collect()
    }

    /// Takes what a group of `size` is expected to cost from the allowance, or says how long
    /// until it holds that much.
    fn take(&self, size: usize) -> Result<Ticket, Duration> {
        let mut state = self.state();
        let expected = state.each.map_or(Duration::ZERO, |each| each * size as u32);
        state.budget.take(expected, Instant::now())
    }

    fn learn(&self, referrals: usize, sent: &Sent, ticket: Ticket) {
        let mut state = self.state();
        let state = &mut *state;
        state.budget.settle(ticket, sent.busy, Instant::now());
        if referrals > 0 && !sent.busy.is_zero() {
            let each = sent.busy / referrals as u32;
            state.each = Some(state.each.map_or(each, |before| (before + each) / 2));
        }
        let report = &mut state.report;
        report.groups += 1;
        report.batches += sent.batches;
        report.requests += sent.requests;
        for (code, count) in &sent.throttled {
            *report.throttled.entry(code.clone()).or_default() += count;
        }
        let pace = &mut state.pace;
        if let Some(why) = pace.observe(referrals, sent) {
            tracing::info!(
                size = pace.size,
                lanes = pace.lanes,
                reason = why,
                "bulk pace slowed"
            );
        }
    }
}

/// One group: every member's work at once, in the group.
async fn group<O, Fut: Future<Output = O>>(
    range: Range<usize>,
    work: &impl Fn(usize) -> Fut,
    ticket: Ticket,
) -> (Range<usize>, Vec<O>, Sent, Ticket) {
    let group = Group::new(range.len());
    let done = join_all(range.clone().map(|index| group.member(work(index)))).await;
    let sent = group.sent();
    (range, done, sent, ticket)
}
