//! The opportunity as outbound reads it: one `GET` with its account, contact, owner, currency
//! and solutions expanded, so a create or update costs one Dataverse request.

use serde_json::{Map, Value};

use crate::config::CrmConfig;
use crate::crm::{Account, Contact, CrmRow, Opportunity};
use crate::deal::{self, DealState, DealStatus};
use crate::error::MappingError;
use crate::marks::base_name;

/// `transactioncurrencyid`'s column holding the ISO 4217 code.
const ISO_CURRENCY_CODE: &str = "isocurrencycode";
/// The contact columns the referral needs (`customerProfile.team[0]`).
const CONTACT_COLUMNS: &[&str] = &[
    "contactid",
    "firstname",
    "lastname",
    "emailaddress1",
    "telephone1",
];

/// The owning user's columns the referral needs (its partner `team`): Dynamics 365's user name,
/// primary email and main phone.
const OWNER_COLUMNS: &[&str] = &[
    "firstname",
    "lastname",
    "internalemailaddress",
    "address1_telephone1",
];

/// The Dynamics 365 user who owns the opportunity (`owninguser`): the partner's seller, who a
/// Microsoft seller talks to. An opportunity a team owns has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seller {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `internalemailaddress`: the user's primary email.
    pub email: Option<String>,
    /// `address1_telephone1`: the user's main phone.
    pub phone: Option<String>,
}

/// One "Microsoft Partner Center Solutions" row related to the opportunity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SolutionRow {
    /// The configured solution-id column: the Partner Center solution id (`SOL-…`), trimmed.
    pub solution_id: Option<String>,
    /// The configured name column.
    pub name: Option<String>,
    /// The configured publisher column, if any.
    pub publisher: Option<String>,
    /// The configured solution-type column, if any.
    pub solution_type: Option<String>,
}

/// An opportunity as read with its related rows:
/// `GET opportunities(<id>)?$select=<`[`Self::select`]`>&$expand=<`[`Self::expand`]`>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundInput {
    pub opportunity: Opportunity,
    /// The expanded `parentaccountid`.
    pub account: Option<Account>,
    /// The expanded `parentcontactid`.
    pub contact: Option<Contact>,
    /// The expanded `owninguser`.
    pub owner: Option<Seller>,
    /// The expanded `transactioncurrencyid`'s `isocurrencycode`, as stored.
    pub currency_code: Option<String>,
    /// The expanded solutions relationship, in the order returned.
    pub solutions: Vec<SolutionRow>,
}

impl OutboundInput {
    /// The deal as the opportunity (with its currency row) states it.
    pub fn deal(&self) -> DealState {
        let row = &self.opportunity;
        DealState {
            name: row
                .name
                .as_deref()
                .and_then(|name| deal::text(Some(base_name(name)))),
            deal_value: row.deal_value.map(|v| v.normalize()),
            currency: deal::code(self.currency_code.as_deref()),
            close_date: row.estimated_close_date,
            notes: deal::text(row.description.as_deref()),
            visible: row.visible.unwrap_or(false),
            status: DealStatus::of_opportunity(row.state, row.status_reason),
            // The columns of the fields that go out, as the row holds them.
            mapped: row.mapped.clone(),
            mapping_version: None,
        }
    }

    /// Reads the row the Web API returns for [`Self::select`] and [`Self::expand`]. A lookup
    /// whose `_<name>_value` was not selected is taken from the expanded row's key instead.
    pub fn from_expanded_row(
        row: &Map<String, Value>,
        cfg: &CrmConfig,
    ) -> Result<Self, MappingError> {
        let mut opportunity = Opportunity::from_row(row, cfg)?;
        let account = expanded(row, "parentaccountid")?
            .map(|r| Account::from_row(r, cfg))
            .transpose()?;
        let contact = expanded(row, "parentcontactid")?
            .map(|r| Contact::from_row(r, cfg))
            .transpose()?;
        let owner = expanded(row, "owninguser")?
            .map(|user| -> Result<Seller, MappingError> {
                Ok(Seller {
                    first_name: text(user, "firstname")?,
                    last_name: text(user, "lastname")?,
                    email: text(user, "internalemailaddress")?,
                    phone: text(user, "address1_telephone1")?,
                })
            })
            .transpose()?;
        let currency = expanded(row, "transactioncurrencyid")?;
        let currency_code = match currency {
            Some(currency) => text(currency, ISO_CURRENCY_CODE)?,
            None => None,
        };
        if opportunity.parent_account.is_none() {
            opportunity.parent_account = account.as_ref().and_then(|a| a.id);
        }
        if opportunity.parent_contact.is_none() {
            opportunity.parent_contact = contact.as_ref().and_then(|c| c.id);
        }
        if opportunity.currency.is_none()
            && let Some(currency) = currency
        {
            opportunity.currency = currency
                .get("transactioncurrencyid")
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok());
        }

