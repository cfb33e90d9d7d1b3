//! `cosell preview inbound FILE`: the inbound plan of one referral, printed as the rows it
//! writes ([`InboundPlan::preview`]). No network: the preview assumes no existing account or
//! contact matches (the sync would use a match instead), and binds the currency by its ISO code
//! where the sync binds the `transactioncurrencies` row it looks up.
//!
//! [`InboundPlan::preview`]: cosell_mapping::inbound::InboundPlan::preview

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cosell_mapping::inbound;
use cosell_mapping::{CrmConfig, Referral};
use time::OffsetDateTime;

pub fn inbound(file: &Path) -> ExitCode {
    match run(file) {
        Ok(rows) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).expect("JSON value")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cosell preview inbound: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(file: &Path) -> anyhow::Result<serde_json::Value> {
    let config = CrmConfig::from_lookup(|name| std::env::var(name).ok())?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let referral: Referral = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a referral", file.display()))?;
    let plan = inbound::plan(&referral, &config)?;
    let audit = inbound::audit_line(
        OffsetDateTime::now_utc(),
        &format!("Created from referral {}", plan.referral_id),
    );
    Ok(plan.preview(&config, &audit)?)
}
