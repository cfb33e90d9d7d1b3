//! `cosell setup`: what an operator runs once after `sam deploy` — take over the Partner Center
//! webhook registration for `COSELL_WEBHOOK_URL` (the URL it replaces printed and saved, so a
//! move off Power Automate can be rolled back), then `check` everything. Exit 1 if either fails.

use std::path::Path;
use std::process::ExitCode;

use crate::context::Context;
use crate::output::Format;
use crate::{check, webhooks};

pub fn main(ctx: &Context, save: &Path) -> ExitCode {
    if ctx.format == Format::Json {
        eprintln!("cosell setup: not a read command; run `webhooks register` and `check --json`");
        return ExitCode::FAILURE;
    }
    let registered = webhooks::register(ctx, None, save);
    if registered != ExitCode::SUCCESS {
        return registered;
    }
    println!();
    check::main(ctx)
}
