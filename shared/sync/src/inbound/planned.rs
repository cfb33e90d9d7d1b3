//! [`Planned`]: a referral read and planned under its leases — what the write and the link
//! that records it are made from.

use cosell_mapping::Referral;
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound::{InboundPlan, RecordPlan};
use cosell_store::{CrmKind, Link, ReferralId};

use super::{Failure, InboundError, RecordRef};
use crate::link::DealLink;

/// A referral read and planned under its leases.
pub(super) struct Planned {
    pub referral_id: ReferralId,
    pub link: Option<Link>,
    pub referral: Referral,
    pub plan: InboundPlan,
    /// Without a link, the deal a create under way wrote — an outbound create's `POST`, or an
    /// inbound create's change set ([`Planned::creating`]): what both sides last agreed on.
    pub posted: Option<DealState>,
    /// Without a link, an inbound create of ours began earlier and may have written the record
    /// before it could store the link (its process died, or its time ran out): the record at
    /// the plan's id is updated against `posted`, if it is there.
    pub creating: bool,
    /// A mapping re-sync (`cosell backfill --mapped`): a mapped column the link never agreed on
    /// counts as empty in the CRM, so the referral's value is written.
    pub resync: bool,
}

impl Planned {
    pub fn kind(&self) -> CrmKind {
        match self.plan.record {
            RecordPlan::Opportunity { .. } => CrmKind::Opportunity,
            RecordPlan::Lead { .. } => CrmKind::Lead,
        }
    }

    /// The record the link ties the referral to, named as the plan names it (for ✖ on failure).
    pub fn record(&self) -> Option<RecordRef> {
        let link = self.link.as_ref()?;
        Some(RecordRef {
            kind: link.crm_kind,
            id: link.crm_id.uuid(),
            name: Some(self.plan.name.clone()),
        })
    }

    /// The deal both sides last agreed on: the link's, or without a link the one an outbound
    /// create posted; for a re-sync, with every mapped column it lacks as empty.
    pub fn agreed(&self) -> Option<DealState> {
        let mut agreed = match &self.link {
            Some(link) => link.agreed(),
            None => self.posted.clone(),
        }?;
        if self.resync {
            for column in self.plan.deal.mapped.keys() {
                agreed.mapped.entry(column.clone()).or_default();
            }
        }
        Some(agreed)
    }

    /// When the deal's mapped fields were last agreed under a newer mapping than this process
    /// runs (a push not yet deployed everywhere), leaves them to the newer process: this sync
    /// neither writes nor agrees them.
    pub fn defer_mapped_to_newer(&mut self, running: u64) {
        let Some(agreed) = self.link.as_ref().and_then(|link| link.agreed()) else {
            return;
        };
        if agreed.mapping_version.is_none_or(|newer| newer <= running) {
            return;
        }
        tracing::info!(
            referral = %self.referral_id,
            agreed = agreed.mapping_version,
            running,
            "mapped fields agreed under a newer mapping; left to it"
        );
        self.plan.deal.mapped = agreed.mapped;
        self.plan.deal.mapping_version = agreed.mapping_version;
        if let RecordPlan::Lead { row } = &mut self.plan.record {
            row.mapped.clear();
        }
    }

    pub fn fail(&self, problem: impl Into<InboundError>) -> Failure {
        Failure::new(problem.into(), self.record())
    }
}
