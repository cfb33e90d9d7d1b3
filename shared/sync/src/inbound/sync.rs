//! One referral's sync under its leases, top to bottom: load (link, referral, plan) → skip when
//! nothing changed → write the record → record the link.

use std::ops::ControlFlow;

use cosell_mapping::deal::DealStatus;
use cosell_mapping::inbound;
use cosell_mapping::{Direction, Referral, Status, Substatus};
use cosell_store::{CrmKind, Link, ReferralId};
use time::OffsetDateTime;

use super::locks::NamedOpportunity;
use super::planned::Planned;
use super::write::RecordWritten;
use super::{Failure, Handled, InboundError, InboundSync, RecordRef};
use crate::alerts::{Alert, Event};
use crate::intent::Intent;
use crate::link::{DealLink, put_link};
use crate::record::WorkKey;
use crate::record::lock::DealLock;

impl InboundSync {
    pub(super) async fn sync_locked(
        &self,
        lock: &mut DealLock<'_>,
        referral_id: &ReferralId,
        resync: bool,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let link = self.lock_linked(lock, referral_id).await?;
        let mut planned = match self.load(lock, referral_id, link).await? {
            ControlFlow::Continue(planned) => Planned { resync, ..planned },
            ControlFlow::Break(handled) => return Ok(handled),
        };
        planned.defer_mapped_to_newer(self.config.mapping.version);
        if let Some(handled) = skip(&planned) {
            return Ok(handled);
        }
        let written = self.write(&planned, now).await?;
        let referral = planned.referral.clone();
        let before = planned.agreed().and_then(|deal| deal.status);
        let handled = self.record_link(planned, written, now).await?;
        self.after_write(&handled, &referral, before, now).await;
        Ok(handled)
    }

    /// What follows a write, best effort: a waiting referral's task closed once it is
    /// answered, and the alerts of a new referral from Microsoft or its answer to ours.
    async fn after_write(
        &self,
        handled: &Handled,
        referral: &Referral,
        before: Option<DealStatus>,
        now: OffsetDateTime,
    ) {
        let Handled::Synced {
            referral_id,
            kind,
            crm_id,
            created,
            ..
        } = handled
        else {
            return;
        };
        if !created {
            self.respond.settle(referral_id, referral, now).await;
        }
        let incoming = referral.direction.as_ref() == Some(&Direction::Incoming);
        let (status, substatus) = referral.state();
        let event = match (incoming, *created, before, status, substatus) {
            // A referral waiting for an answer, not one a backfill brings in already worked.
            (true, true, _, Status::New, _) => Event::New,
            (false, false, Some(DealStatus::OnHold), Status::Active, _) => Event::Accepted,
            (
                false,
                false,
                Some(DealStatus::OnHold | DealStatus::InProgress),
                Status::Closed,
                Substatus::Declined,
            ) => Event::Declined,
            _ => return,
        };
        let alert = Alert {
            deal: referral.name.clone(),
            referral_id: Some(referral_id.to_string()),
            record: Some((*kind, *crm_id)),
            days_left: cosell_mapping::respond::waiting(referral).map(|at| (at - now).whole_days()),
            ..Alert::new(event, referral_id.clone())
        };
        self.alerts.raise(alert, now).await;
    }

    /// The referral and its plan; a referral naming one of our opportunities with no link is
    /// planned under that opportunity's lease too (or `Break(handled)` when it is not ours to sync).
    async fn load(
        &self,
        lock: &mut DealLock<'_>,
        referral_id: &ReferralId,
        link: Option<Link>,
    ) -> Result<ControlFlow<Handled, Planned>, Failure> {
        let mut planned = match self.read_and_plan(referral_id, link).await? {
            ControlFlow::Continue(planned) => planned,
            ControlFlow::Break(handled) => return Ok(ControlFlow::Break(handled)),
        };
        let Some(opportunity) = planned.plan.external_record.filter(|o| {
            planned.link.is_none()
                && planned.kind() == CrmKind::Opportunity
                && !lock.holds(&WorkKey::Outbound(*o))
        }) else {
            return Ok(ControlFlow::Continue(
                self.with_create_intent(planned).await?,
            ));
        };
        match self.lock_named(lock, referral_id, opportunity).await? {
            NamedOpportunity::LinkedElsewhere { reason } => {
                tracing::info!(%reason, "webhook event ignored");
                Ok(ControlFlow::Break(Handled::Ignored { reason }))
            }
            // A link appeared while the leases were taken again (a create finished and sent
            // meanwhile): the referral is read again.
            NamedOpportunity::Ours {
                link: Some(link), ..
            } => self.read_and_plan(referral_id, Some(*link)).await,
            // Read before the opportunity's lease was taken, the referral is still current:
            // only a linked opportunity is updated outbound.
            NamedOpportunity::Ours { link: None, posted } => {
                planned.posted = posted;
                Ok(ControlFlow::Continue(planned))
            }
        }
    }

