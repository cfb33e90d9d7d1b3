//! The records of a sync, as the use cases see them. Times are passed in by the caller (no clock
//! in the store), so tests control them.

pub use cosell_ids::{CrmId, ReferralId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a referral became in the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrmKind {
    Opportunity,
    Lead,
}

/// How the last sync of a link ended, for the operator and the seller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub ok: bool,
    /// One plain sentence ("Created opportunity …", "Two accounts match …").
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Ties one referral to one CRM record and remembers what each side was last given.
///
/// The hashes make a replay harmless and stop ping-pong: a change equal to what we last wrote
/// is ours, not the seller's or Microsoft's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub referral_id: ReferralId,
    pub crm_kind: CrmKind,
    /// The CRM row id (a GUID, stored lower-case hyphenated).
    pub crm_id: CrmId,
    /// Hash of the referral state last written to the CRM (inbound direction).
    pub inbound_hash: Option<String>,
    /// Hash of the CRM state last written to Partner Center (outbound direction).
    pub outbound_hash: Option<String>,
    pub referral_etag: Option<String>,
    /// The referral's address (`links.self.uri`), for the CRM's "Referral Link" column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_link: Option<String>,
    pub crm_etag: Option<String>,
    pub last_outcome: Option<Outcome>,
    /// The record's Audit log, newest line first, as last written: the next sync writes its line
    /// in front of these without reading the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<String>,
    /// The deal state both sides last agreed on (the fields kept in sync after creation, as
    /// `cosell_mapping::deal::DealState` JSON); `outbound_hash` is its hash. An outbound update
    /// sends only what the seller changed since, so Microsoft's own changes are never overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<serde_json::Value>,
    /// Whether the record was left closed (won or lost) by the sync that wrote `inbound_hash`: a
    /// closed opportunity is neither edited nor closed again. `None` in a link stored before the
    /// flag was kept; its hash's tag (`won:`/`lost:`) tells then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<bool>,
    /// Optimistic-concurrency version, owned by the store: 0 for a link not yet stored; every
    /// successful [`SyncStore::put_link`](crate::SyncStore::put_link) stores `version + 1`.
    pub version: u64,
}

impl Link {
    /// A link not stored yet, with nothing synced.
    pub fn new(referral_id: ReferralId, crm_kind: CrmKind, crm_id: impl Into<CrmId>) -> Self {
        Self {
            referral_id,
            crm_kind,
            crm_id: crm_id.into(),
            inbound_hash: None,
            outbound_hash: None,
            referral_etag: None,
            referral_link: None,
            crm_etag: None,
            last_outcome: None,
            audit: Vec::new(),
            deal: None,
            closed: None,
            version: 0,
        }
    }
}

/// A position in a source stream: the Dataverse delta link, or a Partner Center
/// `updatedDateTime` watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub name: String,
    pub value: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// As for [`Link::version`].
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryState {
    /// Waiting for its due time.
    Pending,
    /// Gave up (attempts exhausted or an error that will never succeed); kept for replay.
    Dead,
}

/// Work to redo later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryItem {
    /// Stable per piece of work (e.g. `inbound:<referral id>`), so queuing the same work twice
    /// keeps one item.
    pub id: String,
    /// What to redo, for the use case that queued it (e.g. the webhook envelope).
    pub payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub state: RetryState,
}
