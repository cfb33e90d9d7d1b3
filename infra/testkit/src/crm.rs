//! The seller's side in Dynamics 365: the rows a real environment has (currencies), an
//! opportunity shared with Partner Center and what it hangs on, and the call Dataverse's webhook
//! makes when one changes.

use cosell_sim::Sim;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::object;

/// The table opportunities live in.
pub const OPPORTUNITIES: &str = "opportunities";

/// "How can Microsoft help?" = CustomerTechnicalArchitecture (the default option table).
pub const HELP_ARCHITECTURE: i64 = 100_000_001;

/// The currencies tests use, by ISO code.
const CURRENCIES: [(&str, &str); 2] = [("USD", "US Dollar"), ("EUR", "Euro")];

/// A currency row for `code` (one of USD, EUR); its id.
pub fn seed_currency(sim: &Sim, code: &str) -> Uuid {
    let (code, name) = CURRENCIES
        .into_iter()
        .find(|(c, _)| *c == code)
        .unwrap_or_else(|| panic!("no test currency {code}"));
    let row = object(json!({"isocurrencycode": code, "currencyname": name}));
    sim.state.dv.seed("transactioncurrencies", row).unwrap()
}

/// The currencies a real environment has (USD, EUR): their row ids by ISO code.
pub fn seed_currencies(sim: &Sim) -> Map<String, Value> {
    let ids =
        CURRENCIES.map(|(code, _)| (code.into(), seed_currency(sim, code).to_string().into()));
    ids.into_iter().collect()
}

/// The id of the currency row with this ISO code (seeded before).
fn currency(sim: &Sim, code: &str) -> String {
    let rows = sim.state.dv.rows("transactioncurrencies");
    let row = rows.iter().find(|row| row["isocurrencycode"] == code);
    let row = row.unwrap_or_else(|| panic!("no {code} currency row: seed it first"));
    row["transactioncurrencyid"].as_str().unwrap().to_owned()
}

/// A seller's opportunity, as the test seeds it.
#[derive(Debug, Clone)]
pub struct Deal {
    pub name: String,
    pub help: Option<i64>,
    pub visible: bool,
    pub country: Option<&'static str>,
    pub contact: bool,
    pub solutions: Vec<&'static str>,
    pub currency: Option<&'static str>,
    pub value: f64,
    pub close_date: &'static str,
    pub notes: &'static str,
}

impl Default for Deal {
    fn default() -> Self {
        Self {
            name: "Contoso - Data platform".into(),
            help: None,
            visible: false,
            country: Some("US"),
            contact: true,
            solutions: vec!["SOL-2F5A1C7E"],
            currency: Some("USD"),
            value: 125_000.0,
            close_date: "2026-09-30",
            notes: "Move the warehouse to Azure.",
        }
    }
}

/// Seeds the account, contact, opportunity (sync = yes) and solution rows of `deal`.
pub fn seed_deal(sim: &Sim, deal: &Deal) -> Uuid {
    let dv = &sim.state.dv;
    let mut account = json!({
        "name": "Contoso Ltd",
        "address1_line1": "1 Main Street",
        "address1_city": "Seattle",
        "address1_stateorprovince": "WA",
        "address1_postalcode": "98101",
    });
    if let Some(country) = deal.country {
        account["address1_country"] = country.into();
    }
    let account = dv.seed("accounts", object(account)).unwrap();
    let mut row = json!({
        "name": deal.name,
        "estimatedvalue": deal.value,
        "estimatedclosedate": deal.close_date,
        "description": deal.notes,
        "parentaccountid@odata.bind": format!("/accounts({account})"),
        "customerid_account@odata.bind": format!("/accounts({account})"),
        "msft_microsoftpartnercenterreferralsync": true,
        "msft_microsoftpartnercenterreferralvisible": deal.visible,
    });
    if deal.contact {
        let contact = dv
            .seed(
                "contacts",
                object(json!({
                    "firstname": "Avery",
                    "lastname": "Chen",
                    "emailaddress1": format!("avery.{account}@contoso.example"),
                    "telephone1": "+1 206 555 0100",
                })),
            )
            .unwrap();
        row["parentcontactid@odata.bind"] = format!("/contacts({contact})").into();
    }
    if let Some(code) = deal.currency {
        let currency = currency(sim, code);
        row["transactioncurrencyid@odata.bind"] =
            format!("/transactioncurrencies({currency})").into();
    }
    if let Some(help) = deal.help {
        row["msft_microsoftpartnercenterhelp"] = help.into();
    }
    // The seller who owns it in Dynamics 365: the referral's partner team.
    let owner = dv
        .seed(
            "systemusers",
            object(json!({
                "firstname": "Sam",
                "lastname": "Seller",
                "fullname": "Sam Seller",
                "internalemailaddress": "sam.seller@partner.example",
                "address1_telephone1": "+1 425 555 0199",
                "isdisabled": false,
            })),
        )
        .unwrap();
    row["ownerid@odata.bind"] = format!("/systemusers({owner})").into();
    let id = dv.seed(OPPORTUNITIES, object(row)).unwrap();
    for solution in &deal.solutions {
        dv.seed(
            "msft_microsoftpartnercentersolutions",
            object(json!({
                "msft_solutionid": solution,
                "msft_name": format!("Solution {solution}"),
                "msft_opportunityid@odata.bind": format!("/opportunities({id})"),
            })),
        )
        .unwrap();
    }
    id
}

