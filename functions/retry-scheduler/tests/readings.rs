//! The sweep under every reading of Microsoft's list API, over real sockets: a Microsoft seller's
//! edit of a referral on a late page reaches Dynamics 365 whether Partner Center honours,
//! ignores or refuses `$orderby=updatedDateTime`, and a listing too long for one run goes on in
//! the next from where it stopped.

use std::time::{Duration, Instant};

use cosell_mapping::CrmConfig;
use cosell_mapping::inbound::record_id;
use cosell_partner_center::Reading;
use cosell_sim::partner_center::config::WebhookKnobs;
use cosell_sim::partner_center::referrals::{Source, create_referral};
use cosell_sim::partner_center::{Honour, PcConfig};
use cosell_store::SyncStore;
use cosell_sync::reconcile::{PASS, WATERMARK};
use cosell_sync::{ReconcileSettings, RetrySettings, jobs};
use cosell_transport::deadline;
use serde_json::json;
use time::OffsetDateTime;

use cosell_testkit::referrals::cosell_referral;
use cosell_testkit::sim;
use cosell_testkit::stack::{Stack, stepped_backoff};

/// A stack whose Partner Center lists 10 a page and takes `$orderby=updatedDateTime` as
/// `order` says, every webhook lost, and 30 referrals Microsoft last changed two days ago, a
/// minute apart, stored oldest first: three pages, the first one reaching back past any
/// watermark. Their ids, in stored order.
async fn thirty_old_referrals(order: Honour) -> (Stack, Vec<String>) {
    let pc = PcConfig {
        page_size: 10,
        updated_order: order,
        ..PcConfig::default()
    };
    let stack = Stack::build()
        .on(sim::start_with(pc).await)
        .crm(CrmConfig::default())
        .ingress()
        .start()
        .await;
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..WebhookKnobs::default()
    });
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    let mut ids = Vec::new();
    for i in 0..30 {
        let body = cosell_referral(
            &format!("Fabrikam {i}"),
            "98052",
            &format!("dana{i}@fabrikam.example"),
        );
        let mut created = create_referral(&stack.sim.state, body, Source::Admin).unwrap();
        let at = two_days_ago + time::Duration::minutes(i);
        created["updatedDateTime"] = json!(cosell_mapping::timestamp::format(at));
        ids.push(created["id"].as_str().unwrap().to_owned());
        stack.sim.state.pc.store.lock().unwrap().replace(created);
    }
    (stack, ids)
}

fn sweeper(stack: &Stack, page_reserve: Duration) -> cosell_runtime::Jobs {
    let reconcile = ReconcileSettings {
        page_reserve,
        ..ReconcileSettings::default()
    };
    let retry = RetrySettings::default();
    stack.jobs_with(CrmConfig::default(), stepped_backoff(8), retry, reconcile)
}

/// A Microsoft seller's edit of the 26th referral — on the third page of a listing in stored
/// order — reaches Dynamics 365 with one sweep, read as `reading` in `pages` pages; `status`
/// says how (`said`).
async fn late_page_edit_is_swept(order: Honour, reading: Reading, pages: usize, said: &str) {
    let (stack, ids) = thirty_old_referrals(order).await;
    let app = sweeper(&stack, ReconcileSettings::default().page_reserve);
    // A first sweep sets the watermark: nothing changed in the last hour.
    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.synced.len(), 0, "{report:?}");

    let late = &ids[25];
    stack
        .edit_referral(late, json!({"details": {"dealValue": 420000}}))
        .await;
    let report = app
        .reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    let synced: Vec<&str> = report.synced.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(synced, [late.as_str()], "{report:?}");
    assert_eq!((report.reading, report.pages), (Some(reading), pages));
    let row = stack.row("opportunities", record_id("opportunities", late));
    assert_eq!(row["estimatedvalue"], 420000);

    let job = jobs::read(&*stack.store, jobs::RECONCILE)
        .await
        .unwrap()
        .unwrap();
    let detail = job.detail.unwrap();
    assert!(detail.contains(said), "{detail}");
    assert!(job.note.is_none());
}

#[tokio::test]
async fn a_late_page_edit_is_swept_when_the_order_is_ignored() {
    late_page_edit_is_swept(Honour::Ignored, Reading::Full, 3, "every referral").await;
}

#[tokio::test]
async fn a_late_page_edit_is_swept_when_the_order_is_refused() {
    late_page_edit_is_swept(Honour::Refused, Reading::Full, 3, "every referral").await;
}

/// Newest first, the edit leads the first page, which reaches back past the watermark.
#[tokio::test]
async fn a_late_page_edit_is_swept_reading_newest_first_when_the_order_is_honoured() {
    late_page_edit_is_swept(Honour::Honoured, Reading::Ordered, 1, "newest first").await;
}

/// Each run is left time for one page only: the pass is kept between runs, the watermark stays
/// until the last page is handled, and no page is read twice.
#[tokio::test]
async fn a_pass_too_long_for_one_run_goes_on_in_the_next() {
    let (stack, ids) = thirty_old_referrals(Honour::Refused).await;
    let app = sweeper(&stack, ReconcileSettings::default().page_reserve);
    app.reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .unwrap();
    let watermark = stack.store.cursor(WATERMARK).await.unwrap().unwrap().value;
    for i in [5, 25] {
        stack
            .edit_referral(&ids[i], json!({"details": {"dealValue": 1000 + i}}))
            .await;
    }

    // Under a second left after the first page: less than the least reserve, so one page a
    // run.
    let sweep = || async {
        let run = app.reconciler.sweep(OffsetDateTime::now_utc());
        deadline::within(Some(Instant::now() + Duration::from_millis(900)), run)
            .await
            .unwrap()
    };
    stack.reset_counters();
    let first = sweep().await;
    assert_eq!((first.pages, first.unfinished), (1, Some(1)), "{first:?}");
    assert_eq!(first.synced.len(), 1);
    let kept = stack.store.cursor(PASS).await.unwrap().unwrap();
    assert!(!kept.value.is_empty());
    let unmoved = stack.store.cursor(WATERMARK).await.unwrap().unwrap().value;
    assert_eq!(unmoved, watermark, "not past pages not read yet");
    let job = jobs::read(&*stack.store, jobs::RECONCILE)
        .await
        .unwrap()
        .unwrap();
    assert!(job.detail.unwrap().contains("goes on next run"));

    let second = sweep().await;
    assert_eq!(
        (second.pages, second.unfinished, second.synced.len()),
        (1, Some(2), 0)
    );
    let third = sweep().await;
    assert_eq!((third.pages, third.unfinished), (1, None), "{third:?}");
    let synced: Vec<&str> = third.synced.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(synced, [ids[25].as_str()]);
    assert!(
        stack
            .store
            .cursor(PASS)
            .await
            .unwrap()
            .unwrap()
            .value
            .is_empty()
    );
    let moved = stack.store.cursor(WATERMARK).await.unwrap().unwrap().value;
    assert!(moved > watermark);
    // Three pages, each read once (the refusals were paid by the first sweep's process).
    let pages = stack.sim.state.counters.snapshot().services["partner-center"];
    assert_eq!(
        pages,
        3 + 2,
        "three pages and each synced referral read by id"
    );
}
