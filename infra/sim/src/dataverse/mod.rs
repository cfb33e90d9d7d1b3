//! The Dataverse Web API simulator: the OData subset of `contracts/dataverse.md` under
//! `/api/data/v9.2/` — rows with ETags, queries with paging and `$expand`, PATCH upserts and
//! preconditions, alternate keys, `$batch` change sets, the Win/Lose actions, change tracking
//! with expiring delta tokens, `EntityDefinitions`, the limits on the values a write sends
//! ([`values`]: lengths, money ranges, dates), and the service-protection limits — plus
//! admin routes under `/_admin/dataverse/` to seed, edit and inspect rows as a seller would.

mod actions;
pub mod admin;
mod api;
mod batch;
mod changes;
mod config;
mod customize;
pub mod deliveries;
pub mod error;
pub mod filter;
pub mod ids;
pub mod limits;
mod metadata;
pub mod odata;
pub mod plugins;
mod projection;
mod query;
mod request;
mod rows;
pub mod store;
pub mod values;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use serde_json::{Map, Value};
use uuid::Uuid;

pub use api::API_PATH;
pub use config::{
    ChoiceConfig, DvConfig, DvLenient, LimitConfig, ManyToManyConfig, OperationCost,
    RelationshipConfig, TableConfig,
};
pub use error::DvError;
pub use limits::Limits;

use crate::{Counters, SimState};
use odata::Prefer;
use request::Ctx;
use store::Store;

pub struct DvState {
    /// The tables and settings; replaced whole by a metadata write (a new column, table or
    /// relationship), so a request in flight keeps the one it started with.
    config: Mutex<Arc<DvConfig>>,
    /// `<base>/api/data/v9.2`.
    api: String,
    store: Mutex<Store>,
    pub limits: Limits,
    delta_token_max_age_secs: AtomicU64,
    /// The Dataverse webhook's deliveries (`GET /_admin/dataverse/deliveries`).
    pub deliveries: Arc<deliveries::Deliveries>,
}

impl DvState {
    pub fn new(config: DvConfig, base_url: &str) -> Self {
        Self {
            api: format!("{}{API_PATH}", base_url.trim_end_matches('/')),
            store: Mutex::new({
                let mut store = Store::new(config.first_version);
                plugins::seed(&config, &mut store);
                customize::seed_forms(&config, &mut store);
                store.take_changes(); // a new environment's own rows raise nothing
                store
            }),
            limits: Limits::new(config.limits.clone()),
            delta_token_max_age_secs: AtomicU64::new(config.delta_token_max_age_secs),
            config: Mutex::new(Arc::new(config)),
            deliveries: Arc::default(),
        }
    }

    /// The configuration now (with every metadata write so far).
    pub fn config(&self) -> Arc<DvConfig> {
        self.config.lock().expect("dataverse config").clone()
    }

    /// Changes the configuration, as a metadata write does.
    pub fn update_config(&self, change: impl FnOnce(&mut DvConfig)) {
        let mut config = self.config.lock().expect("dataverse config");
        let mut next = DvConfig::clone(&config);
        change(&mut next);
        *config = Arc::new(next);
    }

    /// `<base>/api/data/v9.2/`, what a client is configured with.
    pub fn api_base_url(&self) -> String {
        format!("{}/", self.api)
    }

    pub fn delta_token_max_age_secs(&self) -> u64 {
        self.delta_token_max_age_secs.load(Ordering::SeqCst)
    }

    pub fn set_delta_token_max_age_secs(&self, secs: u64) {
        self.delta_token_max_age_secs.store(secs, Ordering::SeqCst);
    }

    /// Makes every delta token issued so far fail with `ExpiredVersionStamp`.
    pub fn expire_delta_tokens(&self) {
        let mut store = self.store.lock().expect("dataverse store");
        store.tokens_expired_through = store.version();
        store.bump_version();
    }

    pub fn set_limits(&self, limits: LimitConfig) {
        self.limits.set(limits);
    }

