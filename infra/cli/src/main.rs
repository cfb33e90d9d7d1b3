//! `cosell`: the operator CLI.

mod backfill;
mod check;
mod config;
mod context;
mod init;
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

use clap::{CommandFactory, Parser, Subcommand};

use context::Context;
use output::Format;

/// How `cosell` ends, the same for every command.
const EXIT_CODES: &str = "\
Exit status: 0 fine; 1 a problem found (a ✖ line, a dead item, a refusal, an error);
2 a usage error; 141 the reader of the output left (`cosell status | head`).
Colour: ✔ ✖ ⚠ are coloured on a terminal, never in a pipe or with NO_COLOR set.";

#[derive(Parser)]
#[command(
    name = "cosell",
    version,
    about = "Partner Center co-sell ⇄ Dynamics 365, operated",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Print one JSON document on stdout instead of lines for people (read commands; refused
    /// by serve and sandbox, which narrate as they run).
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
    /// Write cosell.toml from a deployed stack.
    ///
    /// Reads the stack's outputs and parameters from CloudFormation and writes the settings
    /// file (`--config`, else cosell.toml) every other command reads.
    Init(init::Args),
    /// Run the simulators and the three functions, narrated.
    ///
    /// Starts the simulators with sample data and serve against them, and narrates every sync.
    /// No AWS account, no Microsoft account.
    Sandbox(sandbox::Args),
    /// Run the three functions in one process.
    ///
    /// POST /webhooks/partner-center, POST /webhooks/dataverse, GET /healthz, and the
    /// schedules. Store: SQLite (COSELL_SQLITE_PATH, default cosell.db), or DynamoDB when
    /// COSELL_TABLE is set.
    Serve {
        /// The address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Sign a Partner Center user in and store the refresh token.
    ///
    /// Signs a Referrals admin (with MFA) in through Entra ID — a browser on this machine, or
    /// `--device` for a code on another — and stores the refresh token where the credentials
    /// live. Nothing is stored unless Partner Center accepts the sign-in.
    Login(login::Args),
    /// Check the configured services: one line each, ✔ or ✖ with the fix.
    Check,
    /// Take over the webhook and ready Dynamics 365, after a deploy.
    ///
    /// Registers COSELL_WEBHOOK_URL for the referral events (the replaced URL printed and saved
    /// for rollback), proves it with a test event cosell must receive and verify, readies
    /// Dataverse (schema, change tracking, its webhook), then runs every check.
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
    /// Show cursors, the retry queue, dead items and the last syncs.
    ///
    /// Cursors and watermarks with their age, the retry queue by state, dead items with their
    /// reason, the referrals waiting for an answer, and the last sync per direction.
    Status,
    /// Redo parked work now.
    ///
    /// The work is redone with its attempts counted afresh — once its cause is fixed.
    Replay {
        /// A referral id, an opportunity id or a retry item id (`inbound:<id>`).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<String>,
        /// Replay every dead item instead.
        #[arg(long)]
        dead: bool,
    },
    /// Sync everything already open, both ways, once.
    ///
    /// Every open referral and every opportunity marked Sync with Partner Center, with a
    /// progress bar; resumable (a second run skips what is in sync) and paced under the
    /// Dataverse rate limit.
    Backfill(backfill::Args),
    /// Show, register or test the Partner Center webhook.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// Store or show the mapping document kept in the sync state.
    #[command(subcommand)]
    Mapping(mapping::Command),
    /// Show what a sync would write; writes nothing.
    #[command(subcommand)]
    Preview(Preview),
}

#[derive(Subcommand)]
enum Webhooks {
    /// Register a URL for the four referral events.
    ///
    /// The current registration is replaced, printed and saved for rollback.
    Register {
        /// The URL Partner Center calls (default COSELL_WEBHOOK_URL).
        url: Option<String>,
        /// Where the replaced registration is saved.
        #[arg(long, default_value = webhooks::DEFAULT_SAVE_FILE)]
        save: PathBuf,
    },
    /// Print the current registration.
    Show,
    /// Send a test event and wait for its delivery status.
    Test {
        /// Seconds to wait for a final delivery status.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum Preview {
    /// Print the rows a referral file would become.
    ///
    /// Reads a referral JSON file (as Partner Center returns it) and prints, as JSON, the rows
    /// an inbound sync would write to Dataverse: one object per table, keyed by logical column
    /// names. Settings (COSELL_SHOW_CHECKMARK, column names…) are read as every command reads
    /// them.
    Inbound {
        /// The referral, as JSON.
        file: PathBuf,
    },
    /// Print the referral an opportunity file would become.
    ///
    /// Reads an opportunity JSON file (as the Web API returns it, with parentaccountid,
    /// parentcontactid, transactioncurrencyid and the solutions relationship expanded) and
    /// prints the referral JSON an outbound sync would POST to Partner Center, as
    /// `{"kind", "partner", "microsoft"?}`; or exits 1 with the validation sentences.
    Outbound {
        /// The opportunity, as JSON.
        file: PathBuf,
    },
    /// Print what a referral would write now.
    ///
    /// Reads one referral from Partner Center (and its link from the store) and prints what an
    /// inbound sync would write now, with the mapping applied; writes nothing.
    Referral {
        /// The referral's id.
        id: String,
    },
    /// Print what an opportunity would send now.
    ///
    /// Reads one opportunity from Dataverse (and, once linked, its referral from Partner Center)
    /// and prints what an outbound sync would send now; writes nothing.
    Opportunity {
        /// The opportunity's id.
        id: uuid::Uuid,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.json && matches!(cli.command, Command::Serve { .. } | Command::Sandbox(_)) {
        let error = clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "--json means nothing here: serve and sandbox narrate as they run \
             (serve's log lines are JSON already)\n",
        );
        error.with_cmd(&Cli::command()).exit();
    }
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
        Command::Init(args) => init::main(&ctx, args),
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
