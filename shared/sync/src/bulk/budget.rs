//! Dataverse's execution-time limit as one bulk run spends it: 1,200 s of server time per
//! sliding 300 s per user (api-limits), kept as a bucket that holds the whole allowance and
//! refills at 4 s a second. A group takes what it is expected to cost before it starts and the
//! difference once its batches are timed (their wall time: an upper bound of the server's), so
//! a run spends the allowance at its rate instead of meeting `0x80072321`, whose `Retry-After`
//! pauses every request of the client. What other clients of the same user spend is not seen
//! here: their share comes back as `429`s, which the pace answers.

use std::time::{Duration, Instant};

/// Dataverse's published defaults ("These limits are subject to change and may vary").
pub const EXECUTION_LIMIT: Duration = Duration::from_secs(1200);
pub const WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Budget {
    /// The whole allowance, seconds.
    capacity: f64,
    /// Seconds of allowance regained each second.
    rate: f64,
    /// Seconds left at `at`; below zero once groups cost more than expected.
    level: f64,
    at: Instant,
}

impl Budget {
    /// `limit` of execution time per sliding `window`, all of it available at `now`.
    pub fn new(limit: Duration, window: Duration, now: Instant) -> Self {
        let capacity = limit.as_secs_f64();
        Self {
            capacity,
            rate: capacity / window.as_secs_f64().max(f64::MIN_POSITIVE),
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let regained = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.level = (self.level + regained).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// How long to wait before `cost` may start (zero: now); a cost larger than the whole
    /// allowance waits for all of it.
    pub fn wait(&mut self, cost: Duration, now: Instant) -> Duration {
        self.refill(now);
        let short = cost.as_secs_f64().min(self.capacity) - self.level;
        Duration::from_secs_f64((short / self.rate).max(0.0))
    }

    /// Spends `cost` (expected) at `now`.
    pub fn spend(&mut self, cost: Duration, now: Instant) {
        self.refill(now);
        self.level -= cost.as_secs_f64();
    }

    /// A group cost `actual` where `expected` was spent for it.
    pub fn settle(&mut self, expected: Duration, actual: Duration, now: Instant) {
        self.refill(now);
        self.level += expected.as_secs_f64() - actual.as_secs_f64();
        self.level = self.level.min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_whole_allowance_at_once_then_four_seconds_a_second() {
        let start = Instant::now();
        let mut budget = Budget::new(EXECUTION_LIMIT, WINDOW, start);
        assert_eq!(budget.wait(S(1200), start), Duration::ZERO);
        budget.spend(S(1000), start);
        assert_eq!(budget.wait(S(200), start), Duration::ZERO);
        budget.spend(S(200), start);
        // Empty: 40 s of server time is 10 s away at 4 s a second.
        assert_eq!(budget.wait(S(40), start), S(10));
        assert_eq!(budget.wait(S(40), start + S(4)), S(6));
        assert_eq!(budget.wait(S(40), start + S(10)), Duration::ZERO);
        // Never more than the whole allowance, however long it rests.
        assert_eq!(budget.wait(S(1200), start + S(3600)), Duration::ZERO);
        budget.spend(S(1200), start + S(3600));
        assert_eq!(budget.wait(S(4), start + S(3600)), S(1));
    }

    #[test]
    fn a_group_that_cost_more_than_expected_is_paid_from_what_comes_next() {
        let start = Instant::now();
        let mut budget = Budget::new(S(100), S(100), start);
        budget.spend(S(100), start);
        budget.settle(S(10), S(30), start);
        // 20 s in debt at 1 s a second, then 10 s more for the next group.
        assert_eq!(budget.wait(S(10), start), S(30));
        // Cheaper than expected: the difference comes back.
        budget.settle(S(30), S(0), start);
        assert_eq!(budget.wait(S(10), start), Duration::ZERO);
    }
}
