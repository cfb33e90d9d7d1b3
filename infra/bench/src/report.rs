//! The report of `cosell-bench all`: one row per measurement beside its target (issue 7), a
//! verdict, and for a missed target by how much and why. Printed as a table and written as JSON
//! with the same rows plus each measurement's details.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

/// Whether a measurement met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Met,
    Missed,
    /// Measured, but issue 7 sets no target for it.
    NoTarget,
    /// Could not be measured here; the note says what to do.
    NotMeasured,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Met => "ok",
            Verdict::Missed => "MISSED",
            Verdict::NoTarget => "-",
            Verdict::NotMeasured => "not measured",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    AtMost,
    AtLeast,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub bound: Bound,
    pub limit: f64,
    pub unit: &'static str,
}

impl Target {
    pub fn at_most(limit: f64, unit: &'static str) -> Target {
        Target {
            bound: Bound::AtMost,
            limit,
            unit,
        }
    }

    pub fn at_least(limit: f64, unit: &'static str) -> Target {
        Target {
            bound: Bound::AtLeast,
            limit,
            unit,
        }
    }

    pub fn show(&self) -> String {
        let sign = match self.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        };
        format!("{sign} {}{}", number(self.limit), self.unit)
    }

    fn met_by(&self, value: f64) -> bool {
        match self.bound {
            Bound::AtMost => value <= self.limit,
            Bound::AtLeast => value >= self.limit,
        }
    }
}

/// `20`, `0.5`, `2.25`, `4.8`, `7313`: the precision that means something at that size, no
/// trailing zeros.
fn number(value: f64) -> String {
    let text = match value.abs() {
        v if v < 10.0 => format!("{value:.2}"),
        v if v < 100.0 => format!("{value:.1}"),
        _ => format!("{value:.0}"),
    };
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub measurement: String,
    pub measured: String,
    /// The figure the verdict compares, in the target's unit.
    pub value: Option<f64>,
    pub target: Option<String>,
    pub verdict: Verdict,
    pub note: Option<String>,
}

impl Row {
    /// A measurement with a target; `why` is asked for only when it is missed.
    pub fn checked(
        measurement: impl Into<String>,
        measured: impl Into<String>,
        value: f64,
        target: Target,
        why: impl FnOnce() -> String,
    ) -> Row {
        let met = target.met_by(value);
        let note = (!met).then(|| {
            let by = (value - target.limit).abs();
            format!("missed by {}{} because {}", number(by), target.unit, why())
        });
        Row {
            measurement: measurement.into(),
            measured: measured.into(),
            value: Some(value),
            target: Some(target.show()),
            verdict: if met { Verdict::Met } else { Verdict::Missed },
            note,
        }
    }

