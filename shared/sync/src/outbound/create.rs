//! An opportunity with no referral: validate, `POST` (twice for co-sell), link, write back once.
//!
//! A `POST` that reached Partner Center but whose link was never stored (a crash, a store error,
//! an answer lost on the way back) must not become a second referral: the intent is stored first
//! (a retry item due once the record lease has expired, so a crash is redone, holding the deal
//! the `POST` carries), and a later attempt after such an intent looks for the referral it may
//! have created — `externalReferenceId` is the opportunity's id — before posting again. An
//! adopted referral is merged three ways against the deal as posted (see [`crate::intent`]):
//! the seller's changes since are sent at once.

use cosell_mapping::Referral;
use cosell_mapping::audit;
use cosell_mapping::category::MICROSOFT_ORGANIZATION_ID;
use cosell_mapping::deal::DealState;
use cosell_mapping::inbound;
use cosell_mapping::outbound::{
    CreatePlan, DealKind, microsoft_referral, missing_services, plan_create,
};
use cosell_partner_center::Stamp;
use cosell_store::{CrmKind, Link, ReferralId, RetryItem, RetryState};
use time::OffsetDateTime;

use super::write_back::created_row;
use super::{Failure, OutboundError, OutboundSync, OutboundWork, Read, Synced};
use crate::intent::Intent;
use crate::link::{DealLink, put_link};
use crate::record::WorkKey;
use crate::record::lock::DealLock;

/// How far Partner Center's clock may be behind ours when looking for a referral an earlier
/// attempt created.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The referral the partner's `POST` made (or an earlier attempt's, adopted), and co-sell's
/// connected one for Microsoft.
struct Made {
    referral: Referral,
    referral_id: ReferralId,
    adopted: bool,
    connected: Option<String>,
    connect_error: Option<cosell_partner_center::Error>,
}

impl Made {
    /// Whether the create went through whole, and the Audit line saying so.
    fn told(&self, kind: &str) -> (bool, String) {
        let referral_id = &self.referral_id;
        match (&self.connect_error, &self.connected) {
            (Some(error), _) => (
                false,
                format!(
                    "✖ Created {kind} referral {referral_id} in Partner Center, but the connected referral for Microsoft failed: {error}"
                ),
            ),
            (None, Some(microsoft)) => (
                true,
                format!(
                    "✔ Created {kind} referral {referral_id} in Partner Center, with the connected referral {microsoft} for Microsoft"
                ),
            ),
            (None, None) => (
                true,
                format!("✔ Created {kind} referral {referral_id} in Partner Center"),
            ),
        }
    }
}

impl OutboundSync {
    pub(super) async fn create(
        &self,
        lock: &mut DealLock<'_>,
        read: &Read,
        earlier: Vec<String>,
        retry: Option<&RetryItem>,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let input = self
            .countries
            .resolve(&*self.crm, &self.config, &read.input)
            .await
            .map_err(|e| Failure::new(OutboundError::Read(e)))?;
        let plan = match plan_create(&input, &self.config) {
            Ok(plan) => plan,
            Err(invalid) => return self.reject(read, None, earlier, &invalid, now).await,
        };
        let intent = retry.and_then(Intent::of);
        let attempts = retry.map_or(0, |item| item.attempts);
        let made = self
            .post(lock, read, &plan, intent.as_ref(), attempts, &earlier, now)
            .await?;
        let kind = kind_name(plan.kind);
        let (ok, message) = made.told(kind);
        // The link first: once it is stored, no later run creates a second referral for this
        // opportunity, even if the write-back below is lost (see `finish_create`).
        let mut link = self.created_link(read, &made, intent.and_then(|i| i.posted));
        link.audit = audit::prepend(audit::line(now, &message), &earlier);
        link.outcome(ok, &message, now);
        let link = self.keep_created(read, link).await?;
        self.write_back(read, created_row(&link, self.marked(read.name(), ok)))
            .await?;
        if let Some(error) = made.connect_error {
            return self
                .park_half_created(read, made.referral_id, error, now)
                .await;
        }
        if made.adopted && link.outbound_hash.as_deref() != Some(read.hash.as_str()) {
            tracing::info!(opportunity = %read.id, referral = %made.referral_id, "edited since the adopted referral was posted; updating it");
            let earlier = link.audit.clone();
            return self.update_locked(lock, read, link, earlier, now).await;
        }
        tracing::info!(opportunity = %read.id, referral = %made.referral_id, kind, "referral created");
        Ok(Synced::Created {
            referral_id: made.referral_id,
            kind: plan.kind,
            connected: made.connected,
        })
    }

