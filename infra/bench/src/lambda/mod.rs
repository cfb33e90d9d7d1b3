//! `cosell-bench lambda`: size, cold start and memory of the built `bootstrap` files.
//!
//! A cold start here is exec → the function's first `GET /2018-06-01/runtime/invocation/next`:
//! by then it has read its settings, loaded its credentials and built its clients and store, and
//! it is waiting for an event. The Runtime API is served in-process ([`runtime_api`]); the
//! settings point at the simulator with a credentials file and SQLite ([`environment`]), so no
//! AWS account and no network beyond loopback are involved.

mod binary;
mod environment;
mod measure;
mod report;
mod runtime_api;

use std::path::PathBuf;
use std::time::Duration;

use binary::Binary;
use environment::Environment;
use report::{ColdStart, Report};
use runtime_api::RuntimeApi;

#[derive(clap::Args)]
pub struct Args {
    /// Bootstrap files, each named after its directory. Default: every
    /// `<build-dir>/*/bootstrap`, as `sam build` leaves them.
    bootstraps: Vec<PathBuf>,
    /// Where `sam build` put the functions.
    #[arg(long, default_value = ".aws-sam/build")]
    build_dir: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Longest wait, in seconds, for one start to reach the Runtime API.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("no bootstrap files under {0} (run `sam build` first, or name the files)")]
    NoBootstraps(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{path}: not an executable this benchmark can read: {detail}")]
    NotElf { path: PathBuf, detail: String },
    #[error("{function} did not start (run {run}): {detail}\n--- its output ---\n{output}")]
    NotStarted {
        function: String,
        run: usize,
        detail: String,
        output: String,
    },
    #[error("{0} function(s) could not be measured")]
    Failed(usize),
}

impl BenchError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let context = context.into();
        move |source| BenchError::Io { context, source }
    }
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    let paths = match args.bootstraps.is_empty() {
        true => binary::find(&args.build_dir)?,
        false => args.bootstraps.clone(),
    };
    let binaries = paths
        .iter()
        .map(|path| Binary::inspect(path))
        .collect::<Result<Vec<_>, _>>()?;

    let environment = Environment::start().await?;
    let mut api = RuntimeApi::start().await?;
    let report = Report::new(args.runs, api.addr());
    report.header(binaries.len());

    let timeout = Duration::from_secs(args.timeout_secs);
    let mut failed = 0;
    for binary in &binaries {
        if !binary.runs_here() {
            report.function(binary, ColdStart::NotHere);
            continue;
        }
        let mut samples = Vec::with_capacity(args.runs);
        let mut error = None;
        for run in 1..=args.runs {
            match measure::cold_start(binary, &environment, &mut api, run, timeout).await {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            None => report.function(binary, ColdStart::Measured(&samples)),
            Some(error) => {
                failed += 1;
                report.function(binary, ColdStart::Failed(&error));
            }
        }
    }
    if binaries.iter().any(|b| !b.runs_here()) {
        report.how_to_measure_here();
    }
    match failed {
        0 => Ok(()),
        n => Err(BenchError::Failed(n)),
    }
}
