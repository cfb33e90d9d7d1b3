//! When parked work is due again: exponential backoff with full jitter, and when to give up.
//!
//! Both use cases park failures with the same policy, so an operator configures one base, one
//! cap and one attempt limit (`COSELL_RETRY_BASE_SECS`, `COSELL_RETRY_CAP_SECS`,
//! `COSELL_RETRY_MAX_ATTEMPTS`).

use std::time::Duration;

use rand::Rng;

/// How parked work backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first ceiling; it doubles per failed attempt up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// Failed attempts after which the work is dead (kept for `replay`).
    pub max_attempts: u32,
    pub jitter: Jitter,
}

/// How a delay is drawn under its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` ("full jitter"): items that failed together do not all come due
    /// together, so a healed service is not hit by the whole queue at once.
    Full,
    /// Exactly the ceiling: a schedule a test can assert.
    None,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            max_attempts: 8,
            jitter: Jitter::Full,
        }
    }
}

/// A retry setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{name} must be a positive whole number, got '{value}'")]
pub struct BackoffError {
    pub name: &'static str,
    pub value: String,
}

impl Backoff {
    /// Reads `COSELL_RETRY_BASE_SECS`, `COSELL_RETRY_CAP_SECS` and `COSELL_RETRY_MAX_ATTEMPTS`
    /// through `lookup`; unset ones keep their defaults (30 s, 1 h, 8).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BackoffError> {
        let number = |name: &'static str| -> Result<Option<u64>, BackoffError> {
            match lookup(name).map(|v| v.trim().to_owned()) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(BackoffError { name, value: v }),
                },
            }
        };
        let default = Self::default();
        let base = number("COSELL_RETRY_BASE_SECS")?.map_or(default.base, Duration::from_secs);
        let cap = number("COSELL_RETRY_CAP_SECS")?.map_or(default.cap, Duration::from_secs);
        let max_attempts = number("COSELL_RETRY_MAX_ATTEMPTS")?
            .map_or(default.max_attempts, |n| n.min(u32::MAX.into()) as u32);
        Ok(Self {
            base,
            cap: cap.max(base),
            max_attempts,
            jitter: Jitter::Full,
        })
    }

    /// The longest wait after `attempts` failed attempts: `base · 2^(attempts − 1)`, at most `cap`.
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// The wait after `attempts` failed attempts.
    pub fn delay(&self, attempts: u32) -> Duration {
        let ceiling = self.ceiling(attempts);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => {
                let millis = ceiling.as_millis().min(u64::MAX.into()) as u64;
                Duration::from_millis(rand::rng().random_range(0..=millis))
            }
        }
    }

    /// True once `attempts` failed attempts are all the work gets.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            max_attempts: 4,
            jitter,
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = backoff(Jitter::None);
        let delays: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60]);
        assert!(!b.exhausted(3));
        assert!(b.exhausted(4));
    }

    #[test]
    fn full_jitter_spreads_under_the_ceiling() {
        let b = backoff(Jitter::Full);
        let draws: Vec<Duration> = (0..2000).map(|_| b.delay(2)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(20)));
        let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / draws.len() as f64;
        // Uniform on [0, 20]: mean 10, standard error ≈ 0.13 over 2000 draws.
        assert!((9.0..11.0).contains(&mean), "mean {mean}");
        let below_five = draws.iter().filter(|d| d.as_secs_f64() < 5.0).count();
        assert!(
            below_five > 300,
            "only {below_five} of 2000 under a quarter"
        );
    }

    #[test]
    fn settings_are_read_and_refused_by_name() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let read = Backoff::from_lookup(env(&[
            ("COSELL_RETRY_BASE_SECS", "5"),
            ("COSELL_RETRY_MAX_ATTEMPTS", "3"),
        ]))
        .unwrap();
        assert_eq!(read.base, Duration::from_secs(5));
        assert_eq!(read.cap, Duration::from_secs(3600));
        assert_eq!(read.max_attempts, 3);
        let error = Backoff::from_lookup(env(&[("COSELL_RETRY_CAP_SECS", "soon")])).unwrap_err();
        assert_eq!(error.name, "COSELL_RETRY_CAP_SECS");
        assert!(Backoff::from_lookup(env(&[("COSELL_RETRY_MAX_ATTEMPTS", "0")])).is_err());
    }
}
