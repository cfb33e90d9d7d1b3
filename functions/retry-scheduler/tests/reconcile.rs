//! Reconciliation over real sockets: the Partner Center simulator drops every webhook delivery,
//! and referrals created and updated meanwhile reach Dataverse through the sweep alone.

use cosell_mapping::CrmConfig;
use cosell_mapping::inbound::record_id;
use cosell_sim::partner_center::config::WebhookKnobs;
use cosell_store::SyncStore;
use cosell_sync::reconcile::WATERMARK;
use serde_json::json;
use time::OffsetDateTime;

use cosell_testkit::stack::Stack;
use cosell_testkit::stack::stepped_backoff;

#[tokio::test]
async fn referrals_whose_webhooks_were_all_dropped_reach_dataverse_through_the_sweep() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..WebhookKnobs::default()
    });
    let first = stack.fabrikam().await;
    let second = stack
        .seed_cosell("Contoso Ltd", "10001", "li@contoso.example")
        .await;
    stack
        .edit_referral(&first, json!({"details": {"dealValue": 300000}}))
        .await;
    let delivered = stack
        .sim
        .state
        .pc
        .webhooks
        .log()
        .iter()
        .any(|d| d.attempts.iter().any(|a| a.status.is_some()));
    assert!(!delivered, "every delivery was dropped");
    assert!(stack.rows("opportunities").is_empty());

    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.listed, 2, "{report:?}");
    let mut synced: Vec<&str> = report.synced.iter().map(|(id, _)| id.as_str()).collect();
    synced.sort_unstable();
    let mut both = [first.as_str(), second.as_str()];
    both.sort_unstable();
    assert_eq!(synced, both);
    let row = stack.row("opportunities", record_id("opportunities", &first));
    assert_eq!(row["estimatedvalue"], 300000, "the edit arrived too");
    stack.row("opportunities", record_id("opportunities", &second));
    let watermark = stack
        .store
        .cursor(WATERMARK)
        .await
        .unwrap()
        .expect("stored");
    let updated = stack
        .sim
        .state
        .pc
        .store
        .lock()
        .unwrap()
        .get(&first)
        .unwrap()["updatedDateTime"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        cosell_mapping::timestamp::parse(&watermark.value).unwrap()
            >= cosell_mapping::timestamp::parse(&updated).unwrap()
    );

    // Swept again inside the overlap: both equal what was synced, no Dataverse request.
    stack.reset_counters();
    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        (report.unchanged, report.synced.len()),
        (2, 0),
        "{report:?}"
    );
    assert_eq!(stack.requests("dataverse"), 0);

    // Microsoft edits one while webhooks are still lost: the next sweep syncs that one alone.
    stack
        .edit_referral(
            &second,
            json!({"details": {"notes": "Customer moved the deadline to Q4."}}),
        )
        .await;
    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    let synced: Vec<&str> = report.synced.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(synced, [second.as_str()], "{report:?}");
    let row = stack.row("opportunities", record_id("opportunities", &second));
    assert!(
        row["description"].as_str().unwrap().contains("Q4"),
        "{row:?}"
    );
}

#[tokio::test]
async fn a_second_sweep_while_one_runs_does_nothing() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    let now = OffsetDateTime::now_utc();
    let ttl = std::time::Duration::from_secs(300);
    assert!(
        stack
            .store
            .acquire_lease(cosell_sync::reconcile::LEASE, "other", now, ttl)
            .await
            .unwrap()
    );
    let report = app.reconciler.sweep(now).await.unwrap();
    assert!(report.busy, "{report:?}");
    assert!(stack.store.cursor(WATERMARK).await.unwrap().is_none());
}

/// The reconcile job refreshes the metadata cache once a day, after its sweep, and a metadata
/// failure never fails the sweep.
#[tokio::test]
async fn the_reconcile_job_refreshes_the_metadata_cache_once_a_day() {
    use cosell_sync::metadata::CURSOR;
    let stack = Stack::inbound().await;
    let app = stack
        .jobs(CrmConfig::default(), stepped_backoff(8))
        .with_schema(std::sync::Arc::new(stack.dataverse.clone()));
    let now = time::OffsetDateTime::now_utc();
    let event = json!({"job": "reconcile"});
    retry_scheduler::handle_event(&app, &event, now)
        .await
        .unwrap();
    let cursor = stack.store.cursor(CURSOR).await.unwrap().expect("cached");
    assert_eq!(cursor.updated_at, now);
    let cached: cosell_mapping::metadata::Discovered = serde_json::from_str(&cursor.value).unwrap();
    assert_eq!(cached.help_options.len(), 6);

    let later = now + time::Duration::hours(1);
    retry_scheduler::handle_event(&app, &event, later)
        .await
        .unwrap();
    let cursor = stack.store.cursor(CURSOR).await.unwrap().unwrap();
    assert_eq!(cursor.updated_at, now, "not read again within the day");

    // Metadata the settings cannot read: the sweep still succeeds, the old cache stays.
    let mut wrong = CrmConfig::default();
    wrong.columns.help = "name".into();
    let app = stack
        .jobs(wrong, stepped_backoff(8))
        .with_schema(std::sync::Arc::new(stack.dataverse.clone()));
    let next_day = now + time::Duration::days(2);
    retry_scheduler::handle_event(&app, &event, next_day)
        .await
        .expect("the sweep does not fail for metadata");
    let cursor = stack.store.cursor(CURSOR).await.unwrap().unwrap();
    assert_eq!(cursor.updated_at, now);
}
