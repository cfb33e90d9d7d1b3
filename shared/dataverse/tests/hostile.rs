//! Hostile change-tracking answers: whatever body Dataverse (or something in its place) answers a
//! delta link with, the outbound cursor gets a page or a typed [`DataverseError`], never a panic,
//! and never follows a link off the service with the bearer token.
//!
//! The page parser is private, so it is driven through [`DataverseClient::changes_page`] and
//! [`DataverseClient::changes_since`] against a local route that answers each case's body.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use cosell_dataverse::{DataverseClient, DataverseConfig, DataverseError, DeltaLink, Id};
use cosell_transport::{ApiError, HttpConfig, RetryPolicy, Secret};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Cases per property.
const CASES: u32 = 256;

const SAMPLE: &str = r#"{
  "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#opportunities(name,statecode)/$delta",
  "@odata.deltaLink": "DELTA?$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44",
  "value": [
    {"@odata.etag": "W/\"4519807\"", "opportunityid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
     "name": "Fabrikam ✔", "statecode": 0, "estimatedvalue": 250000.0},
    {"@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$deletedEntity",
     "id": "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d", "reason": "deleted"},
    {"id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "reason": "deleted"}
  ]
}"#;

// ---------------------------------------------------------------------------------------------
// One runtime, one answering route and one client for every case

struct World {
    runtime: tokio::runtime::Runtime,
    client: DataverseClient,
    /// The API base URL, with a trailing `/`.
    api: String,
    answer: Arc<Mutex<Answer>>,
    /// One case at a time talks to the route (the properties run on parallel threads).
    serial: Mutex<()>,
}

#[derive(Default)]
struct Answer {
    body: Vec<u8>,
    /// API requests answered since the case started (token requests aside).
    requests: usize,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let answer = Arc::new(Mutex::new(Answer::default()));
        let base = runtime.block_on(async {
            let app = axum::Router::new()
                .route(
                    "/token",
                    post(|| async { axum::Json(json!({"access_token": "t", "expires_in": 3600})) }),
                )
                .route("/api/data/v9.2/{*rest}", get(answer_case))
                .with_state(answer.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            base
        });
        let api = format!("{base}/api/data/v9.2/");
        let mut config = DataverseConfig::new(api.clone(), "tenant", "app", Secret::new("s"));
        config.token_url = format!("{base}/token");
        config.http = HttpConfig {
            timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
                max_retry_after: Duration::from_millis(1),
            },
            rate_limit: None,
        };
        let client = DataverseClient::new(config).expect("client");
        World {
            runtime,
            client,
            api,
            answer,
            serial: Mutex::new(()),
        }
    })
}

async fn answer_case(
    State(answer): State<Arc<Mutex<Answer>>>,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let mut answer = answer.lock().unwrap();
    answer.requests += 1;
    (
        [("content-type", "application/json; odata.metadata=minimal")],
        answer.body.clone(),
    )
}

/// Runs `call` with the route answering `body` to every API request; returns its outcome and the
/// number of API requests it made.
fn exchange<T>(body: &[u8], call: impl AsyncFnOnce(&DataverseClient) -> T) -> (T, usize) {
    let world = world();
    let _serial = world.serial.lock().unwrap_or_else(|e| e.into_inner());
    *world.answer.lock().unwrap() = Answer {
        body: body.to_vec(),
        requests: 0,
    };
    let outcome = world.runtime.block_on(call(&world.client));
    let requests = world.answer.lock().unwrap().requests;
    (outcome, requests)
}

/// A delta link on the service (what the sync stores as its cursor).
fn delta_link() -> String {
    format!("{}opportunities?$deltatoken=919042", world().api)
}

// ---------------------------------------------------------------------------------------------
// What an answer may end in

