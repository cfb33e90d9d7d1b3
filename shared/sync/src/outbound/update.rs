//! A linked opportunity: one JSON Patch against the stored eTag (or a `PUT` of the whole referral
//! for what the connector cannot patch); a 412 reads the referral and plans again on top of it.

use cosell_mapping::audit;
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound;
use cosell_mapping::outbound::{InvalidOpportunity, UpdatePlan, plan_update};
use cosell_mapping::{Opportunity, Referral};
use cosell_partner_center::patchable;
use cosell_store::Link;
use cosell_store::ReferralId;
use time::OffsetDateTime;

use super::{Failure, OutboundError, OutboundSync, Read, Synced, assumed};
use crate::link::{DealLink, put_link};
use crate::record::WorkKey;
use crate::record::lock::DealLock;

/// Where the sending loop stands.
struct Attempt {
    /// The referral planned against (assumed from the agreed deal, or read).
    current: Referral,
    etag: Option<String>,
    /// `current` was read, not assumed: it can show Microsoft's changes.
    fresh: bool,
    /// 412s met so far.
    conflicts: u32,
    /// A `PUT` Partner Center refused: the paths only it carries, dropped, and why.
    put_refused: Option<(Vec<String>, String)>,
}

impl Attempt {
    /// What a refused write leaves to do: read the referral again and plan on top of it
    /// (`Ok(true)`: the first 412), plan again without what only a `PUT` carries (`Ok(false)`: a
    /// refused `PUT` never blocks what a PATCH can carry), or give up.
    fn refused(
        &mut self,
        error: cosell_partner_center::Error,
        whole: bool,
        referral_id: &ReferralId,
    ) -> Result<bool, OutboundError> {
        if error.is_precondition_failed() {
            if self.conflicts > 0 {
                return Err(OutboundError::Conflict);
            }
            self.conflicts += 1;
            tracing::info!(referral = %referral_id, "referral changed meanwhile (412); merging");
            return Ok(true);
        }
        if whole && error.is_refused() && self.put_refused.is_none() {
            let message = error.message().unwrap_or("no reason given").to_owned();
            tracing::info!(referral = %referral_id, %error, "replace refused; patching what can be");
            self.put_refused = Some((Vec::new(), message));
            return Ok(false);
        }
        Err(OutboundError::Referral(error))
    }
}

/// What the sending loop ended with.
struct Sent {
    plan: UpdatePlan,
    /// Partner Center's referral after the write; `None` when nothing needed sending.
    answered: Option<Referral>,
    attempt: Attempt,
}

impl OutboundSync {
    /// [`Self::update`] holding the referral's lease too (`inbound:<referral id>`): the webhook
    /// our patch fires is handled only once the link says what we sent, so it writes nothing
    /// back.
    pub(super) async fn update_locked(
        &self,
        lock: &mut DealLock<'_>,
        read: &Read,
        link: Link,
        earlier: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        // After the opportunity's, in the deal order: this never gives up the one held.
        lock.take(WorkKey::inbound(&link.referral_id))
            .await
            .map_err(|e| read.fail(e))?;
        // Read the link again under the lease: an inbound write just before may have moved it.
        let link = match self.store.link_by_referral(&link.referral_id).await {
            Ok(Some(current)) if current.crm_id == link.crm_id => current,
            Ok(_) => link,
            Err(e) => return Err(read.fail(e)),
        };
        if read.agrees_with(&link) {
            return Ok(Synced::Unchanged);
        }
        let agreed = link.agreed();
        let sent = match self.send(read, &link, agreed.as_ref()).await? {
            Ok(sent) => sent,
            Err(invalid) => return self.reject(read, Some(link), earlier, &invalid, now).await,
        };
        self.record_update(read, link, earlier, sent, now).await
    }

