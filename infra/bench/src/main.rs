//! `cosell-bench`: the numbers behind issue 6's budgets, printed beside their targets. It
//! measures and prints; a number over its target never fails a build (a function that cannot
//! start at all does: that is a broken build, not a slow one).

mod lambda;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cosell-bench",
    about = "Measures cosell's deployable functions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Each function's bootstrap: its stripped size, and over repeated cold starts the time from
    /// exec to its first `GET /runtime/invocation/next` (the Lambda Runtime API, emulated here)
    /// and its memory at that moment.
    Lambda(lambda::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lambda(args) => lambda::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cosell-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
