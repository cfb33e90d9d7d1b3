//! The mapping document kept in the store: pushed only upward, read back whole, and chosen at
//! start over the settings' own only when newer — with a deploy's version enforced.

use cosell_mapping::custom::Mapping;
use cosell_store::{SqliteStore, SyncStore};
use cosell_sync::mapping::{self, MappingStoreError, Pushed};
use time::OffsetDateTime;

fn document(version: u64, leads: bool) -> Mapping {
    Mapping::parse(&format!(r#"{{"version": {version}, "leads": {leads}}}"#)).unwrap()
}

#[tokio::test]
async fn a_document_is_pushed_upward_only_and_read_back_whole() {
    let store = SqliteStore::in_memory().unwrap();
    let now = OffsetDateTime::now_utc();
    assert_eq!(mapping::stored(&store).await.unwrap(), None);

    let first = document(1, false);
    let pushed = mapping::push(&store, &first, now).await.unwrap();
    assert_eq!(pushed, Pushed::Stored { replaced: None });
    assert_eq!(
        mapping::push(&store, &first, now).await.unwrap(),
        Pushed::Same
    );
    assert_eq!(mapping::stored(&store).await.unwrap(), Some(first.clone()));

    // A change under the same version would leave two processes disagreeing on what version 1
    // means: refused.
    let error = mapping::push(&store, &document(1, true), now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MappingStoreError::NotNewer {
                stored: 1,
                pushed: 1
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("raise `version` above it"),
        "{error}"
    );

    let second = document(2, true);
    let pushed = mapping::push(&store, &second, now).await.unwrap();
    assert_eq!(pushed, Pushed::Stored { replaced: Some(1) });
    assert_eq!(mapping::stored(&store).await.unwrap(), Some(second));
}

#[tokio::test]
async fn a_start_runs_the_newer_document_and_refuses_one_behind_its_deploy() {
    let store = SqliteStore::in_memory().unwrap();
    let now = OffsetDateTime::now_utc();
    let configured = document(2, true);

    // Nothing stored: the settings' own, unless the deploy names a version they are not.
    assert_eq!(
        mapping::resolve(&store, &configured, None).await.unwrap(),
        None
    );
    assert_eq!(
        mapping::resolve(&store, &configured, Some(2))
            .await
            .unwrap(),
        None
    );
    let error = mapping::resolve(&store, &configured, Some(3))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("this deploy runs mapping version 3, and the store holds none"),
        "{error}"
    );

    mapping::push(&store, &document(1, false), now)
        .await
        .unwrap();
    // An older stored document never replaces the settings' newer one.
    assert_eq!(
        mapping::resolve(&store, &configured, None).await.unwrap(),
        None
    );

    mapping::push(&store, &document(3, false), now)
        .await
        .unwrap();
    let chosen = mapping::resolve(&store, &configured, Some(3))
        .await
        .unwrap();
    assert_eq!(chosen.map(|m| (m.version, m.leads)), Some((3, false)));

    // A stored document this version cannot read stops the start with the fix.
    let cursor = store.cursor(mapping::CURSOR).await.unwrap().unwrap();
    let broken = cosell_store::Cursor {
        value: r#"{"version": 4, "leeds": true}"#.into(),
        ..cursor
    };
    store.put_cursor(&broken).await.unwrap();
    let error = mapping::resolve(&store, &configured, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cosell mapping push"), "{error}");
}
