//! Metadata discovery against the simulator's `EntityDefinitions`, cached in a real store: read
//! once a day, laid over the settings at start, and never in the way when it is missing.

use cosell_mapping::CrmConfig;
use cosell_store::{Cursor, SqliteStore, SyncStore};
use cosell_sync::metadata::{self, CURSOR, MAX_AGE, Refreshed};
use time::OffsetDateTime;

use cosell_testkit::sim;

#[tokio::test]
async fn metadata_is_read_once_a_day_and_laid_over_the_settings() {
    let sim = sim::start().await;
    let (dataverse, _) = sim::clients(&sim, sim::http(2));
    let store = SqliteStore::in_memory().unwrap();
    let mut settings = CrmConfig::default();
    settings.solutions.relationship = "new_opportunity_solutions".into();

    // No cache yet: the settings stand.
    assert_eq!(metadata::configured(&store, &settings).await, settings);

    let now = OffsetDateTime::now_utc();
    let Refreshed::Read(found) = metadata::refresh(&store, &dataverse, &settings, now)
        .await
        .unwrap()
    else {
        panic!("the first refresh reads");
    };
    assert_eq!(found.help_options.len(), 6);
    assert_eq!(
        found.solutions_relationships,
        ["msft_opportunity_msft_microsoftpartnercentersolutions"]
    );
    let configured = metadata::configured(&store, &settings).await;
    assert_eq!(
        configured.solutions.relationship, "msft_opportunity_msft_microsoftpartnercentersolutions",
        "a relationship that does not exist is replaced by the one that does"
    );
    assert_eq!(configured.help_options, settings.help_options);
    // Column lengths, read through the String and Memo casts: a published one, and one only
    // metadata knows (account telephone1, not in the documented list), both laid over.
    assert_eq!(found.lengths.get("opportunity.name"), Some(&300));
    assert_eq!(found.lengths.get("opportunity.description"), Some(&2000));
    assert_eq!(settings.limits.length("account", "telephone1"), None);
    assert_eq!(configured.limits.length("account", "telephone1"), Some(100));

    // Within the day: no request.
    let dataverse_requests = || {
        let counted = sim.state.counters.snapshot();
        counted.services.get("dataverse").copied().unwrap_or(0)
    };
    let before = dataverse_requests();
    let later = now + time::Duration::hours(23);
    let fresh = metadata::refresh(&store, &dataverse, &settings, later).await;
    assert_eq!(fresh.unwrap(), Refreshed::Fresh);
    assert_eq!(dataverse_requests(), before);
    // A day on: read again, and the cache's age moves.
    let next_day = now + MAX_AGE + time::Duration::minutes(1);
    let again = metadata::refresh(&store, &dataverse, &settings, next_day).await;
    assert!(matches!(again.unwrap(), Refreshed::Read(_)));
    let cursor = store.cursor(CURSOR).await.unwrap().unwrap();
    assert_eq!(cursor.updated_at, next_day);
}

#[tokio::test]
async fn an_unreadable_cache_or_metadata_leaves_the_settings() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .put_cursor(&Cursor {
            name: CURSOR.into(),
            value: "not json".into(),
            updated_at: OffsetDateTime::now_utc(),
            version: 0,
        })
        .await
        .unwrap();
    let settings = CrmConfig::default();
    assert_eq!(metadata::configured(&store, &settings).await, settings);

    // A help column that is no choice: a clear error naming the read, nothing cached.
    let sim = sim::start().await;
    let (dataverse, _) = sim::clients(&sim, sim::http(1));
    let store = SqliteStore::in_memory().unwrap();
    let mut wrong = CrmConfig::default();
    wrong.columns.help = "name".into();
    let error = metadata::refresh(&store, &dataverse, &wrong, OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("metadata"), "{error}");
    assert!(store.cursor(CURSOR).await.unwrap().is_none());
}
