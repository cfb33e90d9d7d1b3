//! Outbound: what a seller's opportunity becomes in Partner Center. Pure, like [`crate::inbound`]:
//! the opportunity (read with its related rows, [`OutboundInput`]) and the settings in, a plan out,
//! or every reason the opportunity cannot be sent ([`InvalidOpportunity`]).
//!
//! - [`plan_create`]: the referral to `POST` (and, for co-sell, [`microsoft_referral`], the
//!   second `POST`), after validating everything Partner Center would refuse.
//! - [`plan_update`]: the JSON Patch that makes an existing referral reflect the seller's changes,
//!   and the changes refused locally ([`Refusal`]).
//!
//! Both return the [`DealState`] that both sides agree on once the request succeeds: store it as
//! `Link.deal` and its [`DealState::hash`] as `Link.outbound_hash`.
//!
//! ## The referral created ([`plan_create`])
//!
//! | referral | from |
//! |---|---|
//! | `name` | the opportunity name without ✔/✖ |
//! | `externalReferenceId` | `opportunityid` |
//! | `type` | `Shared` for co-sell, else `Independent` ([`DealKind`]) |
//! | `qualification`, `direction` | `SalesQualified`, `Outgoing`: the partner's own qualified deal. (`Direct` would read back as a marketplace lead, [`crate::Category`].) |
//! | `status`, `substatus` | `New`, `Pending` |
//! | `target` | co-sell: each solution as `{type: SolutionProfile, id: "SOL-…"}`; otherwise none |
//! | `customerProfile` | account `name`, address (`address1_line1`, `_city`, `_stateorprovince`, `_postalcode`, the configured country column, upper case); `team` = [the contact] |
//! | `consent.consentToShareReferralWithMicrosoftSellers` | false for private, true for partner-led and co-sell |
//! | `details` | `dealValue` (configured column), `currency` (ISO code of the currency row), `closingDateTime` (close date at 00:00Z), `notes` (description), `requirements.solutions` (`{id, name}` of each solution row) |
//! | `inviteContext.assistanceRequestCode` | co-sell: "How can Microsoft help?" |
//! | `salesStage`, `campaignId`, `referralProgram` | the mapping's fields that go out, through their value maps |
//!
//! Choosing "How can Microsoft help?" makes the deal co-sell, which the contract shares with
//! Microsoft whatever the visibility column says; the agreed [`DealState`] keeps the column's
//! own value, so that an unchanged "no" is not read as an attempt to un-share.
//!
//! ## The update ([`plan_update`])
//!
//! | deal field | JSON Patch path |
//! |---|---|
//! | name | `/name` |
//! | deal value | `/details/dealValue` |
//! | currency | `/details/currency` |
//! | close date | `/details/closingDateTime` |
//! | notes | `/details/notes` |
//! | visibility (no → yes only) | `/consent/consentToShareReferralWithMicrosoftSellers` |
//! | status | `/status` and `/substatus`, see below |
//! | a mapped field that goes out | its member (`/salesStage`, …), `add` when the referral lacks it |
//!
//! Only fields the seller changed (CRM differs from the last agreed state) are considered, and a
//! field already holding the wanted value in the current referral is not sent. When the parent
//! object (`details`, `consent`) is missing from the current referral, one `add` of the whole
//! parent object carries its fields instead of `replace`s into nothing.
//!
//! | opportunity status change | referral state |
//! |---|---|
//! | → In Progress (accept) | `Active/Accepted` |
//! | → Lost with statuscode 4 Canceled (decline) | `Closed/Declined` |
//! | → Lost with any other reason (Out-Sold…) | `Closed/Lost` |
//! | → Won | `Closed/Won` |
//! | → On Hold | nothing to send while the referral is New; from any other status, refused |
//!
//! A move the status machine forbids ([`crate::check_move`]) and an attempt to un-share are
//! [`Refusal`]s: nothing is sent for them and the agreed state keeps Partner Center's value.

