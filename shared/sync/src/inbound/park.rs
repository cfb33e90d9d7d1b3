//! A referral that was not synced: a retry item keeps the work (the envelope that brought it),
//! and an opportunity that exists shows why (✖ in its name and a line in its Audit).

use cosell_dataverse::{ChangeSet, Key, Precondition};
use cosell_mapping::inbound::audit_line;
use cosell_mapping::marks::{MARK_FAILED, decorate_name};
use cosell_mapping::{CrmRow, Opportunity, audit};
use cosell_store::{CrmKind, Link, ReferralId, StoreError};
use time::OffsetDateTime;

use super::{Failure, Handled, InboundSync, RecordRef};
use crate::alerts::{Alert, Event};
use crate::link::DealLink;
use crate::record::WorkKey;
use crate::record::park::park;

impl InboundSync {
    /// Keeps the work as a retry item — pending with backoff, or dead when retrying cannot help
    /// or the attempts are used up — and shows the failure on the record. Only a failure to store
    /// the item is an error.
    pub(super) async fn park(
        &self,
        referral_id: &ReferralId,
        payload: serde_json::Value,
        failure: Failure,
        now: OffsetDateTime,
    ) -> Result<Handled, StoreError> {
        let key = WorkKey::inbound(referral_id);
        let backoff = &self.settings.backoff;
        let parked = park(
            &*self.store,
            &key,
            backoff,
            &failure.problem,
            now,
            |_, _| payload,
        )
        .await;
        let (item, verdict) = parked.inspect_err(|error| {
            tracing::error!(%error, referral = %referral_id, "retry item not stored");
        })?;
        tracing::warn!(referral = %referral_id, permanent = verdict.permanent, problem = %verdict.message, "inbound sync parked");
        if verdict.newly_dead {
            let alert = Alert {
                referral_id: Some(referral_id.to_string()),
                record: failure.record.as_ref().map(|r| (r.kind, r.id)),
                deal: failure.record.as_ref().and_then(|r| r.name.clone()),
                detail: Some(verdict.message.clone()),
                occurrence: Some(item.due_at.unix_timestamp().to_string()),
                ..Alert::new(Event::Dead, item.id.clone())
            };
            self.alerts.raise(alert, now).await;
        }
        if let Some(record) = &failure.record {
            self.mark_failed(
                referral_id,
                record,
                &verdict.message,
                verdict.permanent,
                now,
            )
            .await;
        }
        Ok(Handled::Parked {
            referral_id: referral_id.clone(),
            retry_id: item.id,
            message: verdict.message,
            permanent: verdict.permanent,
        })
    }

    /// ✖ in the opportunity's name and a line in its Audit; best effort (the retry item is
    /// what keeps the work).
    async fn mark_failed(
        &self,
        referral_id: &ReferralId,
        record: &RecordRef,
        message: &str,
        permanent: bool,
        now: OffsetDateTime,
    ) {
        if record.kind != CrmKind::Opportunity {
            return;
        }
        let link = self
            .store
            .link_by_referral(referral_id)
            .await
            .ok()
            .flatten();
        let (row, log) = self.failed_row(record, link.as_ref(), message, permanent, now);
        let Ok(row) = row.to_row(&self.config) else {
            return;
        };
        let mut changes = ChangeSet::new();
        let key = Key::from(record.id);
        changes.update(Opportunity::ENTITY_SET, key, row, Precondition::MustExist);
        if let Err(error) = self.crm.execute(&changes).await {
            tracing::warn!(%error, crm_id = %record.id, "failure not shown on the opportunity");
            return;
        }
        // Keep the line for the next write of the log, and the failure, so the next sync puts
        // ✔ back in the name; a lost race only loses this line.
        if let Some(mut link) = link
            && link.crm_id == record.id.into()
        {
            link.audit = log;
            link.outcome(false, message, now);
            if let Err(error) = self.store.put_link(&link).await {
                tracing::warn!(%error, referral = %referral_id, "audit line not kept in the link");
            }
        }
    }

    /// The row showing the failure — ✖ in the name, a line on top of the Audit log — and the
    /// log. The name is the referral's when it was read, else the one both sides last agreed on
    /// (the read itself may be what failed).
    fn failed_row(
        &self,
        record: &RecordRef,
        link: Option<&Link>,
        message: &str,
        permanent: bool,
        now: OffsetDateTime,
    ) -> (Opportunity, Vec<String>) {
        let next = if permanent {
            "fix it, then replay"
        } else {
            "will retry"
        };
        let agreed = link.and_then(DealLink::agreed).and_then(|deal| deal.name);
        let name = record
            .name
            .clone()
            .or(agreed)
            .filter(|_| self.config.check_mark_in_name)
            .map(|name| decorate_name(&name, MARK_FAILED, &self.config));
        let failed = audit_line(now, &format!("✖ Inbound sync failed: {message} ({next})"));
        let log = audit::prepend(failed, link.map_or(&[][..], |l| l.audit.as_slice()));
        let row = Opportunity {
            name,
            audit: Some(audit::render(&log)),
            ..Opportunity::default()
        };
        (row, log)
    }
}