    /// The referral and its plan, or `Break(Ignored)` when the mapping leaves its kind out.
    async fn read_and_plan(
        &self,
        referral_id: &ReferralId,
        link: Option<Link>,
    ) -> Result<ControlFlow<Handled, Planned>, Failure> {
        let linked = link.as_ref().map(|l| RecordRef {
            kind: l.crm_kind,
            id: l.crm_id.uuid(),
            name: None,
        });
        let referral = self
            .referrals
            .referral(referral_id)
            .await
            .map_err(|e| Failure::new(InboundError::Referral(e), linked.clone()))?;
        if let Some(reason) = inbound::left_out(&referral, &self.config) {
            tracing::info!(referral = %referral_id, %reason, "referral left out");
            return Ok(ControlFlow::Break(Handled::Ignored { reason }));
        }
        let plan = inbound::plan(&referral, &self.config)
            .map_err(|e| Failure::new(InboundError::Invalid(e), linked))?;
        Ok(ControlFlow::Continue(Planned {
            referral_id: referral_id.clone(),
            link,
            referral,
            plan,
            posted: None,
            creating: false,
            resync: false,
        }))
    }

    /// Without a link: the intent an earlier create of ours left on the referral's retry item
    /// ([`super::write`]), holding the deal its change set wrote. With it, the record that
    /// change set may have made is updated against that deal, so a seller's edit made since
    /// stays and Microsoft's since is written.
    async fn with_create_intent(&self, mut planned: Planned) -> Result<Planned, Failure> {
        if planned.link.is_some() || planned.posted.is_some() {
            return Ok(planned);
        }
        let key = WorkKey::inbound(&planned.referral_id).to_string();
        let item = self.store.retry(&key).await;
        let item = item.map_err(|e| planned.fail(InboundError::Store(e)))?;
        if let Some(posted) = item.as_ref().and_then(Intent::of).and_then(|i| i.posted) {
            tracing::info!(referral = %planned.referral_id, "an earlier create may have written the record; merging against the deal it wrote");
            planned.posted = Some(posted);
            planned.creating = true;
        }
        Ok(planned)
    }

    /// Stores the link: the CRM now states the referral's deal, so both sides agree on it and
    /// the outbound change feed sees this write as already sent (no ping-pong).
    async fn record_link(
        &self,
        planned: Planned,
        written: RecordWritten,
        now: OffsetDateTime,
    ) -> Result<Handled, Failure> {
        let kind = planned.kind();
        let Planned {
            referral_id,
            link,
            referral,
            plan,
            ..
        } = planned;
        let created = written.created;
        let mut next = link.unwrap_or_else(|| Link::new(referral_id.clone(), kind, written.id));
        next.crm_id = written.id.into();
        next.hold_inbound(Some(&plan));
        next.agree(&plan.deal);
        next.referral_etag = referral.etag.clone();
        next.crm_etag = written.etag.clone();
        next.audit = written.audit;
        next.outcome(true, &written.message, now);
        let record = RecordRef {
            kind,
            id: written.id,
            name: Some(plan.name.clone()),
        };
        put_link(&*self.store, next)
            .await
            .map_err(|e| Failure::new(e.into(), Some(record)))?;
        tracing::info!(referral = %referral_id, crm_id = %written.id, created, "referral synced");
        Ok(Handled::Synced {
            referral_id,
            kind,
            crm_id: written.id,
            created,
            message: written.message,
        })
    }
}

/// Nothing to write: the referral equals what was last written, or an earlier sync closed the
/// record (a closed opportunity is not edited).
fn skip(planned: &Planned) -> Option<Handled> {
    let link = planned.link.as_ref()?;
    let referral_id = planned.referral_id.clone();
    let hash = link.inbound_hash.as_ref()?;
    if planned
        .plan
        .unchanged_since(hash, planned.agreed().as_ref())
    {
        tracing::info!(referral = %referral_id, "referral unchanged; nothing written");
        return Some(Handled::Unchanged { referral_id });
    }
    if link.closed() {
        tracing::info!(referral = %referral_id, "record closed by an earlier sync; not edited");
        let crm_id = link.crm_id.uuid();
        return Some(Handled::AlreadyClosed {
            referral_id,
            crm_id,
        });
    }
    None
}
