//! The port's contract, run against both adapters: every test below is instantiated as
//! `sqlite::<name>` (in memory) and `dynamodb::<name>` (a fresh table on moto's server; run with
//! `infra/with-moto.sh cargo test -p cosell-store`).

use std::sync::Arc;
use std::time::Duration;

use cosell_store::{
    CrmKind, Cursor, DynamoStore, EventClaim, Link, Outcome, RetryItem, RetryState, SqliteStore,
    StoreError, SyncStore,
};
use time::OffsetDateTime;
use time::macros::datetime;

use cosell_testkit::{cid, rid};

const T0: OffsetDateTime = datetime!(2026-11-24 06:00 UTC);
const CRM_A: &str = "6a1f4c1e-0000-4000-8000-00000000000a";
const CRM_B: &str = "6a1f4c1e-0000-4000-8000-00000000000b";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(seconds: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(seconds)
}

fn link(referral: &str, crm: &str) -> Link {
    Link {
        referral_id: rid(referral),
        crm_kind: CrmKind::Opportunity,
        crm_id: cid(crm),
        inbound_hash: Some("in-1".to_owned()),
        outbound_hash: None,
        referral_etag: Some("\"pc-etag-1\"".to_owned()),
        referral_link: None,
        crm_etag: Some("W/\"1001\"".to_owned()),
        last_outcome: Some(Outcome {
            ok: true,
            message: "Created opportunity".to_owned(),
            at: T0,
        }),
        audit: vec!["2024-01-01T00:00:00Z ✔ Created opportunity".to_owned()],
        deal: Some(serde_json::json!({"name": "Azure migration", "status": "OnHold"})),
        closed: Some(false),
        version: 0,
    }
}

fn retry(id: &str, due_at: OffsetDateTime) -> RetryItem {
    RetryItem {
        id: id.to_owned(),
        payload: serde_json::json!({ "event": "referral-updated", "id": id }),
        due_at,
        attempts: 0,
        last_error: None,
        state: RetryState::Pending,
    }
}