    /// Plans against the referral as last agreed (or as read) and sends, once more after a 412
    /// or a refused `PUT`; `Err(invalid)` when the row cannot be sent at all.
    async fn send(
        &self,
        read: &Read,
        link: &Link,
        agreed: Option<&DealState>,
    ) -> Result<Result<Sent, InvalidOpportunity>, Failure> {
        let referral_id = &link.referral_id;
        let mut at = self.first_attempt(read, link, agreed).await?;
        // Read the referral as it is now, and plan again on top of it; once asked for, every
        // way round the loop reads again.
        let mut reread = false;
        loop {
            if reread {
                at.current = self.read_referral(read, referral_id).await?;
                at.etag = at.current.etag.clone();
                at.fresh = true;
            }
            let plan = match self.plan_on(read, &mut at, agreed) {
                Ok(plan) => plan,
                Err(invalid) => return Ok(Err(invalid)),
            };
            if plan.changes.is_empty() {
                let (answered, attempt) = (None, at);
                return Ok(Ok(Sent {
                    plan,
                    answered,
                    attempt,
                }));
            }
            // What the connector cannot patch (the name, a parent object the referral lacks)
            // goes by `PUT` of the whole referral, built from the referral as it is now: never
            // from the assumed one, which lacks the customer, team and target.
            let whole = plan.changes.iter().any(|c| !patchable(&c.path));
            if whole && !at.fresh {
                reread = true;
                continue;
            }
            let etag = at.etag.as_deref();
            match self
                .write_referral(read, &plan, &at.current, etag, whole)
                .await?
            {
                Ok(answered) => {
                    let (answered, attempt) = (Some(answered), at);
                    return Ok(Ok(Sent {
                        plan,
                        answered,
                        attempt,
                    }));
                }
                Err(error) => {
                    let again = at
                        .refused(error, whole, referral_id)
                        .map_err(|e| read.fail(e))?;
                    reread |= again;
                }
            }
        }
    }

    /// The first attempt's referral: with a stored eTag and agreed state, assumed from them (no
    /// read: the patch is conditional on exactly the state we know); otherwise (an adopted
    /// link) read.
    async fn first_attempt(
        &self,
        read: &Read,
        link: &Link,
        agreed: Option<&DealState>,
    ) -> Result<Attempt, Failure> {
        let referral_id = &link.referral_id;
        let (current, fresh) = match (&link.referral_etag, agreed) {
            (Some(etag), Some(agreed)) => (assumed::referral(referral_id, agreed, etag), false),
            _ => (self.read_referral(read, referral_id).await?, true),
        };
        Ok(Attempt {
            etag: current.etag.clone(),
            current,
            fresh,
            conflicts: 0,
            put_refused: None,
        })
    }

    /// The plan against the attempt's referral; after a refused `PUT`, only what a patch can
    /// carry (the rest noted as dropped).
    fn plan_on(
        &self,
        read: &Read,
        at: &mut Attempt,
        agreed: Option<&DealState>,
    ) -> Result<UpdatePlan, InvalidOpportunity> {
        let mut plan = plan_update(&read.input, &at.current, agreed, &self.config)?;
        if let Some((dropped, _)) = &mut at.put_refused {
            let (patchable_part, unpatchable) = plan.without(&at.current, patchable);
            plan = patchable_part;
            *dropped = unpatchable;
        }
        Ok(plan)
    }

    /// One write of the plan: a JSON Patch, or a `PUT` of `current` with the plan applied.
    /// `Ok(Err(error))` is Partner Center's refusal, for the loop to decide on.
    async fn write_referral(
        &self,
        read: &Read,
        plan: &UpdatePlan,
        current: &Referral,
        etag: Option<&str>,
        whole: bool,
    ) -> Result<Result<Referral, cosell_partner_center::Error>, Failure> {
        let sent = if whole {
            let next = plan
                .apply_to(current)
                .map_err(|e| read.fail(OutboundError::Mapping(e)))?;
            // `*` only if the read gave no eTag: PUT is conditional on the version read.
            self.referrals.replace(&next, etag.unwrap_or("*")).await
        } else {
            let id = current.id.as_deref().unwrap_or_default();
            self.referrals.patch(id, &plan.changes, etag).await
        };
        Ok(sent)
    }

    async fn read_referral(
        &self,
        read: &Read,
        referral_id: &ReferralId,
    ) -> Result<Referral, Failure> {
        self.referrals
            .referral(referral_id)
            .await
            .map_err(|e| read.fail(OutboundError::Referral(e)))
    }

