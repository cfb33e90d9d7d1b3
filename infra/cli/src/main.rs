//! `cosell`: the operator CLI.

mod preview;
mod preview_outbound;

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
    /// Reads an opportunity JSON file (as the Web API returns it, with parentaccountid,
    /// parentcontactid, transactioncurrencyid and the solutions relationship expanded) and prints
    /// the referral JSON an outbound sync would POST to Partner Center, as
    /// `{"kind", "partner", "microsoft"?}`; or exits non-zero with the validation sentences.
    /// Settings are read from the environment.
    Outbound { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Preview(Preview::Inbound { file }) => preview::inbound(&file),
        Command::Preview(Preview::Outbound { file }) => preview_outbound::outbound(&file),
    }
}
