//! The whole inbound path over real sockets: the simulator (Partner Center + Dataverse + tokens),
//! the ingress handler hosted on an axum server, the real clients, and an in-memory SQLite store.
#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cosell_dataverse::DataverseClient;
use cosell_mapping::CrmConfig;
use cosell_partner_center::{PartnerCenter, WebhookEvent, WebhookRegistration};
use cosell_sim::Sim;
use cosell_store::{SqliteStore, SyncStore};
use cosell_sync::InboundSettings;
use http::{HeaderMap, Method};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use webhook_ingress::{App, Settings, handle};

pub use cosell_testkit::sim::{self};

/// A running stack.
pub struct Stack {
    pub sim: Sim,
    pub store: Arc<SqliteStore>,
    pub app: Arc<App>,
    /// Where the ingress handler listens.
    pub url: String,
    pub dataverse: DataverseClient,
    pub partner_center: PartnerCenter,
    pub settings: Settings,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts everything with the default CRM settings.
pub async fn start() -> Stack {
    start_with(CrmConfig::default()).await
}

pub async fn start_with(crm: CrmConfig) -> Stack {
    let sim = sim::start().await;
    let (dataverse, partner_center) = sim::clients(&sim, sim::http(3));
    let settings = Settings {
        verifier: sim::verifier(&sim),
        crm,
        inbound: InboundSettings {
            lease_wait: Duration::from_secs(3),
            backoff: cosell_sync::backoff::Backoff {
                base: Duration::from_secs(1),
                jitter: cosell_sync::backoff::Jitter::None,
                ..Default::default()
            },
            ..InboundSettings::default()
        },
    };
    let store = Arc::new(SqliteStore::in_memory().expect("sqlite store"));
    let app = Arc::new(
        App::new(
            settings.clone(),
            store.clone(),
            Arc::new(partner_center.clone()),
            Arc::new(dataverse.clone()),
        )
        .expect("app"),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/webhook", axum::routing::any(serve))
        .with_state(app.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });

    partner_center
        .register_webhook(&WebhookRegistration::new(
            url.clone(),
            WebhookEvent::REFERRALS.to_vec(),
        ))
        .await
        .expect("webhook registered");

    // The currencies a real environment has.
    for (code, name) in [("USD", "US Dollar"), ("EUR", "Euro")] {
        sim.state
            .dv
            .seed(
                "transactioncurrencies",
                object(json!({"isocurrencycode": code, "currencyname": name})),
            )
            .unwrap();
    }
    Stack {
        sim,
        store,
        app,
        url,
        dataverse,
        partner_center,
        settings,
        server,
    }
}

async fn serve(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> (http::StatusCode, String) {
    // On its own task, as `cosell serve` hosts it: a delivery that times out must not cancel
    // the sync halfway (Lambda runs an invocation to its end).
    tokio::spawn(async move { handle(&app, &method, &headers, body).await })
        .await
        .expect("handler panicked")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

impl Stack {
    /// Another app over the same services but its own store, as after a crash that lost a write
    /// to the store.
    pub fn app_with_store(&self, store: Arc<dyn SyncStore>) -> App {
        App::new(
            self.settings.clone(),
            store,
            Arc::new(self.partner_center.clone()),
            Arc::new(self.dataverse.clone()),
        )
        .expect("app")
    }

    /// Seeds a referral as Microsoft would create it (fires `referral-created`).
    pub async fn seed_referral(&self, referral: Value) -> Value {
        let response = http()
            .post(format!(
                "{}/_admin/partner-center/referrals",
                self.sim.base_url
            ))
            .json(&referral)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    /// Seeds [`cosell_referral`] for this customer; its id.
    pub async fn seed_cosell(&self, customer: &str, postal: &str, email: &str) -> String {
        id_of(
            &self
                .seed_referral(cosell_referral(customer, postal, email))
                .await,
        )
    }

    /// A Microsoft seller's edit (fires `referral-updated`).
    pub async fn edit_referral(&self, id: &str, patch: Value) -> Value {
        let response = http()
            .patch(format!(
                "{}/_admin/partner-center/referrals/{id}",
                self.sim.base_url
            ))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    /// Dataverse requests so far (token requests are counted apart).
    pub fn dataverse_requests(&self) -> u64 {
        self.sim
            .state
            .counters
            .snapshot()
            .services
            .get("dataverse")
            .copied()
            .unwrap_or(0)
    }

    pub fn reset_counters(&self) {
        self.sim.state.counters.reset();
    }

    /// Waits until `count` deliveries have been answered 2xx by the handler. The simulator logs a
    /// delivery once the answer came back, so the handler's work is done by then.
    pub async fn wait_delivered(&self, count: usize) {
        self.wait_for("webhook deliveries", || {
            self.sim
                .state
                .pc
                .webhooks
                .log()
                .iter()
                .filter(|d| d.attempts.iter().any(|a| a.status == Some(200)))
                .count()
                >= count
        })
        .await;
    }

    /// Polls `condition` until it holds; panics after a deadline.
    pub async fn wait_for(&self, what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn rows(&self, set: &str) -> Vec<Map<String, Value>> {
        self.sim.state.dv.rows(set)
    }

    pub fn row(&self, set: &str, id: uuid::Uuid) -> Map<String, Value> {
        self.sim
            .state
            .dv
            .row(set, id)
            .unwrap_or_else(|| panic!("no {set} row {id}"))
    }
}

/// An incoming co-sell referral from another partner, as Microsoft's seeding creates it.
pub fn cosell_referral(customer: &str, postal: &str, email: &str) -> Value {
    json!({
        "name": format!("{customer} - Azure migration"),
        "type": "Shared",
        "qualification": "SalesQualified",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": customer,
            "size": "Size1000to9999",
            "address": {
                "addressLine1": "1 Microsoft Way",
                "city": "Redmond",
                "state": "WA",
                "postalCode": postal,
                "country": "US"
            },
            "team": [{
                "firstName": "Dana",
                "lastName": "Whitfield",
                "phoneNumber": "+1 425 555 0100",
                "email": email
            }]
        },
        "consent": {
            "consentToContact": true,
            "consentToShareReferralWithMicrosoftSellers": true
        },
        "details": {
            "notes": "Retire the on-premises warehouse before Q3.",
            "dealValue": 250000.5,
            "currency": "USD",
            "closingDateTime": "2026-06-30T00:00:00Z",
            "requirements": {"solutions": [{"id": "SOL-2F5A1C7E", "name": "Accelerator"}]}
        },
        "inviteContext": {
            "notes": "Technical workshop requested.",
            "invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"},
            "assistanceRequestCode": "CustomerTechnicalArchitecture"
        },
        "trackingInfo": {"microsoftMsxId": "7-3JKX9QWERT"}
    })
}

/// A marketplace lead: Independent, Direct, from Microsoft.
pub fn marketplace_lead() -> Value {
    json!({
        "name": "Trial: Data Estate Accelerator",
        "type": "Independent",
        "qualification": "Direct",
        "customerProfile": {
            "name": "Wide World Importers",
            "address": {"addressLine1": "200 Harbour Street", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "AU"},
            "team": [{"firstName": "Priya", "lastName": "Raman", "email": "priya@wideworldimporters.example"}]
        },
        "details": {"notes": "Started a trial.", "dealValue": 1200, "currency": "AUD", "closingDateTime": "2026-08-01T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}}
    })
}

/// The id field of a seeded referral.
pub fn id_of(referral: &Value) -> String {
    referral["id"].as_str().expect("referral id").to_owned()
}

/// The store, as the port.
pub fn port(stack: &Stack) -> &dyn SyncStore {
    stack.store.as_ref()
}