/// The page as the parser must read it: the same fields with the same serde rules, so that
/// exactly the same bodies are refused.
#[derive(Deserialize)]
struct Expected {
    /// Absent: nothing changed (an empty answer), so the link asked stays the cursor.
    value: Option<Vec<Value>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// A typed error the change feed may give for a bad answer: the body is not a page
/// ([`ApiError::Decode`]), or a change in it is not usable ([`DataverseError::Protocol`]).
fn check_answer_error(error: &DataverseError) -> Result<(), TestCaseError> {
    match error {
        DataverseError::Api(ApiError::Decode {
            service, operation, ..
        }) => {
            prop_assert_eq!(*service, "dataverse");
            prop_assert_eq!(*operation, "changes");
        }
        DataverseError::Protocol { operation, detail } => {
            prop_assert_eq!(*operation, "changes");
            prop_assert!(
                detail == "a change is not a JSON object"
                    || detail == "a deleted entry without an id"
                    || detail == "the last page has no @odata.deltaLink"
                    || detail.starts_with("link "),
                "{detail}"
            );
        }
        other => prop_assert!(false, "not an answer error: {other:?}"),
    }
    let text = error.to_string();
    prop_assert!(text.starts_with("dataverse "), "{text}");
    prop_assert!(!text.contains("panicked"), "{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => select(&[1e308, -1e308, 5e-324, 7.922816251426434e28][..]).prop_map(|f| json!(f)),
        2 => any::<String>().prop_map(Value::String),
        1 => select(&[
            "",
            "deleted",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            " {3F2504E0-4F89-11D3-9A0C-0305E82C3301} ",
            "https://org.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$deletedEntity",
            "W/\"1\"",
        ][..])
        .prop_map(Value::from),
        1 => (1usize..20_000).prop_map(|n| Value::String("ü".repeat(n))),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(&[
            "value",
            "@odata.nextLink",
            "@odata.deltaLink",
            "@odata.context",
            "@odata.etag",
            "id",
            "reason",
            "opportunityid",
            "name",
        ][..])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|e| Value::Object(e.into_iter().collect())),
            ]
        })
        .boxed()
}

/// Something in place of a change: mostly an object of the keys a change has, else any JSON.
fn a_change() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::collection::vec((key(), leaf()), 0..6)
            .prop_map(|e| Value::Object(e.into_iter().collect())),
        1 => any_json(),
    ]
    .boxed()
}

/// The sample page with one to four fields (at the top, or of one change) dropped or replaced,
/// a change replaced, or more changes added.
fn almost_page() -> BoxedStrategy<Value> {
    #[derive(Debug, Clone)]
    enum Edit {
        Top(Index, Option<Value>),
        Change(Index, Index, Option<Value>),
        ReplaceChange(Index, Value),
        AddChange(Value),
    }
    let edit = prop_oneof![
        (any::<Index>(), prop::option::of(any_json())).prop_map(|(f, v)| Edit::Top(f, v)),
        (any::<Index>(), any::<Index>(), prop::option::of(leaf()))
            .prop_map(|(c, f, v)| Edit::Change(c, f, v)),
        (any::<Index>(), a_change()).prop_map(|(c, v)| Edit::ReplaceChange(c, v)),
        a_change().prop_map(Edit::AddChange),
    ];
    prop::collection::vec(edit, 1..5)
        .prop_map(|edits| {
            let mut page: Value = serde_json::from_str(SAMPLE).unwrap();
            let link = format!("{}?x=1", delta_link());
            page["@odata.deltaLink"] = json!(link);
            for edit in edits {
                let top = page.as_object_mut().unwrap();
                let changes = top.get_mut("value").and_then(Value::as_array_mut);
                match (edit, changes) {
                    (Edit::Top(field, value), _) => {
                        let keys: Vec<String> = top.keys().cloned().collect();
                        if keys.is_empty() {
                            continue;
                        }
                        let key = field.get(&keys).clone();
                        match value {
                            None => top.remove(&key),
                            Some(v) => top.insert(key, v),
                        };
                    }
                    (Edit::Change(at, field, value), Some(changes)) if !changes.is_empty() => {
                        let at = at.index(changes.len());
                        if let Value::Object(change) = &mut changes[at] {
                            let keys: Vec<String> = change.keys().cloned().collect();
                            if keys.is_empty() {
                                continue;
                            }
                            let key = field.get(&keys).clone();
                            match value {
                                None => change.remove(&key),
                                Some(v) => change.insert(key, v),
                            };
                        }
                    }
                    (Edit::ReplaceChange(at, value), Some(changes)) if !changes.is_empty() => {
                        let at = at.index(changes.len());
                        changes[at] = value;
                    }
                    (Edit::AddChange(value), Some(changes)) => changes.push(value),
                    _ => {}
                }
            }
            page
        })
        .boxed()
}

