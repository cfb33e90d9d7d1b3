//! What the benchmark syncs: incoming co-sell referrals from distinct customers (each a new
//! account, contact and opportunity), and sellers' private deals marked for Partner Center — the
//! shapes the functions' own tests use.

use anyhow::Context as _;
use cosell_mapping::inbound::record_id;
use cosell_sim::partner_center::referrals::{Source, create_referral};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::stack::Stack;

pub const OPPORTUNITIES: &str = "opportunities";

/// The US Dollar row every referral and deal uses.
pub fn currency(stack: &Stack) -> anyhow::Result<Uuid> {
    stack
        .sim
        .state
        .dv
        .seed(
            "transactioncurrencies",
            object(json!({"isocurrencycode": "USD", "currencyname": "US Dollar"})),
        )
        .map_err(seeding)
}

/// The simulator's own error type is not a `std::error::Error`.
fn seeding(error: cosell_sim::dataverse::DvError) -> anyhow::Error {
    anyhow::anyhow!("seeding the Dataverse simulator: {error:?}")
}

/// `count` open co-sell referrals as Microsoft creates them (`New`, incoming), customers
/// numbered from `first`; their ids. No webhook is registered, so the simulator delivers none:
/// the benchmark sends them.
pub fn referrals(stack: &Stack, first: usize, count: usize) -> anyhow::Result<Vec<String>> {
    (first..first + count)
        .map(|n| {
            let created = create_referral(&stack.sim.state, referral(n), Source::Admin)
                .map_err(|e| anyhow::anyhow!("seeding referral {n}: {e:?}"))?;
            created["id"]
                .as_str()
                .map(str::to_owned)
                .context("a seeded referral has an id")
        })
        .collect()
}

/// The partner's seller every seeded referral names: one Dynamics 365 user, looked up once per
/// process as a currency is.
pub const SELLER: &str = "sam.seller@partner.example";

/// [`SELLER`] as an enabled Dynamics 365 user.
pub fn seller(stack: &Stack) -> anyhow::Result<Uuid> {
    let user =
        json!({"fullname": "Sam Seller", "internalemailaddress": SELLER, "isdisabled": false});
    stack
        .sim
        .state
        .dv
        .seed("systemusers", object(user))
        .map_err(seeding)
}

/// A co-sell referral Microsoft sent, waiting for an answer (so it gets a task), naming
/// [`SELLER`] as the partner's seller.
fn referral(n: usize) -> Value {
    json!({
        // The same id in every stack, so two runs' rows compare.
        "id": format!("5eed0000-0000-4000-8000-{n:012}"),
        "name": format!("Customer {n} - Azure migration"),
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "New",
        "substatus": "Pending",
        "team": [{"firstName": "Sam", "lastName": "Seller", "email": SELLER}],
        "customerProfile": {
            "name": format!("Customer {n} Ltd"),
            "address": {"addressLine1": format!("{n} Main Street"), "city": "Redmond", "state": "WA",
                        "postalCode": format!("{:05}", 10_000 + n % 90_000), "country": "US"},
            "team": [{"firstName": "Dana", "lastName": format!("Buyer{n}"), "email": format!("buyer{n}@customer{n}.example")}]
        },
        "consent": {"consentToContact": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"dealValue": 250_000 + n, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"}
    })
}

/// A seller's complete private deal (no help asked, not visible) marked "Sync with Partner
/// Center" = yes, with its account, contact and solution; its opportunity id.
pub fn deal(stack: &Stack, currency: Uuid, n: usize) -> anyhow::Result<Uuid> {
    let dv = &stack.sim.state.dv;
    let account = dv.seed(
        "accounts",
        object(json!({
            "name": format!("Litware {n} Inc."), "address1_line1": "1 Main Street", "address1_city": "Seattle",
            "address1_stateorprovince": "WA", "address1_postalcode": "98101", "address1_country": "US"
        })),
    )
    .map_err(seeding)?;
    let contact = dv.seed(
        "contacts",
        object(json!({"firstname": "Avery", "lastname": format!("Chen{n}"), "emailaddress1": format!("avery{n}@litware.example")})),
    )
    .map_err(seeding)?;
    let opportunity = dv
        .seed(
            OPPORTUNITIES,
            object(json!({
                "name": format!("Litware {n} - Data platform"),
                "estimatedvalue": 125_000 + n,
                "estimatedclosedate": "2026-09-30",
                "description": "Move the warehouse to Azure.",
                "parentaccountid@odata.bind": format!("/accounts({account})"),
                "customerid_account@odata.bind": format!("/accounts({account})"),
                "parentcontactid@odata.bind": format!("/contacts({contact})"),
                "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})"),
                "msft_microsoftpartnercenterreferralsync": true,
                "msft_microsoftpartnercenterreferralvisible": false,
            })),
        )
        .map_err(seeding)?;
    dv.seed(
        "msft_microsoftpartnercentersolutions",
        object(json!({
            "msft_solutionid": "SOL-2F5A1C7E",
            "msft_name": "Accelerator",
            "msft_opportunityid@odata.bind": format!("/opportunities({opportunity})"),
        })),
    )
    .map_err(seeding)?;
    Ok(opportunity)
}

/// A seller's edit of the deal value in Dynamics 365 (change tracking sees it).
pub fn edit_value(stack: &Stack, opportunity: Uuid, value: u64) -> anyhow::Result<()> {
    stack
        .sim
        .state
        .dv
        .edit(
            OPPORTUNITIES,
            opportunity,
            object(json!({"estimatedvalue": value})),
        )
        .map_err(seeding)?
        .with_context(|| format!("opportunity {opportunity} exists"))?;
    Ok(())
}

/// The referral id the outbound sync wrote back on the opportunity.
pub fn referral_of(stack: &Stack, opportunity: Uuid) -> Option<String> {
    let row = stack.sim.state.dv.row(OPPORTUNITIES, opportunity)?;
    row.get("msft_microsoftpartnercenterreferralidentifier")?
        .as_str()
        .map(str::to_owned)
}

/// How many of these referrals have the opportunity the inbound sync creates for them.
pub fn opportunities_made(stack: &Stack, referral_ids: &[String]) -> usize {
    let dataverse = &stack.sim.state.dv;
    referral_ids
        .iter()
        .filter(|id| {
            dataverse
                .row(OPPORTUNITIES, record_id(OPPORTUNITIES, id))
                .is_some()
        })
        .count()
}

/// The deal value Partner Center holds for a referral.
pub fn deal_value_in_partner_center(stack: &Stack, referral_id: &str) -> Option<f64> {
    let store = stack.sim.state.pc.store.lock().ok()?;
    store.get(referral_id)?["details"]["dealValue"].as_f64()
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
