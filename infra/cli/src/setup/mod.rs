//! `cosell setup`: what an operator runs once after `sam deploy`, and again safely at any time.
//!
//! 1. **Takeover**: the Partner Center webhook registration for `COSELL_WEBHOOK_URL` (`PUT` over
//!    an existing one, as Microsoft requires; what it replaces printed and saved, so a move off
//!    Power Automate can be rolled back).
//! 2. **Proof**: a `test-created` event that cosell must receive and verify.
//! 3. **Dataverse**: the co-sell schema — Microsoft's, or cosell's own created ([`schema`]);
//!    change tracking on opportunity ([`change_tracking`]); the Dataverse webhook — service
//!    endpoint and steps — at `COSELL_DATAVERSE_WEBHOOK_URL` ([`dataverse_webhook`]); with
//!    `--form`, the solutions sub-grid on the main opportunity form ([`form`]).
//! 4. **Check**: every preflight line.
//!
//! Each step after the takeover runs even when one before it failed (each says what it needs);
//! the exit status is 1 if any failed.

mod change_tracking;
mod dataverse_webhook;
mod form;
pub mod identity;
pub mod remove;
mod schema;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use cosell_dataverse::pipeline::Apply;
use cosell_mapping::schema::Schema;
use cosell_runtime::Runtime;

use crate::check::{self, Check, Preflight};
use crate::config::{Config, keys};
use crate::context::Context;
use crate::output::{self, Format};
use crate::webhooks;

/// What `cosell setup` was asked to do beyond its defaults.
pub struct Options<'a> {
    pub save: &'a Path,
    pub test_timeout: Duration,
    /// Add the "Microsoft Partner Center" section to the main opportunity form.
    pub form: bool,
    /// Print what each step would do; write nothing (Partner Center, Dataverse, the store, the
    /// credentials — but a rotated refresh token, stored as on any call).
    pub dry_run: bool,
    /// Who the Dynamics 365 changes are made as.
    pub admin: identity::Admin,
}

pub fn main(ctx: &Context, options: &Options) -> ExitCode {
    if ctx.format == Format::Json {
        eprintln!("cosell setup: not a read command; run `webhooks register` and `check --json`");
        return ExitCode::FAILURE;
    }
    if options.dry_run {
        let planned = plan_takeover(ctx, options.save);
        crate::output::say!();
        let dataverse = dataverse(ctx, options, Apply::Plan);
        crate::output::say!();
        let checked = check::main(ctx);
        return [planned, dataverse, checked]
            .into_iter()
            .find(|code| *code != ExitCode::SUCCESS)
            .unwrap_or(ExitCode::SUCCESS);
    }
    let registered = webhooks::register(ctx, None, options.save);
    if registered != ExitCode::SUCCESS {
        return registered;
    }
    crate::output::say!();
    let proved = webhooks::test(ctx, options.test_timeout);
    crate::output::say!();
    let dataverse = dataverse(ctx, options, Apply::Write);
    crate::output::say!();
    let checked = check::main(ctx);
    [proved, dataverse, checked]
        .into_iter()
        .find(|code| *code != ExitCode::SUCCESS)
        .unwrap_or(ExitCode::SUCCESS)
}

/// The Dataverse steps, one line each.
fn dataverse(ctx: &Context, options: &Options, apply: Apply) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        // A plan only reads: no one needs to sign in for it.
        let admin = match apply {
            Apply::Plan => identity::Admin::ApplicationUser,
            Apply::Write => options.admin,
        };
        let steps = dataverse_steps(&config, options.form, apply, admin).await?;
        anyhow::Ok(steps.0)
    });
    match result {
        Ok(steps) => output::print(ctx.format, &steps),
        Err(error) => output::fail(ctx.format, "setup", &error),
    }
}

/// The Dataverse steps with these settings (`cosell sandbox` runs them too): their lines, and
/// the co-sell schema in use after them (`None`: undecided).
pub async fn dataverse_steps(
    config: &Config,
    form: bool,
    apply: Apply,
    admin: identity::Admin,
) -> anyhow::Result<(Preflight, Option<Schema>)> {
    let settings = config.runtime()?;
    // The names the settings give, before the runtime lays the recorded schema over them.
    let configured = settings.crm.clone();
    let mut runtime = Runtime::start(settings).await?;
    // The customizations are written as whoever signed in; what the functions will do (read
    // changes) is still tried as the application user.
    let application_user = runtime.dataverse.clone();
    let (writer, who) = identity::writer(&runtime, admin).await?;
    runtime.dataverse = writer;
    let url = config.get(keys::DATAVERSE_WEBHOOK_URL);
    let (schema_check, schema) = schema::step(&runtime, &configured, apply).await;
    let mut steps = vec![
        who,
        schema_check,
        change_tracking::step(&runtime.dataverse, &application_user, apply).await,
    ];
    match schema {
        Some(schema) => {
            let crm = runtime.settings.crm.clone().with_schema(schema);
            steps.push(dataverse_webhook::step(&runtime, &crm, url.as_deref(), apply).await);
            if form {
                steps.push(form::step(&runtime.dataverse, &crm, apply).await);
            }
        }
        None => steps.push(dataverse_webhook::undecided()),
    }
    let preflight = Preflight {
        ok: steps.iter().all(|s| s.ok),
        checks: steps,
    };
    Ok((preflight, schema))
}

/// The takeover and the proof as a plan: what is registered now, and what would replace it.
fn plan_takeover(ctx: &Context, save: &Path) -> ExitCode {
    const NAME: &str = "webhook takeover";
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        let ours = config.get(keys::WEBHOOK_URL);
        let runtime = Runtime::start(config.runtime()?).await?;
        let current = runtime.partner_center.view_webhook().await?;
        let line = match (ours, current) {
            (None, _) => Check::fail(
                NAME,
                "COSELL_WEBHOOK_URL is not set: nothing to register",
                "set it to the template's WebhookUrl output",
            ),
            (Some(ours), Some(current))
                if current.webhook_url.trim_end_matches('/') == ours.trim_end_matches('/') =>
            {
                Check::pass(
                    NAME,
                    format!("{ours} is registered already (unchanged); a test event would be sent to it"),
                )
            }
            (Some(ours), Some(current)) => Check::pass(
                NAME,
                format!(
                    "would replace {} with {ours} by PUT (the replaced one saved to {}); a test event would be sent",
                    current.webhook_url,
                    save.display()
                ),
            ),
            (Some(ours), None) => Check::pass(
                NAME,
                format!("nothing is registered: would register {ours} by POST; a test event would be sent"),
            ),
        };
        anyhow::Ok(Preflight {
            ok: line.ok,
            checks: vec![line],
        })
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "setup --dry-run", &error),
    }
}
