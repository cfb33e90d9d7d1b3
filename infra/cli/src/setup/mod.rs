//! `cosell setup`: what an operator runs once after `sam deploy`, and again safely at any time.
//!
//! 1. **Takeover**: the Partner Center webhook registration for `COSELL_WEBHOOK_URL` (`PUT` over
//!    an existing one, as Microsoft requires; what it replaces printed and saved, so a move off
//!    Power Automate can be rolled back).
//! 2. **Proof**: a `test-created` event that cosell must receive and verify.
//! 3. **Dataverse**: change tracking on opportunity ([`change_tracking`]); the Dataverse webhook
//!    — service endpoint and steps — at `COSELL_DATAVERSE_WEBHOOK_URL` ([`dataverse_webhook`]).
//! 4. **Check**: every preflight line.
//!
//! Each step after the takeover runs even when one before it failed (each says what it needs);
//! the exit status is 1 if any failed.

mod change_tracking;
mod dataverse_webhook;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use cosell_runtime::Runtime;

use crate::check::{self, Preflight};
use crate::config::keys;
use crate::context::Context;
use crate::output::{self, Format};
use crate::webhooks;

pub fn main(ctx: &Context, save: &Path, test_timeout: Duration) -> ExitCode {
    if ctx.format == Format::Json {
        eprintln!("cosell setup: not a read command; run `webhooks register` and `check --json`");
        return ExitCode::FAILURE;
    }
    let registered = webhooks::register(ctx, None, save);
    if registered != ExitCode::SUCCESS {
        return registered;
    }
    println!();
    let proved = webhooks::test(ctx, test_timeout);
    println!();
    let dataverse = dataverse(ctx);
    println!();
    let checked = check::main(ctx);
    [proved, dataverse, checked]
        .into_iter()
        .find(|code| *code != ExitCode::SUCCESS)
        .unwrap_or(ExitCode::SUCCESS)
}

/// The Dataverse steps, one line each.
fn dataverse(ctx: &Context) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        let runtime = Runtime::start(config.runtime()?).await?;
        let url = config.get(keys::DATAVERSE_WEBHOOK_URL);
        let steps = vec![
            change_tracking::step(&runtime.dataverse).await,
            dataverse_webhook::step(&runtime, url.as_deref()).await,
        ];
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
