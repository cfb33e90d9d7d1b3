//! The co-sell schema `cosell setup` records: none means Microsoft's (deployments set up before
//! cosell could make its own), recorded once, and a record this version cannot read is an error
//! that names the fix — never a guess.

use cosell_mapping::schema::Schema;
use cosell_store::{Cursor, SqliteStore, SyncStore};
use cosell_sync::schema::{self, SchemaStoreError};
use time::OffsetDateTime;

#[tokio::test]
async fn the_schema_is_recorded_once_and_read_back() {
    let store = SqliteStore::in_memory().unwrap();
    let now = OffsetDateTime::now_utc();
    assert_eq!(schema::in_use(&store).await.unwrap(), Schema::Microsoft);
    assert!(schema::record(&store, Schema::Cosell, now).await.unwrap());
    assert!(!schema::record(&store, Schema::Cosell, now).await.unwrap());
    assert_eq!(schema::in_use(&store).await.unwrap(), Schema::Cosell);
}

#[tokio::test]
async fn a_record_this_version_cannot_read_stops_the_reader() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .put_cursor(&Cursor {
            name: schema::CURSOR.into(),
            value: "contoso".into(),
            updated_at: OffsetDateTime::now_utc(),
            version: 0,
        })
        .await
        .unwrap();
    let error = schema::in_use(&store).await.unwrap_err();
    assert!(matches!(error, SchemaStoreError::Unknown(_)));
    assert!(error.to_string().contains("run `cosell setup`"), "{error}");
}
