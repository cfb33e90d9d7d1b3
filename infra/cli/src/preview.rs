//! `cosell preview inbound FILE`: the inbound plan of one referral, printed as the rows it
//! writes. No network: the preview assumes no existing account or contact matches (the sync
//! would use a match instead), and binds the currency by its ISO code where the sync binds the
//! `transactioncurrencies` row it looks up. Settings and the mapping document come from the
//! environment and `--config FILE`, as for every command; new rows show their defaults.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cosell_mapping::crm::Row;
use cosell_mapping::custom::NewRow;
use cosell_mapping::inbound::{
    self, AccountPlan, ContactPlan, InboundPlan, RecordPlan, StatusAction,
};
use cosell_mapping::{
    Account, Contact, CrmConfig, CrmRow, Lead, MappingError, Opportunity, Referral,
};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::context::Context as Cli;

pub fn inbound(ctx: &Cli, file: &Path) -> ExitCode {
    match run(ctx, file) {
        Ok(rows) => {
            crate::output::say!(
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

fn run(ctx: &Cli, file: &Path) -> anyhow::Result<Value> {
    let config = ctx.config()?.crm()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let referral: Referral = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a referral", file.display()))?;
    if let Some(reason) = inbound::left_out(&referral, &config) {
        return Ok(serde_json::json!({ "left_out": reason }));
    }
    let plan = inbound::plan(&referral, &config)?;
    let audit = inbound::audit_line(
        OffsetDateTime::now_utc(),
        &format!("Created from referral {}", plan.referral_id),
    );
    Ok(rows(&plan, &config, &audit)?)
}

/// What a sync would write when nothing matches yet, one object per entity set keyed by
/// Dataverse logical column names. The currency is shown bound by its alternate key, since its
/// row id is only known to Dataverse.
pub(crate) fn rows(
    plan: &InboundPlan,
    config: &CrmConfig,
    audit: &str,
) -> Result<Value, MappingError> {
    let mut tables = serde_json::Map::new();
    let defaults = &config.mapping.defaults;
    let with_id = |key: &str, id: Uuid, mut row: Row| {
        row.insert(key.to_owned(), Value::String(id.to_string()));
        Value::Object(row)
    };
    match &plan.record {
        RecordPlan::Lead { row } => {
            let mut lead = row.to_row(config)?;
            defaults.apply(NewRow::Lead, &mut lead);
            let lead = with_id(Lead::KEY, plan.record.new_id(), lead);
            tables.insert(Lead::ENTITY_SET.into(), lead);
        }
        RecordPlan::Opportunity { .. } => {
            let account = plan
                .account
                .as_ref()
                .map(AccountPlan::new_id)
                .unwrap_or_default();
            if let Some(new) = &plan.account {
                let mut row = new.new_row.to_row(config)?;
                defaults.apply(NewRow::Account, &mut row);
                let row = with_id(Account::KEY, account, row);
                tables.insert(Account::ENTITY_SET.into(), row);
            }
            if let Some(new) = &plan.contact {
                let mut row = new.row_under(account).to_row(config)?;
                defaults.apply(NewRow::Contact, &mut row);
                let row = with_id(Contact::KEY, new.new_id(), row);
                tables.insert(Contact::ENTITY_SET.into(), row);
            }
            let contact = plan.contact.as_ref().map(ContactPlan::new_id);
            let opportunity = plan
                .opportunity_to_create(account, contact, None, audit)
                .unwrap_or_default();
            let mut row = opportunity.to_row(config)?;
            defaults.apply(NewRow::Opportunity, &mut row);
            if let Some(code) = &plan.currency_code {
                let bind = format!("/transactioncurrencies(isocurrencycode='{code}')");
                row.insert(
                    "transactioncurrencyid@odata.bind".into(),
                    Value::String(bind),
                );
            }
            let row = with_id(Opportunity::KEY, plan.record.new_id(), row);
            tables.insert(Opportunity::ENTITY_SET.into(), row);
            let close = match plan.status {
                StatusAction::Win => Some("WinOpportunity"),
                StatusAction::Lose => Some("LoseOpportunity"),
                _ => None,
            };
            if let Some(action) = close {
                tables.insert("action".into(), Value::String(action.into()));
            }
        }
    }
    Ok(Value::Object(tables))
}

#[cfg(test)]
mod tests {
    use cosell_mapping::inbound::{plan, record_id};
    use serde_json::Value;

    use super::*;

    const FULL: &str =
        include_str!("../../../shared/mapping/tests/fixtures/cosell_referral_full.json");
    const LEAD: &str = include_str!("../../../shared/mapping/tests/fixtures/marketplace_lead.json");

    /// A fixture with its status and substatus set.
    fn with_state(text: &str, status: &str, substatus: &str) -> Referral {
        let mut value: Value = serde_json::from_str(text).expect("fixture parses");
        value["status"] = status.into();
        value["substatus"] = substatus.into();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_preview_shows_one_object_per_table_keyed_by_logical_names() {
        let config = CrmConfig::default();
        let won = with_state(FULL, "Closed", "Won");
        let plan = plan(&won, &config).unwrap();
        let preview = rows(&plan, &config, "audit").unwrap();
        let id = &plan.referral_id;
        let account = record_id("accounts", id).to_string();
        assert_eq!(preview["accounts"]["accountid"], account.as_str());
        assert_eq!(preview["accounts"]["address1_country"], "US");
        assert_eq!(
            preview["contacts"]["contactid"],
            record_id("contacts", id).to_string().as_str()
        );
        assert_eq!(
            preview["contacts"]["parentcustomerid_account@odata.bind"],
            format!("/accounts({account})").as_str()
        );
        let opportunity = &preview["opportunities"];
        assert_eq!(
            opportunity["opportunityid"],
            record_id("opportunities", id).to_string().as_str()
        );
        assert_eq!(
            opportunity["transactioncurrencyid@odata.bind"],
            "/transactioncurrencies(isocurrencycode='USD')"
        );
        assert_eq!(
            opportunity["msft_microsoftpartnercenterreferralsyncaudit"],
            "audit"
        );
        assert_eq!(preview["action"], "WinOpportunity");
        let lead = plan_of_lead();
        assert_eq!(
            lead["leads"]["subject"],
            "Trial: Contoso Data Estate Accelerator"
        );
        assert!(lead.get("opportunities").is_none());
    }

    fn plan_of_lead() -> Value {
        let config = CrmConfig::default();
        let lead: Referral = serde_json::from_str(LEAD).expect("fixture parses");
        let plan = plan(&lead, &config).unwrap();
        rows(&plan, &config, "audit").unwrap()
    }
}
