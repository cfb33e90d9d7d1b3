//! Dataverse's execution-time limit as one bulk run spends it: at most 1,200 s of server time
//! per sliding 300 s per user (api-limits), counted as the service counts it — each request's
//! time once it has ended, until the window has passed over it; a request is refused while what
//! ended in the window is over the limit.
//!
//! A group starts when, with it, the window stays within the limit at every moment a group
//! ends: the groups done, at the time they ended; the groups running and this one, at the time
//! they are expected to end — their cost from when they started, since a batch's operations run
//! one after another on the server. Once its batches are timed (their wall time: an upper bound
//! of the server's) a group counts at what it cost, from when it ended. So a run spends the
//! allowance as fast as the window frees it instead of meeting `0x80072321`, whose `Retry-After`
//! pauses every request of the client. What other clients of the same user spend is not seen
//! here: their share comes back as `429`s, which the pace answers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Dataverse's published defaults ("These limits are subject to change and may vary").
pub const EXECUTION_LIMIT: Duration = Duration::from_secs(1200);
pub const WINDOW: Duration = Duration::from_secs(300);

/// A group's place in the allowance, from [`Budget::take`] to [`Budget::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

#[derive(Debug, Clone)]
pub struct Budget {
    limit: Duration,
    window: Duration,
    /// Groups running: when each is expected to end and what it is expected to cost.
    running: BTreeMap<Ticket, (Instant, Duration)>,
    /// Groups done: when each ended and what it cost.
    ended: Vec<(Instant, Duration)>,
    next: u64,
}

impl Budget {
    /// `limit` of execution time per sliding `window`.
    pub fn new(limit: Duration, window: Duration) -> Self {
        Self {
            limit,
            window,
            running: BTreeMap::new(),
            ended: Vec::new(),
            next: 0,
        }
    }

    /// Takes `cost` for a group starting at `now`, or says when to ask again. A cost over the
    /// whole limit counts as the limit; with nothing counted, any cost starts.
    pub fn take(&mut self, cost: Duration, now: Instant) -> Result<Ticket, Duration> {
        let window = self.window;
        self.ended
            .retain(|(at, _)| now.saturating_duration_since(*at) < window);
        let cost = cost.min(self.limit);
        // Every end from now on, a straggler's as if now.
        let mut ends: Vec<(Instant, Duration)> = self
            .running
            .values()
            .map(|(at, cost)| ((*at).max(now), *cost))
            .collect();
        ends.push((now + cost, cost));
        let counted = |t: Instant| -> Duration {
            let within = |at: &Instant| *at <= t && t.saturating_duration_since(*at) < window;
            let done = self.ended.iter().filter(|(at, _)| within(at));
            let due = ends.iter().filter(|(at, _)| within(at));
            done.chain(due).map(|(_, cost)| *cost).sum()
        };
        let busy = !self.ended.is_empty() || !self.running.is_empty();
        if busy && ends.iter().any(|(t, _)| counted(*t) > self.limit) {
            // Ask again when a hundredth of the window has passed (or a group ends sooner).
            return Err(window / 100);
        }
        let ticket = Ticket(self.next);
        self.next += 1;
        self.running.insert(ticket, (now + cost, cost));
        Ok(ticket)
    }

    /// The group of `ticket` ended at `now`, having cost `actual`.
    pub fn settle(&mut self, ticket: Ticket, actual: Duration, now: Instant) {
        self.running.remove(&ticket);
        self.ended.push((now, actual));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn spends_the_limit_then_what_the_sliding_window_frees() {
        let start = Instant::now();
        let mut budget = Budget::new(EXECUTION_LIMIT, WINDOW);
        let a = budget.take(S(700), start).unwrap();
        let b = budget.take(S(500), start).unwrap();
        // A short one ends long before them, and has left the window when they end.
        let c = budget.take(S(10), start).unwrap();
        budget.settle(c, S(10), start + S(10));
        // One more of 10 s would end after them, beside them: over the limit.
        assert_eq!(budget.take(S(10), start + S(690)), Err(S(3)));
        budget.settle(a, S(700), start + S(10));
        budget.settle(b, S(500), start + S(20));
        // The first leaves the window 300 s after it ended (at 310 s): a group of 10 s may
        // start at 300 s, not before.
        assert!(budget.take(S(10), start + S(250)).is_err());
        assert!(budget.take(S(10), start + S(299)).is_err());
        assert!(budget.take(S(10), start + S(300)).is_ok());
        // More than the whole limit counts as the limit, and starts in an empty window.
        let mut empty = Budget::new(S(100), S(100));
        assert!(empty.take(S(500), start).is_ok());
    }

    #[test]
    fn running_groups_count_from_when_they_are_expected_to_end() {
        let start = Instant::now();
        let mut budget = Budget::new(S(100), S(100));
        let done = budget.take(S(60), start).unwrap();
        budget.settle(done, S(60), start + S(60));
        // At 100 s: a group of 50 ends at 150 s, when the first (ended at 60 s) still counts.
        assert!(budget.take(S(50), start + S(100)).is_err());
        // At 110 s a group of 50 ends at 160 s, when the first has left.
        let long = budget.take(S(50), start + S(110)).unwrap();
        // Another of 50 would end at 170 s beside it: 100, at the limit, allowed.
        assert!(budget.take(S(50), start + S(120)).is_ok());
        // A third would not.
        assert!(budget.take(S(1), start + S(121)).is_err());
        // Settled cheaper than expected, the long one makes room.
        budget.settle(long, S(0), start + S(121));
        assert!(budget.take(S(1), start + S(121)).is_ok());
    }
}
