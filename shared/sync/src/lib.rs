//! The use cases of cosell, written against ports so that a reader finds every sync rule here and
//! nowhere in `functions/`.
//!
//! | module | holds |
//! |---|---|
//! | [`ports`] | [`ReferralSource`] (Partner Center) and [`Crm`] (Dataverse), with their adapters; the store port is [`cosell_store::SyncStore`] |
//! | [`activity`] | when each direction last wrote something (for `cosell status`) |
//! | [`backoff`] | when parked work is due again (exponential, full jitter) and when it is given up |
//! | [`inbound`] | [`InboundSync`]: a verified webhook event → the referral's account, contact and opportunity (or lead) in Dataverse |
//! | [`lease`] | store leases a sync waits a little for |
//! | [`metadata`] | the help column's options and the solutions relationship, discovered from Dataverse metadata and cached with an age |
//! | [`reconcile`] | [`Reconciler`]: the sweep over referrals changed since a watermark, for webhooks Partner Center gave up on |
//! | [`retry`] | [`RetryScheduler`]: parked work redone when due through the same use cases; `replay` |
//! | [`outbound`] | [`OutboundSync`]: a seller's opportunity → a Partner Center referral, kept in sync (change feed or one row) |

pub mod activity;
pub mod backoff;
pub mod inbound;
pub mod lease;
pub mod metadata;
pub mod outbound;
pub mod ports;
pub mod reconcile;
pub mod retry;

pub use inbound::{Handled, InboundSettings, InboundSync, NotStored};
pub use outbound::{OutboundSettings, OutboundSync, Synced};
pub use ports::{Crm, ReferralFeed, ReferralSource, Referrals};
pub use reconcile::{ReconcileSettings, Reconciler, SweepReport};
pub use retry::{RetryReport, RetryScheduler, RetrySettings};

/// How many records the change feed and the reconciliation sweep sync at once. Each holds its
/// record's lease; Dataverse allows 52 concurrent requests per user, shared with the webhooks.
pub const CONCURRENCY: usize = 8;
