//! The Dataverse simulator on the wire: status codes, headers and bodies as the contract
//! documents them, checked with a plain HTTP client over real sockets.

use std::time::Duration;

use cosell_sim::dataverse::{LimitConfig, OperationCost};
use cosell_sim::{Audience, Sim, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Dv {
    sim: Sim,
    http: reqwest::Client,
    token: String,
    api: String,
}

impl Dv {
    async fn start() -> Dv {
        let sim = Sim::start(SimConfig::default()).await.expect("sim");
        let (token, _) = sim.state.tokens.issue(Audience::Dataverse);
        let api = sim.state.dv.api_base_url();
        Dv {
            sim,
            http: reqwest::Client::new(),
            token,
            api,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> reqwest::Response {
        self.request(method, path)
            .json(&body)
            .send()
            .await
            .expect("answer")
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .expect("answer");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn event(&self, name: &str) -> u64 {
        self.sim.state.counters.count(name)
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn requests_without_a_dataverse_token_are_401() {
    let dv = Dv::start().await;
    let response = dv
        .http
        .get(format!("{}accounts", dv.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (other, _) = dv.sim.state.tokens.issue(Audience::PartnerCenter);
    let response = dv
        .http
        .get(format!("{}accounts", dv.api))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(error_code(&body).starts_with("0x"), "{body}");
}

#[tokio::test]
async fn create_answers_204_with_the_entity_url_or_201_with_the_row() {
    let dv = Dv::start().await;
    let response = dv
        .json(Method::POST, "accounts", json!({"name": "A"}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let entity = response.headers()["OData-EntityId"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        entity.starts_with(&format!("{}accounts(", dv.api)),
        "{entity}"
    );

    let given = uuid::Uuid::new_v4();
    let response = dv
        .request(Method::POST, "accounts?$select=name")
        .header("Prefer", "return=representation")
        .json(&json!({"name": "B", "accountid": given}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["accountid"],
        given.to_string(),
        "the body may carry its own id"
    );
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#accounts(name)/$entity")
    );
    let etag_b: u64 = body["@odata.etag"]
        .as_str()
        .unwrap()
        .trim_start_matches("W/\"")
        .trim_end_matches('"')
        .parse()
        .unwrap();

    let (_, read) = dv.get(&entity[dv.api.len()..]).await;
    let etag_a: u64 = read["@odata.etag"]
        .as_str()
        .unwrap()
        .trim_start_matches("W/\"")
        .trim_end_matches('"')
        .parse()
        .unwrap();
    assert!(etag_b > etag_a, "one global increasing version");

    let duplicate = dv
        .json(
            Method::POST,
            "accounts",
            json!({"name": "C", "accountid": given}),
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(dv.event("dataverse POST accounts"), 3);
}

#[tokio::test]
async fn malformed_filters_and_change_tracking_options_are_400() {
    let dv = Dv::start().await;
    let (status, body) = dv.get("accounts?$filter=name%20eq%20'O'Bryan'").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "0x80060888");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Syntax error"),
        "{body}"
    );

    for option in [
        "$filter=name%20eq%20'x'",
        "$top=1",
        "$orderby=name",
        "$expand=contact_customer_accounts",
    ] {
        let response = dv
            .request(Method::GET, &format!("accounts?$select=name&{option}"))
            .header("Prefer", "odata.track-changes")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{option}");
    }
}

#[tokio::test]
async fn track_changes_pages_then_hands_a_delta_link_with_deletes() {
    let dv = Dv::start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            dv.sim
                .state
                .dv
                .seed(
                    "contacts",
                    serde_json::from_value(json!({"lastname": format!("L{n}")})).unwrap(),
                )
                .unwrap(),
        );
    }
    let first = dv
        .request(Method::GET, "contacts?$select=lastname")
        .header("Prefer", "odata.track-changes,odata.maxpagesize=2")
        .send()
        .await
        .unwrap();
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    assert!(
        first.get("@odata.deltaLink").is_none(),
        "only the last page has it"
    );
    let next = first["@odata.nextLink"].as_str().unwrap();
    let second: Value = dv
        .http
        .get(next)
        .bearer_auth(&dv.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 1);
    let delta = second["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert!(delta.contains("$deltatoken="), "{delta}");

    assert!(dv.sim.state.dv.delete("contacts", ids[0]));
    let changes: Value = dv
        .http
        .get(&delta)
        .bearer_auth(&dv.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let value = changes["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["id"], ids[0].to_string());
    assert_eq!(value[0]["reason"], "deleted");
    assert!(
        value[0]["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#contacts/$deletedEntity")
    );
    let latest = changes["@odata.deltaLink"].as_str().unwrap().to_owned();

    // Nothing changed since: an empty JSON answer, as the change-tracking page allows.
    let quiet: Value = dv
        .http
        .get(&latest)
        .bearer_auth(&dv.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quiet, serde_json::json!({}));

    dv.sim.state.dv.expire_delta_tokens();
    let expired = dv
        .http
        .get(&delta)
        .bearer_auth(&dv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    let body: Value = expired.json().await.unwrap();
    // No code is published for an expired Web API delta link (0x80044352 is documented for
    // metadata change tracking only): a 400 with another code, which the client must read as
    // expired too.
    assert_ne!(error_code(&body), "0x80044352");
}

const BATCH: &str = "--batch_T\r\nContent-Type: multipart/mixed; boundary=changeset_C\r\n\r\n\
--changeset_C\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{\"name\":\"Batch account\"}\r\n\
--changeset_C\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
POST /api/data/v9.2/opportunities HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{SECOND}\r\n\
--changeset_C--\r\n\
--batch_T\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
GET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\n\r\n\r\n\
--batch_T--\r\n";

async fn post_batch(dv: &Dv, second: &str, prefer: Option<&str>) -> (StatusCode, String, String) {
    let mut request = dv
        .request(Method::POST, "$batch")
        .header("Content-Type", "multipart/mixed; boundary=\"batch_T\"")
        .body(BATCH.replace("{SECOND}", second));
    if let Some(prefer) = prefer {
        request = request.header("Prefer", prefer);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn a_batch_answers_in_the_documented_multipart_form() {
    let dv = Dv::start().await;
    let (status, content_type, body) = post_batch(
        &dv,
        "{\"name\":\"Deal\",\"customerid_account@odata.bind\":\"$1\"}",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("multipart/mixed; boundary=batchresponse_"),
        "{content_type}"
    );
    assert!(
        body.contains("Content-Type: multipart/mixed; boundary=changesetresponse_"),
        "{body}"
    );
    assert!(
        body.contains("Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n"),
        "{body}"
    );
    assert!(body.contains("OData-EntityId: "), "{body}");
    assert!(
        body.contains("HTTP/1.1 200 OK\r\n"),
        "the GET outside the change set: {body}"
    );
    assert!(
        body.contains("Batch account"),
        "the GET sees the committed change set"
    );
    assert!(body.trim_end().ends_with("--"), "closing delimiter");
    let opportunity = &dv.sim.state.dv.rows("opportunities")[0];
    let account = &dv.sim.state.dv.rows("accounts")[0];
    assert_eq!(opportunity["_customerid_value"], account["accountid"]);
    assert_eq!(dv.event("dataverse batch POST opportunities"), 1);
}

#[tokio::test]
async fn a_failing_change_set_is_rolled_back_and_stops_the_batch() {
    let dv = Dv::start().await;
    let (status, _, body) = post_batch(&dv, "{\"description\":\"no name\"}", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the batch takes the failing status"
    );
    // Answered by one error for the whole change set: no Content-ID names a part.
    assert!(
        body.contains("Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 400 Bad Request"),
        "{body}"
    );
    assert!(!body.contains("Content-ID"), "{body}");
    assert!(body.contains("0x80044331"), "{body}");
    assert!(
        !body.contains("HTTP/1.1 200 OK"),
        "processing stopped: {body}"
    );
    assert!(
        dv.sim.state.dv.rows("accounts").is_empty(),
        "part 1 rolled back"
    );

    let (status, _, body) = post_batch(
        &dv,
        "{\"description\":\"no name\"}",
        Some("odata.continue-on-error"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("HTTP/1.1 400 Bad Request") && body.contains("HTTP/1.1 200 OK"),
        "{body}"
    );
    assert!(dv.sim.state.dv.rows("accounts").is_empty());
}

#[tokio::test]
async fn service_protection_answers_429_with_retry_after_and_the_documented_codes() {
    let dv = Dv::start().await;
    dv.sim.state.dv.set_limits(LimitConfig {
        max_requests: 3,
        window_secs: 2,
        ..LimitConfig::default()
    });
    for _ in 0..3 {
        assert_eq!(dv.get("accounts").await.0, StatusCode::OK);
    }
    let response = dv.request(Method::GET, "accounts").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "0x80072322");
    assert_eq!(dv.event("dataverse throttled"), 1);

    dv.sim.state.dv.set_limits(LimitConfig {
        max_concurrent: 1,
        execution_ms: 300,
        ..LimitConfig::default()
    });
    let slow = tokio::spawn({
        let request = dv.request(Method::GET, "accounts");
        async move { request.send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = dv.request(Method::GET, "accounts").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "0x80072326");
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
}

/// A batch of `n` change sets, each creating one account; Content-IDs `first..first+n`.
fn change_sets(n: usize, first: usize) -> String {
    let mut body = String::new();
    for i in 0..n {
        body += &format!(
            "--batch_T\r\nContent-Type: multipart/mixed; boundary=changeset_{i}\r\n\r\n\
--changeset_{i}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n\
POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{{\"name\":\"Account {i}\"}}\r\n\
--changeset_{i}--\r\n",
            first + i
        );
    }
    body + "--batch_T--\r\n"
}

async fn send_batch(dv: &Dv, body: String) -> reqwest::Response {
    dv.request(Method::POST, "$batch")
        .header("Content-Type", "multipart/mixed; boundary=batch_T")
        .header("Prefer", "odata.continue-on-error")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_is_charged_for_every_operation_it_runs() {
    let dv = Dv::start().await;
    dv.sim.state.dv.set_limits(LimitConfig {
        window_secs: 60,
        max_execution_secs: Some(1),
        cost: OperationCost {
            read_ms: 0,
            write_ms: 150,
        },
        ..LimitConfig::default()
    });
    let started = std::time::Instant::now();
    let response = send_batch(&dv, change_sets(8, 1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(8 * 150),
        "8 writes of 150 ms answered in {:?}",
        started.elapsed()
    );
    assert_eq!(response.headers()["x-ms-dop-hint"], "8");
    assert_eq!(dv.sim.state.dv.rows("accounts").len(), 8);
    // One request, 1.2 s of server time: the window's 1 s is spent.
    let response = dv.request(Method::GET, "accounts").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "0x80072321");
}

#[tokio::test]
async fn content_ids_are_unique_across_the_batch() {
    let dv = Dv::start().await;
    let twice = change_sets(2, 1).replace("Content-ID: 2", "Content-ID: 1");
    let response = send_batch(&dv, twice).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("Content-ID '1'"));
    assert!(dv.sim.state.dv.rows("accounts").is_empty());
    assert_eq!(
        send_batch(&dv, change_sets(2, 1)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn upsert_preconditions_and_alternate_keys() {
    let dv = Dv::start().await;
    let id = uuid::Uuid::new_v4();
    let path = format!("opportunities({id})");
    let missing = dv
        .request(Method::PATCH, &path)
        .header("If-Match", "*")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let created = dv.json(Method::PATCH, &path, json!({"name": "x"})).await;
    assert_eq!(created.status(), StatusCode::NO_CONTENT);
    let again = dv
        .request(Method::PATCH, &path)
        .header("If-None-Match", "*")
        .json(&json!({"name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::PRECONDITION_FAILED);
    let stale = dv
        .request(Method::PATCH, &path)
        .header("If-Match", "W/\"1\"")
        .json(&json!({"name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    let by_key = dv
        .json(
            Method::PATCH,
            "accounts(accountnumber='O''Bryan')",
            json!({"name": "K"}),
        )
        .await;
    assert_eq!(by_key.status(), StatusCode::NO_CONTENT);
    let (status, body) = dv
        .get("accounts(accountnumber='o''bryan')?$select=name")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "K");
    let (status, _) = dv.get("accounts(name='K')").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a key column");
    let clash = dv
        .json(
            Method::POST,
            "accounts",
            json!({"name": "L", "accountnumber": "O'BRYAN"}),
        )
        .await;
    assert_eq!(
        clash.status(),
        StatusCode::PRECONDITION_FAILED,
        "alternate key values are unique"
    );
}

#[tokio::test]
async fn entity_definitions_serve_the_preflight_queries() {
    let dv = Dv::start().await;
    let (status, body) = dv
        .get("EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled%20eq%20true")
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["LogicalName"].as_str())
        .collect();
    assert!(
        names.contains(&"opportunity") && names.contains(&"account"),
        "{names:?}"
    );
    assert!(!names.contains(&"transactioncurrency"));
    let (_, body) = dv
        .get("EntityDefinitions(LogicalName='opportunity')?$select=LogicalName&$expand=Attributes($select=LogicalName)")
        .await;
    let attributes = body["Attributes"].as_array().unwrap();
    assert!(
        attributes
            .iter()
            .any(|a| a["LogicalName"] == "msft_microsoftcrmidentifier")
    );
}

#[tokio::test]
async fn admin_routes_seed_edit_and_inspect_like_a_seller() {
    let dv = Dv::start().await;
    let admin = format!("{}/_admin/dataverse", dv.sim.base_url);
    let seeded: Value = dv
        .http
        .post(format!("{admin}/rows/opportunities"))
        .json(&json!([{"name": "One"}, {"name": "Two", "statecode": 1, "statuscode": 3}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = seeded["ids"][0].as_str().unwrap().to_owned();
    let before: Value = dv
        .http
        .get(format!("{admin}/rows/opportunities/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let edited: Value = dv
        .http
        .patch(format!("{admin}/rows/opportunities/{id}"))
        .json(&json!({"msft_microsoftpartnercenterreferralsync": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        before["@odata.etag"], edited["@odata.etag"],
        "a seller's edit moves the version"
    );
    assert_eq!(edited["msft_microsoftpartnercenterreferralsync"], true);
    let all: Value = dv
        .http
        .get(format!("{admin}/rows/opportunities"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["value"].as_array().unwrap().len(), 2);

    let limits = dv
        .http
        .put(format!("{admin}/limits"))
        .json(&json!({"max_requests": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(limits.status(), StatusCode::NO_CONTENT);
    assert_eq!(dv.sim.state.dv.limits.config().max_requests, 1);
    let expired = dv
        .http
        .post(format!("{admin}/delta-tokens/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::NO_CONTENT);
    let gone = dv
        .http
        .delete(format!("{admin}/rows/opportunities/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let missing = dv
        .http
        .get(format!("{admin}/rows/opportunities/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// Microsoft's Task reference: a task's regarding lookup is bound per target through
/// `regardingobjectid_<target>_task` (relationships Opportunity_Tasks, Lead_Tasks); the
/// activity-pointer name `regardingobjectid_opportunity` is not a navigation property of task.
#[tokio::test]
async fn a_task_is_bound_to_its_record_only_through_the_documented_navigation_property() {
    let dv = Dv::start().await;
    let opportunity = uuid::Uuid::new_v4();
    let created = dv
        .json(
            Method::PATCH,
            &format!("opportunities({opportunity})"),
            json!({"name": "Contoso"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::NO_CONTENT);
    let wrong = dv
        .json(
            Method::POST,
            "tasks",
            json!({"subject": "Answer", "regardingobjectid_opportunity@odata.bind": format!("/opportunities({opportunity})")}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let right = dv
        .json(
            Method::POST,
            "tasks",
            json!({"subject": "Answer", "regardingobjectid_opportunity_task@odata.bind": format!("/opportunities({opportunity})")}),
        )
        .await;
    assert_eq!(right.status(), StatusCode::NO_CONTENT);
    let tasks = dv.sim.state.dv.rows("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["_regardingobjectid_value"],
        opportunity.to_string()
    );
    assert_eq!(
        (&tasks[0]["statecode"], &tasks[0]["statuscode"]),
        (&json!(0), &json!(2))
    );
    assert!(tasks[0]["activityid"].is_string(), "keyed activityid");
}

#[tokio::test]
async fn the_webhook_sink_records_posts_and_answers_as_told() {
    let dv = Dv::start().await;
    let base = &dv.sim.base_url;
    let post = |body: Value| {
        dv.http
            .post(format!("{base}/hooks/teams"))
            .json(&body)
            .send()
    };
    assert_eq!(post(json!({"text": "one"})).await.unwrap().status(), 202);
    let refused = dv
        .http
        .put(format!("{base}/_admin/hooks/teams/answer"))
        .json(&json!({"status": 410, "body": "gone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 204);
    let answer = post(json!({"text": "two"})).await.unwrap();
    assert_eq!(answer.status(), 410);
    assert_eq!(answer.text().await.unwrap(), "gone");
    let listed: Value = dv
        .http
        .get(format!("{base}/_admin/hooks/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["posted"], json!([{"text": "one"}]));
}
