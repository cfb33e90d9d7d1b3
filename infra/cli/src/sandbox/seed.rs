//! What the sandbox starts with: a Dynamics 365 with currencies and two sellers' opportunities
//! (one marked "Sync with Partner Center", one not yet), and a Partner Center that then receives
//! three referrals from Microsoft — a new co-sell invitation, one already accepted, and a
//! marketplace lead — so the first minute shows both directions and both CRM record kinds.

use cosell_mapping::CrmConfig;
use cosell_mapping::schema::{Schema, names};
use cosell_sim::SimState;
use cosell_sim::partner_center::referrals::{Source, create_referral};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The opportunities seeded in Dataverse.
pub struct Deals {
    /// Marked for sync: the first poll turns it into a referral.
    pub shared: Uuid,
    /// Complete but not marked: the guide's "share it" example.
    pub unshared: Uuid,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("seed rows are objects"),
    }
}

/// Seeds one row as an administrator would.
fn row(state: &SimState, set: &str, columns: Value) -> anyhow::Result<Uuid> {
    state
        .dv
        .seed(set, object(columns))
        .map_err(|e| anyhow::anyhow!("seeding {set}: {e:?}"))
}

/// The partner's seller the new co-sell invitation names: a Dynamics 365 user, so they own it.
pub const SELLER: &str = "sam.seller@partner.example";

/// Where the co-sell columns and solutions are under a schema.
struct Names {
    sync: String,
    visibility: String,
    solutions_set: &'static str,
    solution_id: String,
    solution_name: String,
    solution_lookup: &'static str,
}

impl Names {
    fn of(schema: Schema) -> Names {
        let crm = CrmConfig::default().with_schema(schema);
        let (solutions_set, solution_lookup) = match schema {
            Schema::Microsoft => ("msft_microsoftpartnercentersolutions", "msft_opportunityid"),
            Schema::Cosell => (names::SOLUTIONS_SET, names::SOLUTION_OPPORTUNITY),
        };
        Names {
            sync: crm.columns.sync,
            visibility: crm.columns.visibility,
            solutions_set,
            solution_id: crm.solutions.id,
            solution_name: crm.solutions.name,
            solution_lookup,
        }
    }
}

/// Users, currencies, accounts, contacts, opportunities and their solutions, in `schema`'s
/// columns. A seller shares a deal the way the app makes them: the opportunity, its solution,
/// then "Sync with Partner Center" set — so the Dataverse webhook's first word on it is the
/// one that shares it.
pub fn dataverse(state: &SimState, schema: Schema) -> anyhow::Result<Deals> {
    let names = Names::of(schema);
    row(
        state,
        "systemusers",
        json!({"fullname": "Sam Seller", "internalemailaddress": SELLER, "isdisabled": false}),
    )?;
    let mut usd = None;
    for (code, name) in [
        ("USD", "US Dollar"),
        ("EUR", "Euro"),
        ("AUD", "Australian Dollar"),
    ] {
        let id = row(
            state,
            "transactioncurrencies",
            json!({"isocurrencycode": code, "currencyname": name}),
        )?;
        usd.get_or_insert(id);
    }
    let usd = usd.expect("USD is seeded first");
    let shared = deal(
        state,
        &names,
        usd,
        &Deal {
            account: "Litware, Inc.",
            city: "Seattle",
            postal: "98101",
            contact: ("Avery", "Chen", "avery.chen@litware.example"),
            name: "Litware - Data platform on Azure",
            value: 185_000.0,
            close: "2026-10-30",
            notes: "Move the reporting warehouse to Azure Synapse.",
            solution: "SOL-2F5A1C7E",
            sync: true,
        },
    )?;
    let unshared = deal(
        state,
        &names,
        usd,
        &Deal {
            account: "Adventure Works Cycles",
            city: "Bothell",
            postal: "98011",
            contact: ("Jordan", "Diaz", "jordan.diaz@adventure-works.example"),
            name: "Adventure Works - Security review",
            value: 64_000.0,
            close: "2026-12-15",
            notes: "Zero-trust assessment for 40 sites.",
            solution: "SOL-9C1B0D44",
            sync: false,
        },
    )?;
    Ok(Deals { shared, unshared })
}

