//! What a referral becomes in the CRM (contract `partner-center.md` §4, "Categories").
//!
//! | type | qualification | invitedBy.organizationId | category |
//! |---|---|---|---|
//! | Independent | Direct | `msft` or null | [`Category::MarketplaceLead`] |
//! | Independent | SalesQualified / MarketingQualified | `msft` | [`Category::QualifiedLead`] |
//! | Independent or Shared | SalesQualified / None | own or another partner | [`Category::CoSellOpportunity`] |
//!
//! **A referral that fits no row is a co-sell opportunity.** The two lead rows must match exactly;
//! everything else (a `Shared` referral from Microsoft, a `Direct` one from a partner, a missing
//! type, a value this version does not know…) becomes an opportunity. That is the tolerant reading:
//! a referral is never dropped, and an opportunity is the record a seller works and that syncs
//! both ways. The third row covers our own organization and every other partner alike, so the
//! rule does not need to know our own organization id.

use crate::enums::{Qualification, ReferralType};
use crate::referral::Referral;

/// The `invitedBy.organizationId` that means Microsoft.
pub const MICROSOFT_ORGANIZATION_ID: &str = "msft";

/// The kind of CRM record a referral becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// A marketplace lead: becomes a Dataverse lead.
    MarketplaceLead,
    /// A lead Microsoft qualified: becomes a Dataverse lead.
    QualifiedLead,
    /// A co-sell opportunity: becomes a Dataverse opportunity.
    CoSellOpportunity,
}

impl Category {
    /// Applies the rule table to a referral's `type`, `qualification` and
    /// `inviteContext.invitedBy.organizationId`.
    pub fn classify(
        kind: Option<&ReferralType>,
        qualification: Option<&Qualification>,
        invited_by: Option<&str>,
    ) -> Self {
        let by_microsoft =
            invited_by.is_some_and(|id| id.eq_ignore_ascii_case(MICROSOFT_ORGANIZATION_ID));
        match (kind, qualification) {
            (Some(ReferralType::Independent), Some(Qualification::Direct))
                if by_microsoft || invited_by.is_none() =>
            {
                Self::MarketplaceLead
            }
            (
                Some(ReferralType::Independent),
                Some(Qualification::SalesQualified | Qualification::MarketingQualified),
            ) if by_microsoft => Self::QualifiedLead,
            _ => Self::CoSellOpportunity,
        }
    }

    /// [`Self::classify`] on a whole referral.
    pub fn of(referral: &Referral) -> Self {
        Self::classify(
            referral.kind.as_ref(),
            referral.qualification.as_ref(),
            referral.invited_by_organization_id(),
        )
    }

    /// True for the categories that become a Dataverse lead rather than an opportunity.
    pub fn is_lead(self) -> bool {
        matches!(self, Self::MarketplaceLead | Self::QualifiedLead)
    }
}
