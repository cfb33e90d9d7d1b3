//! Why an accepted event was not synced, and whether retrying can help.

use cosell_dataverse::DataverseError;
use cosell_mapping::inbound::InvalidReferral;
use cosell_store::{CrmKind, StoreError};
use uuid::Uuid;

use crate::record::lock::LockError;

/// What went wrong, as a sentence for the Audit column and the retry item.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("reading the referral from Partner Center failed: {0}")]
    Referral(#[source] cosell_partner_center::Error),
    #[error("{0}")]
    Invalid(#[source] InvalidReferral),
    /// Several accounts match the customer; the message names them.
    #[error("{0}")]
    Ambiguous(String),
    #[error(
        "the referral is linked to a {linked:?} but is now a {planned:?}; fix the link by hand"
    )]
    KindChanged { linked: CrmKind, planned: CrmKind },
    #[error(
        "Dataverse has no currency with ISO code '{0}' (transactioncurrencies.isocurrencycode)"
    )]
    NoCurrency(String),
    #[error("Dataverse answered without the id of the currency '{0}'")]
    CurrencyWithoutId(String),
    #[error("writing to Dataverse failed: {0}")]
    Crm(#[source] DataverseError),
    #[error("a row could not be written: {0}")]
    Mapping(#[source] cosell_mapping::MappingError),
    #[error("the sync state store failed: {0}")]
    Store(#[source] StoreError),
    #[error("another sync of this referral did not finish in time")]
    Busy,
    /// The invocation's deadline came before the sync finished; the next run does it.
    #[error("the sync ran out of this run's time and was left for a retry")]
    OutOfTime,
}

impl InboundError {
    /// True when retrying the same referral cannot succeed: an operator (or a change to the
    /// referral, which brings a new event) must act first. A service that answers 400 (the
    /// request is wrong: a column that does not exist) or 403 (no permission) will answer the
    /// same next time; so will Partner Center refusing a sign-in without MFA; a 404 may be a
    /// referral not yet readable everywhere, so it is retried.
    pub fn is_permanent(&self) -> bool {
        let refused = |status: Option<u16>| matches!(status, Some(400 | 403));
        match self {
            Self::Invalid(_) | Self::Ambiguous(_) | Self::KindChanged { .. } | Self::Mapping(_) => {
                true
            }
            // A sign-in without MFA stays refused until someone runs `cosell login`.
            // So does a referral whose data cannot be read: it is Microsoft's to change.
            Self::Referral(error) => {
                error.is_mfa_required() || error.is_unreadable() || refused(error.status())
            }
            Self::Crm(error) => refused(error.status()),
            _ => false,
        }
    }
}

/// A CRM record that exists for the referral, so the failure can be shown on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub kind: CrmKind,
    pub id: Uuid,
    /// The record's name before marks, when the referral was read.
    pub name: Option<String>,
}

/// A failed sync: the problem, and the record to mark with ✖ when there is one.
#[derive(Debug)]
pub struct Failure {
    pub problem: InboundError,
    pub record: Option<RecordRef>,
}

impl Failure {
    pub(crate) fn new(problem: InboundError, record: Option<RecordRef>) -> Self {
        Self { problem, record }
    }
}

impl From<StoreError> for InboundError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<DataverseError> for InboundError {
    fn from(error: DataverseError) -> Self {
        Self::Crm(error)
    }
}

impl From<cosell_mapping::MappingError> for InboundError {
    fn from(error: cosell_mapping::MappingError) -> Self {
        Self::Mapping(error)
    }
}

impl From<LockError> for InboundError {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Busy => Self::Busy,
            LockError::Store(error) => Self::Store(error),
        }
    }
}

impl crate::record::park::Cause for InboundError {
    fn is_permanent(&self) -> bool {
        InboundError::is_permanent(self)
    }
}

#[cfg(test)]
mod tests {
    use cosell_transport::ApiError;

    use super::*;

    fn refused(status: u16, code: &str, message: &str) -> InboundError {
        InboundError::Referral(cosell_partner_center::Error::from(ApiError::Service {
            service: "partner-center",
            operation: "get referral",
            status,
            code: code.into(),
            message: message.into(),
        }))
    }

    #[test]
    fn a_sign_in_without_mfa_is_permanent_and_a_plain_401_is_not() {
        // Partner Center's published answer: "a 401 response with error code 900421".
        assert!(refused(401, "900421", "").is_permanent());
        assert!(refused(401, "unauthenticated", "MFA is required").is_permanent());
        assert!(!refused(401, "unauthenticated", "token expired").is_permanent());
    }
}
