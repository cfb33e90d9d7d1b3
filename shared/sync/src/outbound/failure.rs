//! Why an opportunity was not synced, and whether trying again later can help.

use cosell_dataverse::DataverseError;
use cosell_store::StoreError;

use crate::record::lock::LockError;

/// What went wrong, as a sentence for the Audit column and the retry item.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("reading the opportunity from Dataverse failed: {0}")]
    Read(#[source] DataverseError),
    #[error("the opportunity could not be read: {0}")]
    Mapping(#[source] cosell_mapping::MappingError),
    #[error("Partner Center did not take the referral: {0}")]
    Referral(#[source] cosell_partner_center::Error),
    /// A co-sell create refused while the Services co-sell fields were missing.
    #[error(
        "Partner Center did not take the referral: {source}; Services co-sell referrals need \
         Partner role, Solution area and Solution play: {}",
        fill.join("; ")
    )]
    ServicesMissing {
        #[source]
        source: cosell_partner_center::Error,
        fill: Vec<String>,
    },
    #[error(
        "referral {referral_id} was created, but the connected referral for Microsoft was not: {source}"
    )]
    Connected {
        referral_id: cosell_store::ReferralId,
        #[source]
        source: cosell_partner_center::Error,
    },
    #[error("Partner Center answered without a referral id")]
    NoReferralId,
    /// The id Partner Center answered, or the one the opportunity's referral id column holds,
    /// cannot be a referral's.
    #[error("{0}")]
    BadReferralId(#[source] cosell_store::IdError),
    #[error("the referral changed again while it was being updated (412 twice)")]
    Conflict,
    #[error("writing the outcome to Dataverse failed: {0}")]
    WriteBack(#[source] DataverseError),
    #[error("the sync state store failed: {0}")]
    Store(#[source] StoreError),
    #[error("another sync of this opportunity did not finish in time")]
    Busy,
}

impl OutboundError {
    /// True when trying the same opportunity again cannot succeed: the seller (a new edit) or an
    /// operator (a replay) must act first. Partner Center's 4xx other than 408/409/412/429 say
    /// the request itself is wrong.
    /// Dataverse's 400 (a column that does not exist) and 403 are as final.
    pub fn is_permanent(&self) -> bool {
        match self {
            // A choice label not read yet comes with a later process's metadata cache.
            Self::Mapping(cosell_mapping::MappingError::UnknownChoice { .. }) => false,
            Self::Mapping(_)
            | Self::Connected { .. }
            | Self::ServicesMissing { .. }
            | Self::BadReferralId(_) => true,
            Self::Referral(error) => error
                .status()
                .is_some_and(|s| (400..500).contains(&s) && ![408, 409, 412, 429].contains(&s)),
            Self::Read(error) | Self::WriteBack(error) => {
                matches!(error.status(), Some(400 | 403))
            }
            _ => false,
        }
    }
}

impl From<StoreError> for OutboundError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<cosell_store::IdError> for OutboundError {
    fn from(error: cosell_store::IdError) -> Self {
        Self::BadReferralId(error)
    }
}

impl From<LockError> for OutboundError {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Busy => Self::Busy,
            LockError::Store(error) => Self::Store(error),
        }
    }
}

impl crate::record::park::Cause for OutboundError {
    fn is_permanent(&self) -> bool {
        OutboundError::is_permanent(self)
    }
}
