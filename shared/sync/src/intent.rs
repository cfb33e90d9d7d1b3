//! The create intent: what an outbound create stores in its retry item (`outbound:<id>`) before
//! each `POST`, so that whichever path meets the referral afterwards — the redo that adopts it,
//! the inbound sync of its webhook or the sweep — knows a create was under way and what it sent.
//!
//! It lives beside both directions because both read it: the outbound create writes it, and
//! the inbound sync of a referral naming the opportunity merges against it.
//!
//! The deal as posted is the common ancestor of the two sides once the answer is lost: the
//! seller may edit the row and Microsoft the referral before either side hears of the other.
//! Merging against it (the fields the seller changed since go out, the fields Microsoft changed
//! come in) is what keeps both edits; recording either side's deal as agreed loses the other's.

use cosell_mapping::deal::DealState;
use cosell_store::RetryItem;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A create that may have reached Partner Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// When the first attempt began: the referral it made was listed as changed after this.
    pub since: OffsetDateTime,
    /// The deal the last `POST` carried; `None` in an intent stored before it was kept.
    pub posted: Option<DealState>,
}

impl Intent {
    /// The intent an outbound retry item holds, if it is one.
    pub fn of(item: &RetryItem) -> Option<Self> {
        Self::in_payload(&item.payload)
    }

    fn in_payload(payload: &Value) -> Option<Self> {
        let since = payload.get("creatingSince")?.as_str()?;
        Some(Self {
            since: cosell_mapping::timestamp::parse(since).ok()?,
            posted: payload
                .get("posted")
                .and_then(|deal| serde_json::from_value(deal.clone()).ok()),
        })
    }

    /// `payload` marked with this intent.
    pub(crate) fn mark(&self, mut payload: Value) -> Value {
        payload["creatingSince"] = json!(cosell_mapping::timestamp::format(self.since));
        if let Some(posted) = &self.posted {
            payload["posted"] = serde_json::to_value(posted).unwrap_or(Value::Null);
        }
        payload
    }

    /// `payload`, still marked when the item it replaces was an intent: a failed create may
    /// have reached Partner Center, so the next attempt looks before it posts.
    pub(crate) fn keep(payload: Value, previous: Option<&RetryItem>) -> Value {
        match previous.and_then(Self::of) {
            Some(intent) => intent.mark(payload),
            None => payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosell_store::RetryState;

    fn item(payload: Value) -> RetryItem {
        RetryItem {
            id: "outbound:x".into(),
            payload,
            due_at: OffsetDateTime::UNIX_EPOCH,
            attempts: 1,
            last_error: None,
            state: RetryState::Pending,
        }
    }

    #[test]
    fn an_intent_survives_a_park_with_the_deal_it_posted() {
        let posted = DealState {
            name: Some("Contoso".into()),
            ..DealState::default()
        };
        let intent = Intent {
            since: time::macros::datetime!(2026-12-02 06:00 UTC),
            posted: Some(posted),
        };
        let first = item(intent.mark(json!({"opportunityId": "x"})));
        let parked = item(Intent::keep(json!({"opportunityId": "x"}), Some(&first)));
        assert_eq!(Intent::of(&parked), Some(intent));
        assert_eq!(parked.payload["opportunityId"], "x");
    }

    #[test]
    fn a_plain_retry_item_is_no_intent() {
        let plain = item(json!({"opportunityId": "x", "hash": "h"}));
        assert_eq!(Intent::of(&plain), None);
        assert_eq!(
            Intent::keep(plain.payload.clone(), Some(&plain)),
            plain.payload
        );
    }

    #[test]
    fn an_intent_stored_before_the_posted_deal_was_kept_still_reads() {
        let old = item(json!({"creatingSince": "2026-12-02T06:00:00Z"}));
        let intent = Intent::of(&old).expect("an intent");
        assert_eq!(intent.posted, None);
    }
}