mod country;
mod create;
mod input;
mod invalid;
mod mapped;
mod update;

use crate::deal::DealState;
use crate::patch::PatchOp;
use crate::referral::Referral;
use crate::status::IllegalMove;

pub use create::{MARKETPLACE_INTENT, microsoft_referral, missing_services, plan_create};
pub use input::{Expansions, OutboundInput, Related, Seller, SolutionRow};
pub use invalid::{InvalidOpportunity, OpportunityProblem};
pub use update::plan_update;

/// The deal kinds of the contract's "Deal kinds on create".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealKind {
    /// No help asked, not visible: `Independent`, not shared with Microsoft sellers.
    Private,
    /// No help asked, visible: `Independent`, shared with Microsoft sellers.
    PartnerLed,
    /// "How can Microsoft help?" chosen: `Shared`, two referrals (the partner's and Microsoft's).
    CoSell,
}

/// What to `POST` for a new referral.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    pub kind: DealKind,
    /// The `POST` body (for co-sell, the partner's referral; then [`microsoft_referral`]).
    pub referral: Referral,
    /// The state both sides agree on once the referral exists.
    pub deal: DealState,
}

/// A seller's change refused locally: each becomes an Audit line, and nothing is sent for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Referral Visibility went from yes back to no.
    #[error(
        "the referral stays visible to Microsoft sellers: sharing cannot be undone, so Referral Visibility was not sent"
    )]
    Unshare,
    /// A status change the status machine forbids.
    #[error("the status change was not sent: {0}")]
    IllegalMove(IllegalMove),
}

/// What to `PATCH` so Partner Center reflects the seller's changes.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    /// The JSON Patch; empty when nothing needs sending.
    pub changes: Vec<PatchOp>,
    pub refusals: Vec<Refusal>,
    /// The state both sides agree on once the changes land: the current referral's state with
    /// the seller's accepted changes applied.
    pub deal: DealState,
}

impl UpdatePlan {
    /// The JSON Patch body.
    pub fn patch(&self) -> serde_json::Value {
        serde_json::to_value(&self.changes).unwrap_or_default()
    }

    /// `current` with the changes applied: the whole referral a `PUT` sends when a change cannot
    /// be patched. Every member `current` holds is kept, unknown ones included; `current` must be
    /// the referral as read (the plan's `add`s create what it lacks).
    pub fn apply_to(&self, current: &Referral) -> Result<Referral, crate::MappingError> {
        let unappliable = |path: &str, problem: String| crate::MappingError::Unappliable {
            path: path.to_owned(),
            problem,
        };
        let mut doc = serde_json::to_value(current).map_err(|e| unappliable("", e.to_string()))?;
        for change in &self.changes {
            let (parent, member) = change.path.rsplit_once('/').unwrap_or(("", &change.path));
            match doc.pointer_mut(parent) {
                Some(serde_json::Value::Object(map)) => {
                    map.insert(member.to_owned(), change.value.clone());
                }
                _ => {
                    let problem = format!("it has no object at '{parent}'");
                    return Err(unappliable(&change.path, problem));
                }
            }
        }
        serde_json::from_value(doc).map_err(|e| unappliable("", e.to_string()))
    }

    /// The plan without the changes `keep` says no to (a `PUT` Partner Center refused): the
    /// changes left, and the paths dropped. Its deal holds the dropped fields as `current` has
    /// them, since Partner Center keeps them.
    pub fn without(self, current: &Referral, keep: impl Fn(&str) -> bool) -> (Self, Vec<String>) {
        let (kept, dropped): (Vec<PatchOp>, Vec<PatchOp>) =
            self.changes.into_iter().partition(|c| keep(&c.path));
        let held = DealState::from_referral(current);
        let mut deal = self.deal;
        for change in &dropped {
            deal.keep_from(&change.path, &held);
        }
        let plan = Self {
            changes: kept,
            refusals: self.refusals,
            deal,
        };
        (plan, dropped.into_iter().map(|c| c.path).collect())
    }
}
