use std::time::Duration;

use rand::Rng;

/// How hard to try. Attempts count the first try: `max_attempts: 6` is one try and five retries.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// First backoff ceiling; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is cut to it, so a confused server cannot park a Lambda
    /// invocation for an hour; the work is then left to the scheduled retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` failed tries (1-based).
    ///
    /// With `Retry-After` the service said when: wait that long plus a little jitter, so many
    /// clients told the same second do not return together. Without it, "full jitter": a uniform
    /// draw up to the exponential ceiling.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        match retry_after {
            Some(after) => {
                let jitter = rng.random_range(0..=self.base_delay.as_millis() as u64);
                after.min(self.max_retry_after) + Duration::from_millis(jitter)
            }
            None => {
                let ceiling = self.ceiling(attempt).as_millis() as u64;
                Duration::from_millis(rng.random_range(0..=ceiling))
            }
        }
    }

    fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// `Retry-After` in seconds (both services send seconds; an HTTP date is not used by them and is
/// treated as absent, falling back to backoff).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Statuses worth another try: the request was not done, and may be later.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_stays_under_a_doubling_ceiling_capped_at_max_delay() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = policy();
        for (attempt, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (9, 1_000),
        ] {
            let draws: Vec<u128> = (0..200)
                .map(|_| p.delay(attempt, None, &mut rng).as_millis())
                .collect();
            assert!(draws.iter().all(|d| *d <= ceiling_ms), "attempt {attempt}");
            // Full jitter spreads over the whole range, not just near the ceiling.
            assert!(
                draws.iter().any(|d| *d < ceiling_ms / 4),
                "attempt {attempt}"
            );
            assert!(
                draws.iter().any(|d| *d > ceiling_ms * 3 / 4),
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut rng = StdRng::seed_from_u64(2);
        let p = policy();
        let d = p.delay(1, Some(Duration::from_secs(3)), &mut rng);
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_millis(3_100));
        let capped = p.delay(1, Some(Duration::from_secs(3_600)), &mut rng);
        assert!(capped >= Duration::from_secs(30) && capped <= Duration::from_millis(30_100));
    }

    #[test]
    fn reads_retry_after_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412, 413, 422, 501] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}
