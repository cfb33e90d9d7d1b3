//! The link both directions keep per deal, read and written the one way: the deal both sides
//! last agreed on (typed), whether the record was left closed, and a store write that merges
//! with a concurrent writer once.

use cosell_mapping::deal::DealState;
use cosell_mapping::inbound::{InboundPlan, hash_says_closed};
use cosell_store::{Link, Outcome, StoreError, SyncStore};
use time::OffsetDateTime;

/// What both directions read and write on a [`Link`].
pub trait DealLink {
    /// The deal both sides last agreed on; `None` when none is stored or the stored one does not
    /// read (then every field counts as changed, as with no agreed deal).
    fn agreed(&self) -> Option<DealState>;

    /// Records `deal` as agreed: its JSON, and its hash as `outbound_hash`. Mapped columns `deal`
    /// does not hold keep the values agreed before.
    fn agree(&mut self, deal: &DealState);

    /// Records that the CRM now holds what `plan` writes (`inbound_hash` and the closed flag);
    /// `None` forgets it, so the next inbound sync writes whatever Partner Center holds.
    fn hold_inbound(&mut self, plan: Option<&InboundPlan>);

    /// Whether the CRM already holds what `plan` writes: the rows hash as stored, and no mapped
    /// column moved since the agreed deal (what an inbound sync skips on).
    fn holds(&self, plan: &InboundPlan) -> bool;

    /// Whether the sync that wrote `inbound_hash` left the record closed.
    fn closed(&self) -> bool;

    /// The outcome of the last sync.
    fn outcome(&mut self, ok: bool, message: &str, at: OffsetDateTime);
}

impl DealLink for Link {
    fn agreed(&self) -> Option<DealState> {
        serde_json::from_value(self.deal.clone()?).ok()
    }

    fn agree(&mut self, deal: &DealState) {
        // Each direction agrees on the mapped columns it reads (inbound: those that come in;
        // outbound: those that go out): the others keep their agreed values.
        let mut deal = deal.clone();
        if let Some(before) = self.agreed() {
            let mut mapped = before.mapped;
            mapped.append(&mut deal.mapped);
            deal.mapped = mapped;
            deal.mapping_version = deal.mapping_version.or(before.mapping_version);
        }
        self.outbound_hash = Some(deal.hash());
        self.deal = serde_json::to_value(&deal).ok();
    }

    fn hold_inbound(&mut self, plan: Option<&InboundPlan>) {
        self.inbound_hash = plan.map(|plan| plan.hash.clone());
        self.closed = plan.map(|plan| plan.status.closes());
    }

    fn holds(&self, plan: &InboundPlan) -> bool {
        self.inbound_hash
            .as_deref()
            .is_some_and(|hash| plan.unchanged_since(hash, self.agreed().as_ref()))
    }

    fn closed(&self) -> bool {
        // A link stored before the flag was kept: its hash's tag says it.
        self.closed
            .unwrap_or_else(|| self.inbound_hash.as_deref().is_some_and(hash_says_closed))
    }

    fn outcome(&mut self, ok: bool, message: &str, at: OffsetDateTime) {
        self.last_outcome = Some(Outcome {
            ok,
            message: message.to_owned(),
            at,
        });
    }
}

/// Stores `next`; when a concurrent writer of the other direction stored the link meanwhile, it
/// is written once more over that version: this write is the newer word on the deal.
pub(crate) async fn put_link(store: &dyn SyncStore, next: Link) -> Result<Link, StoreError> {
    match store.put_link(&next).await {
        Err(StoreError::Conflict { .. }) => {
            let current = store.link_by_referral(&next.referral_id).await?;
            let version = current.map_or(0, |c| c.version);
            store.put_link(&Link { version, ..next }).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use cosell_store::CrmKind;

    use super::*;

    #[test]
    fn a_link_without_the_flag_reads_closed_from_its_hash_tag() {
        let mut link = Link::new(
            cosell_testkit::rid("r"),
            CrmKind::Opportunity,
            uuid::Uuid::nil(),
        );
        assert!(!link.closed());
        link.inbound_hash = Some("won:abc".into());
        assert!(link.closed());
        link.inbound_hash = Some("open:abc".into());
        assert!(!link.closed());
        link.closed = Some(true);
        assert!(link.closed());
    }

    #[test]
    fn an_agreed_deal_reads_back_and_a_bad_one_reads_as_none() {
        let mut link = Link::new(
            cosell_testkit::rid("r"),
            CrmKind::Opportunity,
            uuid::Uuid::nil(),
        );
        let deal = DealState {
            name: Some("Contoso".into()),
            ..DealState::default()
        };
        link.agree(&deal);
        assert_eq!(link.agreed(), Some(deal.clone()));
        assert_eq!(link.outbound_hash, Some(deal.hash()));
        link.deal = Some(serde_json::json!({"name": 3}));
        assert_eq!(link.agreed(), None);
    }
}
