//! What only the SQLite adapter has: a file that keeps state across restarts in WAL mode, and a
//! schema version it refuses to misread.

use std::path::PathBuf;

use cosell_store::sqlite::SCHEMA_VERSION;
use cosell_store::{CrmKind, EventClaim, Link, SqliteStore, StoreError, SyncStore};

use cosell_testkit::{cid, rid};

/// A database path no other test uses; removed (with its WAL files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(std::env::temp_dir().join(format!(
            "cosell-store-{name}-{}-{nanos}.db",
            std::process::id()
        )))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn link() -> Link {
    Link {
        inbound_hash: Some("in-1".into()),
        ..Link::new(
            rid("r1"),
            CrmKind::Lead,
            cid("6a1f4c1e-0000-4000-8000-00000000000a"),
        )
    }
}

#[tokio::test]
async fn a_file_keeps_state_across_reopen_in_wal_mode() {
    let db = TempDb::new("reopen");
    let stored = {
        let store = SqliteStore::open(&db.0).unwrap();
        store.put_link(&link()).await.unwrap()
    };
    let store = SqliteStore::open(&db.0).unwrap();
    assert_eq!(
        store.link_by_referral(&rid("r1")).await.unwrap(),
        Some(stored)
    );

    let conn = rusqlite::Connection::open(&db.0).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = TempDb::new("newer");
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    match SqliteStore::open(&db.0) {
        Err(StoreError::Backend { operation, message }) => {
            assert_eq!(operation, "migrate");
            assert!(
                message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A file written by a version-1 build: events had no claim state, and every one read as done.
#[tokio::test]
async fn a_version_1_file_is_upgraded_and_its_events_read_as_done() {
    let db = TempDb::new("v1");
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (key TEXT NOT NULL PRIMARY KEY, expires_ns INTEGER NOT NULL) STRICT;
             CREATE TABLE links (referral_id TEXT NOT NULL PRIMARY KEY, crm_id TEXT NOT NULL UNIQUE,
                                 version INTEGER NOT NULL, body TEXT NOT NULL) STRICT;
             INSERT INTO events VALUES ('e1', 9223372036854775807);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&db.0).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let hold = std::time::Duration::from_secs(30);
    let ttl = std::time::Duration::from_secs(3600);
    assert_eq!(
        store.claim_event("e1", now, hold, ttl).await.unwrap(),
        EventClaim::Done
    );
    assert_eq!(
        store.claim_event("e2", now, hold, ttl).await.unwrap(),
        EventClaim::Claimed
    );
    let conn = rusqlite::Connection::open(&db.0).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_corrupt_row_is_reported_with_its_key() {
    let db = TempDb::new("corrupt");
    let store = SqliteStore::open(&db.0).unwrap();
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .execute(
            "INSERT INTO links (referral_id, crm_id, version, body) VALUES ('r1', 'c1', 1, '{')",
            [],
        )
        .unwrap();
    match store.link_by_referral(&rid("r1")).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "link r1"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_race_safely() {
    // Two connections stand for two processes: the write lock, not the mutex, must decide.
    let db = TempDb::new("race");
    let stores = [
        SqliteStore::open(&db.0).unwrap(),
        SqliteStore::open(&db.0).unwrap(),
    ];
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let mut link = link();
                link.crm_id = cid(format!("6a1f4c1e-0000-4000-8000-00000000010{i}"));
                store.put_link(&link).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("a racer failed with {e}"),
        }
    }
    assert_eq!(wins, 1);
}
