//! The inbound sync's leases. It starts from a referral id, but a deal's leases are taken
//! opportunity first ([`crate::record`]), so it finds the opportunity (from the link, or from the
//! referral naming it), locks in that order, and checks again what it found.

use cosell_store::{CrmKind, Link, ReferralId};
use cosell_transport::correlation;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::{Failure, Handled, InboundError, InboundSync};
use crate::intent::Intent;
use crate::record::WorkKey;
use crate::record::lock::{DealLock, Taken};

/// How often the link may move under a sync taking its leases before it gives up as busy.
const RELOCKS: usize = 3;

/// What a referral naming one of our opportunities, with no link, syncs against.
pub(super) enum NamedOpportunity {
    /// The opportunity is linked to another referral (co-sell's connected referral for
    /// Microsoft names the same opportunity): nothing to sync.
    LinkedElsewhere { reason: String },
    /// Ours: both leases held, the link read again under them; and the deal the opportunity's
    /// create under way posted, if one is.
    Ours {
        link: Option<Box<Link>>,
        posted: Option<cosell_mapping::deal::DealState>,
    },
}

impl InboundSync {
    /// Syncs one referral as it is now, under its deal's leases. The retry use case calls this
    /// too.
    pub async fn sync_referral(
        &self,
        referral_id: &ReferralId,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        self.sync_under_lock(referral_id, false, now).await
    }

    /// [`Self::sync_referral`], or with `resync` a mapping re-sync (see `Planned::resync`).
    pub(super) async fn sync_under_lock(
        &self,
        referral_id: &ReferralId,
        resync: bool,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let (ttl, wait) = (self.settings.lease_ttl, self.settings.lease_wait);
        let mut lock = DealLock::new(&*self.store, ttl, wait);
        // One correlation id per sync: on its log span and on every Partner Center request.
        let sync_id = Uuid::new_v4().to_string();
        let span = tracing::info_span!("sync", sync_id = %sync_id, referral = %referral_id);
        let synced = self.sync_locked(&mut lock, referral_id, resync, now);
        let result = correlation::scope(sync_id, synced.instrument(span)).await;
        lock.release().await;
        result
    }

    /// Takes the referral's lease and, for a deal linked to an opportunity, the opportunity's
    /// before it; the link as read under them. A linked deal is written by one direction at a
    /// time: without the opportunity's lease, this sync could read the referral before an
    /// outbound update and write the older state over the seller's edit after it (the chaos
    /// suite's lost update). The referral is read after the leases are taken.
    pub(super) async fn lock_linked(
        &self,
        lock: &mut DealLock<'_>,
        referral_id: &ReferralId,
    ) -> Result<Option<Link>, Failure> {
        let store = |e| Failure::new(InboundError::Store(e), None);
        let mut link = self
            .store
            .link_by_referral(referral_id)
            .await
            .map_err(store)?;
        for _ in 0..RELOCKS {
            if let Some(opportunity) = linked_opportunity(link.as_ref()) {
                lock.take(WorkKey::Outbound(opportunity))
                    .await
                    .map_err(locked)?;
            }
            lock.take(WorkKey::inbound(referral_id))
                .await
                .map_err(locked)?;
            // Check again under the leases: the outbound sync that held the deal may have moved
            // its hashes, or a link may have appeared.
            let again = self
                .store
                .link_by_referral(referral_id)
                .await
                .map_err(store)?;
            match linked_opportunity(again.as_ref()) {
                Some(opportunity) if !lock.holds(&WorkKey::Outbound(opportunity)) => link = again,
                _ => return Ok(again),
            }
        }
        Err(Failure::new(InboundError::Busy, None))
    }

    /// A referral naming `opportunity`, with no link: the outbound sync may be creating it right
    /// now, or its create's answer was lost. Takes the opportunity's lease (the referral's is
    /// given up and taken again after it) and reads again under both: a row linked to another
    /// referral is left alone; else the link, and the deal the create's intent posted, if one
    /// is under way. A referral naming the row for another reason (made by Power Automate
    /// before a migration) has no intent, and syncs as any new referral does.
    pub(super) async fn lock_named(
        &self,
        lock: &mut DealLock<'_>,
        referral_id: &ReferralId,
        opportunity: Uuid,
    ) -> Result<NamedOpportunity, Failure> {
        let store = |e| Failure::new(InboundError::Store(e), None);
        let deal = WorkKey::Outbound(opportunity);
        if lock.take(deal.clone()).await.map_err(locked)? == Taken::Retaken {
            tracing::debug!(referral = %referral_id, %opportunity, "leases taken again in the deal order");
        }
        let found = self
            .store
            .link_by_crm(opportunity.into())
            .await
            .map_err(store)?;
        if let Some(other) = found.filter(|other| other.referral_id != *referral_id) {
            let reason = format!(
                "referral {referral_id} names opportunity {opportunity}, which is linked to referral {}",
                other.referral_id
            );
            return Ok(NamedOpportunity::LinkedElsewhere { reason });
        }
        let link = self
            .store
            .link_by_referral(referral_id)
            .await
            .map_err(store)?;
        // A link naming another opportunity appeared while no lease was held: its lease is not
        // ours, so try again later rather than write under the wrong one.
        if linked_opportunity(link.as_ref()).is_some_and(|o| !lock.holds(&WorkKey::Outbound(o))) {
            return Err(Failure::new(InboundError::Busy, None));
        }
        // The create's intent is the retry item named like the opportunity's lease.
        let intent = self
            .store
            .retry(&deal.to_string())
            .await
            .map_err(store)?
            .as_ref()
            .and_then(Intent::of);
        if let Some(intent) = &intent {
            tracing::info!(referral = %referral_id, %opportunity, posted = intent.posted.is_some(), "referral of a create under way; merging against the deal it posted");
        }
        let posted = intent.and_then(|i| i.posted);
        let link = link.map(Box::new);
        Ok(NamedOpportunity::Ours { link, posted })
    }
}

/// The opportunity a link ties its referral to, if any.
fn linked_opportunity(link: Option<&Link>) -> Option<Uuid> {
    link.filter(|l| l.crm_kind == CrmKind::Opportunity)
        .map(|l| l.crm_id.uuid())
}

fn locked(error: crate::record::lock::LockError) -> Failure {
    Failure::new(error.into(), None)
}
