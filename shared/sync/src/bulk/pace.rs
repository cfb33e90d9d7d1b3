//! How many referrals a group holds and how many groups run at once, learnt from Dataverse's
//! answers. Its service protection limits are three, per user and web server (api-limits):
//! 6,000 requests and 1,200 s of combined execution time per sliding 300 s, and 52 concurrent
//! requests. A `$batch` counts as one request but its operations' time counts in full, so for
//! bulk work the binding limit is execution time — 4 s of server work per second — which only
//! requests in flight together can spend.
//!
//! - The request bucket is the transport's (`RateLimit`), as for every call; a group of `n`
//!   referrals spends two requests where one by one spends `2n`.
//! - A `429` names the limit reached: [`EXECUTION_TIME`] halves the group and the groups in
//!   flight; [`CONCURRENCY`] halves the groups in flight; [`REQUESTS`] changes nothing here
//!   (bigger groups spend fewer requests; the bucket and `Retry-After` pace them). The transport
//!   waits out every `Retry-After` and sends the batch again: refused, none of it ran.
//! - Otherwise a full group lets one more group run at once, up to [`MAX_LANES`] and the
//!   service's `x-ms-dop-hint`; once that many run, it doubles the next group's size instead,
//!   within what fits the time budget. The execution-time allowance ([`super::budget`]) decides
//!   when each may start.
//!
//! Groups start at 10 referrals — Microsoft: "start with a small batch size of 10 and increase
//! concurrency until you start getting service protection API limit errors" — and one lane.

use std::time::Duration;

use super::group::Sent;

/// `429` codes of Dataverse's service protection limits (api-limits: "The Hex code is the
/// hexadecimal error value returned by the Web API").
pub const EXECUTION_TIME: &str = "0x80072321";
pub const REQUESTS: &str = "0x80072322";
pub const CONCURRENCY: &str = "0x80072326";

const FIRST_SIZE: usize = 10;
/// At most: a new referral's change set is at most 7 requests (account, contact, record, task,
/// a close), so a group's change sets stay under the 1,000 requests of one `$batch`.
pub const MAX_SIZE: usize = 100;
/// The longest a batch should take: a third of the client's attempt timeout (30 s unless
/// `COSELL_HTTP_TIMEOUT` says otherwise), so a slower server still answers within it, and at most
/// 10 s, so a member's 60 s lease spans its two batches with room left.
pub const BATCH_BUDGET: Duration = Duration::from_secs(10);
/// Groups in flight at most: each is one request at a time, far under the 52 concurrent requests
/// the functions' own syncs (same application user) share.
pub const MAX_LANES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    /// Referrals in the next group.
    pub size: usize,
    /// Groups in flight at once.
    pub lanes: usize,
    max_lanes: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            size: FIRST_SIZE,
            lanes: 1,
            max_lanes: MAX_LANES,
        }
    }
}

