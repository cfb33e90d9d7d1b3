//! Finding the customer's account (and its contact) by the mapping's rules, in order. Each rule
//! is one query with the contacts of the referral's email expanded, read to its last page (50
//! rows a page), so a page limit never hides a match; Dataverse cannot compare normalised names,
//! so names are compared here ([`AccountPlan::matches`]).
//!
//! | rule | query | compared here |
//! |---|---|---|
//! | `name_postal_code` (default) | `address1_postalcode eq <code>` (no code: `address1_postalcode eq null and contains(name, <first word>)`) | normalised name and postal code |
//! | `name_country` | `contains(name, <first word>) and <country column> eq <code>` | normalised name |
//! | `external_id` | `<column> eq <customerProfile.ids[kind]>` | nothing: the column is the match |
//! | `name` | `contains(name, <first word>)` | normalised name |
//!
//! A rule the referral gives nothing for (no id of that kind, no country) is passed over
//! without a request. Each rule tried costs one request, plus one per further 50 candidates.

use cosell_dataverse::{Expand, Filter, Query, Record};
use cosell_mapping::CrmConfig;
use cosell_mapping::custom::{AccountRule, Country};
use cosell_mapping::inbound::{AccountPlan, ContactPlan, normalise};
use cosell_store::ReferralId;
use serde_json::Value;
use uuid::Uuid;

pub const ACCOUNTS: &str = "accounts";
const CONTACTS_OF_ACCOUNT: &str = "contact_customer_accounts";
/// Rows a page; further candidates come on further pages, never dropped.
const PAGE: u32 = 50;

/// What one rule found.
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

/// The query of `rule` for this customer, or `None` when the referral gives it nothing to
/// search by. Every value is escaped through [`Filter`].
pub fn query(
    rule: &AccountRule,
    account: &AccountPlan,
    contact: Option<&ContactPlan>,
    config: &CrmConfig,
) -> Option<Query> {
    let first_word = account.match_name.split(' ').next().unwrap_or_default();
    let named = || Filter::contains("name", first_word);
    let filter = match rule {
        AccountRule::NamePostalCode => match &account.postal_code {
            Some(code) => Filter::eq("address1_postalcode", code.as_str()),
            None => Filter::is_null("address1_postalcode").and(named()),
        },
        AccountRule::NameCountry => {
            let code = account.country.as_deref()?;
            let Country::Column(text) = config.country() else {
                // `check` refuses the rule with a lookup country; never a query that cannot work.
                return None;
            };
            named().and(Filter::eq(text.column, code))
        }
        AccountRule::ExternalId { kind, column } => {
            let id = account.ids.as_ref()?.get(kind)?.trim();
            if id.is_empty() {
                return None;
            }
            Filter::eq(column.as_str(), id)
        }
        AccountRule::Name => named(),
    };
    let mut query = Query::new()
        .select(["accountid", "name", "address1_postalcode"])
        .filter(filter)
        .max_page_size(PAGE);
    if let Some(contact) = contact {
        query = query.expand(
            Expand::new(CONTACTS_OF_ACCOUNT)
                .select(["contactid", "emailaddress1"])
                .filter(Filter::eq("emailaddress1", contact.email.as_str()))
                .top(1),
        );
    }
    Some(query)
}

/// Which of a rule's candidates are the customer.
pub fn interpret(
    rule: &AccountRule,
    records: &[Record],
    account: &AccountPlan,
    contact: Option<&ContactPlan>,
) -> AccountMatch {
    let same_name = |r: &Record| {
        r.get_str("name")
            .is_some_and(|name| normalise::company_name(name) == account.match_name)
    };
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| match rule {
            AccountRule::NamePostalCode => {
                account.matches(r.get_str("name"), r.get_str("address1_postalcode"))
            }
            AccountRule::NameCountry | AccountRule::Name => same_name(r),
            AccountRule::ExternalId { .. } => true,
        })
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

/// "2 accounts match customer 'Fabrikam, Inc.' at postal code 98052: …": names the candidates
/// so an operator can merge them.
pub fn ambiguity_message(
    referral_id: &ReferralId,
    rule: &AccountRule,
    account: &AccountPlan,
    candidates: &[(Uuid, String)],
) -> String {
    let customer = account.new_row.name.as_deref().unwrap_or_default();
    let names: Vec<String> = candidates
        .iter()
        .map(|(id, name)| format!("'{name}' ({id})"))
        .collect();
    let how = match (rule, account.postal_code.as_deref()) {
        (AccountRule::NamePostalCode, Some(code)) => format!("at postal code {code}"),
        (AccountRule::NamePostalCode, None) => "with no postal code".to_owned(),
        (rule, _) => format!("by {}", rule.describe()),
    };
    format!(
        "Not synced: {} accounts match customer '{customer}' {how}: {}. Merge or rename them, then replay inbound:{referral_id}.",
        candidates.len(),
        names.join(", ")
    )
}
