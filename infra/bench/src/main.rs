//! `cosell-bench`: the numbers behind issues 6 and 7, printed beside their targets. It measures
//! and prints; a number over its target never fails a build (a function that cannot start, or a
//! sync that did not happen, does: that is a broken build, not a slow one).
//!
//! | module | holds |
//! |---|---|
//! | [`all`] | `cosell-bench all`: every measurement, one table, the same as JSON |
//! | [`inbound`] | webhook received → opportunity committed, at 0 ms and added latency |
//! | [`outbound`] | seller's edit → referral written, via the Dataverse webhook and the schedule |
//! | [`requests`] | requests per operation, from the simulators' counters |
//! | [`backfill`] | the backfill's pace against Dataverse's limit, in scaled time |
//! | [`sweep`] | the reconciliation sweep's pages and time under each reading of the list API |
//! | [`cold_start`] | the `lambda` measurement as rows of the report |
//! | [`lambda`] | `cosell-bench lambda`: bootstrap size, cold start to ready, memory at ready |
//! | [`stack`] | one in-process deployment: simulators, SQLite store, the functions' handlers on a local server |
//! | [`deliver`], [`seed`], [`counts`], [`stats`], [`report`] | the callers, the data, the counters, percentiles, the table |

mod all;
mod backfill;
mod cold_start;
mod counts;
mod deliver;
mod inbound;
mod lambda;
mod outbound;
mod report;
mod requests;
mod seed;
mod stack;
mod stats;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cosell-bench", about = "Measures cosell against its targets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every measurement of issue 7 — inbound and outbound latency, requests per operation,
    /// backfill pace, cold start and memory — in one table, also written as JSON.
    All(all::Args),
    /// Each function's bootstrap: its stripped size, and over repeated cold starts the time from
    /// exec to its first `GET /runtime/invocation/next` (the Lambda Runtime API, emulated here)
    /// and its memory at that moment.
    Lambda(lambda::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Quiet unless asked: the handlers log every sync.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let result = match cli.command {
        Command::All(args) => all::run(args).await,
        Command::Lambda(args) => lambda::run(args).await.map(|()| true).map_err(Into::into),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("cosell-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
