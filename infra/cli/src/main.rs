//! `cosell`: the operator CLI.

mod backfill;
mod check;
mod config;
mod context;
mod login;
mod mapping;
mod output;
mod preview;
mod preview_live;
mod preview_outbound;
mod replay;
mod sandbox;
mod serve;
mod setup;
mod status;
mod webhooks;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::Context;
use output::Format;

#[derive(Parser)]
#[command(
    name = "cosell",
    version,
    about = "Partner Center co-sell ⇄ Dynamics 365, operated"
)]
struct Cli {
    /// Read commands print one JSON document on stdout instead of lines for people.
    #[arg(long, global = true)]
    json: bool,
    /// A TOML file of COSELL_* settings (same names as the environment variables, which win).
    #[arg(long, global = true, env = "COSELL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the three functions in one process: POST /webhooks/partner-center,
    /// POST /webhooks/dataverse, GET /healthz, and the schedules. Store: SQLite
    /// (COSELL_SQLITE_PATH, default cosell.db), or DynamoDB when COSELL_TABLE is set.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Starts the simulators with sample data, serve against them, and narrates every sync.
    /// No AWS account, no Microsoft account.
    Sandbox(sandbox::Args),
    /// Signs a Partner Center user (Referrals admin, with MFA) in through Entra ID — a browser
    /// on this machine, or `--device` for a code on another — and stores the refresh token
    /// where the credentials live. Nothing is stored unless Partner Center accepts the sign-in.
    Login(login::Args),
    /// Preflight against the configured services: one line per check, ✔ or ✖ with the fix.
    Check,
    /// First setup after a deploy: registers COSELL_WEBHOOK_URL for the referral events (the
    /// replaced URL printed and saved for rollback), proves it with a test event cosell must
    /// receive and verify, then runs every check.
    Setup {
        /// Where the replaced registration is saved.
        #[arg(long, default_value = webhooks::DEFAULT_SAVE_FILE)]
        save: PathBuf,
        /// Seconds to wait for the test event's delivery status (Partner Center allows two
        /// test events a minute).
        #[arg(long, default_value_t = 60)]
        test_timeout: u64,
        /// Also add a "Microsoft Partner Center" section with the solutions sub-grid to the main
        /// opportunity form (a form already showing them is left alone).
        #[arg(long)]
        form: bool,
        /// Undo instead: delete the Dataverse webhook's steps and endpoint, and put the saved
        /// Partner Center registration back (never columns or data).
        #[arg(long, conflicts_with = "form")]
        remove: bool,
        /// Print what each step would do, and write nothing.
        #[arg(long, conflicts_with = "remove")]
        dry_run: bool,
        /// Sign a Dynamics 365 administrator in with a browser on this machine, terminal or not
        /// (at a terminal this is what setup does unless told otherwise).
        #[arg(long, conflicts_with_all = ["device", "as_application_user"])]
        sign_in: bool,
        /// Sign the administrator in with a code on another device.
        #[arg(long, conflicts_with = "as_application_user")]
        device: bool,
        /// Make the Dynamics 365 changes as the application user, without asking.
        #[arg(long)]
        as_application_user: bool,
    },
    /// Cursors and watermarks with their age, the retry queue by state, dead items, and the
    /// last sync per direction.
    Status,
    /// Redoes parked work now, with its attempts counted afresh: ID is a referral id, an
    /// opportunity id or a retry item id; `--dead` replays every dead item.
    Replay {
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<String>,
        #[arg(long)]
        dead: bool,
    },
    /// First-time sync of every open referral and every opportunity marked Sync with Partner
    /// Center, with a progress bar; resumable (a second run skips what is in sync) and paced
    /// under the Dataverse rate limit.
    Backfill(backfill::Args),
    /// The Partner Center webhook registration.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// The mapping document kept in the sync state: `push` stores the configured one, `show`
    /// prints it.
    #[command(subcommand)]
    Mapping(mapping::Command),
    /// Shows what a sync would write; writes nothing.
    #[command(subcommand)]
    Preview(Preview),
}

#[derive(Subcommand)]
enum Webhooks {
    /// Registers URL (default COSELL_WEBHOOK_URL) for the four referral events, replacing the
    /// current registration, which is printed and saved for rollback.
    Register {
        url: Option<String>,
        /// Where the replaced registration is saved.
        #[arg(long, default_value = webhooks::DEFAULT_SAVE_FILE)]
        save: PathBuf,
    },
    /// Prints the current registration.
    Show,
    /// Sends a test event and waits for its delivery status.
    Test {
        /// Seconds to wait for a final delivery status.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
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
    /// Reads one referral from Partner Center (and its link from the store) and prints what an
    /// inbound sync would write now, with the mapping applied; writes nothing.
    Referral { id: String },
    /// Reads one opportunity from Dataverse (and, once linked, its referral from Partner Center)
    /// and prints what an outbound sync would send now; writes nothing.
    Opportunity { id: uuid::Uuid },
}

/// `cosell status | head`: once the reader is gone, `print!` panics on the broken pipe (Rust
/// ignores SIGPIPE). End the way a Unix tool killed by SIGPIPE does — quietly, status 141 —
/// instead of with a panic message and a backtrace; every other panic is reported as before.
fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let ctx = Context {
        format: if cli.json {
            Format::Json
        } else {
            Format::Human
        },
        config_file: cli.config,
    };
    match cli.command {
        Command::Serve { listen } => serve::main(&ctx, listen),
        Command::Sandbox(args) => sandbox::main(&ctx, args),
        Command::Login(args) => login::main(&ctx, args),
        Command::Check => check::main(&ctx),
        Command::Setup { save, remove, .. } if remove => setup::remove::main(&ctx, &save),
        Command::Setup {
            save,
            test_timeout,
            form,
            dry_run,
            sign_in,
            device,
            as_application_user,
            ..
        } => {
            use setup::identity::Admin;
            let admin = match (sign_in, device, as_application_user) {
                (true, _, _) => Admin::Browser,
                (_, true, _) => Admin::Device,
                (_, _, true) => Admin::ApplicationUser,
                _ => Admin::Auto,
            };
            setup::main(
                &ctx,
                &setup::Options {
                    save: &save,
                    test_timeout: std::time::Duration::from_secs(test_timeout),
                    form,
                    dry_run,
                    admin,
                },
            )
        }
        Command::Status => status::main(&ctx),
        Command::Replay { id, dead } => replay::main(&ctx, id.as_deref(), dead),
        Command::Backfill(args) => backfill::main(&ctx, args),
        Command::Webhooks(Webhooks::Register { url, save }) => webhooks::register(&ctx, url, &save),
        Command::Webhooks(Webhooks::Show) => webhooks::show(&ctx),
        Command::Webhooks(Webhooks::Test { timeout }) => {
            webhooks::test(&ctx, std::time::Duration::from_secs(timeout))
        }
        Command::Mapping(command) => mapping::main(&ctx, &command),
        Command::Preview(Preview::Inbound { file }) => preview::inbound(&ctx, &file),
        Command::Preview(Preview::Outbound { file }) => preview_outbound::outbound(&ctx, &file),
        Command::Preview(Preview::Referral { id }) => preview_live::referral(&ctx, &id),
        Command::Preview(Preview::Opportunity { id }) => preview_live::opportunity(&ctx, id),
    }
}