fn ids(items: &[RetryItem]) -> Vec<&str> {
    items.iter().map(|item| item.id.as_str()).collect()
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn links_are_versioned<S: SyncStore>(store: S) {
    assert_eq!(store.link_by_referral(&rid("r1")).await.unwrap(), None);

    let first = store.put_link(&link("r1", CRM_A)).await.unwrap();
    assert_eq!(
        first,
        Link {
            version: 1,
            ..link("r1", CRM_A)
        }
    );
    assert_eq!(
        store.link_by_referral(&rid("r1")).await.unwrap(),
        Some(first.clone())
    );
    assert_conflict(store.put_link(&link("r1", CRM_A)).await);

    let changed = Link {
        crm_kind: CrmKind::Lead,
        inbound_hash: Some("in-2".to_owned()),
        outbound_hash: Some("out-1".to_owned()),
        crm_etag: None,
        last_outcome: Some(Outcome {
            ok: false,
            message: "Two accounts match".to_owned(),
            at: at(5),
        }),
        ..first.clone()
    };
    let second = store.put_link(&changed).await.unwrap();
    assert_eq!(
        second,
        Link {
            version: 2,
            ..changed
        }
    );
    assert_conflict(store.put_link(&first).await);

    assert_eq!(
        store.link_by_referral(&rid("r1")).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.link_by_crm(cid(CRM_A)).await.unwrap(), Some(second));
    assert_eq!(store.link_by_crm(cid(CRM_B)).await.unwrap(), None);
}

async fn a_crm_id_belongs_to_one_referral<S: SyncStore>(store: S) {
    let r1 = store.put_link(&link("r1", CRM_A)).await.unwrap();
    assert_conflict(store.put_link(&link("r2", CRM_A)).await);
    assert_eq!(store.link_by_referral(&rid("r2")).await.unwrap(), None);
    assert_eq!(
        store
            .link_by_crm(cid(CRM_A))
            .await
            .unwrap()
            .unwrap()
            .referral_id,
        "r1"
    );

    // r1 moves to another record: its old CRM id is free again, the new one is r1's.
    let moved = store
        .put_link(&Link {
            crm_id: cid(CRM_B),
            ..r1
        })
        .await
        .unwrap();
    assert_eq!(store.link_by_crm(cid(CRM_A)).await.unwrap(), None);
    assert_eq!(store.link_by_crm(cid(CRM_B)).await.unwrap(), Some(moved));

    let r2 = store.put_link(&link("r2", CRM_A)).await.unwrap();
    assert_eq!(store.link_by_crm(cid(CRM_A)).await.unwrap(), Some(r2));
    assert_eq!(
        store
            .link_by_crm(cid(CRM_B))
            .await
            .unwrap()
            .unwrap()
            .referral_id,
        "r1"
    );
}

async fn duplicate_events_are_seen_once<S: SyncStore>(store: S) {
    assert!(store.record_event("e1", T0, secs(3600)).await.unwrap());
    assert!(!store.record_event("e1", at(1), secs(3600)).await.unwrap());
    assert!(!store.record_event("e1", at(2), secs(3600)).await.unwrap());
    assert!(store.record_event("e2", at(2), secs(3600)).await.unwrap());
}

async fn an_event_older_than_ttl_is_new_again<S: SyncStore>(store: S) {
    assert!(store.record_event("e1", T0, secs(60)).await.unwrap());
    let just_before = T0 + time::Duration::milliseconds(59_999);
    assert!(
        !store
            .record_event("e1", just_before, secs(60))
            .await
            .unwrap()
    );
    // A duplicate does not extend the first record: at exactly the TTL it has expired.
    assert!(store.record_event("e1", at(60), secs(60)).await.unwrap());
    // ...and the new record counts from its own time.
    assert!(!store.record_event("e1", at(119), secs(60)).await.unwrap());
}

async fn forget_event_allows_redelivery<S: SyncStore>(store: S) {
    assert!(store.record_event("e1", T0, secs(3600)).await.unwrap());
    store.forget_event("e1").await.unwrap();
    assert!(store.record_event("e1", at(1), secs(3600)).await.unwrap());
    assert!(!store.record_event("e1", at(2), secs(3600)).await.unwrap());
    store.forget_event("never-recorded").await.unwrap();
}

async fn a_claimed_event_is_done_only_once_finished<S: SyncStore>(store: S) {
    let claim = |t: i64| store.claim_event("e1", at(t), secs(30), secs(3600));
    assert_eq!(claim(0).await.unwrap(), EventClaim::Claimed);
    // Held by its handler: neither a duplicate nor free.
    assert_eq!(
        claim(29).await.unwrap(),
        EventClaim::InFlight { until: at(30) }
    );
    // The handler died: once its hold has passed, a redelivery takes the event over.
    assert_eq!(claim(30).await.unwrap(), EventClaim::Claimed);
    store.finish_event("e1").await.unwrap();
    assert_eq!(claim(61).await.unwrap(), EventClaim::Done);
    assert_eq!(claim(3000).await.unwrap(), EventClaim::Done);
    // Expired, it is new again; finishing a key that is gone is not an error.
    assert_eq!(claim(3600 + 30).await.unwrap(), EventClaim::Claimed);
    store.finish_event("never-claimed").await.unwrap();
}

async fn a_recorded_event_reads_as_done_when_claimed<S: SyncStore>(store: S) {
    // Rows written by `record_event` (alerts, and every delivery before claims existed).
    assert!(store.record_event("e1", T0, secs(3600)).await.unwrap());
    assert_eq!(
        store
            .claim_event("e1", at(1), secs(30), secs(3600))
            .await
            .unwrap(),
        EventClaim::Done
    );
    // ...and a claimed one is a duplicate to `record_event` (alert dedupe unchanged).
    store
        .claim_event("e2", T0, secs(30), secs(3600))
        .await
        .unwrap();
    assert!(!store.record_event("e2", at(1), secs(3600)).await.unwrap());
}

async fn concurrent_claims_one_wins<S: SyncStore + 'static>(store: S) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_event("e1", T0, secs(30), secs(3600)).await })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            EventClaim::Claimed => claimed += 1,
            other => assert_eq!(other, EventClaim::InFlight { until: at(30) }),
        }
    }
    assert_eq!(claimed, 1);
}

