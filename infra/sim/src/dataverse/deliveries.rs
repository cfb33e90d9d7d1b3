//! The Dataverse webhook, delivered: every create, update and delete that a registered step
//! covers — through the Web API (the application user) or an admin write playing a seller's
//! edit — is posted to the step's service endpoint as a `RemoteExecutionContext` shaped like
//! the sample in Microsoft's "Use webhooks" page, asynchronously, after the write (a rolled-back
//! change set raises nothing). Dataverse's retry rule: one more attempt after a 502, 503 or 504,
//! none otherwise. Each delivery is logged for `GET /_admin/dataverse/deliveries`.
//!
//! Steps match by their message filter (message and table), `statecode` 0, and for `Update` their
//! `filteringattributes` (none: every change). A step's pre-image carries the listed columns of
//! the row as it was. Endpoints with WebhookKey authentication (`authtype` 4) are called with
//! `?code=<authvalue>`; the other forms are logged as not simulated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::config::DvConfig;
use super::ids::{filter_id, stable_id};
use super::store::{RowChange, Store};

const ENTITY: &str = "Entity:http://schemas.microsoft.com/xrm/2011/Contracts";
const REFERENCE: &str = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts";
/// Columns every write touches, which no step filters on.
const SYSTEM: [&str; 2] = ["versionnumber", "modifiedon"];

/// The user an admin write (a seller's edit in the simulated app) acts as.
pub fn seller_id() -> Uuid {
    stable_id("systemuser:seller")
}

/// One delivery, as `GET /_admin/dataverse/deliveries` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: u64,
    /// The endpoint's URL, without the key.
    pub url: String,
    pub entity: String,
    pub record_id: Uuid,
    pub message: String,
    /// The last answer's status; `None` before one, or after a connection error.
    pub status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
}

pub struct Deliveries {
    log: Mutex<Vec<DeliveryRecord>>,
    next: AtomicU64,
    client: reqwest::Client,
}

impl Default for Deliveries {
    fn default() -> Self {
        Self {
            log: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            client: reqwest::Client::builder()
                .no_proxy()
                // Dataverse's webhook timeout.
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        }
    }
}

impl Deliveries {
    /// Every delivery so far, oldest first.
    pub fn log(&self) -> Vec<DeliveryRecord> {
        self.log.lock().expect("deliveries log").clone()
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut DeliveryRecord)) {
        if let Some(record) = self
            .log
            .lock()
            .expect("deliveries log")
            .iter_mut()
            .find(|r| r.id == id)
        {
            change(record);
        }
    }

    /// Raises the events `changes` make, as `initiator`, for every step that covers them.
    pub fn raise(
        self: &Arc<Self>,
        config: &DvConfig,
        store: &Store,
        changes: Vec<RowChange>,
        initiator: Uuid,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime (a start-up seed): nothing can be listening yet
        };
        for change in changes {
            for (url, context, record) in self.events(config, store, &change, initiator) {
                let log = Arc::clone(self);
                log.log.lock().expect("deliveries log").push(record.clone());
                runtime.spawn(async move { log.deliver(record.id, url, context).await });
            }
        }
    }

    /// The deliveries one change makes: (URL with the key, context, log record).
    fn events(
        &self,
        config: &DvConfig,
        store: &Store,
        change: &RowChange,
        initiator: Uuid,
    ) -> Vec<(reqwest::Url, Value, DeliveryRecord)> {
        let logical = config.table(&change.set).logical_name(&change.set);
        let (message, changed) = match (&change.before, &change.after) {
            (None, Some(_)) => ("Create", Vec::new()),
            (Some(before), Some(after)) => ("Update", changed_columns(before, after)),
            (Some(_), None) => ("Delete", Vec::new()),
            (None, None) => return Vec::new(),
        };
        if message == "Update" && changed.is_empty() {
            return Vec::new();
        }
        let filter = filter_id(message, &logical).to_string();
        let mut events = Vec::new();
        for (step_id, step) in store.rows("sdkmessageprocessingsteps") {
            let text = |column: &str| step.data.get(column).and_then(Value::as_str).unwrap_or("");
            if !text("_sdkmessagefilterid_value").eq_ignore_ascii_case(&filter)
                || step
                    .data
                    .get("statecode")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    != 0
            {
                continue;
            }
            let filtering: Vec<&str> = text("filteringattributes")
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if message == "Update"
                && !filtering.is_empty()
                && !changed.iter().any(|c| filtering.contains(&c.as_str()))
            {
                continue;
            }
            let Some(endpoint) = Uuid::try_parse(text("_eventhandler_value"))
                .ok()
                .and_then(|id| store.get("serviceendpoints", &id))
            else {
                continue;
            };
            let endpoint_text = |column: &str| {
                endpoint
                    .data
                    .get(column)
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let mut record = DeliveryRecord {
                id,
                url: endpoint_text("url").to_owned(),
                entity: logical.clone(),
                record_id: change.id,
                message: message.to_owned(),
                status: None,
                attempts: 0,
                error: None,
            };
            let url = match (
                reqwest::Url::parse(endpoint_text("url")),
                endpoint.data.get("authtype").and_then(Value::as_i64),
            ) {
                (Ok(mut url), Some(4)) => {
                    url.query_pairs_mut()
                        .append_pair("code", endpoint_text("authvalue"));
                    url
                }
                (Ok(_), other) => {
                    record.error = Some(format!("authtype {other:?} is not simulated"));
                    self.log.lock().expect("deliveries log").push(record);
                    continue;
                }
                (Err(error), _) => {
                    record.error = Some(format!("not a URL: {error}"));
                    self.log.lock().expect("deliveries log").push(record);
                    continue;
                }
            };
            let images = pre_images(store, *step_id, change.before.as_ref(), &logical, change.id);
            let context = context(message, &logical, change, &changed, images, initiator);
            events.push((url, context, record));
        }
        events
    }

    async fn deliver(self: Arc<Self>, id: u64, url: reqwest::Url, context: Value) {
        for attempt in 1..=2 {
            let answer = self.client.post(url.clone()).json(&context).send().await;
            let status = answer.as_ref().ok().map(|r| r.status().as_u16());
            self.update(id, |record| {
                record.attempts = attempt;
                record.status = status;
                record.error = answer.as_ref().err().map(|e| e.to_string());
            });
            if !matches!(status, Some(502..=504)) {
                return;
            }
        }
    }
}

