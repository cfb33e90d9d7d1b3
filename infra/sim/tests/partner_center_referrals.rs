//! The Partner Center simulator's referrals API over raw HTTP: the contract details a client
//! model could get wrong (server fields, eTags, error shape, opaque next links).

use cosell_sim::Audience;
use cosell_sim::partner_center::published::Published;
use cosell_sim::partner_center::{Lenient, PcConfig};
use serde_json::{Value, json};

use cosell_testkit::api::{create, referrals_url, token};
use cosell_testkit::{http, microsoft, sim};

#[tokio::test]
async fn errors_have_the_contract_shape_and_request_ids_are_echoed() {
    let sim = sim::start().await;
    let response = http()
        .get(referrals_url(&sim))
        .header("client-request-id", "7a0f7c0e-0000-4000-8000-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["client-request-id"],
        "7a0f7c0e-0000-4000-8000-000000000001"
    );
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(body["error"]["target"], "referral");

    let webhook_token = token(&sim, Audience::PartnerCenterWebhooks);
    let response = http()
        .get(referrals_url(&sim))
        .bearer_auth(webhook_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "a registration token is not a referrals token"
    );

    let missing = http()
        .get(format!("{}/nope", referrals_url(&sim)))
        .bearer_auth(token(&sim, Audience::PartnerCenter))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"]["code"],
        "itemNotFound"
    );
}