async fn due_retries_come_earliest_first_and_only_when_due<S: SyncStore>(store: S) {
    for (id, due) in [("c", 30), ("a", 10), ("later", 3600), ("b", 20)] {
        store.put_retry(&retry(id, at(due))).await.unwrap();
    }
    assert!(store.due_retries(T0, 10).await.unwrap().is_empty());
    // Due exactly now counts as due.
    assert_eq!(
        ids(&store.due_retries(at(20), 10).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        ids(&store.due_retries(at(40), 2).await.unwrap()),
        ["a", "b"]
    );
    let due = store.due_retries(at(40), 10).await.unwrap();
    assert_eq!(
        due,
        [retry("a", at(10)), retry("b", at(20)), retry("c", at(30))]
    );
    assert!(store.due_retries(at(40), 0).await.unwrap().is_empty());
}

async fn dead_retries_leave_the_due_list_and_are_listed<S: SyncStore>(store: S) {
    store.put_retry(&retry("a", at(10))).await.unwrap();
    store.put_retry(&retry("b", at(20))).await.unwrap();
    assert!(store.dead_retries(10).await.unwrap().is_empty());

    let dead_a = RetryItem {
        attempts: 6,
        last_error: Some("Dataverse answered 500 six times".to_owned()),
        state: RetryState::Dead,
        ..retry("a", at(40))
    };
    let dead_c = RetryItem {
        state: RetryState::Dead,
        ..retry("c", at(5))
    };
    store.put_retry(&dead_a).await.unwrap();
    store.put_retry(&dead_c).await.unwrap();

    assert_eq!(ids(&store.due_retries(at(3600), 10).await.unwrap()), ["b"]);
    assert_eq!(
        store.dead_retries(10).await.unwrap(),
        [dead_c.clone(), dead_a.clone()]
    );
    assert_eq!(store.dead_retries(1).await.unwrap(), [dead_c]);
    assert_eq!(store.retry("a").await.unwrap(), Some(dead_a));

    // Replay: the dead item goes back to pending.
    store.put_retry(&retry("a", at(50))).await.unwrap();
    assert_eq!(
        ids(&store.due_retries(at(3600), 10).await.unwrap()),
        ["b", "a"]
    );
    assert_eq!(ids(&store.dead_retries(10).await.unwrap()), ["c"]);
}

async fn put_retry_replaces_by_id<S: SyncStore>(store: S) {
    store.put_retry(&retry("x", at(10))).await.unwrap();
    let again = RetryItem {
        attempts: 1,
        last_error: Some("timeout".to_owned()),
        payload: serde_json::json!({ "second": true }),
        ..retry("x", at(20))
    };
    store.put_retry(&again).await.unwrap();

    assert_eq!(store.retry("x").await.unwrap(), Some(again.clone()));
    assert!(store.due_retries(at(15), 10).await.unwrap().is_empty());
    assert_eq!(store.due_retries(at(20), 10).await.unwrap(), [again]);

    store.delete_retry("x").await.unwrap();
    assert_eq!(store.retry("x").await.unwrap(), None);
    assert!(store.due_retries(at(3600), 10).await.unwrap().is_empty());
    store.delete_retry("x").await.unwrap();
}

async fn leases_exclude_others_until_expiry<S: SyncStore>(store: S) {
    assert!(
        store
            .acquire_lease("poll", "a", T0, secs(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("poll", "b", at(29), secs(30))
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("other-job", "b", at(29), secs(30))
            .await
            .unwrap()
    );
    // Expired at exactly its TTL: b takes it, and now a is the one kept out.
    assert!(
        store
            .acquire_lease("poll", "b", at(30), secs(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("poll", "a", at(31), secs(30))
            .await
            .unwrap()
    );
}

async fn lease_owner_can_renew_and_release<S: SyncStore>(store: S) {
    assert!(
        store
            .acquire_lease("poll", "a", T0, secs(30))
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("poll", "a", at(20), secs(30))
            .await
            .unwrap()
    );
    // Renewed until 50 s, so still held at 40 s.
    assert!(
        !store
            .acquire_lease("poll", "b", at(40), secs(30))
            .await
            .unwrap()
    );

    store.release_lease("poll", "b").await.unwrap();
    assert!(
        !store
            .acquire_lease("poll", "b", at(41), secs(30))
            .await
            .unwrap()
    );

    store.release_lease("poll", "a").await.unwrap();
    assert!(
        store
            .acquire_lease("poll", "b", at(42), secs(30))
            .await
            .unwrap()
    );
    store.release_lease("never-taken", "a").await.unwrap();
}

async fn cursors_are_versioned<S: SyncStore>(store: S) {
    assert_eq!(store.cursor("dataverse-delta").await.unwrap(), None);
    let cursor = Cursor {
        name: "dataverse-delta".to_owned(),
        value: "https://org.example/api/data/v9.2/opportunities?$deltatoken=1".to_owned(),
        updated_at: T0,
        version: 0,
    };
    let first = store.put_cursor(&cursor).await.unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(
        store.cursor("dataverse-delta").await.unwrap(),
        Some(first.clone())
    );
    assert_conflict(store.put_cursor(&cursor).await);

    let next = Cursor {
        value: "https://org.example/api/data/v9.2/opportunities?$deltatoken=2".to_owned(),
        updated_at: at(60),
        ..first.clone()
    };
    let second = store.put_cursor(&next).await.unwrap();
    assert_eq!(second, Cursor { version: 2, ..next });
    assert_conflict(store.put_cursor(&first).await);
    assert_eq!(store.cursor("dataverse-delta").await.unwrap(), Some(second));
}

const RACERS: usize = 8;

async fn concurrent_put_link_one_wins<S: SyncStore + 'static>(store: S) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let crm = format!("6a1f4c1e-0000-4000-8000-00000000010{i}");
                (crm.clone(), store.put_link(&link("r1", &crm)).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (crm, Ok(_)) => winners.push(crm),
            (_, Err(StoreError::Conflict { .. })) => {}
            (_, Err(e)) => panic!("a racer failed with {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    let stored = store.link_by_referral(&rid("r1")).await.unwrap().unwrap();
    assert_eq!(stored.crm_id, cid(&winners[0]));
    // Losers left no CRM claim behind.
    for i in 0..RACERS {
        let crm = format!("6a1f4c1e-0000-4000-8000-00000000010{i}");
        let expected = (crm == winners[0]).then(|| stored.clone());
        assert_eq!(store.link_by_crm(cid(&crm)).await.unwrap(), expected);
    }
}

async fn concurrent_record_event_one_wins<S: SyncStore + 'static>(store: S) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record_event("e1", T0, secs(3600)).await })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

async fn concurrent_acquire_lease_one_wins<S: SyncStore + 'static>(store: S) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .acquire_lease("poll", &format!("worker-{i}"), T0, secs(30))
                    .await
            })
        })
        .collect();
    let mut holders = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            holders += 1;
        }
    }
    assert_eq!(holders, 1);
}

