//! The two services a sync talks to, as small traits. [`Crm`] still speaks Dataverse
//! (`ChangeSet`, `Query`): acceptable while Dataverse is the only CRM, and said here rather than
//! implied otherwise. Production and tests use the same adapters
//! (the real clients, against the real services or the simulator); the traits keep the use cases
//! readable and let another source or CRM be plugged in.

use async_trait::async_trait;
use std::collections::BTreeMap;

use cosell_dataverse::{
    Batch, BatchAnswer, ChangeSet, ChangesPage, DataverseClient, DataverseError, Expand, Filter,
    Key, PartOutcome, Precondition, Query, Record, Row,
};
use cosell_mapping::Referral;
use cosell_mapping::outbound::Expansions;
use cosell_partner_center::{Changes, Listed, PartnerCenter, PatchOp, Resume, Stamp};
use cosell_store::ReferralId;
use time::OffsetDateTime;
use uuid::Uuid;

/// Where referrals are read.
#[async_trait]
pub trait ReferralSource: Send + Sync {
    /// The referral as it is now.
    async fn referral(&self, id: &ReferralId) -> Result<Referral, cosell_partner_center::Error>;
}

#[async_trait]
impl ReferralSource for PartnerCenter {
    async fn referral(&self, id: &ReferralId) -> Result<Referral, cosell_partner_center::Error> {
        let versioned = self.get_referral(id).await?;
        let mut referral = versioned.value;
        if referral.etag.is_none() {
            referral.etag = versioned.etag;
        }
        Ok(referral)
    }
}

/// Referrals listed by when they changed: the reconciliation sweep's source. Still Partner
/// Center's own [`Changes`] pager (acceptable while it is the only source).
#[async_trait]
pub trait ReferralFeed: Send + Sync {
    /// The referrals whose `stamp` is after `after`, page by page under whichever reading the
    /// service honours, or going on from `resume`; each entry read on its own, one that cannot
    /// be read set apart ([`Listed::Unreadable`]).
    fn changes(&self, stamp: Stamp, after: OffsetDateTime, resume: Option<Resume>) -> Changes;

    /// Every referral sent to us and not yet answered (status New, direction Incoming).
    async fn waiting(&self) -> Result<Vec<Listed>, cosell_partner_center::Error>;
}

#[async_trait]
impl ReferralFeed for PartnerCenter {
    fn changes(&self, stamp: Stamp, after: OffsetDateTime, resume: Option<Resume>) -> Changes {
        PartnerCenter::changes(self, stamp, after, resume)
    }

    async fn waiting(&self) -> Result<Vec<Listed>, cosell_partner_center::Error> {
        self.waiting_referrals().await
    }
}

/// Where referrals are created and changed (outbound). Each method is one Partner Center request;
/// the referral comes back with its eTag in [`Referral::etag`]. The feed finds a referral whose
/// `POST` reached the service but whose answer was lost.
#[async_trait]
pub trait Referrals: ReferralSource + ReferralFeed {
    /// `POST`: a new referral (not retried once it may have reached the service).
    async fn create(&self, referral: &Referral) -> Result<Referral, cosell_partner_center::Error>;

    /// JSON Patch of the paths the connector allows, only if the referral is still at
    /// `if_match`; then the referral as it is after it. Two requests: the connector declares a
    /// bare `204`, so the new state and eTag (echo suppression needs both) are read.
    async fn patch(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Referral, cosell_partner_center::Error>;

    /// `PUT` of the whole referral, only if it is still at `if_match`: what cannot be patched
    /// (the name). One request; the answer is the referral.
    async fn replace(
        &self,
        referral: &Referral,
        if_match: &str,
    ) -> Result<Referral, cosell_partner_center::Error>;
}

fn with_etag(versioned: cosell_partner_center::Versioned<Referral>) -> Referral {
    let mut referral = versioned.value;
    if versioned.etag.is_some() {
        referral.etag = versioned.etag;
    }
    referral
}

#[async_trait]
impl Referrals for PartnerCenter {
    async fn create(&self, referral: &Referral) -> Result<Referral, cosell_partner_center::Error> {
        Ok(with_etag(self.create_referral(referral).await?))
    }