    /// A measurement issue 7 asks for without a target.
    pub fn info(
        measurement: impl Into<String>,
        measured: impl Into<String>,
        note: Option<String>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            measured: measured.into(),
            value: None,
            target: None,
            verdict: Verdict::NoTarget,
            note,
        }
    }

    /// A measurement that could not be taken because the thing measured is broken.
    pub fn failed(
        measurement: impl Into<String>,
        target: Option<Target>,
        why: impl Into<String>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            measured: "failed".into(),
            value: None,
            target: target.map(|t| t.show()),
            verdict: Verdict::Missed,
            note: Some(why.into()),
        }
    }

    pub fn not_measured(
        measurement: impl Into<String>,
        target: Option<Target>,
        why: impl Into<String>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            measured: "-".into(),
            value: None,
            target: target.map(|t| t.show()),
            verdict: Verdict::NotMeasured,
            note: Some(why.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    /// How this section was measured, in a sentence or two.
    pub how: Vec<String>,
    pub rows: Vec<Row>,
    /// The raw figures behind the rows (JSON only).
    pub details: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub memory_gib: Option<f64>,
    pub arch: &'static str,
    pub os: &'static str,
    /// `/proc/loadavg`'s 1-minute figure at start: the machine may be shared.
    pub load_average: Option<f64>,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map(|(_, name)| name.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
            .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0);
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        Machine {
            load_average,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_gib,
            arch: std::env::consts::ARCH,
            os: std::env::consts::OS,
        }
    }

    fn show(&self) -> String {
        format!(
            "{} CPUs ({}), {} GiB, {}/{}, load average {} at start",
            self.cpus,
            self.cpu_model.as_deref().unwrap_or("unknown model"),
            self.memory_gib.map_or_else(|| "?".into(), number),
            self.os,
            self.arch,
            self.load_average.map_or_else(|| "?".into(), number)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub started_at: String,
    pub wall_secs: f64,
    pub machine: Machine,
    /// What every section shares (the store, the simulators, the build).
    pub setup: Vec<String>,
    pub sections: Vec<Section>,
}

impl Report {
    pub fn missed(&self) -> usize {
        self.rows().filter(|r| r.verdict == Verdict::Missed).count()
    }

    fn rows(&self) -> impl Iterator<Item = &Row> {
        self.sections.iter().flat_map(|s| s.rows.iter())
    }

    pub fn print(&self) {
        let width = |f: fn(&Row) -> usize| self.rows().map(f).max().unwrap_or(0);
        let w_name = width(|r| r.measurement.chars().count()).max(11) + 2;
        let w_measured = width(|r| r.measured.chars().count()).max(8);
        let w_target = width(|r| r.target.as_deref().unwrap_or("-").chars().count()).max(6);
        println!();
        println!("cosell-bench: {}", self.command);
        println!(
            "  {} · started {} · {:.0} s",
            self.machine.show(),
            self.started_at,
            self.wall_secs
        );
        for line in &self.setup {
            println!("  {line}");
        }
        println!();
        println!(
            "{:<w_name$}  {:<w_measured$}  {:<w_target$}  verdict",
            "measurement", "measured", "target"
        );
        println!("{}", "─".repeat(w_name + w_measured + w_target + 15));
        for section in &self.sections {
            println!("{}", section.title);
            for how in &section.how {
                println!("  · {how}");
            }
            for row in &section.rows {
                println!(
                    "  {:<w$}  {:<w_measured$}  {:<w_target$}  {}",
                    row.measurement,
                    row.measured,
                    row.target.as_deref().unwrap_or("-"),
                    row.verdict.word(),
                    w = w_name - 2
                );
                if let Some(note) = &row.note {
                    println!("      {note}");
                }
            }
        }
        println!();
        match self.missed() {
            0 => println!("Every target met."),
            n => println!("{n} target(s) missed; each says by how much and why."),
        }
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// A JSON object from pairs, for a section's details.
pub fn details(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_target_says_by_how_much_and_asks_why_only_then() {
        let met = Row::checked("p99", "12 ms", 12.0, Target::at_most(20.0, " ms"), || {
            unreachable!("not asked when met")
        });
        assert_eq!(met.verdict, Verdict::Met);
        assert_eq!(met.note, None);
        let missed = Row::checked("p99", "26.5 ms", 26.5, Target::at_most(20.0, " ms"), || {
            "the store".into()
        });
        assert_eq!(missed.verdict, Verdict::Missed);
        assert_eq!(
            missed.note.as_deref(),
            Some("missed by 6.5 ms because the store")
        );
        let far = Row::checked(
            "p99",
            "7333 ms",
            7333.27,
            Target::at_most(20.0, " ms"),
            || "the pace".into(),
        );
        assert_eq!(
            far.note.as_deref(),
            Some("missed by 7313 ms because the pace")
        );
        let rate = Row::checked("rate", "85 %", 85.0, Target::at_least(90.0, " %"), || {
            "the pace".into()
        });
        assert_eq!(rate.target.as_deref(), Some("≥ 90 %"));
        assert_eq!(rate.note.as_deref(), Some("missed by 5 % because the pace"));
    }
}
