//! The use cases of cosell, written against ports so that a reader finds every sync rule here and
//! nowhere in `functions/`.
//!
//! | module | holds |
//! |---|---|
//! | [`ports`] | [`ReferralSource`] (Partner Center) and [`Crm`] (Dataverse), with their adapters; the store port is [`cosell_store::SyncStore`] |
//! | [`record`] | the per-record protocol both directions follow: [`WorkKey`], the deal lock (one lease order), job leases, parking |
//! | [`link`] | the link both directions keep per deal, read and written one way |
//! | [`intent`] | an outbound create under way, which the inbound sync of its referral merges against |
//! | [`inbound`] | [`InboundSync`]: a verified webhook event → the referral's account, contact and opportunity (or lead) in Dataverse |
//! | [`outbound`] | [`OutboundSync`]: a seller's opportunity → a Partner Center referral, kept in sync (change feed or one row) |
//! | [`retry`] | [`RetryScheduler`]: parked work redone when due through the same use cases; `replay` |
//! | [`respond`] | respond-by: a waiting referral's owner, task and `respond:` due item, closed when it is answered |
//! | [`alerts`] | alerts to Teams Workflows / Slack webhooks, queued as `alert:` items and posted in batches by the scheduler |
//! | [`reconcile`] | [`Reconciler`]: the sweep over referrals changed since a watermark, for webhooks Partner Center gave up on |
//! | [`backoff`] | when parked work is due again (exponential, full jitter) and when it is given up |
//! | [`activity`] | when each direction last wrote something (for `cosell status`) |
//! | [`jobs`] | what each scheduled job last did — interval, last success, last error — for `cosell status` |
//! | [`mapping`] | the mapping document kept in the store (`cosell mapping push`), and which document a process runs |
//! | [`metadata`] | the help column's options and the solutions relationship, discovered from Dataverse metadata and cached with an age |
//!
//! [`inbound`] and [`outbound`] share nothing but what is above them here: neither imports the
//! other.

pub mod activity;
pub mod alerts;
pub mod backoff;
pub mod bulk;
pub mod inbound;
pub mod intent;
pub mod jobs;
pub mod link;
pub mod mapping;
pub mod metadata;
pub mod outbound;
pub mod ports;
pub mod reconcile;
pub mod record;
pub mod respond;
pub mod retry;
pub mod schema;

use cosell_store::StoreError;

pub use bulk::{Bulk, BulkReport};
pub use inbound::{Handled, InboundSettings, InboundSync};
pub use outbound::{OutboundSettings, OutboundSync, Synced};
pub use ports::{Crm, ReferralFeed, ReferralSource, Referrals};
pub use reconcile::{ReconcileSettings, Reconciler, SweepReport};
pub use record::WorkKey;
pub use retry::{RetryReport, RetryScheduler, RetrySettings};

/// How many records the change feed and the reconciliation sweep sync at once. Each holds its
/// record's lease; Dataverse allows 52 concurrent requests per user, shared with the webhooks.
pub const CONCURRENCY: usize = 8;

/// The work, or its outcome, could not be stored durably (not even as a retry item): its
/// trigger must come again — a webhook answers 5xx so it is redelivered; the change feed keeps
/// its cursor.
#[derive(Debug, thiserror::Error)]
#[error("the work was not stored durably, so its trigger must come again: {0}")]
pub struct NotStored(#[source] pub StoreError);
