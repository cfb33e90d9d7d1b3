//! The two services a sync talks to, as small traits. Production and tests use the same adapters
//! (the real clients, against the real services or the simulator); the traits keep the use cases
//! readable and let another source or CRM be plugged in.

use async_trait::async_trait;
use cosell_dataverse::{ChangeSet, DataverseClient, DataverseError, PartOutcome, Query, Record};
use cosell_mapping::Referral;
use cosell_partner_center::PartnerCenter;

/// Where referrals are read.
#[async_trait]
pub trait ReferralSource: Send + Sync {
    /// The referral as it is now.
    async fn referral(&self, id: &str) -> Result<Referral, cosell_partner_center::Error>;
}

#[async_trait]
impl ReferralSource for PartnerCenter {
    async fn referral(&self, id: &str) -> Result<Referral, cosell_partner_center::Error> {
        let versioned = self.get_referral(id).await?;
        let mut referral = versioned.value;
        if referral.etag.is_none() {
            referral.etag = versioned.etag;
        }
        Ok(referral)
    }
}

/// The CRM: one query, one atomic change set. Each call is one Dataverse request, which is what
/// the request budgets count.
#[async_trait]
pub trait Crm: Send + Sync {
    /// The first page of a query (the use cases ask for small, bounded results).
    async fn query(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError>;

    /// Applies every change or none.
    async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError>;
}

#[async_trait]
impl Crm for DataverseClient {
    async fn query(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        Ok(DataverseClient::query(self, set, query).await?.records)
    }

    async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError> {
        DataverseClient::execute(self, changes).await
    }
}
