//! `cosell sandbox`: everything on one machine, no AWS, no Microsoft account. It starts the
//! simulators (Partner Center, Dataverse, sign-in) on a fixed port — with `--bare`, a new
//! Dynamics 365 environment without Microsoft's co-sell solution — writes credentials and
//! settings into a state directory ([`files`]), runs `cosell setup`'s Dynamics 365 steps (the
//! schema, change tracking, the Dataverse webhook at serve) and says what they did, seeds the
//! simulators ([`seed`]), starts `serve` against them, registers serve's URL as the Partner
//! Center webhook (with the real client's register call), and narrates every sync as one line
//! with its latency — and, beside them, each task
//! respond-by creates or closes and each alert posted to the simulated Teams webhook
//! ([`watch`]). Then it stays up and prints the
//! `curl` commands that change data in the simulators, so a person can watch the syncs follow.
//!
//! The sandbox reads no `COSELL_*` variable from the environment: nothing left in a shell can
//! point it at real services.

pub mod files;
pub mod seed;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cosell_dataverse::pipeline::Apply;
use cosell_partner_center::{WebhookEvent, WebhookRegistration};
use cosell_sim::dataverse::DvConfig;
use cosell_sim::token::TokenConfig;
use cosell_sim::{Sim, SimConfig};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::config::Config;
use crate::context::Context;
use crate::output::{self, Format};
use crate::serve::{self, Server};
use files::StateDir;

/// `cosell sandbox` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Port of the simulators (0: any free port).
    #[arg(long, default_value_t = 7070)]
    pub port: u16,
    /// Where serve listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:7071")]
    pub listen: SocketAddr,
    /// Keep the state (settings, credentials, store, logs) in this directory instead of a
    /// temporary one removed on exit.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How often serve polls the Dataverse change feed.
    #[arg(long, default_value = "1s")]
    pub poll_interval: String,
    /// A new Dynamics 365 environment: Microsoft's standard tables only, no co-sell columns,
    /// change tracking off; `cosell setup` readies it before the first sync.
    #[arg(long)]
    pub bare: bool,
}

/// Syncs the seeded data makes: three referrals and one opportunity.
const SEEDED_SYNCS: usize = 4;
/// The guide is printed once the seeded syncs are narrated, or after this long.
const SETTLE: Duration = Duration::from_secs(15);

pub fn main(ctx: &Context, args: Args) -> ExitCode {
    match ctx.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => output::fail(Format::Human, "sandbox", &error),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    crate::config::parse_duration(&args.poll_interval)
        .with_context(|| format!("--poll-interval '{}' is not a duration", args.poll_interval))?;
    let dir = StateDir::new(args.dir.clone())?;
    log_to(&dir.file("cosell.log"))?;

    let sim = Sim::start(SimConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], args.port)),
        // Entra ID often keeps a redeemed refresh token valid; so does the sandbox, so that
        // `cosell check` or `cosell webhooks` run beside it do not revoke serve's token.
        token: TokenConfig {
            rotation_revokes_old: false,
            ..TokenConfig::default()
        },
        dataverse: if args.bare {
            DvConfig::bare()
        } else {
            DvConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "starting the simulators on 127.0.0.1:{} (is another sandbox running? try --port)",
            args.port
        )
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {} (try --listen)", args.listen))?;
    let serve_url = format!("http://{}", listener.local_addr()?);
    let webhook_url = format!("{serve_url}/webhooks/partner-center");
    let settings = files::write(&dir, &sim, &serve_url, &args.poll_interval)?;

    // What `cosell setup` does in Dynamics 365: the schema (cosell's own in a bare environment),
    // change tracking, and the Dataverse webhook at serve — so a seller's edit syncs through it.
    let config = Config::only(settings.clone());
    let (steps, schema) = crate::setup::dataverse_steps(
        &config,
        false,
        Apply::Write,
        crate::setup::identity::Admin::ApplicationUser,
    )
    .await?;
    crate::output::say!("cosell setup readied Dynamics 365:");
    crate::output::put!("{}", output::Report::human(&steps));
    let schema = schema.context("the co-sell schema could not be settled (see above)")?;
    let deals = seed::dataverse(&sim.state, schema)?;
    let sync_column = cosell_mapping::CrmConfig::default()
        .with_schema(schema)
        .columns
        .sync;

    let (events, mut narration) = broadcast::channel(256);
    let server = Server::start(&Config::only(settings), listener, events).await?;
    let mut subscribed = WebhookEvent::REFERRALS.to_vec();
    subscribed.push(WebhookEvent::TestCreated);
    server
        .partner_center
        .register_webhook(
            &WebhookRegistration::new(webhook_url.clone(), subscribed),
            false,
        )
        .await
        .context("registering serve's webhook with the Partner Center simulator")?;

    crate::output::say!("cosell sandbox");
    crate::output::say!(
        "  simulators  {}   Partner Center, Dataverse and sign-in",
        sim.base_url
    );
    crate::output::say!("  serve       {serve_url}   webhook registered: {webhook_url}");
    crate::output::say!("  state       {}", dir.path().display());
    crate::output::say!();
    crate::output::say!(
        "Seeded 2 opportunities in Dynamics 365 (one marked Sync with Partner Center)"
    );
    let referrals = seed::referrals(&sim.state)?;
    crate::output::say!("and 3 referrals from Microsoft in Partner Center. Syncing:");

    let settle = tokio::time::sleep_until(Instant::now() + SETTLE);
    tokio::pin!(settle);
    let mut narrated = 0;
    let mut guided = false;
    let stop = serve::signal();
    tokio::pin!(stop);
    let mut watch = watch::Watch::default();
    let mut look = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = look.tick() => {
                for line in watch.lines(&sim.state) {
                    crate::output::say!("{line}");
                }
            }
            received = narration.recv() => match received {
                Ok(event) => {
                    crate::output::say!("{}", event.line());
                    narrated += 1;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    crate::output::say!("… {missed} syncs not shown (see cosell.log)");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = &mut settle, if !guided => {
                crate::output::put!("{}", guide(&sim.base_url, &dir, &referrals, &deals, &sync_column));
                guided = true;
            }
            () = &mut stop => break,
        }
        if !guided && narrated >= SEEDED_SYNCS {
            // The tasks the seeded referrals made, before the guide.
            tokio::time::sleep(Duration::from_millis(100)).await;
            for line in watch.lines(&sim.state) {
                crate::output::say!("{line}");
            }
            crate::output::put!(
                "{}",
                guide(&sim.base_url, &dir, &referrals, &deals, &sync_column)
            );
            guided = true;
        }
    }
    crate::output::say!("stopping…");
    server.stop().await;
    drop(sim);
    match &dir {
        StateDir::Kept(path) => {
            crate::output::say!("stopped; the state is kept in {}", path.display())
        }
        StateDir::Temporary(_) => crate::output::say!("stopped"),
    }
    Ok(())
}

