//! What a referral's status does to the CRM record (issue 3; docs/how-it-works.md repeats this table):
//!
//! | referral | opportunity |
//! |---|---|
//! | New (an incoming referral not yet answered) | Open, statuscode 2 On Hold |
//! | Active/Accepted | Open, statuscode 1 In Progress |
//! | Closed/Won | `WinOpportunity` (Won, statuscode 3) |
//! | Closed/Lost, Closed/Declined, Closed/Expired | `LoseOpportunity` (Lost, statuscode 4 Canceled) |
//! | anything else (`None`, a value this version does not know) | status left as it is |
//!
//! A lead's status is left to the seller: qualifying a lead is their decision.

use crate::crm::OpportunityStatusReason;
use crate::enums::{Status, Substatus};

/// The status change an inbound sync makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusAction {
    /// Open, On Hold (statuscode 2).
    OnHold,
    /// Open, In Progress (statuscode 1).
    InProgress,
    /// `WinOpportunity`.
    Win,
    /// `LoseOpportunity` with statuscode 4 Canceled.
    Lose,
    /// Leave the status as it is.
    Keep,
}

impl StatusAction {
    /// The action for a referral `(status, substatus)`.
    pub fn of(status: &Status, substatus: &Substatus) -> Self {
        match (status, substatus) {
            (Status::New, _) => Self::OnHold,
            (Status::Active, _) => Self::InProgress,
            (Status::Closed, Substatus::Won) => Self::Win,
            (Status::Closed, Substatus::Lost | Substatus::Declined | Substatus::Expired) => {
                Self::Lose
            }
            _ => Self::Keep,
        }
    }

    /// The statuscode written with the row while it stays open; `None` for the closing actions
    /// (they set it themselves) and for [`Self::Keep`].
    pub fn open_status_reason(self) -> Option<OpportunityStatusReason> {
        match self {
            Self::OnHold => Some(OpportunityStatusReason::OnHold),
            Self::InProgress => Some(OpportunityStatusReason::InProgress),
            Self::Win | Self::Lose | Self::Keep => None,
        }
    }

    /// True when the record ends closed.
    pub fn closes(self) -> bool {
        matches!(self, Self::Win | Self::Lose)
    }

    /// The short tag kept at the front of the sync hash, so the next sync knows the record it
    /// wrote is closed (a closed opportunity can be neither edited nor closed again).
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::Win => "won",
            Self::Lose => "lost",
            Self::OnHold | Self::InProgress | Self::Keep => "open",
        }
    }
}

/// True when `hash` (a link's inbound hash, see [`crate::inbound::InboundPlan::hash`]) records a
/// sync that closed the record.
pub fn hash_says_closed(hash: &str) -> bool {
    matches!(hash.split_once(':'), Some(("won" | "lost", _)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_documented_state() {
        use StatusAction::*;
        for (status, substatus, action) in [
            ("New", "Pending", OnHold),
            ("New", "Received", OnHold),
            ("Active", "Accepted", InProgress),
            ("Closed", "Won", Win),
            ("Closed", "Lost", Lose),
            ("Closed", "Declined", Lose),
            ("Closed", "Expired", Lose),
            ("None", "None", Keep),
            ("Paused", "None", Keep),
        ] {
            assert_eq!(
                StatusAction::of(&status.into(), &substatus.into()),
                action,
                "{status}/{substatus}"
            );
        }
        assert_eq!(
            OnHold.open_status_reason(),
            Some(OpportunityStatusReason::OnHold)
        );
        assert_eq!(OnHold.open_status_reason().unwrap().value(), 2);
        assert_eq!(InProgress.open_status_reason().unwrap().value(), 1);
        assert_eq!(Win.open_status_reason(), None);
    }

    #[test]
    fn the_hash_tag_tells_a_closed_record() {
        assert!(hash_says_closed("won:abc"));
        assert!(hash_says_closed("lost:abc"));
        assert!(!hash_says_closed("open:abc"));
        assert!(!hash_says_closed("abc"));
    }
}
