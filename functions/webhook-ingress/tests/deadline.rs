//! A handler that dies mid-sync loses nothing, and one that would outlive its invocation parks
//! instead: over real sockets, against the simulators, with an in-memory store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cosell_partner_center::webhook::WebhookEnvelope;
use cosell_sim::{Fault, FaultSettings, Service};
use cosell_store::{RetryState, SyncStore};
use cosell_sync::Handled;
use time::OffsetDateTime;
use webhook_ingress::App;

use cosell_testkit::referrals::event_body;
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

fn envelope(referral_id: &str) -> WebhookEnvelope {
    WebhookEnvelope {
        event_name: "referral-created".into(),
        resource_uri: format!(
            "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"
        ),
        resource_name: Some("referral".into()),
        audit_uri: None,
        resource_change_utc_date: Some("2026-01-01T00:00:00.0000000+00:00".into()),
    }
}

/// The stack with Partner Center's own deliveries sent nowhere (each test hands the event to
/// the handler itself), a referral seeded, and an app that waits little for a held delivery.
async fn stack_with_referral() -> (Stack, String, App) {
    let stack = Stack::inbound().await;
    stack.deliver_nowhere().await;
    let id = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    let mut settings = stack.settings.clone();
    settings.inbound.lease_wait = Duration::from_millis(300);
    // Leases are stamped with the wall clock: a short one, so a dead handler's is soon free.
    settings.inbound.lease_ttl = Duration::from_secs(1);
    let app = settings.app(stack.store.clone(), &stack.partner_center, &stack.dataverse);
    (stack, id, app)
}

fn dataverse_latency(stack: &Stack, ms: u64) {
    stack.sim.state.faults.set(
        Service::Dataverse,
        FaultSettings {
            latency_ms: ms,
            ..Default::default()
        },
    );
}

/// Dataverse answers the next request 429 with a `Retry-After` of a minute.
fn throttle_once(stack: &Stack) {
    let faults = &stack.sim.state.faults;
    let retry_after = FaultSettings {
        retry_after_secs: 60,
        ..Default::default()
    };
    faults.set(Service::Dataverse, retry_after);
    faults.script(Service::Dataverse, [Fault::TooManyRequests]);
}

#[tokio::test]
async fn a_sync_killed_mid_flight_is_synced_by_the_redelivery() {
    let (stack, id, app) = stack_with_referral().await;
    let app = Arc::new(app);
    let now = OffsetDateTime::now_utc();
    dataverse_latency(&stack, 5_000);
    stack.reset_counters();
    let dying = {
        let app = app.clone();
        let envelope = envelope(&id);
        tokio::spawn(async move { app.sync.handle(&envelope, now).await })
    };
    stack
        .wait_for("the sync to reach Dataverse", || {
            stack.requests("dataverse") > 0
        })
        .await;
    dying.abort(); // a Lambda timeout, an out-of-memory kill
    assert!(dying.await.unwrap_err().is_cancelled());
    dataverse_latency(&stack, 0);
    assert!(stack.rows("opportunities").is_empty());

    // Redelivered while the dead handler's hold lasts: "deliver it again", not "duplicate".
    let early = app.sync.handle(&envelope(&id), now).await.unwrap();
    assert!(matches!(early, Handled::InFlight { .. }), "{early:?}");
    let answer = webhook_ingress::answer(
        &app,
        &http::Method::POST,
        &stack.signed_headers(&event_body(&id)),
        event_body(&id),
    )
    .await;
    assert_eq!(
        answer.status,
        http::StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );

    // Once the hold has passed, the redelivery syncs the referral.
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the dead handler's lease
    let later = now + app.sync.settings().event_hold + time::Duration::seconds(1);
    let redelivered = app.sync.handle(&envelope(&id), later).await.unwrap();
    assert!(
        matches!(redelivered, Handled::Synced { created: true, .. }),
        "{redelivered:?}"
    );
    assert_eq!(stack.rows("opportunities").len(), 1);
    // ...and now it is done: the next one is a duplicate.
    let again = app.sync.handle(&envelope(&id), later).await.unwrap();
    assert_eq!(again, Handled::Duplicate);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_parks_instead_of_overrunning() {
    let (stack, id, app) = stack_with_referral().await;
    let now = OffsetDateTime::now_utc();
    throttle_once(&stack);
    // The test clients honour a Retry-After up to 2 s: 1.5 s left cannot wait it out.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let handled =
        cosell_transport::deadline::within(Some(deadline), app.sync.handle(&envelope(&id), now))
            .await
            .unwrap();
    assert!(Instant::now() < deadline, "answered in time");
    let Handled::Parked {
        retry_id,
        message,
        permanent,
        ..
    } = handled
    else {
        panic!("expected parked, got {handled:?}");
    };
    assert!(!permanent);
    assert!(message.contains("out of time"), "{message}");
    assert!(message.contains("after HTTP 429"), "{message}");
    let item = stack.store.retry(&retry_id).await.unwrap().unwrap();
    assert_eq!(item.state, RetryState::Pending);
    // The parked item is the delivery's durable outcome: a redelivery is a duplicate.
    let again = app.sync.handle(&envelope(&id), now).await.unwrap();
    assert_eq!(again, Handled::Duplicate);
}

#[tokio::test]
async fn the_router_works_to_the_lambda_invocations_deadline() {
    use lambda_http::tower::ServiceExt;

    let (stack, id, app) = stack_with_referral().await;
    throttle_once(&stack);
    // The invocation has the reserve and 1.5 s left: the test clients' 2 s wait for the
    // Retry-After does not fit, so the delivery is parked. Without the Lambda context the router
    // would have serve's 27 s, wait, and sync.
    let mut context = lambda_http::Context::default();
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    let reserve = cosell_runtime::budget::RESERVE.as_millis() as u64;
    context.deadline = now_ms + reserve + 1_500;
    let body = event_body(&id);
    let mut request = http::Request::post("/")
        .body(axum::body::Body::from(body.clone()))
        .unwrap();
    *request.headers_mut() = stack.signed_headers(&body);
    request.extensions_mut().insert(context);
    let started = Instant::now();
    let response = webhook_ingress::router(Arc::new(app))
        .oneshot(request)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "answered in time"
    );
    assert_eq!(response.status(), 200);
    let handled = response.extensions().get::<Handled>().cloned();
    assert!(
        matches!(
            handled,
            Some(Handled::Parked {
                permanent: false,
                ..
            })
        ),
        "{handled:?}"
    );
    let text = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert!(text.starts_with(b"accepted, parked as "), "{text:?}");
}

