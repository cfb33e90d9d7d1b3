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

mod group;
mod grouped;
pub mod pace;

use std::future::Future;
use std::ops::Range;
use std::sync::Mutex;

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};

use group::Group;
pub use group::Sent;
pub use grouped::Grouped;
pub use pace::Pace;

/// What a bulk run's batches did, for reports and benchmarks.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BulkReport {
    pub groups: usize,
    pub batches: usize,
    /// Requests inside the batches.
    pub requests: usize,
    /// `429`s met, by the limit's code.
    pub throttled: std::collections::BTreeMap<String, u64>,
    /// The pace at the end: referrals a group, groups at once.
    pub size: usize,
    pub lanes: usize,
}

/// One bulk run: its pace learnt as its groups finish.
#[derive(Debug, Default)]
pub struct Bulk {
    state: Mutex<(Pace, BulkReport)>,
}

impl Bulk {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn report(&self) -> BulkReport {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        BulkReport {
            size: state.0.size,
            lanes: state.0.lanes,
            ..state.1.clone()
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
            let (size, lanes) = self.pace();
            while next < count && running.len() < lanes {
                let range = next..(next + size).min(count);
                next = range.end;
                running.push(group(range, &work));
            }
            let Some((range, done, sent)) = running.next().await else {
                break;
            };
            self.learn(range.len(), &sent);
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

    fn pace(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.0.size, state.0.lanes)
    }

    fn learn(&self, referrals: usize, sent: &Sent) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (pace, report) = &mut *state;
        report.groups += 1;
        report.batches += sent.batches;
        report.requests += sent.requests;
        for (code, count) in &sent.throttled {
            *report.throttled.entry(code.clone()).or_default() += count;
        }
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
) -> (Range<usize>, Vec<O>, Sent) {
    let group = Group::new(range.len());
    let done = join_all(range.clone().map(|index| group.member(work(index)))).await;
    let sent = group.sent();
    (range, done, sent)
}
