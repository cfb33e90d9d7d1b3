//! The one Lambda takes both kinds of events: the EventBridge Scheduler's (a poll) and a Function
//! URL request (the Dataverse webhook), told apart by `requestContext.http`.

use base64::Engine;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use time::OffsetDateTime;

use cosell_testkit::crm::{Deal, remote_execution_context};
use cosell_testkit::stack::Stack;
use cosell_testkit::stack::{HEADER, KEY};

fn function_url_event(body: &Value, key: &str) -> Value {
    let body = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            HEADER: key,
            "x-ms-dynamics-entity-name": "opportunity",
            "x-ms-dynamics-request-name": "Update",
            "x-ms-dynamics-organization": "contoso.crm.dynamics.com"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "20.50.1.1", "userAgent": "Dataverse"},
            "requestId": "c7a1e5d2-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:07:00:00 +0000",
            "timeEpoch": 1795503600000_i64
        },
        "body": body,
        "isBase64Encoded": true
    })
}

/// The event as the Lambda runtime hands it over, with a minute left.
fn invocation(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    context.deadline = now_ms + 60_000;
    LambdaEvent::new(payload, context)
}

#[tokio::test]
async fn a_scheduler_event_polls_and_a_function_url_event_is_the_webhook() {
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());

    // EventBridge Scheduler's event: no requestContext.
    let scheduled = json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-11-24T07:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:scheduler:eu-west-1:123456789012:schedule/default/cosell-outbound"],
        "detail": "{}"
    });
    let answer = outbound_sync::handle_event(&stack.outbound_sync().app, invocation(scheduled))
        .await
        .unwrap();
    assert_eq!(answer["worked"], 1, "{answer}");
    let referral_id = stack.referral_id_of(id);

    // A Function URL request carrying the RemoteExecutionContext, base64-encoded.
    stack.seller_edit(id, json!({"description": "Via the webhook."}));
    let event = function_url_event(&remote_execution_context(id), KEY);
    let answer = outbound_sync::handle_event(&stack.outbound_sync().app, invocation(event))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], format!("updated: {referral_id}\n"));
    assert_eq!(
        stack.referral(&referral_id)["details"]["notes"],
        "Via the webhook."
    );

    // The same shape with a forged key: 401, nothing read.
    stack.reset_counters();
    let event = function_url_event(&remote_execution_context(id), "forged");
    let answer = outbound_sync::handle_event(&stack.outbound_sync().app, invocation(event))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 401);
    assert_eq!(
        stack.requests("dataverse") + stack.requests("partner-center"),
        0
    );
}

#[tokio::test]
async fn a_function_url_event_may_carry_the_key_as_the_code_query_parameter() {
    // A service endpoint with WebhookKey authentication: Dataverse adds `?code=<key>` to the URL,
    // and the Function URL event carries it in rawQueryString, with no key header.
    let stack = Stack::outbound().await;
    let id = stack.seed_deal(&Deal::default());
    let by_code = |code: &str| {
        let mut event = function_url_event(&remote_execution_context(id), "");
        let headers = event["headers"].as_object_mut().unwrap();
        headers.remove(HEADER);
        event["rawQueryString"] = json!(format!("code={code}"));
        event
    };

    stack.reset_counters();
    let answer =
        outbound_sync::handle_event(&stack.outbound_sync().app, invocation(by_code("forged")))
            .await
            .unwrap();
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert_eq!(stack.requests("dataverse"), 0);

    let answer = outbound_sync::handle_event(&stack.outbound_sync().app, invocation(by_code(KEY)))
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(
        answer["body"].as_str().unwrap().starts_with("created: "),
        "{answer}"
    );
}
