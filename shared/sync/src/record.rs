//! The per-record protocol both directions follow, in one place:
//!
//! - [`WorkKey`] names a piece of work on one record: its retry item, its lease, and what
//!   `cosell replay ID` accepts, as `inbound:<referral id>` or `outbound:<opportunity id>`;
//! - [`lock::DealLock`] holds a deal's two record leases, always taken in one order;
//! - [`lock::with_lease`] runs a scheduled job (the change feed, the retry run, the sweep) under
//!   its own lease, one run at a time;
//! - [`park::park`] keeps failed work as its retry item, with the attempts counted and the
//!   decision between "retry later" and "dead" made once.

pub(crate) mod lock;
pub(crate) mod park;

use std::fmt;

use uuid::Uuid;

/// A piece of work on one record. The text form is stored (retry item ids, lease names) and typed
/// by operators, so it never changes; a new kind of work is a new variant with its own prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkKey {
    /// A referral's inbound sync (Partner Center → Dataverse): `inbound:<referral id>`.
    Inbound(String),
    /// An opportunity's outbound sync (Dataverse → Partner Center): `outbound:<opportunity id>`.
    Outbound(Uuid),
}

const INBOUND: &str = "inbound:";
const OUTBOUND: &str = "outbound:";

impl WorkKey {
    /// The work a stored id names; `None` for an id this version does not know.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(referral_id) = text.strip_prefix(INBOUND) {
            return (!referral_id.is_empty()).then(|| Self::Inbound(referral_id.to_owned()));
        }
        let id = Uuid::try_parse(text.strip_prefix(OUTBOUND)?).ok()?;
        Some(Self::Outbound(id))
    }

    /// The inbound work of a referral.
    pub fn inbound(referral_id: &str) -> Self {
        Self::Inbound(referral_id.to_owned())
    }

    /// Where a deal's lease comes in [`lock::DealLock`]'s one order: the opportunity's first, then
    /// the referral's.
    pub(crate) fn deal_order(&self) -> u8 {
        match self {
            Self::Outbound(_) => 0,
            Self::Inbound(_) => 1,
        }
    }
}

impl fmt::Display for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inbound(referral_id) => write!(f, "{INBOUND}{referral_id}"),
            Self::Outbound(opportunity_id) => write!(f, "{OUTBOUND}{opportunity_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_is_the_stored_one_and_reads_back() {
        let id = Uuid::new_v4();
        assert_eq!(WorkKey::inbound("r-1").to_string(), "inbound:r-1");
        assert_eq!(WorkKey::Outbound(id).to_string(), format!("outbound:{id}"));
        for key in [WorkKey::inbound("r-1"), WorkKey::Outbound(id)] {
            assert_eq!(WorkKey::parse(&key.to_string()), Some(key));
        }
        assert_eq!(WorkKey::parse("outbound:not-a-guid"), None);
        assert_eq!(WorkKey::parse("inbound:"), None);
        assert_eq!(WorkKey::parse("export:x"), None);
    }

    #[test]
    fn a_deals_opportunity_lease_comes_before_its_referral_lease() {
        assert!(WorkKey::Outbound(Uuid::nil()).deal_order() < WorkKey::inbound("r").deal_order());
    }
}
