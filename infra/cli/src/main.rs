//! `cosell`: the operator CLI.

mod preview;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cosell",
    version,
    about = "Partner Center co-sell ⇄ Dynamics 365, operated"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shows what a sync would write, without touching any service.
    #[command(subcommand)]
    Preview(Preview),
}

#[derive(Subcommand)]
enum Preview {
    /// Reads a referral JSON file (as Partner Center returns it) and prints, as JSON, the rows
    /// an inbound sync would write to Dataverse: one object per table, keyed by logical column
    /// names. Settings (COSELL_SHOW_CHECKMARK, column names…) are read from the environment.
    Inbound { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Preview(Preview::Inbound { file }) => preview::inbound(&file),
    }
}