    /// Writes a row as an administrator would: no validation, `_x_value` and closed states
    /// allowed, `x@odata.bind` resolved. Creates the row when the key is missing, else merges
    /// into it. Either way the version moves on, so change tracking reports it.
    pub fn write(
        &self,
        set: &str,
        id: Option<Uuid>,
        columns: Map<String, Value>,
    ) -> Result<Uuid, DvError> {
        let counters = Counters::default();
        let refs = Default::default();
        let config = self.config();
        let ctx = self.ctx(&config, &counters, &refs);
        let mut store = self.store.lock().expect("dataverse store");
        let table = config.table(set);
        let key = table.primary_key(set);
        let mut columns = rows::write_columns(&ctx, &store, set, &columns, true)?;
        let id = match (id, columns.get(&key).and_then(Value::as_str)) {
            (Some(id), _) => id,
            (None, Some(given)) => Uuid::try_parse(given).map_err(|_| {
                DvError::bad_request(format!("Invalid value for '{key}': '{given}'."))
            })?,
            (None, None) => Uuid::new_v4(),
        };
        columns.insert(key, Value::String(id.to_string()));
        let now = rows::now();
        let data = match store.get(set, &id) {
            Some(row) => {
                let mut data = row.data.clone();
                data.extend(columns);
                data
            }
            None => {
                let mut data = table.defaults.clone();
                data.insert("createdon".into(), now.clone().into());
                data.extend(columns);
                data
            }
        };
        let mut data = data;
        data.insert("modifiedon".into(), now.into());
        store.put(set, id, data);
        self.raise_as_seller(&config, &mut store);
        Ok(id)
    }

    /// An admin write is a seller's edit in the app: it raises the webhook as the seller.
    fn raise_as_seller(&self, config: &DvConfig, store: &mut Store) {
        let changes = store.take_changes();
        self.deliveries
            .raise(config, store, changes, deliveries::seller_id());
    }

    /// Seeds a new row (see [`DvState::write`]).
    pub fn seed(&self, set: &str, columns: Map<String, Value>) -> Result<Uuid, DvError> {
        self.write(set, None, columns)
    }

    /// Edits an existing row as a seller would; `None` if it does not exist.
    pub fn edit(
        &self,
        set: &str,
        id: Uuid,
        changes: Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, DvError> {
        if self.row(set, id).is_none() {
            return Ok(None);
        }
        self.write(set, Some(id), changes)?;
        Ok(self.row(set, id))
    }

    /// Deletes a row as a seller would (change tracking reports the deletion).
    pub fn delete(&self, set: &str, id: Uuid) -> bool {
        let mut store = self.store.lock().expect("dataverse store");
        let removed = store.remove(set, &id).is_some();
        self.raise_as_seller(&self.config(), &mut store);
        removed
    }

    /// A row with every column and annotation, plus `@odata.etag`.
    pub fn row(&self, set: &str, id: Uuid) -> Option<Map<String, Value>> {
        let store = self.store.lock().expect("dataverse store");
        store.get(set, &id).map(with_etag)
    }

    /// Every row of a set, in primary key order.
    pub fn rows(&self, set: &str) -> Vec<Map<String, Value>> {
        let store = self.store.lock().expect("dataverse store");
        store.rows(set).map(|(_, row)| with_etag(row)).collect()
    }

    fn ctx<'a>(
        &'a self,
        config: &'a DvConfig,
        counters: &'a Counters,
        refs: &'a std::collections::HashMap<String, (String, Uuid)>,
    ) -> Ctx<'a> {
        Ctx {
            config,
            api: &self.api,
            prefer: Prefer::default(),
            refs,
            delta_token_max_age_secs: self.delta_token_max_age_secs(),
            counters,
            event_prefix: "admin ",
        }
    }
}

fn with_etag(row: &store::StoredRow) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), Value::String(row.etag()));
    out.extend(row.data.clone());
    out
}

pub fn router() -> Router<Arc<SimState>> {
    api::router().merge(admin::router())
}
