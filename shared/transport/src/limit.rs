use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::time::Instant;

/// A client-side ceiling on request rate, so a backfill runs just under a service's limit
/// instead of bouncing off its 429s. Dataverse allows 6,000 requests per 300 s per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

/// A token bucket (governor's GCRA) plus a shared pause: when one request is told
/// `Retry-After`, every request of this client waits it out, instead of each finding out alone.
pub(crate) struct Limiter {
    bucket: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Result<Self, String> {
        let per_second =
            NonZeroU32::new(limit.per_second).ok_or("rate limit per_second must be above 0")?;
        let burst = NonZeroU32::new(limit.burst).ok_or("rate limit burst must be above 0")?;
        Ok(Self {
            bucket: governor::RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            paused_until: Mutex::new(None),
        })
    }

    pub(crate) async fn acquire(&self) {
        let paused = *self.paused_until.lock().expect("limiter pause lock");
        if let Some(until) = paused {
            tokio::time::sleep_until(until).await;
        }
        self.bucket.until_ready().await;
    }

    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().expect("limiter pause lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_a_burst_to_the_configured_rate() {
        let limiter = Limiter::new(RateLimit {
            per_second: 50,
            burst: 5,
        })
        .unwrap();
        let start = std::time::Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        // 5 at once, then 25 more at 50/s: at least 0.5 s.
        assert!(
            start.elapsed() >= Duration::from_millis(480),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_pause_holds_every_caller() {
        let limiter = Limiter::new(RateLimit {
            per_second: 1_000,
            burst: 1_000,
        })
        .unwrap();
        limiter.pause_for(Duration::from_millis(300));
        limiter.pause_for(Duration::from_millis(10)); // a shorter pause does not cut a longer one
        let start = std::time::Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(290));
    }

    #[test]
    fn rejects_a_zero_rate() {
        assert!(
            Limiter::new(RateLimit {
                per_second: 0,
                burst: 1
            })
            .is_err()
        );
    }
}
