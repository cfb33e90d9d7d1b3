//! The use cases of cosell, written against ports so that a reader finds every sync rule here and
//! nowhere in `functions/`.
//!
//! | module | holds |
//! |---|---|
//! | [`ports`] | [`ReferralSource`] (Partner Center) and [`Crm`] (Dataverse), with their adapters; the store port is [`cosell_store::SyncStore`] |
//! | [`inbound`] | [`InboundSync`]: a verified webhook event → the referral's account, contact and opportunity (or lead) in Dataverse |
//! | [`lease`] | store leases a sync waits a little for |
//! | [`outbound`] | [`OutboundSync`]: a seller's opportunity → a Partner Center referral, kept in sync (change feed or one row) |

pub mod inbound;
pub mod lease;
pub mod outbound;
pub mod ports;

pub use inbound::{Handled, InboundSettings, InboundSync, NotStored};
pub use outbound::{OutboundSettings, OutboundSync, Synced};
pub use ports::{Crm, ReferralSource, Referrals};