#[tokio::test]
async fn create_fills_server_fields_and_unknown_keys_survive_a_put() {
    let sim = sim::start().await;
    let created = create(&sim, json!({"name": "Fields", "dealSensitivity": "High", "customerProfile": {"name": "Fabrikam"}})).await;
    for key in [
        "id",
        "engagementId",
        "organizationId",
        "organizationName",
        "createdDateTime",
        "updatedDateTime",
        "eTag",
    ] {
        assert!(created[key].is_string(), "{key}: {created}");
    }
    let fraction = created["createdDateTime"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    assert_eq!(fraction.len(), 8, "7 digits then Z");
    let etag = created["eTag"].as_str().unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(
        (created["status"].as_str(), created["substatus"].as_str()),
        (Some("New"), Some("Pending"))
    );
    assert!(
        created["externalReferenceId"].is_null(),
        "documented keys read back as null"
    );
    let id = created["id"].as_str().unwrap();
    assert!(
        created["links"]["self"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(id)
    );

    let url = format!("{}/{id}", referrals_url(&sim));
    let auth = token(&sim, Audience::PartnerCenter);
    let fetched = http().get(&url).bearer_auth(&auth).send().await.unwrap();
    assert_eq!(fetched.headers()["etag"], etag);

    let mut body = writable(&created);
    body["externalReferenceId"] = "crm-1".into();
    body["createdDateTime"] = "2000-01-01T00:00:00Z".into();
    let replaced: Value = http()
        .put(&url)
        .bearer_auth(&auth)
        .header("If-Match", etag)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replaced["dealSensitivity"], "High");
    assert_eq!(replaced["externalReferenceId"], "crm-1");
    assert_eq!(
        replaced["createdDateTime"], created["createdDateTime"],
        "server fields are the server's"
    );
    assert_ne!(replaced["eTag"], created["eTag"]);
}

/// A referral as read, without what the connector's Swagger marks read-only.
fn writable(referral: &Value) -> Value {
    let mut body = referral.clone();
    let members = body.as_object_mut().unwrap();
    for key in &Published::get().referral.read_only {
        members.remove(key);
    }
    body
}

/// The strictest reading of the Swagger's `readOnly`: a create or `PUT` that carries such a
/// member is refused, naming it; a `PUT` without them keeps the service's values.
#[tokio::test]
async fn creates_and_puts_carrying_read_only_members_are_refused() {
    let sim = sim::start().await;
    let auth = token(&sim, Audience::PartnerCenter);
    let refused = http()
        .post(referrals_url(&sim))
        .bearer_auth(&auth)
        .json(&json!({"name": "Directed", "direction": "Outgoing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'direction' is read-only"),
        "{error}"
    );

    let created = create(&sim, json!({"name": "Kept"})).await;
    assert_eq!(created["direction"], "Outgoing", "the service sets it");
    let url = format!(
        "{}/{}",
        referrals_url(&sim),
        created["id"].as_str().unwrap()
    );
    let etag = created["eTag"].as_str().unwrap();
    let put = |body: Value| {
        http()
            .put(&url)
            .bearer_auth(&auth)
            .header("If-Match", etag)
            .json(&body)
            .send()
    };
    for key in &Published::get().referral.read_only {
        let mut body = writable(&created);
        body[key.as_str()] = Value::Null;
        assert_eq!(put(body).await.unwrap().status(), 400, "{key}, even null");
    }
    let replaced: Value = put(writable(&created)).await.unwrap().json().await.unwrap();
    assert_eq!(replaced["direction"], "Outgoing");
}

#[tokio::test]
async fn put_needs_a_current_if_match() {
    let sim = sim::start().await;
    let created = create(&sim, json!({"name": "Guarded"})).await;
    let url = format!(
        "{}/{}",
        referrals_url(&sim),
        created["id"].as_str().unwrap()
    );
    let auth = token(&sim, Audience::PartnerCenter);
    let put = |if_match: Option<&str>| {
        let mut request = http()
            .put(&url)
            .bearer_auth(&auth)
            .json(&writable(&created));
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send()
    };
    let missing = put(None).await.unwrap();
    assert_eq!(missing.status(), 400);
    let ok = put(created["eTag"].as_str()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let stale = put(created["eTag"].as_str()).await.unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(
        stale.json::<Value>().await.unwrap()["error"]["code"],
        "preconditionFailed"
    );
    assert_eq!(put(Some("*")).await.unwrap().status(), 200);
}

/// As the connector declares it: only its allow-listed paths, `replace` or `add`, answered by a
/// bare `204` — no body and no `ETag`, whatever `Prefer` says. The lenient knobs give the older
/// reading back.
#[tokio::test]
async fn patch_takes_the_connectors_paths_only_and_answers_a_bare_204() {
    let sim = sim::start().await;
    let created = create(&sim, json!({"name": "Patched"})).await;
    let url = format!(
        "{}/{}",
        referrals_url(&sim),
        created["id"].as_str().unwrap()
    );
    let auth = token(&sim, Audience::PartnerCenter);
    let patch = |ops: Value, prefer: bool| {
        let mut request = http().patch(&url).bearer_auth(&auth).json(&ops);
        if prefer {
            request = request.header("Prefer", "return=representation");
        }
        request.send()
    };
    for prefer in [false, true] {
        let answer = patch(
            json!([{"op": "add", "path": "/team/-", "value": {"firstName": "Ana"}}]),
            prefer,
        )
        .await
        .unwrap();
        assert_eq!(answer.status(), 204);
        assert!(answer.headers().get("etag").is_none());
        assert!(answer.bytes().await.unwrap().is_empty());
    }
    let name = patch(
        json!([{"op": "replace", "path": "/name", "value": "Renamed"}]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        name.status(),
        400,
        "/name is not in the connector's allow-list"
    );
    let message = name.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("'/name' is not allowed"), "{message}");
    let whole = patch(
        json!([{"op": "add", "path": "/details", "value": {"notes": "n"}}]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(whole.status(), 400, "nor whole objects");
}

#[tokio::test]
async fn lenient_patch_takes_any_member_and_returns_the_body_when_asked() {
    let sim = sim::start_with(PcConfig {
        lenient: Lenient {
            any_patch_path: true,
            patch_representation: true,
            ..Lenient::default()
        },
        ..PcConfig::default()
    })
    .await;
    let created = create(&sim, json!({"name": "Patched"})).await;
    let url = format!(
        "{}/{}",
        referrals_url(&sim),
        created["id"].as_str().unwrap()
    );
    let auth = token(&sim, Audience::PartnerCenter);
    let patch = |ops: Value, prefer: bool| {
        let mut request = http().patch(&url).bearer_auth(&auth).json(&ops);
        if prefer {
            request = request.header("Prefer", "return=representation");
        }
        request.send()
    };
    let quiet = patch(
        json!([{"op": "replace", "path": "/externalReferenceId", "value": "crm-9"}]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(quiet.status(), 204);
    let etag = quiet.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, created["eTag"].as_str().unwrap());

    let loud = patch(
        json!([{"op": "replace", "path": "/name", "value": "Renamed"}]),
        true,
    )
    .await
    .unwrap();
    assert_eq!(loud.status(), 200);
    let body: Value = loud.json().await.unwrap();
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["externalReferenceId"], "crm-9");

    let remove = patch(json!([{"op": "remove", "path": "/name"}]), false)
        .await
        .unwrap();
    assert_eq!(remove.status(), 400);
    let illegal = patch(
        json!([{"op": "replace", "path": "/status", "value": "Active"}]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(illegal.status(), 400, "Active/Pending is not a state");
    let message = illegal.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("New/Pending") && message.contains("Active/Pending"),
        "{message}"
    );
}

#[tokio::test]
async fn the_next_link_is_opaque_and_carries_the_whole_query() {
    let sim = sim::start().await;
    let referrals: Vec<Value> = (0..130)
        .map(|i| json!({"name": format!("r{i}"), "customerProfile": {"address": {"country": if i % 10 == 0 { "DE" } else { "US" }}}}))
        .collect();
    microsoft::seed_referral(&sim, Value::Array(referrals)).await;
    let auth = token(&sim, Audience::PartnerCenter);
    let first: Value = http()
        .get(referrals_url(&sim))
        .query(&[
            ("$filter", "customerProfile/address/country eq 'US'"),
            ("$orderby", "createdDateTime desc"),
        ])
        .bearer_auth(&auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["@odata.count"], 117);
    assert_eq!(first["value"].as_array().unwrap().len(), 100);
    // Partner-rest's documented form: plain http, the default port, a path without /engagements.
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with("http://127.0.0.1/v1.0/referrals?$skiptoken="),
        "{next}"
    );
    assert!(
        !next.contains("filter"),
        "the query travels inside the token: {next}"
    );
    let mut next = url::Url::parse(next).unwrap();
    next.set_port(url::Url::parse(&sim.base_url).unwrap().port())
        .unwrap();
    let second: Value = http()
        .get(next)
        .bearer_auth(&auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 17);
    assert!(second.get("@odata.nextLink").is_none());
    assert!(
        second["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["customerProfile"]["address"]["country"] == "US")
    );
}

#[tokio::test]
async fn a_connected_referral_must_name_an_existing_engagement() {
    let sim = sim::start().await;
    let first = create(&sim, json!({"name": "Partner side", "type": "Shared"})).await;
    let connected = create(
        &sim,
        json!({"name": "Microsoft side", "engagementId": first["engagementId"]}),
    )
    .await;
    assert_eq!(connected["engagementId"], first["engagementId"]);
    assert_ne!(connected["id"], first["id"]);
    let unknown = http()
        .post(referrals_url(&sim))
        .bearer_auth(token(&sim, Audience::PartnerCenter))
        .json(&json!({"name": "Stray", "engagementId": "no-such-engagement"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}