/// Any answer body: random bytes, any JSON, an almost valid page, a page cut short, or one
/// nested past the JSON reader's recursion limit.
fn answer_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        2 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        4 => almost_page().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => any::<Index>().prop_map(|cut| SAMPLE.as_bytes()[..cut.index(SAMPLE.len())].to_vec()),
        1 => (100usize..5_000).prop_map(|depth| {
            format!(
                r#"{{"value":[{{"opportunityid":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","deep":{}1{}}}]}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()
        }),
    ]
    .boxed()
}

/// One change of a generated page.
#[derive(Debug, Clone)]
enum Change {
    Upsert {
        id: Uuid,
        etag: Option<String>,
        columns: Vec<(String, Value)>,
    },
    /// `$deletedEntity` by its context, or the short `{id, reason: "deleted"}` form.
    Deleted { id: Uuid, by_context: bool },
}

fn change() -> BoxedStrategy<Change> {
    let column = "[a-z][a-z0-9_]{0,15}".prop_filter("not a deletion marker", |k| {
        k != "id" && k != "reason" && k != "opportunityid"
    });
    prop_oneof![
        (
            any::<u128>(),
            prop::option::of("W/\"[0-9]{1,10}\""),
            prop::collection::vec((column, leaf()), 0..6),
        )
            .prop_map(|(id, etag, columns)| Change::Upsert {
                id: Uuid::from_u128(id),
                etag,
                columns
            }),
        (any::<u128>(), any::<bool>()).prop_map(|(id, by_context)| Change::Deleted {
            id: Uuid::from_u128(id),
            by_context
        }),
    ]
    .boxed()
}

