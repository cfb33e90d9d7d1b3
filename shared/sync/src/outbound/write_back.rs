//! What the outbound sync writes on the opportunity: the referral id and link after a create,
//! ✔ or ✖ in the name, and the Audit log.

use cosell_dataverse::{DataverseError, ETag, Precondition};
use cosell_mapping::{CrmRow, Opportunity, audit, marks};
use cosell_store::Link;
use uuid::Uuid;

use super::{Failure, OutboundError, OutboundSync, Read};

impl OutboundSync {
    /// The name with ✔ or ✖ when the setting is on (`None`: leave the name alone).
    pub(super) fn marked(&self, name: Option<&str>, ok: bool) -> Option<String> {
        marks::marked(name, ok, &self.config)
    }

    /// [`Self::write_row`] on the row as read.
    pub(super) async fn write_back(&self, read: &Read, row: Opportunity) -> Result<(), Failure> {
        self.write_row(read.id, read.etag.as_ref(), row)
            .await
            .map_err(|e| read.fail(OutboundError::WriteBack(e)))
    }

    /// Writes our columns back. One that renames the row (✔/✖) is made only on the version
    /// read (`etag`): a seller who renamed it meanwhile keeps their name — the change feed
    /// brings their edit next — and the rest is written without the name.
    pub(super) async fn write_row(
        &self,
        id: Uuid,
        etag: Option<&ETag>,
        row: Opportunity,
    ) -> Result<(), DataverseError> {
        let to_row = |row: &Opportunity| {
            row.to_row(&self.config)
                .map_err(|e| DataverseError::InvalidInput(e.to_string()))
        };
        let set = Opportunity::ENTITY_SET;
        if let (Some(etag), Some(_)) = (etag, &row.name) {
            let precondition = Precondition::IfMatch(etag.clone());
            match self
                .crm
                .update_row(set, id, &to_row(&row)?, precondition)
                .await
            {
                Err(error) if error.is_precondition_failed() => {
                    tracing::info!(opportunity = %id, "edited since read; written back without the name");
                }
                other => return other,
            }
        }
        let row = Opportunity {
            name: row.name.filter(|_| etag.is_none()),
            ..row
        };
        self.crm
            .update_row(set, id, &to_row(&row)?, Precondition::MustExist)
            .await
    }
}

/// The write-back after a create: referral id and link, the mark, and the Audit log.
pub(super) fn created_row(link: &Link, name: Option<String>) -> Opportunity {
    Opportunity {
        referral_id: Some(link.referral_id.to_string()),
        referral_link: link.referral_link.clone(),
        name,
        audit: Some(audit::render(&link.audit)),
        ..Opportunity::default()
    }
}