        let relationship = &cfg.solutions.relationship;
        let solutions = match row.get(relationship) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|solution| solution_row(solution, cfg))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(MappingError::InvalidColumn {
                    column: relationship.clone(),
                    expected: "an expanded list of solution rows",
                    value: other.clone(),
                });
            }
        };
        Ok(Self {
            opportunity,
            account,
            contact,
            owner,
            currency_code,
            solutions,
        })
    }

    /// The opportunity columns to `$select` (also what change tracking selects).
    pub fn select(cfg: &CrmConfig) -> Vec<String> {
        Opportunity::columns(cfg)
    }

    /// The related rows read with the opportunity: account, contact, owner, currency and solutions,
    /// each with its columns (a `$expand`, handed to the CRM port as data).
    pub fn expand(cfg: &CrmConfig) -> Expansions {
        let solutions = &cfg.solutions;
        let solution_columns = [Some(&solutions.id), Some(&solutions.name)]
            .into_iter()
            .chain([
                solutions.publisher.as_ref(),
                solutions.solution_type.as_ref(),
            ])
            .flatten()
            .cloned()
            .collect();
        let related = |relationship: &str, select: Vec<String>| Related {
            relationship: relationship.to_owned(),
            select,
        };
        let strings = |columns: &[&str]| columns.iter().map(|c| (*c).to_owned()).collect();
        Expansions(vec![
            related("parentaccountid", Account::columns(cfg)),
            related("parentcontactid", strings(CONTACT_COLUMNS)),
            related("owninguser", strings(OWNER_COLUMNS)),
            related("transactioncurrencyid", strings(&[ISO_CURRENCY_CODE])),
            related(&solutions.relationship, solution_columns),
        ])
    }
}

/// A related row (or rows) read with a row: a navigation property and the columns to select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub relationship: String,
    pub select: Vec<String>,
}

/// The related rows read with a row; shown as the `$expand` text they become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansions(pub Vec<Related>);

impl std::fmt::Display for Expansions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, related) in self.0.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let columns = related.select.join(",");
            write!(f, "{comma}{}($select={columns})", related.relationship)?;
        }
        Ok(())
    }
}

/// A single-valued navigation property: an object, or null/absent.
fn expanded<'a>(
    row: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, MappingError> {
    match row.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(MappingError::InvalidColumn {
            column: name.to_owned(),
            expected: "an expanded row",
            value: other.clone(),
        }),
    }
}

/// A text column, trimmed; empty reads as absent.
fn text(row: &Map<String, Value>, column: &str) -> Result<Option<String>, MappingError> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty())),
        Some(other) => Err(MappingError::InvalidColumn {
            column: column.to_owned(),
            expected: "text",
            value: other.clone(),
        }),
    }
}

fn solution_row(value: &Value, cfg: &CrmConfig) -> Result<SolutionRow, MappingError> {
    let Value::Object(row) = value else {
        return Err(MappingError::InvalidColumn {
            column: cfg.solutions.relationship.clone(),
            expected: "an expanded solution row",
            value: value.clone(),
        });
    };
    Ok(SolutionRow {
        solution_id: text(row, &cfg.solutions.id)?,
        name: text(row, &cfg.solutions.name)?,
        publisher: optional(row, cfg.solutions.publisher.as_deref())?,
        solution_type: optional(row, cfg.solutions.solution_type.as_deref())?,
    })
}

/// A text column the settings may leave unnamed.
fn optional(
    row: &Map<String, Value>,
    column: Option<&str>,
) -> Result<Option<String>, MappingError> {
    column.map_or(Ok(None), |column| text(row, column))
}
