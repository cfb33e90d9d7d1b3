//! Percentiles of latency samples. Nearest rank, so every figure printed is a latency that was
//! actually measured (no interpolation between two samples).

use std::time::Duration;

use serde::Serialize;

/// The spread of one set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latencies {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    /// `None` for no samples: a benchmark that measured nothing has no percentile.
    pub fn of(samples: &[Duration]) -> Option<Latencies> {
        let mut sorted: Vec<Duration> = samples.to_vec();
        sorted.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Some(Latencies {
            count: sorted.len(),
            p50_ms: ms(percentile(&sorted, 50.0)?),
            p90_ms: ms(percentile(&sorted, 90.0)?),
            p99_ms: ms(percentile(&sorted, 99.0)?),
            max_ms: ms(*sorted.last()?),
        })
    }

    /// `p50 4.1 / p99 12.0 ms`, as the table shows it.
    pub fn show(&self) -> String {
        format!("p50 {} / p99 {} ms", ms(self.p50_ms), ms(self.p99_ms))
    }
}

/// Milliseconds with the precision that means something at that size.
pub fn ms(value: f64) -> String {
    match value {
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 1000.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest sample with at least `p` %
/// of the samples at or below it.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_a_measured_sample() {
        let hundred: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(50));
        assert_eq!(percentile(&hundred, 99.0), Some(99));
        assert_eq!(percentile(&hundred, 100.0), Some(100));
        // 1,000 samples: p99 is the 990th, so the 10 slowest are above it.
        let thousand: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99.0), Some(990));
        // Few samples: p99 of 10 is the slowest one, not a value between two.
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 99.0), Some(10));
        assert_eq!(percentile(&ten, 50.0), Some(5));
        assert_eq!(percentile(&[7], 0.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn latencies_are_sorted_before_ranking() {
        let samples: Vec<Duration> = [30, 10, 20, 40]
            .into_iter()
            .map(Duration::from_millis)
            .collect();
        let l = Latencies::of(&samples).unwrap();
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (4, 20.0, 40.0, 40.0)
        );
        assert!(Latencies::of(&[]).is_none());
    }
}