fn page_json(changes: &[Change], next: Option<&str>, delta: Option<&str>) -> Value {
    let value: Vec<Value> = changes
        .iter()
        .map(|change| match change {
            Change::Upsert { id, etag, columns } => {
                let mut row: Map<String, Value> = columns.iter().cloned().collect();
                row.insert("opportunityid".into(), json!(id.to_string()));
                if let Some(etag) = etag {
                    row.insert("@odata.etag".into(), json!(etag));
                }
                Value::Object(row)
            }
            Change::Deleted {
                id,
                by_context: true,
            } => json!({
                "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$deletedEntity",
                "id": id.to_string(),
                "reason": "deleted",
            }),
            Change::Deleted {
                id,
                by_context: false,
            } => json!({"id": id.to_string(), "reason": "deleted"}),
        })
        .collect();
    let mut page = json!({"@odata.context": "ctx", "value": value});
    if let Some(next) = next {
        page["@odata.nextLink"] = json!(next);
    }
    if let Some(delta) = delta {
        page["@odata.deltaLink"] = json!(delta);
    }
    page
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Any answer to a delta link: a page holding one upsert or deletion per change and the
    /// links as sent, or a typed answer error.
    #[test]
    fn any_answer_is_a_page_or_a_typed_error(body in answer_body()) {
        let link = delta_link();
        let (outcome, requests) =
            exchange(&body, async |client| client.changes_page(&link).await);
        prop_assert_eq!(requests, 1);
        match outcome {
            Ok(page) => {
                let expected: Expected =
                    serde_json::from_slice(&body).expect("the parser accepted a page");
                let empty = expected.value.is_none()
                    && expected.next_link.is_none()
                    && expected.delta_link.is_none();
                let changes = expected.value.as_ref().map_or(0, Vec::len);
                prop_assert_eq!(page.upserted.len() + page.deleted.len(), changes);
                prop_assert_eq!(page.next_link, expected.next_link);
                let delta = if empty { Some(link.clone()) } else { expected.delta_link };
                prop_assert_eq!(page.delta_link.map(|d| d.0), delta);
                for record in &page.upserted {
                    prop_assert!(!record.row.contains_key("@odata.etag"));
                    prop_assert!(!record.row.contains_key("@odata.context"));
                }
            }
            Err(error) => {
                check_answer_error(&error)?;
                let refused_by_serde = serde_json::from_slice::<Expected>(&body).is_err();
                let decode = matches!(error, DataverseError::Api(ApiError::Decode { .. }));
                prop_assert_eq!(decode, refused_by_serde, "{}", error);
            }
        }
    }

    /// A generated page: the upserts in order with their ids and ETags split off, the deletions'
    /// ids in order (either form), and the links exactly as sent.
    #[test]
    fn a_generated_page_reads_back(
        changes in prop::collection::vec(change(), 0..12),
        next in prop::option::of("[a-z0-9=&%]{1,30}"),
        delta in prop::option::of("[a-z0-9=&%]{1,30}"),
    ) {
        let next = next.map(|n| format!("{}opportunities?$skiptoken={n}", world().api));
        let delta = delta.map(|d| format!("{}opportunities?$deltatoken={d}", world().api));
        let body = serde_json::to_vec(&page_json(&changes, next.as_deref(), delta.as_deref())).unwrap();
        let link = delta_link();
        let (outcome, _) = exchange(&body, async |client| client.changes_page(&link).await);
        let page = outcome.expect("a generated page reads");

        // The rows as JSON reads them (floats included), to compare the records with.
        let sent: Value = serde_json::from_slice(&body).unwrap();
        let mut sent_rows = sent["value"].as_array().unwrap().iter().map(|row| row.as_object().unwrap());
        let mut upserts = page.upserted.iter();
        let mut deletions = page.deleted.iter();
        for change in &changes {
            match change {
                Change::Upsert { id, etag, .. } => {
                    let record = upserts.next().expect("one record per upsert");
                    prop_assert_eq!(record.id("opportunityid"), Some(Id(*id)));
                    prop_assert_eq!(record.etag.as_ref().map(|e| e.0.clone()), etag.clone());
                    let mut sent = sent_rows.next().expect("one row per change").clone();
                    sent.remove("@odata.etag");
                    prop_assert_eq!(&record.row, &sent, "every column as sent");
                }
                Change::Deleted { id, .. } => {
                    sent_rows.next();
                    prop_assert_eq!(deletions.next(), Some(&Id(*id)));
                }
            }
        }
        prop_assert!(upserts.next().is_none() && deletions.next().is_none());
        prop_assert_eq!(page.next_link, next);
        prop_assert_eq!(page.delta_link, delta.map(DeltaLink));
    }

    /// Following pages: a next link off the service is refused before any request is sent to it,
    /// a last page without a delta link is an error, and a delta link ends the walk.
    #[test]
    fn changes_since_follows_only_links_on_the_service(
        changes in prop::collection::vec(change(), 0..6),
        ending in 0..4u8,
        host in "[a-z]{1,10}",
    ) {
        let delta = format!("{}opportunities?$deltatoken=next", world().api);
        let (next, last_delta) = match ending {
            0 => (Some(format!("https://{host}.example/api/data/v9.2/opportunities?$skiptoken=1")), None),
            1 => (Some(format!("{host}:not a url")), None),
            2 => (None, None),
            _ => (None, Some(delta.clone())),
        };
        let body = serde_json::to_vec(&page_json(&changes, next.as_deref(), last_delta.as_deref())).unwrap();
        let link = DeltaLink(delta_link());
        let (outcome, requests) = exchange(&body, async |client| client.changes_since(&link).await);
        prop_assert_eq!(requests, 1, "only the first page is asked for");
        match ending {
            0..=2 => {
                let error = outcome.expect_err("no delta link to end on");
                check_answer_error(&error)?;
                let expected = if ending == 2 {
                    "the last page has no @odata.deltaLink"
                } else {
                    "link"
                };
                prop_assert!(error.to_string().contains(expected), "{}", error);
            }
            _ => {
                let changes_read = outcome.expect("a last page with a delta link");
                prop_assert_eq!(changes_read.delta_link, DeltaLink(delta));
                prop_assert_eq!(changes_read.upserted.len() + changes_read.deleted.len(), changes.len());
            }
        }
    }

    /// Any stored cursor: a link off the service (or not a URL) is refused without a request,
    /// so the bearer token never leaves the service.
    #[test]
    fn a_stored_link_off_the_service_is_never_requested(
        link in prop_oneof![
            any::<String>(),
            "(https?|ftp)://[a-z0-9.:@]{0,20}/[ -~]{0,20}",
            Just(String::from("http://127.0.0.1/api/data/v9.2/opportunities")),
        ],
    ) {
        let (outcome, requests) =
            exchange(SAMPLE.as_bytes(), async |client| client.changes_page(&link).await);
        let same_origin = url::Url::parse(&link).is_ok_and(|url| {
            url.origin() == url::Url::parse(&world().api).unwrap().origin()
        });
        prop_assert!(!same_origin, "generated links are off the service: {link}");
        prop_assert_eq!(requests, 0);
        let error = outcome.expect_err("refused");
        prop_assert!(matches!(&error, DataverseError::Protocol { operation: "changes", .. }), "{error:?}");
    }
}