    /// The outcome on the row (✔ or ✖ and the Audit lines), a dead item for what Partner Center
    /// refused, and the link.
    async fn record_update(
        &self,
        read: &Read,
        link: Link,
        earlier: Vec<String>,
        sent: Sent,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let referral_id = link.referral_id.clone();
        let plan = &sent.plan;
        // What Partner Center refused stays as it holds it, in the agreed deal too: neither side
        // writes it over the other, and a dead item keeps the row until the seller's next edit.
        let put_refused = sent.attempt.put_refused.as_ref();
        let dropped = put_refused.map_or(&[][..], |(d, _)| d.as_slice());
        let refused_line = refused_line(put_refused);
        let agreed = agreed_after(read, &sent.attempt.current, dropped);
        let lines = update_lines(&referral_id, plan, refused_line.as_ref());
        let log = lines.iter().fold(earlier, |log, line| {
            audit::prepend(audit::line(now, line), &log)
        });
        if !lines.is_empty() {
            let row = Opportunity {
                name: self.marked(read.name(), refused_line.is_none()),
                audit: Some(audit::render(&log)),
                ..Opportunity::default()
            };
            self.write_back(read, row).await?;
        }
        let parked = match &refused_line {
            Some(line) => Some(self.park_until_edited(read, &log, line, now).await?),
            None => None,
        };
        let mut next = self.updated_link(link, &sent, &agreed);
        next.audit = log;
        let message = lines
            .first()
            .cloned()
            .unwrap_or_else(|| format!("Referral {referral_id} already up to date"));
        next.outcome(true, &message, now);
        put_link(&*self.store, next)
            .await
            .map_err(|e| read.fail(e))?;
        // The seller's accept or decline went out: the echo webhook writes nothing, so the
        // waiting referral's task is closed here.
        if let Some(answered) = &sent.answered {
            self.respond.settle(&referral_id, answered, now).await;
        }
        let refused = plan.refusals.len() + dropped.len();
        let (changes, conflicts) = (plan.changes.len(), sent.attempt.conflicts);
        tracing::info!(opportunity = %read.id, referral = %referral_id, changes, refused, conflicts, "referral updated");
        Ok(Synced::Updated {
            referral_id,
            changes,
            refused,
            conflicts,
            parked,
        })
    }

    /// The link after an update: what was agreed, and Partner Center's state when it holds no
    /// more than the CRM.
    fn updated_link(&self, link: Link, sent: &Sent, agreed: &DealState) -> Link {
        let plan = &sent.plan;
        // Partner Center holds more than the CRM (Microsoft's change kept after a 412 or since an
        // adopted referral was posted, a refused change): leave `inbound_hash`, so the webhook
        // of this write (or the sweep) brings it into the CRM. Only a referral read, not the one
        // assumed from the agreed deal, can show Microsoft's changes.
        let partner_center_has_more = sent.attempt.conflicts > 0
            || !plan.refusals.is_empty()
            || (sent.attempt.fresh && plan.deal.hash() != agreed.hash());
        let mut next = link;
        match &sent.answered {
            Some(answered) => {
                if !partner_center_has_more {
                    next.hold_inbound(inbound::plan(answered, &self.config).ok().as_ref());
                }
                next.referral_etag = answered.etag.clone().or(next.referral_etag);
            }
            // Nothing sent: the eTag is the one planned against (stored, or just read).
            None => next.referral_etag = sent.attempt.etag.clone().or(next.referral_etag),
        }
        // Remember the CRM's state as sent, not `plan.deal` (Partner Center's merged state): where
        // Partner Center keeps more (a refused un-share, Microsoft's change kept after a 412), the
        // CRM row still differs from it, and must not read as a new seller change next poll. The
        // inbound sync brings Partner Center's state in and records it as agreed. A field Partner
        // Center refused is agreed as it holds it, so the next poll meets the dead item and waits.
        next.agree(agreed);
        next
    }
}

/// The Audit lines of an update: what was sent, and each refusal.
fn update_lines(
    referral_id: &ReferralId,
    plan: &UpdatePlan,
    refused_line: Option<&String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    if !plan.changes.is_empty() {
        let sent: Vec<&str> = plan.changes.iter().map(|c| c.path.as_str()).collect();
        lines.push(format!(
            "✔ Updated Partner Center referral {referral_id}: {}",
            sent.join(", ")
        ));
    }
    for refusal in &plan.refusals {
        lines.push(format!("✖ Not sent to Partner Center: {refusal}"));
    }
    lines.extend(refused_line.cloned());
    lines
}

/// The Audit line for what a refused `PUT` left unsent, if it left anything.
fn refused_line(put_refused: Option<&(Vec<String>, String)>) -> Option<String> {
    let (dropped, message) = put_refused.filter(|(dropped, _)| !dropped.is_empty())?;
    let fields: Vec<&str> = dropped.iter().map(|p| field_named(p)).collect();
    Some(format!(
        "✖ Not sent to Partner Center: {}; Partner Center refused the change: \
         {message} (edit the opportunity to try again)",
        fields.join(", ")
    ))
}

/// The CRM's words for what a referral path carries, for Audit.
fn field_named(path: &str) -> &str {
    match path {
        "/name" => "the name",
        "/details" => "the deal value, currency, close date and notes",
        "/consent" => "Referral Visibility",
        other => other,
    }
}

/// The deal agreed after an update: the CRM's as sent, but what Partner Center refused stays as
/// it holds it — neither side writes it over the other, and a dead item keeps the row until the
/// seller's next edit.
fn agreed_after(read: &Read, held: &Referral, dropped: &[String]) -> DealState {
    let mut agreed = read.deal.clone();
    let held = DealState::from_referral(held);
    for path in dropped {
        agreed.keep_from(path, &held);
    }
    agreed
}