/// What a person can do next: each command works as printed.
fn guide(
    sim: &str,
    dir: &StateDir,
    referrals: &[String],
    deals: &seed::Deals,
    sync_column: &str,
) -> String {
    let json = "-H 'content-type: application/json'";
    let new_referral = seed::example_referral().to_string();
    let invitation = referrals.first().map(String::as_str).unwrap_or("<id>");
    let config = dir.file("cosell.toml");
    let unshared = deals.unshared;
    let shared = deals.shared;
    let (cosell, install) = cosell_command();
    let install = install
        .map(|line| format!("  # {line}\n"))
        .unwrap_or_default();
    format!(
        "
Try it — each command changes the simulated services; watch the line it causes:
  # Microsoft's seller: accept the co-sell invitation (the opportunity goes In Progress, Sam's task is completed)
  curl -fsS -o /dev/null -X PATCH {sim}/_admin/partner-center/referrals/{invitation} {json} -d '{{\"status\":\"Active\",\"substatus\":\"Accepted\"}}'
  # Microsoft: send a new referral
  curl -fsS -o /dev/null -X POST {sim}/_admin/partner-center/referrals {json} -d '{new_referral}'
  # Your seller: share an opportunity with Partner Center (the webhook brings it; the poll would too)
  curl -fsS -o /dev/null -X PATCH {sim}/_admin/dataverse/rows/opportunities/{unshared} {json} -d '{{\"{sync_column}\":true}}'
  # Your seller: raise a shared deal's value (Dataverse's webhook, registered by setup, brings it at once)
  curl -fsS -o /dev/null -X PATCH {sim}/_admin/dataverse/rows/opportunities/{shared} {json} -d '{{\"estimatedvalue\":210000}}'
Look:
  curl -fsS {sim}/_admin/dataverse/deliveries   # what the Dataverse webhook delivered to serve
  curl -fsS {sim}/_admin/dataverse/rows/opportunities
  curl -fsS {sim}/_admin/partner-center/referrals
  curl -fsS {sim}/_admin/hooks/teams        # the alerts cosell posted to the Teams webhook
{install}  {cosell} status --config {config}           # the referrals waiting for an answer, with days left
  {cosell} check --config {config}
Sign in to Partner Center again (open the URL it prints: the simulated Entra ID signs --user in at once):
  {cosell} login --config {config} --user {no_mfa}
  # that user does no MFA, so Partner Center refuses the sign-in and nothing is stored; as before 1 April 2026:
  curl -fsS -o /dev/null -X PUT {sim}/_admin/tokens/require-mfa {json} -d false
  # then the same login is stored and `cosell check` shows ✖ MFA; signing in as ada (with MFA) makes it ✔ again:
  {cosell} login --config {config}
Ctrl-C stops everything.

",
        config = config.display(),
        no_mfa = cosell_sim::token::users::NO_MFA,
    )
}

/// How the guide's commands call cosell, so each works as printed: `cosell` when it is on the
/// PATH, else this binary's own path and the line that installs it.
fn cosell_command() -> (String, Option<&'static str>) {
    let name = format!("cosell{}", std::env::consts::EXE_SUFFIX);
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(&name).is_file()) {
        return ("cosell".into(), None);
    }
    let this = std::env::current_exe().map(|exe| exe.display().to_string());
    let install =
        "`cosell` is not on your PATH: `cargo install --locked --path infra/cli` puts it there";
    (this.unwrap_or(name), Some(install))
}

/// serve's and the simulators' JSON logs go to a file, so the terminal shows only the narration.
fn log_to(path: &std::path::Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guide_command_is_one_line() {
        let dir = StateDir::Kept("/tmp/x".into());
        let deals = seed::Deals {
            shared: uuid::Uuid::nil(),
            unshared: uuid::Uuid::max(),
        };
        let text = guide(
            "http://127.0.0.1:7070",
            &dir,
            &["r1".into()],
            &deals,
            "msft_microsoftpartnercenterreferralsync",
        );
        let commands: Vec<_> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("curl "))
            .collect();
        assert_eq!(commands.len(), 9, "{text}");
        assert!(
            !text.contains("/webhooks/dataverse"),
            "no webhook to call by hand: {text}"
        );
        assert!(
            text.contains("/_admin/partner-center/referrals/r1"),
            "{text}"
        );
        assert!(text.contains("--config /tmp/x/cosell.toml"), "{text}");
        // The JSON bodies sit inside single quotes: none may contain one.
        for command in commands {
            let quotes = command.matches('\'').count();
            assert_eq!(quotes % 2, 0, "{command}");
        }
    }
}
