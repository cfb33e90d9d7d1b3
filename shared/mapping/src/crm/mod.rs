//! The Dataverse rows we touch (contract `dataverse.md` §5): [`Opportunity`], [`Account`],
//! [`Contact`], [`Lead`].
//!
//! Each is a plain struct of `Option`s that reads a Web API row and writes one back:
//! - [`CrmRow::from_row`] reads the JSON object a `GET` returns. Lookups come back as
//!   `_<name>_value`; `@odata.etag` is kept as `etag` for `If-Match`.
//! - [`CrmRow::to_row`] writes only the fields that are `Some`, so the result is a `PATCH` body
//!   (or a `POST` body). Lookups are written as `"<name>@odata.bind": "/<set>(<guid>)"`. The key and
//!   the etag are not written: they belong in the URL and the `If-Match` header.
//! - [`CrmRow::columns`] is the matching `$select` list.
//!
//! Columns that are settings (deal value, country code, every co-sell column) are taken from
//! [`CrmConfig`], never written as literals.

mod account;
mod contact;
pub mod ids;
mod lead;
mod opportunity;
mod row;

pub use account::Account;
pub use contact::Contact;
pub use lead::{Lead, LeadState};
pub use opportunity::{Opportunity, OpportunityState, OpportunityStatusReason, Services};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::CrmConfig;
use crate::error::MappingError;

/// A Dataverse row as the Web API reads and writes it.
pub type Row = Map<String, Value>;

/// A table we read and write.
pub trait CrmRow: Sized {
    /// The entity set in URLs, e.g. `opportunities`.
    const ENTITY_SET: &'static str;
    /// The primary key column, e.g. `opportunityid`.
    const KEY: &'static str;

    /// The columns to `$select` so that [`Self::from_row`] sees every field.
    fn columns(config: &CrmConfig) -> Vec<String>;

    /// Reads a row returned by the Web API. Absent and null columns read as `None`.
    fn from_row(row: &Row, config: &CrmConfig) -> Result<Self, MappingError>;

    /// Writes the fields that are `Some` as a `PATCH`/`POST` body.
    fn to_row(&self, config: &CrmConfig) -> Result<Row, MappingError>;
}

/// A polymorphic customer lookup (`customerid`, `parentcustomerid`): an account or a contact.
///
/// Reading tells them apart by the `…@Microsoft.Dynamics.CRM.lookuplogicalname` annotation
/// (ask for it with `Prefer: odata.include-annotations="*"`); without it, an account is assumed,
/// since that is what this service writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Customer {
    Account(Uuid),
    Contact(Uuid),
}
