//! Webhook registration against the simulator: events, register, view, update, test event and
//! its delivery status.

use std::time::Duration;

use axum::routing::post;
use cosell_partner_center::{WebhookEvent, WebhookRegistration};

use cosell_testkit::sim;
use cosell_testkit::sim::WithPartnerCenter;

/// A receiver on a loopback port that answers 200 and counts what it got.
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received, server)
}

#[tokio::test]
async fn register_view_update_and_test_a_webhook() {
    let WithPartnerCenter {
        client, sim: _sim, ..
    } = sim::with_partner_center().await;
    let events = client.webhook_events().await.unwrap();
    for event in WebhookEvent::REFERRALS
        .iter()
        .chain([&WebhookEvent::TestCreated])
    {
        assert!(events.contains(event), "{event} in {events:?}");
    }
    assert_eq!(client.view_webhook().await.unwrap(), None);

    let (url, mut received, _server) = receiver().await;
    let registered = client
        .register_webhook(
            &WebhookRegistration::new(url.clone(), WebhookEvent::REFERRALS),
            false,
        )
        .await
        .unwrap();
    let subscriber = registered.subscriber_id.clone().expect("a subscriber id");
    let viewed = client.view_webhook().await.unwrap().unwrap();
    assert_eq!(
        (viewed.webhook_url.as_str(), viewed.webhook_events.len()),
        (url.as_str(), 4)
    );

    let not_yet = client.send_test_event().await.unwrap_err();
    assert_eq!(
        not_yet.status(),
        Some(400),
        "test-created is not registered"
    );

    let mut events = WebhookEvent::REFERRALS.to_vec();
    events.push(WebhookEvent::TestCreated);
    let updated = client
        .update_webhook(&WebhookRegistration::new(url.clone(), events))
        .await
        .unwrap();
    assert_eq!(updated.subscriber_id.as_deref(), Some(subscriber.as_str()));

    let test = client.send_test_event().await.unwrap();
    let body = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(body.contains("\"EventName\":\"test-created\""), "{body}");
    let mut status = client
        .test_event_status(&test.correlation_id)
        .await
        .unwrap();
    for _ in 0..50 {
        if status.status.as_deref() == Some("completed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = client
            .test_event_status(&test.correlation_id)
            .await
            .unwrap();
    }
    assert_eq!(status.status.as_deref(), Some("completed"));
    assert_eq!(status.callback_url.as_deref(), Some(url.as_str()));
    assert_eq!(status.results[0].response_code.as_deref(), Some("200"));
}

/// What Microsoft's Power Automate flow registered before cosell.
const POWER_AUTOMATE: &str =
    "https://prod-27.westus.logic.azure.com/workflows/0f1e2d3c/triggers/manual/paths/invoke";
const OURS: &str = "https://abc.lambda-url.eu-west-1.on.aws/";

/// The registration requests the simulator saw, as `METHOD` words, oldest first.
fn registration_methods(sim: &cosell_sim::Sim) -> Vec<String> {
    sim.state
        .pc
        .requests
        .all()
        .into_iter()
        .filter(|r| r.uri.starts_with("/webhooks/v1/registration"))
        .map(|r| r.method)
        .collect()
}

/// Takes over from `POWER_AUTOMATE` with a view that says nothing is registered (stale or
/// wrong): the POST is refused, the PUT replaces, the subscriber stays.
async fn take_over_with_a_stale_view(
    sim: &cosell_sim::Sim,
    client: &cosell_partner_center::PartnerCenter,
) {
    let theirs = client
        .register_webhook(
            &WebhookRegistration::new(POWER_AUTOMATE, WebhookEvent::REFERRALS),
            false,
        )
        .await
        .unwrap();
    let registered = client
        .register_webhook(
            &WebhookRegistration::new(OURS, WebhookEvent::REFERRALS),
            false,
        )
        .await
        .unwrap();
    assert_eq!(registered.webhook_url, OURS);
    assert_eq!(registered.subscriber_id, theirs.subscriber_id);
    let viewed = client.view_webhook().await.unwrap().unwrap();
    assert_eq!(viewed.webhook_url, OURS);
    assert_eq!(registration_methods(sim), ["POST", "POST", "PUT", "GET"]);
}

#[tokio::test]
async fn a_post_refused_as_existing_falls_back_to_put() {
    let WithPartnerCenter { client, sim, .. } = sim::with_partner_center().await;
    take_over_with_a_stale_view(&sim, &client).await;
}

#[tokio::test]
async fn the_fallback_does_not_depend_on_the_refusals_status() {
    // Microsoft names no status for "registration already exists, please use PUT": a 400 must
    // work as the simulator's default 409 does.
    let sim = cosell_sim::Sim::start(cosell_sim::SimConfig {
        partner_center: cosell_sim::partner_center::PcConfig {
            registration_exists_status: 400,
            ..cosell_sim::partner_center::PcConfig::default()
        },
        ..cosell_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let (client, _) = sim::partner_center(&sim, "sim-refresh-token");
    take_over_with_a_stale_view(&sim, &client).await;
}

#[tokio::test]
async fn an_existing_registration_is_replaced_by_put_alone() {
    let WithPartnerCenter { client, sim, .. } = sim::with_partner_center().await;
    client
        .register_webhook(
            &WebhookRegistration::new(POWER_AUTOMATE, WebhookEvent::REFERRALS),
            false,
        )
        .await
        .unwrap();
    client
        .register_webhook(
            &WebhookRegistration::new(OURS, WebhookEvent::REFERRALS),
            true,
        )
        .await
        .unwrap();
    assert_eq!(registration_methods(&sim), ["POST", "PUT"]);
}

#[tokio::test]
async fn a_put_finding_nothing_falls_back_to_post() {
    let WithPartnerCenter { client, sim, .. } = sim::with_partner_center().await;
    let registered = client
        .register_webhook(
            &WebhookRegistration::new(OURS, WebhookEvent::REFERRALS),
            true,
        )
        .await
        .unwrap();
    assert_eq!(registered.webhook_url, OURS);
    assert_eq!(registration_methods(&sim), ["PUT", "POST"]);
}

#[tokio::test]
async fn a_post_refused_for_its_body_reports_that_refusal_not_the_puts() {
    let WithPartnerCenter { client, sim, .. } = sim::with_partner_center().await;
    let error = client
        .register_webhook(
            &WebhookRegistration::new(OURS, vec![WebhookEvent::from("no-such-event")]),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "{error}");
    assert!(error.to_string().contains("no-such-event"), "{error}");
    assert_eq!(registration_methods(&sim), ["POST", "PUT"]);
    assert_eq!(client.view_webhook().await.unwrap(), None);
}
