//! Cold start and memory of each function's `bootstrap`, for the report: the `lambda`
//! subcommand's measurement ([`crate::lambda`]) turned into rows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lambda::measure::Sample;
use crate::lambda::report::{MIB, READY_MS, RSS_MIB, SIZE_MIB, Spread};
use crate::lambda::{self, BenchError, Binary, ColdStart};
use crate::report::{Row, Section, Target, details};

/// Where `sam build` put this machine's build: `.aws-sam/build-<arch>` when it exists (the
/// command `cosell-bench lambda` prints for another architecture's build), else `.aws-sam/build`.
pub fn default_build_dir() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    let own = PathBuf::from(format!(".aws-sam/build-{arch}"));
    match own.is_dir() {
        true => own,
        false => PathBuf::from(".aws-sam/build"),
    }
}

/// The build `sam build` makes for the template's default architecture: its sizes are the ones
/// deployed, whichever build the starts are timed on.
const DEPLOYED_BUILD: &str = ".aws-sam/build";

pub async fn section(build_dir: &Path, runs: usize) -> Section {
    let mut how = vec![format!(
        "`cosell-bench lambda` over {}{}: exec → first GET /runtime/invocation/next of the emulated Lambda Runtime API, settings pointing at the simulator, median of {runs} cold starts",
        build_dir.display(),
        built_at(build_dir)
    )];
    let not_measured = |why: String| Section {
        title: "Cold start and memory (each function's bootstrap)".into(),
        how: how.clone(),
        rows: vec![
            Row::not_measured(
                "cold start",
                Some(Target::at_most(READY_MS, " ms")),
                why.clone(),
            ),
            Row::not_measured("RSS at ready", Some(Target::at_most(RSS_MIB, " MiB")), why),
        ],
        details: serde_json::Value::Null,
    };
    let paths = match lambda::binary_paths(build_dir) {
        Ok(paths) => paths,
        Err(BenchError::NoBootstraps(_)) => {
            return not_measured(format!(
                "not measured: no bootstrap under {}; run `infra/lambda-tools.sh sam build --beta-features` first",
                build_dir.display()
            ));
        }
        Err(error) => return not_measured(format!("not measured: {error}")),
    };
    let (functions, _) = match lambda::measure(&paths, runs, Duration::from_secs(10)).await {
        Ok(measured) => measured,
        Err(error) => return not_measured(format!("not measured: {error}")),
    };
    let mut rows = Vec::new();
    let mut all = Vec::new();
    let deployed = Path::new(DEPLOYED_BUILD);
    if deployed != build_dir {
        how.push(format!(
            "Sizes from {DEPLOYED_BUILD}{} (the template's default architecture), budget from issue 6",
            built_at(deployed)
        ));
    }
    let sizes: Vec<Binary> = match deployed != build_dir {
        true => lambda::binary_paths(deployed)
            .unwrap_or_default()
            .iter()
            .filter_map(|path| Binary::inspect(path).ok())
            .collect(),
        false => Vec::new(),
    };
    for function in &functions {
        let binary = &function.binary;
        let name = &binary.name;
        let shown = sizes.iter().find(|b| &b.name == name).unwrap_or(binary);
        rows.push(size_row(shown));
        match &function.cold_start {
            ColdStart::Measured(samples) => {
                rows.extend(sample_rows(name, samples));
                all.push(serde_json::json!({
                    "function": name,
                    "bytes": binary.bytes,
                    "ready_ms": samples.iter().map(|s| s.ready.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
                    "rss_kib": samples.iter().map(|s| s.rss_kib).collect::<Vec<_>>(),
                    "hwm_kib": samples.iter().map(|s| s.hwm_kib).collect::<Vec<_>>(),
                    "requests_before_ready": samples.iter().map(|s| s.sim_requests).collect::<Vec<_>>(),
                }));
            }
            ColdStart::NotHere => rows.push(Row::not_measured(
                format!("{name} cold start"),
                Some(Target::at_most(READY_MS, " ms")),
                format!(
                    "not measured: built for {}, this machine is {}; build its architecture with `infra/lambda-tools.sh sam build --beta-features --parameter-overrides Architecture=<arch> --build-dir .aws-sam/build-<arch>`",
                    binary.arch,
                    std::env::consts::ARCH
                ),
            )),
            ColdStart::Failed(error) => rows.push(Row::failed(
                format!("{name} cold start"),
                Some(Target::at_most(READY_MS, " ms")),
                format!("it did not start: {error}"),
            )),
        }
    }
    Section {
        title: "Cold start and memory (each function's bootstrap)".into(),
        how,
        rows,
        details: details([("functions", serde_json::Value::Array(all))]),
    }
}

fn size_row(binary: &Binary) -> Row {
    let size = binary.bytes as f64 / MIB;
    Row::checked(
        format!("{} size ({})", binary.name, binary.arch),
        format!(
            "{size:.2} MiB{}",
            if binary.stripped {
                ""
            } else {
                " (not stripped)"
            }
        ),
        size,
        Target::at_most(SIZE_MIB, " MiB"),
        || "the release profile's size settings did not bring it under (issue 6's budget)".into(),
    )
}

/// `, built 2026-11-24 10:33 UTC`: when the first bootstrap under `dir` was written, so a
/// reader sees whether the build is older than the code.
fn built_at(dir: &Path) -> String {
    let modified = lambda::binary_paths(dir)
        .ok()
        .and_then(|paths| std::fs::metadata(paths.first()?).ok()?.modified().ok());
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    modified
        .and_then(|at| time::OffsetDateTime::from(at).format(&format).ok())
        .map_or_else(String::new, |at| format!(", built {at}"))
}

fn sample_rows(name: &str, samples: &[Sample]) -> Vec<Row> {
    let ready = Spread::of(samples.iter().map(|s| s.ready.as_secs_f64() * 1000.0));
    let rss = Spread::of(samples.iter().map(|s| s.rss_kib as f64 / 1024.0));
    let hwm = Spread::of(samples.iter().map(|s| s.hwm_kib as f64 / 1024.0));
    let calls = Spread::of(samples.iter().map(|s| s.sim_requests as f64));
    vec![
        Row::checked(
            format!("{name} cold start"),
            format!(
                "{:.1} ms (min {:.1}, max {:.1})",
                ready.median, ready.min, ready.max
            ),
            ready.median,
            Target::at_most(READY_MS, " ms"),
            || {
                format!(
                    "it makes {:.0} requests (token, Dataverse, Partner Center) before it asks for its first event",
                    calls.median
                )
            },
        ),
        Row::checked(
            format!("{name} RSS at ready"),
            format!("{:.1} MiB (peak {:.1})", rss.median, hwm.median),
            rss.median,
            Target::at_most(RSS_MIB, " MiB"),
            || "its clients, store and settings are built at start".into(),
        ),
    ]
}
