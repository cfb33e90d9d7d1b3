//! `cosell preview referral ID` and `cosell preview opportunity ID`: one real record read from
//! the configured services, and what a sync of it would write — with the mapping applied, the
//! link's agreed deal, and nothing written anywhere (reads only: the referral or the
//! opportunity, the link, and for a linked opportunity the referral it updates).
//!
//! Prints one JSON object:
//!
//! | record | `action` | with |
//! |---|---|---|
//! | referral, no link | `create` | `rows`: as `preview inbound FILE` (no account match is run: a new account is shown) |
//! | referral, linked | `update` or `none` | `record` (table and id), `row`: the columns the update writes (mapped ones included) |
//! | referral of a kind the mapping leaves out | `left_out` | `reason` |
//! | opportunity, no referral yet | `create` | as `preview outbound FILE` (`kind`, `partner`, `microsoft`?) |
//! | opportunity, linked | `update` or `none` | `referral`, `patch` (the JSON Patch), `refused` |
//! | opportunity not marked for sync | `none` | `reason` |
//!
//! A record that cannot be synced exits 2 with the sentences the sync would write to Audit.

use std::process::ExitCode;

use anyhow::Context as _;
use cosell_mapping::inbound::{self, RecordPlan};
use cosell_mapping::outbound::{OutboundInput, plan_create, plan_update};
use cosell_mapping::{CrmConfig, CrmRow, Opportunity};
use cosell_store::ReferralId;
use cosell_sync::link::DealLink;
use cosell_sync::ports::{Crm, ReferralSource};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::context::Context;
use crate::wiring;

/// Exit status of a record that cannot be synced.
const INVALID: u8 = 2;

/// What the preview found: the JSON to print, or the sentences of a record that cannot sync.
enum Shown {
    Plan(Value),
    Invalid(Vec<String>),
}

pub fn referral(ctx: &Context, id: &str) -> ExitCode {
    let result = ctx.block_on(async {
        let wired = wiring::wire(&ctx.config()?, None).await?;
        referral_plan(&wired, id).await
    });
    show("referral", result)
}

pub fn opportunity(ctx: &Context, id: Uuid) -> ExitCode {
    let result = ctx.block_on(async {
        let wired = wiring::wire(&ctx.config()?, None).await?;
        opportunity_plan(&wired, id).await
    });
    show("opportunity", result)
}

fn show(what: &str, result: anyhow::Result<Shown>) -> ExitCode {
    match result {
        Ok(Shown::Plan(value)) => {
            crate::output::say!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON value")
            );
            ExitCode::SUCCESS
        }
        Ok(Shown::Invalid(sentences)) => {
            eprintln!("cosell preview {what}: it cannot be synced:");
            for sentence in sentences {
                eprintln!("{sentence}");
            }
            ExitCode::from(INVALID)
        }
        Err(error) => {
            eprintln!("cosell preview {what}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn referral_plan(wired: &wiring::Wired, id: &str) -> anyhow::Result<Shown> {
    let id = &ReferralId::new(id)?;
    let config: &CrmConfig = wired.jobs.inbound.config();
    let referral = ReferralSource::referral(&wired.partner_center, id)
        .await
        .with_context(|| format!("reading referral {id} from Partner Center"))?;
    if let Some(reason) = inbound::left_out(&referral, config) {
        return Ok(Shown::Plan(json!({"action": "left_out", "reason": reason})));
    }
    let plan = match inbound::plan(&referral, config) {
        Ok(plan) => plan,
        Err(invalid) => return Ok(Shown::Invalid(vec![invalid.to_string()])),
    };
    let Some(link) = wired.jobs.store.link_by_referral(id).await? else {
        let audit = inbound::audit_line(OffsetDateTime::now_utc(), "Created from referral");
        let rows = crate::preview::rows(&plan, config, &audit)?;
        return Ok(Shown::Plan(json!({"action": "create", "rows": rows})));
    };
    let agreed = link.agreed();
    let record = json!({"table": plan.record.entity_set(), "id": link.crm_id});
    if link.holds(&plan) {
        return Ok(Shown::Plan(json!({"action": "none", "record": record})));
    }
    let row = match &plan.record {
        RecordPlan::Lead { row } => row.to_row(config)?,
        RecordPlan::Opportunity { .. } => plan
            .opportunity_to_update(None, "(the Audit line)", agreed.as_ref(), false)
            .expect("an opportunity plan")
            .to_row(config)?,
    };
    Ok(Shown::Plan(
        json!({"action": "update", "record": record, "row": row}),
    ))
}

async fn opportunity_plan(wired: &wiring::Wired, id: Uuid) -> anyhow::Result<Shown> {
    let config: &CrmConfig = wired.jobs.outbound.config();
    let select = OutboundInput::select(config);
    let expand = OutboundInput::expand(config);
    let set = Opportunity::ENTITY_SET;
    let record = Crm::read_expanded(
        &wired.dataverse,
        set,
        Opportunity::KEY,
        id,
        &select,
        &expand,
    )
    .await
    .with_context(|| format!("reading opportunity {id} from Dataverse"))?
    .with_context(|| format!("opportunity {id} does not exist"))?;
    let input = OutboundInput::from_expanded_row(&record.row, config)?;
    if input.opportunity.sync != Some(true) {
        let reason = "not marked \"Sync with Partner Center\"";
        return Ok(Shown::Plan(json!({"action": "none", "reason": reason})));
    }
    let link = wired.jobs.store.link_by_crm(id.into()).await?;
    let referral_id = link.as_ref().map(|l| l.referral_id.clone()).or(input
        .opportunity
        .referral_id
        .as_deref()
        .and_then(|r| ReferralId::new(r).ok()));
    let Some(referral_id) = referral_id else {
        return Ok(match plan_create(&input, config) {
            Ok(plan) => {
                let mut shown = crate::preview_outbound::render(&plan);
                shown["action"] = json!("create");
                Shown::Plan(shown)
            }
            Err(invalid) => Shown::Invalid(invalid.sentences()),
        });
    };
    let current = ReferralSource::referral(&wired.partner_center, &referral_id)
        .await
        .with_context(|| format!("reading referral {referral_id} from Partner Center"))?;
    let agreed = link.as_ref().and_then(DealLink::agreed);
    match plan_update(&input, &current, agreed.as_ref(), config) {
        Ok(plan) => {
            let refused: Vec<String> = plan.refusals.iter().map(ToString::to_string).collect();
            let action = if plan.changes.is_empty() {
                "none"
            } else {
                "update"
            };
            Ok(Shown::Plan(json!({
                "action": action,
                "referral": referral_id,
                "patch": plan.patch(),
                "refused": refused,
            })))
        }
        Err(invalid) => Ok(Shown::Invalid(invalid.sentences())),
    }
}