impl Pace {
    /// Learns from a finished group of `referrals`; says why it slowed down, if it did.
    pub fn observe(&mut self, referrals: usize, sent: &Sent) -> Option<&'static str> {
        if let Some(hint) = sent.dop_hint {
            self.max_lanes = (hint as usize).clamp(1, MAX_LANES);
            self.lanes = self.lanes.min(self.max_lanes);
        }
        let met = |code: &str| sent.throttled.get(code).is_some_and(|n| *n > 0);
        let slowed = if met(EXECUTION_TIME) {
            Some("Dataverse's execution-time limit (0x80072321)")
        } else if sent.failed > 0 {
            Some("a batch that failed as a whole")
        } else {
            None
        };
        if slowed.is_some() {
            self.size = (self.size / 2).max(1);
            self.lanes = (self.lanes / 2).max(1);
            return slowed;
        }
        if met(CONCURRENCY) {
            self.lanes = (self.lanes / 2).max(1);
            return Some("Dataverse's concurrency limit (0x80072326)");
        }
        let budget = sent
            .attempt_timeout
            .map_or(BATCH_BUDGET, |timeout| (timeout / 3).min(BATCH_BUDGET));
        let fits = match sent.slowest {
            Some((took, carried)) if carried > 0 && !took.is_zero() => {
                let each = took.as_secs_f64() / carried as f64;
                (budget.as_secs_f64() / each) as usize
            }
            _ => MAX_SIZE,
        };
        let fits = fits.clamp(1, MAX_SIZE);
        // Concurrency first, as Microsoft advises; then fewer, larger batches.
        if referrals >= self.size && self.lanes < self.max_lanes {
            self.lanes += 1;
            self.size = self.size.min(fits);
        } else if referrals >= self.size {
            self.size = (self.size * 2).min(fits);
        } else {
            self.size = self.size.min(fits);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(took_ms: u64, carried: usize, throttled: &[&str]) -> Sent {
        Sent {
            batches: 2,
            requests: carried * 2,
            slowest: Some((Duration::from_millis(took_ms), carried)),
            busy: Duration::from_millis(took_ms),
            throttled: throttled.iter().map(|c| ((*c).to_owned(), 1)).collect(),
            dop_hint: None,
            failed: 0,
            attempt_timeout: Some(Duration::from_secs(30)),
        }
    }

    #[test]
    fn full_calm_groups_grow_to_what_fits_the_batch_budget() {
        let mut pace = Pace::default();
        assert_eq!((pace.size, pace.lanes), (10, 1));
        // 10 referrals in 1 s: 100 ms each, so 100 fit in 10 s. More at once first.
        assert_eq!(pace.observe(10, &sent(1_000, 10, &[])), None);
        assert_eq!((pace.size, pace.lanes), (10, 2));
        for _ in 0..6 {
            pace.observe(10, &sent(1_000, 10, &[]));
        }
        assert_eq!((pace.size, pace.lanes), (10, MAX_LANES));
        // Then larger groups.
        pace.observe(10, &sent(1_000, 10, &[]));
        pace.observe(20, &sent(2_000, 20, &[]));
        pace.observe(40, &sent(4_000, 40, &[]));
        pace.observe(80, &sent(8_000, 80, &[]));
        assert_eq!((pace.size, pace.lanes), (MAX_SIZE, MAX_LANES));
        // A slower server: 250 ms a referral, so 40 fit.
        pace.observe(100, &sent(25_000, 100, &[]));
        assert_eq!(pace.size, 40);
        // A group short of the size (the last of a run) grows nothing.
        pace.observe(3, &sent(300, 3, &[]));
        assert_eq!((pace.size, pace.lanes), (40, MAX_LANES));
    }

    #[test]
    fn the_execution_time_limit_halves_size_and_lanes_and_concurrency_halves_lanes() {
        let mut pace = Pace {
            size: 80,
            lanes: 6,
            max_lanes: MAX_LANES,
        };
        let why = pace.observe(80, &sent(1_000, 80, &[EXECUTION_TIME]));
        assert!(why.is_some_and(|w| w.contains("0x80072321")), "{why:?}");
        assert_eq!((pace.size, pace.lanes), (40, 3));
        assert!(pace.observe(40, &sent(1_000, 40, &[CONCURRENCY])).is_some());
        assert_eq!((pace.size, pace.lanes), (40, 1));
        // The request limit is the bucket's to pace: the pace still grows.
        assert_eq!(pace.observe(40, &sent(1_000, 40, &[REQUESTS])), None);
        assert_eq!((pace.size, pace.lanes), (40, 2));
        for _ in 0..10 {
            pace.observe(1, &sent(1_000, 1, &[EXECUTION_TIME]));
        }
        assert_eq!((pace.size, pace.lanes), (1, 1), "never below one");
    }

    #[test]
    fn the_service_s_degree_of_parallelism_caps_the_lanes() {
        let mut pace = Pace::default();
        let hinted = Sent {
            dop_hint: Some(2),
            ..sent(100, 10, &[])
        };
        for _ in 0..5 {
            pace.observe(pace.size, &hinted);
        }
        assert_eq!(pace.lanes, 2);
    }

    #[test]
    fn a_batch_fits_a_third_of_the_attempt_timeout_and_one_failed_whole_halves_the_pace() {
        let mut pace = Pace {
            size: 40,
            lanes: 4,
            max_lanes: MAX_LANES,
        };
        // 100 ms a referral with 6 s attempts: 20 fit in 2 s.
        let short = Sent {
            attempt_timeout: Some(Duration::from_secs(6)),
            ..sent(4_000, 40, &[])
        };
        pace.observe(40, &short);
        assert_eq!((pace.size, pace.lanes), (20, 5));
        let failed = Sent {
            failed: 1,
            ..sent(4_000, 20, &[])
        };
        assert!(pace.observe(20, &failed).is_some());
        assert_eq!((pace.size, pace.lanes), (10, 2));
    }
}