    async fn patch(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Referral, cosell_partner_center::Error> {
        self.patch_referral(id, ops, if_match).await?;
        Ok(with_etag(self.get_referral(id).await?))
    }

    async fn replace(
        &self,
        referral: &Referral,
        if_match: &str,
    ) -> Result<Referral, cosell_partner_center::Error> {
        let id = referral.id.as_deref().unwrap_or_default();
        Ok(with_etag(
            self.replace_referral(id, referral, if_match).await?,
        ))
    }
}

/// The CRM: one query, one atomic change set. Each call is one Dataverse request, which is what
/// the request budgets count — except in a bulk group, where a sync's queries and change sets
/// ride the group's `$batch` ([`crate::bulk`]).
#[async_trait]
pub trait Crm: Send + Sync {
    /// The first page of a query (the use cases ask for small, bounded results).
    async fn query(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError>;

    /// Every page of a query (`@odata.nextLink` followed): one request per page.
    async fn query_all(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError>;

    /// Applies every change or none.
    async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError>;

    /// Queries and change sets in one request, each answered on its own ([`crate::bulk`]).
    async fn batch(&self, batch: &Batch) -> Result<BatchAnswer, DataverseError>;

    /// The `429`s met so far, by the limit's code: a bulk run slows down for the one it reached.
    fn throttles(&self) -> BTreeMap<String, u64>;

    /// How long one attempt of a request may take: a bulk batch is sized well within it.
    fn attempt_timeout(&self) -> std::time::Duration;

    /// One row with its related rows (a `$expand`); `None` when it does not exist.
    async fn read_expanded(
        &self,
        set: &str,
        key_column: &str,
        id: Uuid,
        select: &[String],
        related: &Expansions,
    ) -> Result<Option<Record>, DataverseError>;

    /// One row by id, its primary key unnamed (`GET <set>(<id>)?$select=…`); `None` when it
    /// does not exist.
    async fn read_row(
        &self,
        set: &str,
        id: Uuid,
        select: &[&str],
    ) -> Result<Option<Record>, DataverseError>;

    /// `PATCH` of one row.
    async fn update_row(
        &self,
        set: &str,
        id: Uuid,
        row: &Row,
        precondition: Precondition,
    ) -> Result<(), DataverseError>;

    /// The first page of a change-tracking baseline of `set` (`Prefer: odata.track-changes`).
    async fn track_changes(
        &self,
        set: &str,
        select: &[String],
    ) -> Result<ChangesPage, DataverseError>;

    /// The page behind a next link or a delta link; an expired delta link is
    /// [`DataverseError::DeltaLinkExpired`].
    async fn changes_since(&self, link: &str) -> Result<ChangesPage, DataverseError>;
}

#[async_trait]
impl Crm for DataverseClient {
    async fn query(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        Ok(DataverseClient::query(self, set, query).await?.records)
    }

    async fn query_all(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        DataverseClient::query_all(self, set, query).await
    }

    async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError> {
        DataverseClient::execute(self, changes).await
    }

    async fn batch(&self, batch: &Batch) -> Result<BatchAnswer, DataverseError> {
        self.send_batch(batch).await
    }

    fn throttles(&self) -> BTreeMap<String, u64> {
        DataverseClient::throttles(self).counts()
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        DataverseClient::attempt_timeout(self)
    }

    /// A query on the key (the client's single-row read takes no `$expand`): still one request.
    async fn read_expanded(
        &self,
        set: &str,
        key_column: &str,
        id: Uuid,
        select: &[String],
        related: &Expansions,
    ) -> Result<Option<Record>, DataverseError> {
        let mut query = Query::new()
            .select(select.iter().cloned())
            .filter(Filter::eq(key_column, id))
            .top(1);
        for related in &related.0 {
            let expand = Expand::new(&related.relationship).select(related.select.iter().cloned());
            query = query.expand(expand);
        }
        let mut records = DataverseClient::query(self, set, &query).await?.records;
        Ok((!records.is_empty()).then(|| records.swap_remove(0)))
    }

    async fn read_row(
        &self,
        set: &str,
        id: Uuid,
        select: &[&str],
    ) -> Result<Option<Record>, DataverseError> {
        self.read(set, &Key::from(id), select).await
    }

    async fn update_row(
        &self,
        set: &str,
        id: Uuid,
        row: &Row,
        precondition: Precondition,
    ) -> Result<(), DataverseError> {
        self.update(set, &Key::from(id), row, precondition).await?;
        Ok(())
    }

    async fn track_changes(
        &self,
        set: &str,
        select: &[String],
    ) -> Result<ChangesPage, DataverseError> {
        let select: Vec<&str> = select.iter().map(String::as_str).collect();
        self.track_changes_page(set, &select).await
    }

    async fn changes_since(&self, link: &str) -> Result<ChangesPage, DataverseError> {
        self.changes_page(link).await
    }
}
