//! The per-record protocol both directions follow, in one place:
//!
//! - [`WorkKey`] names a piece of work on one record: its retry item, its lease, and what
//!   `cosell replay ID` accepts, as `inbound:<referral id>` or `outbound:<opportunity id>` — and
//!   the two kinds of work that are items without a lease: `respond:<referral id>` (a waiting
//!   referral's reminder and expiry, see [`crate::respond`]) and `alert:<channel>:<event>:<subject>`
//!   (an alert to post, see [`crate::alerts`]);
//! - [`lock::DealLock`] holds a deal's two record leases, always taken in one order;
//! - [`lock::with_lease`] runs a scheduled job (the change feed, the retry run, the sweep) under
//!   its own lease, one run at a time;
//! - [`park::park`] keeps failed work as its retry item, with the attempts counted and the
//!   decision between "retry later" and "dead" made once.

pub(crate) mod lock;
pub(crate) mod park;

use std::fmt;

use cosell_store::ReferralId;
use uuid::Uuid;

/// A piece of work on one record. The text form is stored (retry item ids, lease names) and typed
/// by operators, so it never changes; a new kind of work is a new variant with its own prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkKey {
    /// A referral's inbound sync (Partner Center → Dataverse): `inbound:<referral id>`.
    Inbound(ReferralId),
    /// An opportunity's outbound sync (Dataverse → Partner Center): `outbound:<opportunity id>`.
    Outbound(Uuid),
    /// A referral waiting for an answer: its reminder, then its expiry (`respond:<referral id>`).
    Respond(ReferralId),
    /// An alert to post to one channel: `alert:<channel>:<event>:<subject>`, one per channel,
    /// event and subject (a referral id, or for a dead sync the dead item's id).
    Alert {
        channel: String,
        event: String,
        subject: String,
    },
}

const INBOUND: &str = "inbound:";
const OUTBOUND: &str = "outbound:";
const RESPOND: &str = "respond:";
const ALERT: &str = "alert:";

impl WorkKey {
    /// The work a stored id names; `None` for an id this version does not know.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(referral_id) = text.strip_prefix(INBOUND) {
            return ReferralId::new(referral_id).ok().map(Self::Inbound);
        }
        if let Some(referral_id) = text.strip_prefix(RESPOND) {
            return ReferralId::new(referral_id).ok().map(Self::Respond);
        }
        if let Some(rest) = text.strip_prefix(ALERT) {
            let mut parts = rest.splitn(3, ':');
            let (channel, event, subject) = (parts.next()?, parts.next()?, parts.next()?);
            if [channel, event, subject].iter().any(|p| p.is_empty()) {
                return None;
            }
            return Some(Self::Alert {
                channel: channel.to_owned(),
                event: event.to_owned(),
                subject: subject.to_owned(),
            });
        }
        let id = Uuid::try_parse(text.strip_prefix(OUTBOUND)?).ok()?;
        Some(Self::Outbound(id))
    }

    /// The inbound work of a referral.
    pub fn inbound(referral_id: &ReferralId) -> Self {
        Self::Inbound(referral_id.clone())
    }

    /// Where a deal's lease comes in [`lock::DealLock`]'s one order: the opportunity's first, then
    /// the referral's.
    pub(crate) fn deal_order(&self) -> u8 {
        match self {
            Self::Outbound(_) => 0,
            Self::Inbound(_) => 1,
            Self::Respond(_) | Self::Alert { .. } => 2,
        }
    }
}

impl fmt::Display for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inbound(referral_id) => write!(f, "{INBOUND}{referral_id}"),
            Self::Outbound(opportunity_id) => write!(f, "{OUTBOUND}{opportunity_id}"),
            Self::Respond(referral_id) => write!(f, "{RESPOND}{referral_id}"),
            Self::Alert {
                channel,
                event,
                subject,
            } => write!(f, "{ALERT}{channel}:{event}:{subject}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(id: &str) -> ReferralId {
        ReferralId::new(id).unwrap()
    }

    #[test]
    fn the_text_form_is_the_stored_one_and_reads_back() {
        let id = Uuid::new_v4();
        assert_eq!(WorkKey::inbound(&id_of("r-1")).to_string(), "inbound:r-1");
        assert_eq!(WorkKey::Outbound(id).to_string(), format!("outbound:{id}"));
        let alert = WorkKey::Alert {
            channel: "teams".into(),
            event: "dead".into(),
            subject: format!("outbound:{id}"),
        };
        assert_eq!(alert.to_string(), format!("alert:teams:dead:outbound:{id}"));
        assert_eq!(WorkKey::Respond(id_of("r-1")).to_string(), "respond:r-1");
        for key in [
            WorkKey::inbound(&id_of("r-1")),
            WorkKey::Outbound(id),
            WorkKey::Respond(id_of("r-1")),
            alert,
        ] {
            assert_eq!(WorkKey::parse(&key.to_string()), Some(key));
        }
        assert_eq!(WorkKey::parse("alert:teams:new"), None);
        assert_eq!(WorkKey::parse("respond:"), None);
        assert_eq!(WorkKey::parse("outbound:not-a-guid"), None);
        assert_eq!(WorkKey::parse("inbound:"), None);
        assert_eq!(WorkKey::parse("export:x"), None);
    }

    #[test]
    fn a_deals_opportunity_lease_comes_before_its_referral_lease() {
        assert!(
            WorkKey::Outbound(Uuid::nil()).deal_order()
                < WorkKey::inbound(&id_of("r")).deal_order()
        );
    }
}
