//! What the code before the per-record protocol stored still reads: links, retry items and
//! cursors as it wrote them (the JSON bodies both store adapters keep), through the real SQLite
//! store and the typed readers that replaced loose JSON.

use cosell_mapping::deal::{DealState, DealStatus};
use cosell_store::{CrmKind, Cursor, Link, RetryItem, RetryState, SqliteStore, SyncStore};
use cosell_sync::WorkKey;
use cosell_sync::intent::Intent;
use cosell_sync::outbound::OutboundWork;
use serde_json::{Value, json};
use uuid::Uuid;

use cosell_testkit::{cid, rid};

const OPPORTUNITY: &str = "6a1f4c1e-0000-4000-8000-00000000000a";

/// A link as 24064e2 wrote it: a `won:` inbound hash, the agreed deal as JSON, no closed flag.
fn link_before() -> Value {
    json!({
        "referral_id": "r-1",
        "crm_kind": "opportunity",
        "crm_id": OPPORTUNITY,
        "inbound_hash": "won:9f2c4be1a1d34f5e8e7b0c6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e",
        "outbound_hash": "5d1e0c3b",
        "referral_etag": "\"pc-1\"",
        "referral_link": "https://partner.microsoft.com/referrals/r-1",
        "crm_etag": null,
        "last_outcome": {"ok": true, "message": "✔ Updated", "at": "2026-12-01T10:00:00Z"},
        "audit": ["2026-12-01 10:00 UTC ✔ Updated"],
        "deal": {"name": "Contoso", "deal_value": "125000", "currency": "USD",
                 "close_date": "2026-09-30", "notes": "Move it.", "visible": true, "status": "Won"},
        "version": 3
    })
}

/// An outbound create's intent as 24064e2 wrote it: the payload's keys, then the intent's.
fn intent_item_before() -> Value {
    json!({
        "id": format!("outbound:{OPPORTUNITY}"),
        "payload": {
            "opportunityId": OPPORTUNITY,
            "hash": "5d1e0c3b|Services",
            "audit": ["2026-12-01 10:00 UTC ✖ Not synced with Partner Center: timeout (will retry)"],
            "creatingSince": "2026-12-01T09:59:00Z",
            "posted": {"name": "Contoso", "deal_value": "125000", "currency": "USD",
                       "close_date": null, "notes": null, "visible": false, "status": "OnHold"}
        },
        "due_at": "2026-12-01T10:01:00Z",
        "attempts": 2,
        "last_error": "creating the referral",
        "state": "pending"
    })
}

/// An inbound retry item: the webhook envelope that brought the work.
fn inbound_item_before() -> Value {
    json!({
        "id": "inbound:r-1",
        "payload": {"EventName": "referral-updated", "ResourceUri": "https://api.partnercenter.microsoft.com/engagements/v1/referrals/r-1",
                    "ResourceName": "referral", "AuditUri": null, "ResourceChangeUtcDate": "2026-12-01T10:00:00Z"},
        "due_at": "2026-12-01T10:00:30Z",
        "attempts": 1,
        "last_error": "reading the referral from Partner Center failed: 503",
        "state": "dead"
    })
}

fn cursors_before() -> Vec<Value> {
    vec![
        json!({"name": "inbound:referrals", "value": "2026-12-01T09:55:00Z",
               "updated_at": "2026-12-01T10:00:00Z", "version": 7}),
        json!({"name": "outbound:opportunities", "value": "https://org.crm.dynamics.com/api/data/v9.2/opportunities?$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44",
               "updated_at": "2026-12-01T10:00:00Z", "version": 2}),
    ]
}

#[tokio::test]
async fn links_retry_items_and_cursors_written_before_read_and_write_back_unchanged() {
    let store = SqliteStore::in_memory().unwrap();
    let before: Link = serde_json::from_value(link_before()).expect("an old link reads");
    assert_eq!(before.closed, None);
    let stored = store
        .put_link(&Link {
            version: 0,
            ..before.clone()
        })
        .await
        .unwrap();
    let read = store.link_by_referral(&rid("r-1")).await.unwrap().unwrap();
    assert_eq!(read, stored);
    // Written again, it is the same JSON: no hash string changed, no key added.
    let mut again = serde_json::to_value(&read).unwrap();
    again["version"] = json!(3);
    assert_eq!(again, link_before());
    let deal: DealState = serde_json::from_value(read.deal.clone().unwrap()).unwrap();
    assert_eq!(deal.status, Some(DealStatus::Won));

    for item in [intent_item_before(), inbound_item_before()] {
        let item: RetryItem = serde_json::from_value(item).expect("an old retry item reads");
        store.put_retry(&item).await.unwrap();
        assert_eq!(store.retry(&item.id).await.unwrap(), Some(item.clone()));
        assert!(
            WorkKey::parse(&item.id).is_some(),
            "{} names its work",
            item.id
        );
    }
    for cursor in cursors_before() {
        let cursor: Cursor = serde_json::from_value(cursor).expect("an old cursor reads");
        store
            .put_cursor(&Cursor {
                version: 0,
                ..cursor.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            store.cursor(&cursor.name).await.unwrap().unwrap().value,
            cursor.value
        );
    }
}

#[test]
fn an_old_create_intent_reads_as_its_work_and_its_intent() {
    let item: RetryItem = serde_json::from_value(intent_item_before()).unwrap();
    let opportunity = Uuid::parse_str(OPPORTUNITY).unwrap();
    assert_eq!(
        WorkKey::parse(&item.id),
        Some(WorkKey::Outbound(opportunity))
    );
    assert_eq!(item.state, RetryState::Pending);
    let work = OutboundWork::of(&item.payload);
    assert_eq!(work.opportunity_id.as_deref(), Some(OPPORTUNITY));
    assert_eq!(work.hash.as_deref(), Some("5d1e0c3b|Services"));
    assert_eq!(work.audit.len(), 1);
    let intent = Intent::of(&item).expect("still an intent");
    assert_eq!(intent.since, time::macros::datetime!(2026-12-01 09:59 UTC));
    let posted = intent.posted.expect("the deal it posted");
    assert_eq!(posted.name.as_deref(), Some("Contoso"));
    assert_eq!(posted.status, Some(DealStatus::OnHold));
    // The typed payload writes the same keys back.
    let mut payload = work.to_value();
    payload["creatingSince"] = json!("2026-12-01T09:59:00Z");
    payload["posted"] = item.payload["posted"].clone();
    assert_eq!(payload, item.payload);
}

#[test]
fn an_old_link_keeps_its_kind_and_id() {
    let link: Link = serde_json::from_value(link_before()).unwrap();
    assert_eq!(link.crm_kind, CrmKind::Opportunity);
    assert_eq!(link.crm_id, cid(OPPORTUNITY));
}