/// The create's change set reached Dataverse but its answer never came back (a dropped
/// connection; a process killed there is the same): the record exists, its link does not. A
/// seller edits it, Microsoft edits the referral; the redo finds the record through the create's
/// intent and merges against the deal that create wrote — the seller's edit stays, Microsoft's
/// is written.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_finished_without_writing_over_a_sellers_edit() {
    let (stack, id, app) = stack_with_referral().await;
    let now = OffsetDateTime::now_utc();
    dataverse_latency(&stack, 300);
    stack.reset_counters();
    let handling = tokio::spawn({
        let (sync, envelope) = (app.sync.clone(), envelope(&id));
        async move { sync.handle(&envelope, now).await }
    });
    // The create's first write is its change set, counted before the simulator's latency and
    // its fault decided after: its answer is lost.
    let posted = || stack.route("dataverse POST /api/data/v9.2/{*path}") > 0;
    stack.wait_for("the create's change set", posted).await;
    let faults = &stack.sim.state.faults;
    faults.script(Service::Dataverse, [Fault::LostAnswer; 3]); // each of the client's attempts
    let parked = handling.await.unwrap().unwrap();
    dataverse_latency(&stack, 0);
    assert!(matches!(parked, Handled::Parked { .. }), "{parked:?}");
    let opportunity = cosell_mapping::inbound::record_id("opportunities", &id);
    let written = stack.row("opportunities", opportunity);
    assert_eq!(
        written["description"],
        "Retire the on-premises warehouse before Q3."
    );
    assert!(
        stack
            .port()
            .link_by_referral(&rid(&id))
            .await
            .unwrap()
            .is_none()
    );

    // Both sides edit: the seller the description, Microsoft the deal value.
    stack.seller_edit(
        opportunity,
        serde_json::json!({"description": "Seller's note"}),
    );
    let patch = serde_json::json!({"details": {"dealValue": 310000}});
    stack.edit_referral(&id, patch).await;

    let redone = app
        .sync
        .redo(&rid(&id), serde_json::Value::Null, now)
        .await
        .unwrap();
    assert!(matches!(redone, Handled::Synced { .. }), "{redone:?}");
    let row = stack.row("opportunities", opportunity);
    assert_eq!(
        row["description"], "Seller's note",
        "the seller's edit stays"
    );
    assert_eq!(
        row["estimatedvalue"], 310000.0,
        "Microsoft's edit is written"
    );
    assert_eq!(stack.rows("opportunities").len(), 1);
    // The link agrees on Partner Center's deal, so the outbound sync sends the seller's note.
    let link = stack.link(&id).await;
    assert_eq!(
        link.deal.as_ref().unwrap()["notes"],
        "Retire the on-premises warehouse before Q3."
    );
    assert!(
        stack.parked_referral(&id).await.is_none(),
        "the intent is gone with the work"
    );
}
