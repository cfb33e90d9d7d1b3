//! Webhook registration against the simulator: events, register, view, update, test event and
//! its delivery status.

mod support;

use std::time::Duration;

use axum::routing::post;
use cosell_partner_center::{WebhookEvent, WebhookRegistration};
use support::*;

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
    let Setup {
        client, sim: _sim, ..
    } = setup().await;
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
        .register_webhook(&WebhookRegistration::new(
            url.clone(),
            WebhookEvent::REFERRALS,
        ))
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
