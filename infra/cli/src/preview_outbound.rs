//! `cosell preview outbound FILE`: the referral(s) an outbound sync would create for one
//! opportunity ([`plan_create`]). No network.
//!
//! Prints one JSON object:
//!
//! ```json
//! {"kind": "private" | "partner-led" | "co-sell",
//!  "partner": { …the POST body… },
//!  "microsoft": { …co-sell only: the second POST, the connected referral for Microsoft… }}
//! ```
//!
//! The Microsoft referral carries the `engagementId` Partner Center returns for the partner's
//! referral; a preview has none, so that key is absent. An opportunity that cannot be sent exits
//! with status 2 and prints its validation sentences on stderr, one per line, as the sync writes
//! them to Audit; an unreadable file or setting exits with status 1.
//!
//! [`plan_create`]: cosell_mapping::outbound::plan_create

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cosell_mapping::outbound::{
    CreatePlan, DealKind, InvalidOpportunity, OutboundInput, microsoft_referral, plan_create,
};
use serde_json::{Map, Value, json};

pub fn outbound(ctx: &crate::context::Context, file: &Path) -> ExitCode {
    match run(ctx, file) {
        Ok(Ok(plan)) => {
            crate::output::say!(
                "{}",
                serde_json::to_string_pretty(&render(&plan)).expect("JSON value")
            );
            ExitCode::SUCCESS
        }
        Ok(Err(invalid)) => {
            let id = invalid
                .opportunity_id
                .map_or_else(|| "(no id)".to_owned(), |id| id.to_string());
            eprintln!(
                "cosell preview outbound: opportunity {id} cannot be sent to Partner Center:"
            );
            for sentence in invalid.sentences() {
                eprintln!("{sentence}");
            }
            // A problem found (1), not a usage error (2).
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("cosell preview outbound: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    ctx: &crate::context::Context,
    file: &Path,
) -> anyhow::Result<Result<CreatePlan, InvalidOpportunity>> {
    let config = ctx.config()?.crm()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let row: Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON object", file.display()))?;
    let input = OutboundInput::from_expanded_row(&row, &config)
        .with_context(|| format!("{} is not an opportunity row", file.display()))?;
    Ok(plan_create(&input, &config))
}

pub(crate) fn render(plan: &CreatePlan) -> Value {
    let kind = match plan.kind {
        DealKind::Private => "private",
        DealKind::PartnerLed => "partner-led",
        DealKind::CoSell => "co-sell",
    };
    let mut out = json!({ "kind": kind, "partner": plan.referral });
    if plan.kind == DealKind::CoSell {
        // Before the first POST there is no engagementId to carry over.
        out["microsoft"] = json!(microsoft_referral(&plan.referral, plan));
    }
    out
}
