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
mod schema;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use cosell_runtime::Runtime;

use crate::check::{self, Preflight};
use crate::config::keys;
use crate::context::Context;
use crate::output::{self, Format};
use crate::webhooks;

/// What `cosell setup` was asked to do beyond its defaults.
pub struct Options<'a> {
    pub save: &'a Path,
    pub test_timeout: Duration,
    /// Add the "Microsoft Partner Center" section to the main opportunity form.
    pub form: bool,
}

pub fn main(ctx: &Context, options: &Options) -> ExitCode {
    if ctx.format == Format::Json {
        eprintln!("cosell setup: not a read command; run `webhooks register` and `check --json`");
        return ExitCode::FAILURE;
    }
    let registered = webhooks::register(ctx, None, options.save);
    if registered != ExitCode::SUCCESS {
        return registered;
    }
    println!();
    let proved = webhooks::test(ctx, options.test_timeout);
    println!();
    let dataverse = dataverse(ctx, options.form);
    println!();
    let checked = check::main(ctx);
    [proved, dataverse, checked]
        .into_iter()
        .find(|code| *code != ExitCode::SUCCESS)
        .unwrap_or(ExitCode::SUCCESS)
}

/// The Dataverse steps, one line each.
fn dataverse(ctx: &Context, form: bool) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        let settings = config.runtime()?;
        // The names the settings give, before the runtime lays the recorded schema over them.
        let configured = settings.crm.clone();
        let runtime = Runtime::start(settings).await?;
        let url = config.get(keys::DATAVERSE_WEBHOOK_URL);
        let (schema_check, schema) = schema::step(&runtime, &configured).await;
        let mut steps = vec![
            schema_check,
            change_tracking::step(&runtime.dataverse).await,
        ];
        match schema {
            Some(schema) => {
                let crm = runtime.settings.crm.clone().with_schema(schema);
                steps.push(dataverse_webhook::step(&runtime, &crm, url.as_deref()).await);
                if form {
                    steps.push(form::step(&runtime.dataverse, &crm).await);
                }
            }
            None => steps.push(dataverse_webhook::undecided()),
        }
        anyhow::Ok(Preflight {
            ok: steps.iter().all(|s| s.ok),
            checks: steps,
        })
    });
    match result {
        Ok(steps) => output::print(ctx.format, &steps),
        Err(error) => output::fail(ctx.format, "setup", &error),
    }
}
