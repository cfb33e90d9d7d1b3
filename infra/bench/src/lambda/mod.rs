//! `cosell-bench lambda`: size, cold start and memory of the built `bootstrap` files.
//!
//! A cold start here is exec → the function's first `GET /2018-06-01/runtime/invocation/next`:
//! by then it has read its settings, loaded its credentials and built its clients and store, and
//! it is waiting for an event. The Runtime API is served in-process ([`runtime_api`]); the
//! settings point at the simulator with a credentials file and SQLite ([`environment`]), so no
//! AWS account and no network beyond loopback are involved.

mod binary;
mod environment;
pub mod measure;
pub mod report;
mod runtime_api;

use std::path::PathBuf;
use std::time::Duration;

pub use binary::Binary;
use environment::Environment;
use report::Report;
use runtime_api::RuntimeApi;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Bootstrap files, each named after its directory. Default: every
    /// `<build-dir>/*/bootstrap`, as `sam build` leaves them.
    pub bootstraps: Vec<PathBuf>,
    /// Where `sam build` put the functions.
    #[arg(long, default_value = ".aws-sam/build")]
    pub build_dir: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Longest wait, in seconds, for one start to reach the Runtime API.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
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

/// How one function's cold starts went.
pub enum ColdStart {
    Measured(Vec<measure::Sample>),
    /// Built for another architecture than this machine's.
    NotHere,
    /// It did not start.
    Failed(BenchError),
}

/// One function and its cold starts.
pub struct Function {
    pub binary: Binary,
    pub cold_start: ColdStart,
}

/// Every `<dir>/*/bootstrap`, as `sam build` leaves them.
pub fn binary_paths(dir: &std::path::Path) -> Result<Vec<PathBuf>, BenchError> {
    binary::find(dir)
}

/// The bootstrap files `args` names, or every one under its build directory.
pub fn bootstraps(args: &Args) -> Result<Vec<PathBuf>, BenchError> {
    match args.bootstraps.is_empty() {
        true => binary::find(&args.build_dir),
        false => Ok(args.bootstraps.clone()),
    }
}

/// Starts each bootstrap `runs` times, cold, against the simulator and an emulated Runtime API.
pub async fn measure(
    paths: &[PathBuf],
    runs: usize,
    timeout: Duration,
) -> Result<(Vec<Function>, std::net::SocketAddr), BenchError> {
    let binaries = paths
        .iter()
        .map(|path| Binary::inspect(path))
        .collect::<Result<Vec<_>, _>>()?;
    let environment = Environment::start().await?;
    let mut api = RuntimeApi::start().await?;
    let mut functions = Vec::with_capacity(binaries.len());
    for binary in binaries {
        if !binary.runs_here() {
            functions.push(Function {
                binary,
                cold_start: ColdStart::NotHere,
            });
            continue;
        }
        let mut samples = Vec::with_capacity(runs);
        let mut error = None;
        for run in 1..=runs {
            match measure::cold_start(&binary, &environment, &mut api, run, timeout).await {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let cold_start = match error {
            None => ColdStart::Measured(samples),
            Some(error) => ColdStart::Failed(error),
        };
        functions.push(Function { binary, cold_start });
    }
    Ok((functions, api.addr()))
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    let paths = bootstraps(&args)?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let (functions, runtime_api) = measure(&paths, args.runs, timeout).await?;
    let report = Report::new(args.runs, runtime_api);
    report.header(functions.len());
    for function in &functions {
        report.function(&function.binary, &function.cold_start);
    }
    if functions.iter().any(|f| !f.binary.runs_here()) {
        report.how_to_measure_here();
    }
    match functions
        .iter()
        .filter(|f| matches!(f.cold_start, ColdStart::Failed(_)))
        .count()
    {
        0 => Ok(()),
        n => Err(BenchError::Failed(n)),
    }
}
