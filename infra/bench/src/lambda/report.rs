//! The printed report: one block per function, each measurement beside issue 6's target. The
//! verdict compares the median (a single slow start on a busy CI machine says little); min and
//! max are printed too.

use std::net::SocketAddr;

use super::ColdStart;
use super::binary::Binary;

pub const SIZE_MIB: f64 = 8.0;
pub const READY_MS: f64 = 30.0;
pub const RSS_MIB: f64 = 32.0;
pub const MIB: f64 = 1024.0 * 1024.0;

pub struct Report {
    runs: usize,
    runtime_api: SocketAddr,
}

impl Report {
    pub fn new(runs: usize, runtime_api: SocketAddr) -> Report {
        Report { runs, runtime_api }
    }

    pub fn header(&self, functions: usize) {
        println!(
            "cosell-bench lambda: {functions} functions, {} cold starts each on this {} machine; Runtime API emulated on {}",
            self.runs,
            std::env::consts::ARCH,
            self.runtime_api
        );
        println!(
            "  cold start = exec → first GET /2018-06-01/runtime/invocation/next; settings point at the simulator (credentials file, SQLite), no AWS"
        );
        println!(
            "  targets (issue 6): ≤ {SIZE_MIB} MiB stripped, ≤ {READY_MS} ms to ready, ≤ {RSS_MIB} MiB RSS; verdicts compare the median and fail nothing"
        );
    }

    /// For builds of another architecture: how to get numbers on this machine.
    pub fn how_to_measure_here(&self) {
        let arch = match std::env::consts::ARCH {
            "aarch64" => "arm64",
            other => other,
        };
        println!();
        println!(
            "To time the starts on this machine, build its architecture too:\n  infra/lambda-tools.sh sam build --beta-features --parameter-overrides Architecture={arch} --build-dir .aws-sam/build-{arch}\n  cargo run -p cosell-bench -- lambda --build-dir .aws-sam/build-{arch}"
        );
    }

    pub fn function(&self, binary: &Binary, cold_start: &ColdStart) {
        let stripped = match binary.stripped {
            true => "stripped",
            false => "NOT stripped",
        };
        println!();
        println!(
            "{}  ({}; {}, {stripped})",
            binary.name, binary.shown, binary.arch
        );
        let size = binary.bytes as f64 / MIB;
        line(
            "size",
            format!("{size:.2} MiB"),
            format!("≤ {SIZE_MIB} MiB"),
            binary.stripped && size <= SIZE_MIB,
        );
        let samples = match cold_start {
            ColdStart::Measured(samples) => samples,
            ColdStart::NotHere => {
                println!(
                    "  {:<16}not measured here: built for {}, this machine is {}",
                    "ready",
                    binary.arch,
                    std::env::consts::ARCH
                );
                return;
            }
            ColdStart::Failed(error) => {
                println!("  {:<16}FAILED: {error}", "ready");
                return;
            }
        };
        let ready = Spread::of(samples.iter().map(|s| s.ready.as_secs_f64() * 1000.0));
        line(
            "ready",
            ready.show("ms", 1),
            format!("≤ {READY_MS} ms"),
            ready.median <= READY_MS,
        );
        let rss = Spread::of(samples.iter().map(|s| s.rss_kib as f64 / 1024.0));
        line(
            "RSS at ready",
            rss.show("MiB", 1),
            format!("≤ {RSS_MIB} MiB"),
            rss.median <= RSS_MIB,
        );
        let hwm = Spread::of(samples.iter().map(|s| s.hwm_kib as f64 / 1024.0));
        line(
            "peak RSS (HWM)",
            hwm.show("MiB", 1),
            format!("≤ {RSS_MIB} MiB"),
            hwm.median <= RSS_MIB,
        );
        let calls = Spread::of(samples.iter().map(|s| s.sim_requests as f64));
        println!(
            "  {:<16}{} (token, Dataverse, Partner Center requests before ready)",
            "network calls",
            calls.show("", 0)
        );
    }
}

fn line(what: &str, measured: String, target: String, ok: bool) {
    let verdict = match ok {
        true => "ok",
        false => "OVER",
    };
    println!("  {what:<16}{measured:<40}target {target:<10} {verdict}");
}

pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl Iterator<Item = f64>) -> Spread {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        assert!(n > 0, "at least one sample");
        let median = match n % 2 {
            1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Spread {
            min: values[0],
            median,
            max: values[n - 1],
        }
    }

    pub fn show(&self, unit: &str, decimals: usize) -> String {
        format!(
            "min {:.d$}  median {:.d$}  max {:.d$} {unit}",
            self.min,
            self.median,
            self.max,
            d = decimals
        )
        .trim_end()
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Spread::of([3.0, 1.0, 2.0].into_iter());
        assert_eq!((odd.min, odd.median, odd.max), (1.0, 2.0, 3.0));
        let even = Spread::of([4.0, 1.0, 3.0, 2.0].into_iter());
        assert_eq!((even.min, even.median, even.max), (1.0, 2.5, 4.0));
    }
}