fn sqlite_store() -> SqliteStore {
    SqliteStore::in_memory().unwrap()
}

async fn dynamo_store() -> DynamoStore {
    let client = cosell_testkit::dynamodb().await;
    let table = cosell_testkit::unique_table("store-contract");
    cosell_store::dynamodb::create_table(&client, &table)
        .await
        .unwrap();
    DynamoStore::new(client, table)
}

/// Instantiates each contract test once per adapter.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::sqlite_store()).await;
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::dynamo_store().await).await;
                }
            )+
        }
    };
}

contract!(
    links_are_versioned,
    a_crm_id_belongs_to_one_referral,
    duplicate_events_are_seen_once,
    an_event_older_than_ttl_is_new_again,
    forget_event_allows_redelivery,
    a_claimed_event_is_done_only_once_finished,
    a_recorded_event_reads_as_done_when_claimed,
    concurrent_claims_one_wins,
    due_retries_come_earliest_first_and_only_when_due,
    dead_retries_leave_the_due_list_and_are_listed,
    put_retry_replaces_by_id,
    leases_exclude_others_until_expiry,
    lease_owner_can_renew_and_release,
    cursors_are_versioned,
    concurrent_put_link_one_wins,
    concurrent_record_event_one_wins,
    concurrent_acquire_lease_one_wins,
);
