//! The time one invocation has. A host runs its work inside [`within`] — the Lambda glue with
//! the invocation's deadline less a reserve, `serve` with its own budget — and then
//! [`crate::Http::send`] never starts an attempt or a wait that would pass it: the call fails
//! with [`crate::ApiError::OutOfTime`] at once, and the use case parks the work as a retry item
//! while there is still time to store it, instead of being killed mid-write.
//!
//! The deadline is task-local, like a tracing span: it reaches every call the work makes
//! without threading it through each signature, and work spawned onto another task has none.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as its deadline (`None`: no deadline, as before).
pub async fn within<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, work).await,
        None => work.await,
    }
}

/// The deadline of the work running on this task, if it has one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// The time left before the deadline (zero once passed); `None` without a deadline.
pub fn remaining() -> Option<Duration> {
    current().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// The instant `reserve` before a wall-clock deadline in milliseconds since the Unix epoch (the
/// Lambda context's `deadline`): the work stops there and the reserve is left to store what is
/// unfinished and answer.
pub fn before_epoch_millis(deadline_ms: u64, reserve: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(reserve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_seen_inside_its_scope_only() {
        assert_eq!(current(), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        let seen = within(Some(deadline), async { (current(), remaining()) }).await;
        assert_eq!(seen.0, Some(deadline));
        assert!(seen.1.unwrap() <= Duration::from_secs(5));
        assert_eq!(within(None, async { current() }).await, None);
        assert_eq!(current(), None);
    }

    #[test]
    fn a_lambda_deadline_keeps_its_reserve() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = before_epoch_millis(now_ms + 30_000, Duration::from_secs(3));
        let left = at.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(27) && left > Duration::from_secs(26),
            "{left:?}"
        );
        // A deadline already passed (or inside the reserve) leaves no time, not a panic.
        let at = before_epoch_millis(now_ms, Duration::from_secs(3));
        assert_eq!(at.saturating_duration_since(Instant::now()), Duration::ZERO);
    }
}
