//! An opportunity that was not synced: a retry item keeps the work, and the row shows why (✖ and
//! an Audit line). A row Partner Center cannot take waits, dead, for the seller's next edit.

use cosell_mapping::outbound::InvalidOpportunity;
use cosell_mapping::{Opportunity, audit};
use cosell_store::{CrmKind, Link, RetryItem, RetryState};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Failure, OutboundError, OutboundSync, OutboundWork, Read, Synced};
use crate::NotStored;
use crate::alerts::{Alert, Event};
use crate::link::{DealLink, put_link};
use crate::record::WorkKey;
use crate::record::park::{park, put_keeping_intent};

impl OutboundSync {
    /// Keeps the work as a retry item, then shows the failure on the row (best effort).
    pub(super) async fn park(
        &self,
        id: Uuid,
        failure: Failure,
        now: OffsetDateTime,
    ) -> Result<Synced, NotStored> {
        let link = self.store.link_by_crm(id.into()).await.ok().flatten();
        let problem = &*failure.problem;
        let mut log = Vec::new();
        let key = WorkKey::Outbound(id);
        let backoff = &self.settings.backoff;
        let (item, verdict) = park(
            &*self.store,
            &key,
            backoff,
            problem,
            now,
            |previous, verdict| {
                let earlier = match (&link, previous) {
                    (Some(link), _) => link.audit.clone(),
                    (None, Some(item)) => OutboundWork::of(&item.payload).audit,
                    (None, None) => Vec::new(),
                };
                let next = if verdict.permanent {
                    "fix it, then edit the opportunity"
                } else {
                    "will retry"
                };
                let line = format!(
                    "✖ Not synced with Partner Center: {} ({next})",
                    verdict.message
                );
                log = audit::prepend(audit::line(now, &line), &earlier);
                OutboundWork::new(id, failure.hash.as_deref(), &log).to_value()
            },
        )
        .await
        .map_err(NotStored)?;
        tracing::warn!(opportunity = %id, permanent = verdict.permanent, problem = %verdict.message, "outbound sync parked");
        if verdict.newly_dead {
            let alert = Alert {
                referral_id: link.as_ref().map(|l| l.referral_id.to_string()),
                record: Some((CrmKind::Opportunity, id)),
                deal: failure.name.clone(),
                detail: Some(verdict.message.clone()),
                occurrence: Some(item.due_at.unix_timestamp().to_string()),
                ..Alert::new(Event::Dead, item.id.clone())
            };
            self.alerts.raise(alert, now).await;
        }
        if !matches!(problem, OutboundError::Busy | OutboundError::Read(_)) {
            self.show_failure(id, &failure, link, log).await;
        }
        Ok(Synced::Parked {
            retry_id: item.id,
            message: verdict.message,
            permanent: verdict.permanent,
        })
    }

    /// ✖ and the Audit `log` on the row, then the log kept in the link too (best effort: the
    /// retry item holds the work either way).
    async fn show_failure(
        &self,
        id: Uuid,
        failure: &Failure,
        link: Option<Link>,
        log: Vec<String>,
    ) {
        let row = Opportunity {
            name: self.marked(failure.name.as_deref(), false),
            audit: Some(audit::render(&log)),
            ..Opportunity::default()
        };
        if let Err(error) = self.write_row(id, failure.etag.as_ref(), row).await {
            tracing::warn!(%error, opportunity = %id, "failure not shown on the opportunity");
            return;
        }
        if let Some(link) = link
            && let Err(error) = put_link(&*self.store, Link { audit: log, ..link }).await
        {
            tracing::warn!(%error, opportunity = %id, "audit line not kept in the link");
        }
    }

    /// ✖ and the sentences in Audit (one PATCH), then a dead retry item holding the hash, so the
    /// row waits for the seller's next edit. No Partner Center request.
    pub(super) async fn reject(
        &self,
        read: &Read,
        link: Option<Link>,
        earlier: Vec<String>,
        invalid: &InvalidOpportunity,
        now: OffsetDateTime,
    ) -> Result<Synced, Failure> {
        let message = format!("✖ Not sent to Partner Center: {invalid}");
        let log = audit::prepend(audit::line(now, &message), &earlier);
        let row = Opportunity {
            name: self.marked(read.name(), false),
            audit: Some(audit::render(&log)),
            ..Opportunity::default()
        };
        self.write_back(read, row).await?;
        self.park_until_edited(read, &log, &invalid.to_string(), now)
            .await?;
        if let Some(mut link) = link {
            link.audit = log;
            link.outcome(false, &message, now);
            if let Err(error) = put_link(&*self.store, link).await {
                tracing::warn!(%error, opportunity = %read.id, "audit line not kept in the link");
            }
        }
        tracing::info!(opportunity = %read.id, problems = invalid.problems.len(), "opportunity not valid for Partner Center");
        Ok(Synced::Invalid {
            message: invalid.to_string(),
        })
    }

    /// A dead retry item holding the row as read: the next poll waits until the seller edits. A
    /// create's intent in the item it replaces is kept (see [`crate::record::park`]).
    pub(super) async fn park_until_edited(
        &self,
        read: &Read,
        log: &[String],
        why: &str,
        now: OffsetDateTime,
    ) -> Result<String, Failure> {
        let item = RetryItem {
            id: WorkKey::Outbound(read.id).to_string(),
            payload: OutboundWork::new(read.id, Some(&read.seen), log).to_value(),
            due_at: now,
            attempts: 0,
            last_error: Some(why.to_owned()),
            state: RetryState::Dead,
        };
        let item = put_keeping_intent(&*self.store, item)
            .await
            .map_err(|e| read.fail(e))?;
        Ok(item.id)
    }
}
