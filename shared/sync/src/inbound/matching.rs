//! The one query that finds the customer's account and contact: accounts at the referral's
//! postal code, each with its contacts of the referral's email expanded. Dataverse cannot compare
//! normalised names, so the name comparison happens here ([`AccountPlan::matches`]).

use cosell_dataverse::{Expand, Filter, Query, Record};
use cosell_mapping::inbound::{AccountPlan, ContactPlan};
use serde_json::Value;
use uuid::Uuid;

pub const ACCOUNTS: &str = "accounts";
const CONTACTS_OF_ACCOUNT: &str = "contact_customer_accounts";
/// More candidates than this at one postal code means the postal code is no filter at all.
const MAX_CANDIDATES: u32 = 50;

/// What the match query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountMatch {
    None,
    One {
        account: Uuid,
        /// A contact under it with the referral's email.
        contact: Option<Uuid>,
    },
    /// Several accounts match: `(id, name)` of each.
    Several(Vec<(Uuid, String)>),
}

/// The match query: every value escaped through [`Filter`].
pub fn query(account: &AccountPlan, contact: Option<&ContactPlan>) -> Query {
    let place = match &account.postal_code {
        Some(code) => Filter::eq("address1_postalcode", code.as_str()),
        None => {
            let first_word = account.match_name.split(' ').next().unwrap_or_default();
            Filter::is_null("address1_postalcode").and(Filter::contains("name", first_word))
        }
    };
    let mut query = Query::new()
        .select(["accountid", "name", "address1_postalcode"])
        .filter(place)
        .top(MAX_CANDIDATES);
    if let Some(contact) = contact {
        query = query.expand(
            Expand::new(CONTACTS_OF_ACCOUNT)
                .select(["contactid", "emailaddress1"])
                .filter(Filter::eq("emailaddress1", contact.email.as_str()))
                .top(1),
        );
    }
    query
}

/// Compares the candidates on our side.
pub fn interpret(
    records: &[Record],
    account: &AccountPlan,
    contact: Option<&ContactPlan>,
) -> AccountMatch {
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| account.matches(r.get_str("name"), r.get_str("address1_postalcode")))
        .collect();
    match matching.as_slice() {
        [] => AccountMatch::None,
        [one] => match one.id("accountid") {
            Some(id) => AccountMatch::One {
                account: id.0,
                contact: contact.and_then(|c| contact_of(one, &c.email)),
            },
            None => AccountMatch::None,
        },
        several => AccountMatch::Several(
            several
                .iter()
                .filter_map(|r| Some((r.id("accountid")?.0, r.get_str("name")?.to_owned())))
                .collect(),
        ),
    }
}

fn contact_of(account: &Record, email: &str) -> Option<Uuid> {
    account
        .get(CONTACTS_OF_ACCOUNT)?
        .as_array()?
        .iter()
        .find(|c| {
            c.get("emailaddress1")
                .and_then(Value::as_str)
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
        })
        .and_then(|c| c.get("contactid")?.as_str()?.parse().ok())
}

/// "2 accounts match 'Fabrikam, Inc.' at postal code 98052: …": names the candidates so an
/// operator can merge them.
pub fn ambiguity_message(
    referral_id: &str,
    customer: &str,
    postal: Option<&str>,
    candidates: &[(Uuid, String)],
) -> String {
    let names: Vec<String> = candidates
        .iter()
        .map(|(id, name)| format!("'{name}' ({id})"))
        .collect();
    let place = postal.map_or_else(
        || "with no postal code".to_owned(),
        |p| format!("at postal code {p}"),
    );
    format!(
        "Not synced: {} accounts match customer '{customer}' {place}: {}. Merge or rename them, then replay inbound:{referral_id}.",
        candidates.len(),
        names.join(", ")
    )
}