/// The logical columns whose value differs (a lookup's `_x_value` is column `x`).
fn changed_columns(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    after
        .iter()
        .filter(|(name, value)| {
            !name.contains('@')
                && !SYSTEM.contains(&name.as_str())
                && before.get(*name) != Some(value)
        })
        .map(|(name, _)| logical_column(name).to_owned())
        .collect()
}

fn logical_column(stored: &str) -> &str {
    stored
        .strip_prefix('_')
        .and_then(|s| s.strip_suffix("_value"))
        .unwrap_or(stored)
}

/// The row's columns as the context carries them: `[{"key", "value"}]`, a lookup as an entity
/// reference; only `columns` when given.
fn attributes(row: &Map<String, Value>, columns: Option<&[String]>) -> Vec<Value> {
    row.iter()
        .filter(|(name, _)| !name.contains('@'))
        .filter(|(name, _)| columns.is_none_or(|c| c.iter().any(|c| c == logical_column(name))))
        .map(|(name, value)| {
            let key = logical_column(name);
            let target = row.get(&format!("{name}@Microsoft.Dynamics.CRM.lookuplogicalname"));
            let value = match (key != name.as_str(), target, value) {
                (true, Some(target), Value::String(id)) => {
                    json!({"__type": REFERENCE, "Id": id, "LogicalName": target, "Name": null})
                }
                _ => value.clone(),
            };
            json!({"key": key, "value": value})
        })
        .collect()
}

/// The step's pre-images: `[{"key": alias, "value": entity}]` from the row as it was.
fn pre_images(
    store: &Store,
    step: Uuid,
    before: Option<&Map<String, Value>>,
    logical: &str,
    id: Uuid,
) -> Vec<Value> {
    let Some(before) = before else {
        return Vec::new();
    };
    store
        .rows("sdkmessageprocessingstepimages")
        .filter(|(_, image)| {
            image
                .data
                .get("_sdkmessageprocessingstepid_value")
                .and_then(Value::as_str)
                == Some(step.to_string().as_str())
        })
        .map(|(_, image)| {
            let text = |c: &str| image.data.get(c).and_then(Value::as_str).unwrap_or("");
            let columns: Vec<String> = text("attributes")
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            json!({"key": text("entityalias"), "value": {
                "__type": ENTITY,
                "Attributes": attributes(before, (!columns.is_empty()).then_some(&columns[..])),
                "Id": id, "LogicalName": logical,
            }})
        })
        .collect()
}

fn context(
    message: &str,
    logical: &str,
    change: &RowChange,
    changed: &[String],
    pre_images: Vec<Value>,
    initiator: Uuid,
) -> Value {
    let target = match (&change.after, message) {
        (Some(after), "Update") => json!({"__type": ENTITY,
            "Attributes": attributes(after, Some(changed)), "Id": change.id, "LogicalName": logical}),
        (Some(after), _) => json!({"__type": ENTITY,
            "Attributes": attributes(after, None), "Id": change.id, "LogicalName": logical}),
        (None, _) => {
            json!({"__type": REFERENCE, "Id": change.id, "LogicalName": logical, "Name": null})
        }
    };
    json!({
        "BusinessUnitId": stable_id("businessunit:root"),
        "CorrelationId": Uuid::new_v4(),
        "Depth": 1,
        "InitiatingUserId": initiator,
        "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": false,
        "IsInTransaction": false,
        "IsOfflinePlayback": false,
        "IsolationMode": 1,
        "MessageName": message,
        "Mode": 1,
        "OperationId": Uuid::new_v4(),
        "OrganizationId": stable_id("organization"),
        "OrganizationName": "contoso",
        "OutputParameters": [],
        "OwningExtension": {"LogicalName": "sdkmessageprocessingstep"},
        "PostEntityImages": [],
        "PreEntityImages": pre_images,
        "PrimaryEntityId": change.id,
        "PrimaryEntityName": logical,
        "RequestId": Uuid::new_v4(),
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserId": initiator,
    })
}
