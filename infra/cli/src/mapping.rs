//! `cosell mapping push | show`: the mapping document kept in the sync state, for deployments
//! whose document outgrows the functions' environment (see `cosell_sync::mapping`).
//!
//! `push` reads the document as every command does (the `[mapping]` table of `--config FILE`,
//! or `COSELL_MAPPING`), refuses it with its key when an entry is wrong, and stores it when its
//! `version` is above the stored one; then the deploy names that version (`MappingVersion`), so
//! every function starts on it. `show` prints the stored document.

use std::process::ExitCode;

use cosell_mapping::config::keys::MAPPING;
use cosell_mapping::custom::Mapping;
use cosell_sync::mapping::{self, Pushed};
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::output::{self, OK, Report};
use crate::wiring;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Store the configured mapping document in the sync state.
    ///
    /// Its version must be above the stored one; the functions read it at their next start.
    Push,
    /// Print the mapping document stored in the sync state.
    Show,
}

#[derive(Debug, Serialize)]
pub struct PushReport {
    pub version: u64,
    /// The version it replaced; `None` when the store held none.
    pub replaced: Option<u64>,
    /// The store held this very document already.
    pub unchanged: bool,
}

impl Report for PushReport {
    fn human(&self) -> String {
        let what = match (self.unchanged, self.replaced) {
            (true, _) => "is stored already".to_owned(),
            (false, Some(old)) => format!("stored, replacing version {old}"),
            (false, None) => "stored".to_owned(),
        };
        format!(
            "{OK} mapping version {} {what}\n  next: deploy with MappingVersion={} (sam deploy --parameter-overrides MappingVersion={}), so every function starts on it\n",
            self.version, self.version, self.version
        )
    }
}

#[derive(Debug, Serialize)]
pub struct Shown {
    pub mapping: Option<Mapping>,
}

impl Report for Shown {
    fn human(&self) -> String {
        match &self.mapping {
            Some(mapping) => format!(
                "{}\n",
                serde_json::to_string_pretty(mapping).expect("plain data serialises")
            ),
            None => "no mapping document is stored (`cosell mapping push` stores one)\n".into(),
        }
    }
}

pub fn main(ctx: &Context, command: &Command) -> ExitCode {
    match command {
        Command::Push => {
            let result = ctx.block_on(async {
                let config = ctx.config()?.with_default_store();
                if config.get(MAPPING).is_none() {
                    anyhow::bail!(
                        "no mapping document: give the settings file a [mapping] table (or set {MAPPING})"
                    );
                }
                let crm = config.crm()?;
                let store = wiring::store(&config).await?;
                let now = OffsetDateTime::now_utc();
                let pushed = mapping::push(&*store, &crm.mapping, now).await?;
                anyhow::Ok(PushReport {
                    version: crm.mapping.version,
                    replaced: match pushed {
                        Pushed::Stored { replaced } => replaced,
                        Pushed::Same => None,
                    },
                    unchanged: pushed == Pushed::Same,
                })
            });
            match result {
                Ok(report) => output::print(ctx.format, &report),
                Err(error) => output::fail(ctx.format, "mapping push", &error),
            }
        }
        Command::Show => {
            let result = ctx.block_on(async {
                let config = ctx.config()?.with_default_store();
                let store = wiring::existing_store(&config).await?;
                anyhow::Ok(Shown {
                    mapping: mapping::stored(&*store).await?,
                })
            });
            match result {
                Ok(shown) => output::print(ctx.format, &shown),
                Err(error) => output::fail(ctx.format, "mapping show", &error),
            }
        }
    }
}