/// A seller's edit of an opportunity in Dynamics 365 (change tracking sees it).
pub fn seller_edit(sim: &Sim, id: Uuid, changes: Value) {
    let edited = sim
        .state
        .dv
        .edit(OPPORTUNITIES, id, object(changes))
        .unwrap();
    edited.expect("the opportunity exists");
}

/// A `RemoteExecutionContext` as Dataverse posts it for an Update of an opportunity.
pub fn remote_execution_context(id: Uuid) -> Value {
    json!({
        "BusinessUnitId": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "CorrelationId": Uuid::new_v4(),
        "Depth": 1,
        "InitiatingUserId": "7d3c1a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "InputParameters": [{
            "key": "Target",
            "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Attributes": [{"key": "opportunityid", "value": id}],
                "Id": id,
                "LogicalName": "opportunity"
            }
        }],
        "IsExecutingOffline": false,
        "MessageName": "Update",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1732435200000)/",
        "OrganizationId": "b4a4c4e6-2f0e-4d2c-9a57-0b6c3f5a1e21",
        "OrganizationName": "contoso",
        "OutputParameters": [],
        "PrimaryEntityId": id,
        "PrimaryEntityName": "opportunity",
        "Stage": 40,
        "UserId": "7d3c1a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    })
}

/// Rows of `set` by id, without what differs between two runs of the same writes: when they
/// were made, their versions, the times in the Audit lines, the simulator's address and the ids
/// its currencies and users were seeded with.
pub fn rows_as_written(sim: &Sim, set: &str) -> Vec<(String, Map<String, Value>)> {
    // Rows each side seeded on its own: by what they are, not by their ids.
    let seeded: Vec<(String, String)> = [
        (
            "transactioncurrencies",
            "transactioncurrencyid",
            "isocurrencycode",
        ),
        ("systemusers", "systemuserid", "internalemailaddress"),
    ]
    .into_iter()
    .flat_map(|(set, key, name)| {
        sim.state.dv.rows(set).into_iter().map(move |row| {
            let id = row[key].as_str().unwrap_or_default().to_owned();
            (id, format!("<{}>", row[name].as_str().unwrap_or_default()))
        })
    })
    .collect();
    let same = |text: &str| {
        let text = without_times(text).replace(&sim.base_url, "<sim>");
        seeded
            .iter()
            .find(|(id, _)| *id == text)
            .map_or(text, |(_, name)| name.clone())
    };
    let key = |row: &Map<String, Value>| {
        row.iter()
            .find(|(name, _)| name.ends_with("id") && !name.starts_with('_') && name.len() > 2)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let mut all: Vec<_> = sim
        .state
        .dv
        .rows(set)
        .into_iter()
        .map(|mut row| {
            row.retain(|name, _| {
                ![
                    "createdon",
                    "modifiedon",
                    "versionnumber",
                    "overriddencreatedon",
                ]
                .contains(&name.as_str())
                    && !name.starts_with('@')
            });
            for value in row.values_mut() {
                if let Some(text) = value.as_str() {
                    *value = Value::String(same(text));
                }
            }
            (key(&row), row)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// `text` with every RFC 3339 time and `yyyy-mm-dd hh:mm` stamp replaced by `<time>`.
fn without_times(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let stamp = chars.len() >= i + 16
            && chars[i..i + 4].iter().all(char::is_ascii_digit)
            && chars[i + 4] == '-'
            && chars[i + 7] == '-'
            && (chars[i + 10] == 'T' || chars[i + 10] == ' ')
            && chars[i + 13] == ':';
        if stamp {
            out.push_str("<time>");
            i += 16;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' && chars[i] != ','
            {
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
