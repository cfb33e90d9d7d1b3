//! Where sync state lives. [`SyncStore`] is the port the use cases in `cosell-sync` talk to; the
//! adapters (DynamoDB for Lambda, SQLite for local runs) implement it with the same semantics,
//! which one contract-test suite checks on both.

pub mod dynamodb;
mod model;
mod nanos;
mod port;
pub mod sqlite;

pub use cosell_ids::IdError;
pub use dynamodb::DynamoStore;
pub use model::{CrmId, CrmKind, Cursor, Link, Outcome, ReferralId, RetryItem, RetryState};
pub use port::{EventClaim, StoreError, SyncStore};
pub use sqlite::SqliteStore;
