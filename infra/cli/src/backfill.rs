//! `cosell backfill`: being written.

use std::process::ExitCode;

use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn main(_ctx: &Context, _args: Args) -> ExitCode {
    eprintln!("cosell backfill: not built yet");
    ExitCode::FAILURE
}