    /// Stores a created referral's link, then drops the create's intent (harmless if that
    /// fails: the redo finds the link and only finishes the write-back).
    async fn keep_created(&self, read: &Read, link: Link) -> Result<Link, Failure> {
        let link = put_link(&*self.store, link)
            .await
            .map_err(|e| read.fail(e))?;
        let intent = WorkKey::Outbound(read.id).to_string();
        if let Err(error) = self.store.delete_retry(&intent).await {
            tracing::warn!(%error, opportunity = %read.id, "create intent not removed");
        }
        Ok(link)
    }

    /// The referrals of this create: those an earlier attempt made, adopted, or `POST`ed now
    /// (the intent stored first), then co-sell's connected one for Microsoft.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        lock: &DealLock<'_>,
        read: &Read,
        plan: &CreatePlan,
        intent: Option<&Intent>,
        attempts: u32,
        earlier: &[String],
        now: OffsetDateTime,
    ) -> Result<Made, Failure> {
        // After an intent, first look for the referral an earlier `POST` may have made. The
        // intent stays as it is until a `POST` is sent: it names the deal that one carried.
        let (earlier_partner, earlier_microsoft) = match intent {
            Some(intent) => self.created_since(read, intent.since).await?,
            None => (None, None),
        };
        // The reads (and the listing) before may have outlasted the lease, and a redo of this
        // opportunity may have taken it over: renew it, or leave the create to that one.
        lock.renew().await.map_err(|e| read.fail(e))?;
        let adopted = earlier_partner.is_some();
        let referral = match earlier_partner {
            Some(referral) => {
                tracing::info!(opportunity = %read.id, referral = ?referral.id, "referral created by an earlier attempt adopted");
                referral
            }
            None => {
                self.post_partner(read, plan, intent, attempts, earlier, now)
                    .await?
            }
        };
        let referral_id = match referral.id.as_deref() {
            None | Some("") => return Err(read.fail(OutboundError::NoReferralId)),
            Some(id) => ReferralId::new(id).map_err(|e| read.fail(e))?,
        };
        let (connected, connect_error) = match earlier_microsoft {
            Some(microsoft) if plan.kind == DealKind::CoSell => (microsoft.id, None),
            _ => self.connect(&referral, plan).await,
        };
        Ok(Made {
            referral,
            referral_id,
            adopted,
            connected,
            connect_error,
        })
    }

    /// The partner's referral `POST`ed, its intent stored first: a crash after the `POST` is
    /// found again by the intent's time ([`Self::created_since`]) rather than posted twice.
    async fn post_partner(
        &self,
        read: &Read,
        plan: &CreatePlan,
        intent: Option<&Intent>,
        attempts: u32,
        earlier: &[String],
        now: OffsetDateTime,
    ) -> Result<Referral, Failure> {
        let intent = Intent {
            since: intent.map_or(now, |i| i.since),
            posted: Some(read.deal.clone()),
        };
        let work = OutboundWork::new(read.id, Some(&read.seen), earlier);
        let item = RetryItem {
            id: WorkKey::Outbound(read.id).to_string(),
            payload: intent.mark(work.to_value()),
            due_at: now + self.settings.lease_ttl,
            attempts,
            last_error: Some("creating the referral".into()),
            state: RetryState::Pending,
        };
        self.store
            .put_retry(&item)
            .await
            .map_err(|e| read.fail(e))?;
        self.referrals
            .create(&plan.referral)
            .await
            .map_err(|e| read.fail(self.create_refused(read, e)))
    }

    /// Co-sell's connected referral for Microsoft, for a co-sell deal; its id, or why it failed.
    async fn connect(
        &self,
        referral: &Referral,
        plan: &CreatePlan,
    ) -> (Option<String>, Option<cosell_partner_center::Error>) {
        if plan.kind != DealKind::CoSell {
            return (None, None);
        }
        match self
            .referrals
            .create(&microsoft_referral(referral, plan))
            .await
        {
            Ok(microsoft) => (microsoft.id, None),
            Err(error) => (None, Some(error)),
        }
    }

    /// The link of a created referral: what both sides agree on, and Partner Center's state.
    fn created_link(&self, read: &Read, made: &Made, posted: Option<DealState>) -> Link {
        let created = &made.referral;
        let mut link = Link::new(made.referral_id.clone(), CrmKind::Opportunity, read.id);
        link.referral_link = created
            .links
            .as_ref()
            .and_then(|l| l.self_link.as_ref())
            .and_then(|l| l.uri.clone());
        let holds = |link: &mut Link| {
            link.hold_inbound(inbound::plan(created, &self.config).ok().as_ref());
            link.referral_etag = created.etag.clone();
        };
        match (made.adopted, posted) {
            (false, _) => {
                holds(&mut link);
                link.agree(&read.deal);
            }
            // Adopted: both sides may have moved since the `POST` whose answer was lost. The deal
            // as posted is what they last agreed on; the update after sends the seller's changes
            // since, and Partner Center's (unless it still holds the posted deal) are left for
            // the inbound sync: no inbound hash, no eTag, so the update reads the referral first.
            (true, Some(posted)) => {
                if DealState::from_referral(created).hash() == posted.hash() {
                    holds(&mut link);
                }
                link.agree(&posted);
            }
            // An intent stored before the posted deal was kept: no common ancestor, so the
            // update sends whatever the row holds that the referral does not.
            (true, None) => {}
        }
        link
    }

    /// The partner's referral exists and is linked (a retry would not create it again); the
    /// connected one needs an operator. ✖ and the reason are already on the row.
    async fn park_half_created(
        &self,
        read: &Read,
        referral_id: ReferralId,
        error: cosell_partner_center::Error,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let problem = OutboundError::Connected {
            referral_id,
            source: error,
        };
        let item = RetryItem {
            id: WorkKey::Outbound(read.id).to_string(),
            payload: OutboundWork::new(read.id, Some(&read.seen), &[]).to_value(),
            due_at: now,
            attempts: 1,
            last_error: Some(problem.to_string()),
            state: RetryState::Dead,
        };
        self.store
            .put_retry(&item)
            .await
            .map_err(|e| read.fail(e))?;
        tracing::warn!(opportunity = %read.id, %problem, "co-sell referral only half created");
        Ok(Synced::Parked {
            retry_id: item.id,
            message: problem.to_string(),
            permanent: true,
        })
    }

    /// A referral linked whose write-back was lost (a crash or a failed `PATCH` right after the
    /// `POST`), or linked by the inbound sync while the create's answer was lost: write it now,
    /// from the link, instead of creating another. A seller's edit since the deal the link
    /// agrees on (as posted, or as the inbound sync found Partner Center) is then sent.
    pub(super) async fn finish_create(
        &self,
        lock: &mut DealLock<'_>,
        read: &Read,
        link: &Link,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let ok = link.last_outcome.as_ref().is_none_or(|o| o.ok);
        let name = self.marked(read.name(), ok);
        self.write_back(read, created_row(link, name)).await?;
        tracing::info!(opportunity = %read.id, referral = %link.referral_id, "write-back of a created referral finished");
        if link.outbound_hash.as_deref() != Some(read.hash.as_str()) {
            let earlier = link.audit.clone();
            return self
                .update_locked(lock, read, link.clone(), earlier, now)
                .await;
        }
        Ok(Synced::Created {
            referral_id: link.referral_id.clone(),
            kind: DealKind::of(&read.input),
            connected: None,
        })
    }

    /// The referrals an earlier create attempt begun at `since` made for this opportunity, if
    /// any reached Partner Center: (the partner's, co-sell's connected one for Microsoft). One
    /// listing of what was created since then, a few minutes earlier for clock skew: newest
    /// first, the order partner-rest documents, while the service verifiably keeps it.
    async fn created_since(
        &self,
        read: &Read,
        since: OffsetDateTime,
    ) -> Result<(Option<Referral>, Option<Referral>), Failure> {
        let listing = self
            .referrals
            .changes(Stamp::Created, since - CLOCK_SKEW, None);
        // Boxed: deep enough inside a create to pass rustc's layout depth in a Lambda main.
        let listed = Box::pin(listing.all())
            .await
            .map_err(|e| read.fail(OutboundError::Referral(e)))?;
        let id = read.id.to_string();
        let (microsoft, partner): (Vec<Referral>, Vec<Referral>) = listed
            .into_iter()
            .filter_map(cosell_partner_center::Listed::readable)
            .filter(|r| r.external_reference_id.as_deref() == Some(id.as_str()))
            .partition(|r| {
                r.target
                    .iter()
                    .any(|t| t.id.as_deref() == Some(MICROSOFT_ORGANIZATION_ID))
            });
        Ok((partner.into_iter().next(), microsoft.into_iter().next()))
    }

    /// Why a create failed: a refusal of a co-sell lacking the Services fields names them.
    fn create_refused(&self, read: &Read, error: cosell_partner_center::Error) -> OutboundError {
        let fill = missing_services(&read.input, &self.config);
        if error.is_refused() && !fill.is_empty() {
            OutboundError::ServicesMissing {
                source: error,
                fill,
            }
        } else {
            OutboundError::Referral(error)
        }
    }
}

fn kind_name(kind: DealKind) -> &'static str {
    match kind {
        DealKind::Private => "private",
        DealKind::PartnerLed => "partner-led",
        DealKind::CoSell => "co-sell",
    }
}
