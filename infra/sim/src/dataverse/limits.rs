//! Service protection limits, per application user (the simulator has one): requests and combined
//! execution time over a sliding window, and concurrent requests. Over a limit the request is
//! answered 429 with `Retry-After` (seconds until the window frees enough) and the documented
//! codes `0x80072322` (requests), `0x80072321` (execution time), `0x80072326` (concurrency).
//! A refused request does not count toward the window, and the real service's longer
//! `Retry-After` for a client that keeps sending is not simulated.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::config::LimitConfig;
use super::error::code;

/// Why a request was refused, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: u64,
}

#[derive(Default)]
struct Window {
    /// Start of every admitted request in the window.
    requests: VecDeque<Instant>,
    /// End and duration of every finished request in the window.
    executions: VecDeque<(Instant, Duration)>,
}

pub struct Limits {
    config: Mutex<LimitConfig>,
    window: Mutex<Window>,
    in_flight: AtomicU32,
}

/// Held while a request is handled: frees its concurrency slot and records its execution time.
pub struct Admission<'a> {
    limits: &'a Limits,
    started: Instant,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.limits.in_flight.fetch_sub(1, Ordering::SeqCst);
        let now = Instant::now();
        self.limits
            .window
            .lock()
            .expect("limits window")
            .executions
            .push_back((now, now - self.started));
    }
}

impl Limits {
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config: Mutex::new(config),
            window: Mutex::new(Window::default()),
            in_flight: AtomicU32::new(0),
        }
    }

    pub fn config(&self) -> LimitConfig {
        self.config.lock().expect("limits config").clone()
    }

    /// New limits apply at once; the window is cleared so a test starts from zero.
    pub fn set(&self, config: LimitConfig) {
        *self.config.lock().expect("limits config") = config;
        *self.window.lock().expect("limits window") = Window::default();
    }

    /// Admits a request or says why not.
    pub fn admit(&self) -> Result<Admission<'_>, Throttled> {
        let config = self.config();
        let now = Instant::now();
        let window = Duration::from_secs(config.window_secs.max(1));
        let mut w = self.window.lock().expect("limits window");
        while w
            .requests
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            w.requests.pop_front();
        }
        while w
            .executions
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= window)
        {
            w.executions.pop_front();
        }

        let in_flight = self.in_flight.load(Ordering::SeqCst);
        if in_flight >= config.max_concurrent {
            return Err(Throttled {
                code: code::THROTTLED_CONCURRENCY,
                message: format!(
                    "Number of concurrent requests exceeded the limit of {}.",
                    config.max_concurrent
                ),
                retry_after_secs: 1,
            });
        }
        if w.requests.len() >= config.max_requests as usize {
            let over = w.requests.len() + 1 - config.max_requests.max(1) as usize;
            let frees_at = w
                .requests
                .get(over.saturating_sub(1))
                .copied()
                .unwrap_or(now)
                + window;
            return Err(Throttled {
                code: code::THROTTLED_REQUESTS,
                message: format!(
                    "Number of requests exceeded the limit of {} over time window of {} seconds.",
                    config.max_requests, config.window_secs
                ),
                retry_after_secs: seconds_until(now, frees_at),
            });
        }
        if let Some(max) = config.max_execution_secs {
            let max = Duration::from_secs(max);
            let used: Duration = w.executions.iter().map(|(_, d)| *d).sum();
            if used > max {
                let frees_at = w.executions.front().map_or(now, |(t, _)| *t) + window;
                return Err(Throttled {
                    code: code::THROTTLED_TIME,
                    message: format!(
                        "Combined execution time of incoming requests exceeded limit of {} milliseconds over time window of {} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
                        max.as_millis(),
                        config.window_secs
                    ),
                    retry_after_secs: seconds_until(now, frees_at),
                });
            }
        }
        w.requests.push_back(now);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(Admission {
            limits: self,
            started: now,
        })
    }
}

/// Whole seconds, rounded up, at least 1.
fn seconds_until(now: Instant, then: Instant) -> u64 {
    let wait = then.saturating_duration_since(now);
    (wait.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_window_are_refused_with_retry_after() {
        let limits = Limits::new(LimitConfig {
            max_requests: 3,
            window_secs: 2,
            ..LimitConfig::default()
        });
        for _ in 0..3 {
            drop(limits.admit().expect("under the limit"));
        }
        let refused = limits.admit().err().expect("over the limit");
        assert_eq!(refused.code, code::THROTTLED_REQUESTS);
        assert_eq!(refused.retry_after_secs, 2);
    }

    #[test]
    fn concurrency_is_refused_at_once() {
        let limits = Limits::new(LimitConfig {
            max_concurrent: 1,
            ..LimitConfig::default()
        });
        let first = limits.admit().expect("first");
        assert_eq!(
            limits.admit().err().map(|t| t.code),
            Some(code::THROTTLED_CONCURRENCY)
        );
        drop(first);
        assert!(limits.admit().is_ok());
    }

    #[test]
    fn execution_time_is_limited() {
        let limits = Limits::new(LimitConfig {
            max_execution_secs: Some(0),
            ..LimitConfig::default()
        });
        drop(limits.admit().expect("nothing used yet"));
        assert_eq!(
            limits.admit().err().map(|t| t.code),
            Some(code::THROTTLED_TIME)
        );
    }
}