struct Deal {
    account: &'static str,
    city: &'static str,
    postal: &'static str,
    contact: (&'static str, &'static str, &'static str),
    name: &'static str,
    value: f64,
    close: &'static str,
    notes: &'static str,
    solution: &'static str,
    sync: bool,
}

/// One partner-led deal (visible to Microsoft, no help asked): account, contact, opportunity,
/// solution.
fn deal(state: &SimState, names: &Names, currency: Uuid, deal: &Deal) -> anyhow::Result<Uuid> {
    let account = row(
        state,
        "accounts",
        json!({
            "name": deal.account,
            "address1_line1": "1 Main Street",
            "address1_city": deal.city,
            "address1_stateorprovince": "WA",
            "address1_postalcode": deal.postal,
            "address1_country": "US",
        }),
    )?;
    let (first, last, email) = deal.contact;
    let contact = row(
        state,
        "contacts",
        json!({
            "firstname": first,
            "lastname": last,
            "emailaddress1": email,
            "telephone1": "+1 206 555 0100",
            "parentcustomerid_account@odata.bind": format!("/accounts({account})"),
        }),
    )?;
    let opportunity = row(
        state,
        "opportunities",
        json!({
            "name": deal.name,
            "estimatedvalue": deal.value,
            "estimatedclosedate": deal.close,
            "description": deal.notes,
            "parentaccountid@odata.bind": format!("/accounts({account})"),
            "customerid_account@odata.bind": format!("/accounts({account})"),
            "parentcontactid@odata.bind": format!("/contacts({contact})"),
            "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})"),
            (names.visibility.as_str()): true,
        }),
    )?;
    row(
        state,
        names.solutions_set,
        json!({
            (names.solution_id.as_str()): deal.solution,
            (names.solution_name.as_str()): format!("Accelerator {}", deal.solution),
            format!("{}@odata.bind", names.solution_lookup): format!("/opportunities({opportunity})"),
        }),
    )?;
    if deal.sync {
        state
            .dv
            .edit(
                "opportunities",
                opportunity,
                object(json!({ (names.sync.as_str()): true })),
            )
            .map_err(|e| anyhow::anyhow!("sharing the opportunity: {e:?}"))?;
    }
    Ok(opportunity)
}

/// Microsoft creates three referrals for the partner; each fires `referral-created` to the
/// registered webhook. Returns their ids, the new co-sell invitation first.
pub fn referrals(state: &SimState) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for referral in [new_cosell(), accepted_cosell(), marketplace_lead()] {
        let created = create_referral(state, referral, Source::Admin)
            .map_err(|e| anyhow::anyhow!("seeding a referral: {e:?}"))?;
        ids.push(created["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(ids)
}

/// An invitation from another partner to co-sell, not answered yet (New/Pending), naming the
/// partner's seller who should answer it.
fn new_cosell() -> Value {
    json!({
        "name": "Fabrikam - Azure migration",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "New",
        "substatus": "Pending",
        "team": [{"firstName": "Sam", "lastName": "Seller", "email": SELLER}],
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": "Fabrikam, Inc.",
            "size": "Size1000to9999",
            "address": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"},
            "team": [{"firstName": "Dana", "lastName": "Whitfield", "phoneNumber": "+1 425 555 0100", "email": "dana@fabrikam.example"}]
        },
        "consent": {"consentToContact": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {
            "notes": "Retire the on-premises warehouse before Q3.",
            "dealValue": 250000,
            "currency": "USD",
            "closingDateTime": "2026-06-30T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-2F5A1C7E", "name": "Accelerator"}]}
        },
        "inviteContext": {
            "notes": "Technical workshop requested.",
            "invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"},
            "assistanceRequestCode": "CustomerTechnicalArchitecture"
        },
        "trackingInfo": {"microsoftMsxId": "7-3JKX9QWERT"}
    })
}

/// A co-sell referral the partner already accepted (Active/Accepted), in euros.
fn accepted_cosell() -> Value {
    json!({
        "name": "Contoso Pharmaceuticals - Analytics",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "Active",
        "substatus": "Accepted",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": "Contoso Pharmaceuticals",
            "address": {"addressLine1": "Kaiserstrasse 10", "city": "Frankfurt", "postalCode": "60311", "country": "DE"},
            "team": [{"firstName": "Lena", "lastName": "Vogel", "email": "lena.vogel@contoso-pharma.example"}]
        },
        "consent": {"consentToContact": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {
            "notes": "Clinical trial analytics on Fabric.",
            "dealValue": 92000,
            "currency": "EUR",
            "closingDateTime": "2026-09-15T00:00:00Z"
        },
        "inviteContext": {
            "invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"},
            "assistanceRequestCode": "ProofOfConceptOrDemo"
        }
    })
}

/// A marketplace lead (Independent, Direct): becomes a lead, not an opportunity.
fn marketplace_lead() -> Value {
    json!({
        "name": "Trial: Data Estate Accelerator",
        "type": "Independent",
        "qualification": "Direct",
        "customerProfile": {
            "name": "Wide World Importers",
            "address": {"addressLine1": "200 Harbour Street", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "AU"},
            "team": [{"firstName": "Priya", "lastName": "Raman", "email": "priya@wideworldimporters.example"}]
        },
        "details": {"notes": "Started a trial.", "dealValue": 1200, "currency": "AUD", "closingDateTime": "2026-08-01T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}}
    })
}

/// The body of the guide's "Microsoft sends a new referral" example.
pub fn example_referral() -> Value {
    json!({
        "name": "Tailspin Toys - AI assistant pilot",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "New",
        "substatus": "Pending",
        "customerProfile": {
            "name": "Tailspin Toys",
            "address": {"addressLine1": "5 Harbor Way", "city": "Portland", "state": "OR", "postalCode": "97201", "country": "US"},
            "team": [{"firstName": "Sam", "lastName": "Okafor", "email": "sam@tailspin.example"}]
        },
        "consent": {"consentToContact": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"dealValue": 40000, "currency": "USD", "closingDateTime": "2026-11-30T00:00:00Z"}
    })
}
