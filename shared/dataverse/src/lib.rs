//! Client for the Dataverse Web API (`contracts/dataverse.md`): create, read, query with paging,
//! PATCH with preconditions (upsert, `If-Match`, `If-Match: *`, `If-None-Match: *`), delete,
//! alternate keys, one atomic `$batch` change set with `Content-ID` references (or a batch of
//! queries and change sets, each answered on its own), the
//! `WinOpportunity` / `LoseOpportunity` actions, change tracking (delta links), the table
//! metadata a preflight needs, and the schema writes `cosell setup` makes ([`customize`]).
//!
//! Rows are JSON objects ([`Row`]); typed ids and ETags travel beside them. Every HTTP call goes
//! through `cosell-transport` (retries, `Retry-After`, a client-side token bucket) with a cached
//! client-credentials token; a 401 invalidates it and the call is tried once more.
//!
//! Every value placed into a `$filter` or a key goes through [`filter`], which escapes it: no
//! string is ever concatenated into a query anywhere else.
//!
//! Rate limit: Dataverse allows 6,000 requests per 300 s per application user, 20 requests/s on
//! average. [`DataverseConfig::new`] sets the transport's token bucket to [`DEFAULT_RATE_LIMIT`]
//! (a burst of 3,000, then 18 requests/s), so a long run stays just under the ceiling instead of
//! bouncing off 429s; the 429s that still come (other clients on the same user) are waited out
//! per `Retry-After`.

mod actions;
mod batch;
mod changes;
mod client;
mod config;
pub mod customize;
mod error;
pub mod filter;
mod metadata;
mod multipart;
pub mod pipeline;
mod query;
mod types;

pub use actions::OpportunityClose;
pub use batch::{Answer, Batch, BatchAnswer, ChangeSet, MAX_REQUESTS, PartOutcome, Reference};
pub use changes::{Baseline, Changes, ChangesPage, DeltaLink};
pub use client::DataverseClient;
pub use config::{DEFAULT_RATE_LIMIT, DataverseConfig};
pub use customize::PRIVILEGE_DENIED;
pub use error::DataverseError;
pub use filter::{Filter, Literal};
pub use metadata::{Attribute, ChoiceOption, Relationship};
pub use query::{Expand, NextLink, OrderBy, Page, Query};
pub use types::{ETag, Id, Key, Precondition, Record, Row, bind, bind_key};

/// The service name used in transport errors and logs.
pub const SERVICE: &str = "dataverse";
