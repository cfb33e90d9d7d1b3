//! The whole inbound path over real sockets: the simulator (Partner Center + Dataverse + tokens),
//! the ingress handler hosted on an axum server, the real clients, and an in-memory SQLite store.
#![allow(dead_code, unused_imports)] // each test file uses a different part

use std::sync::Arc;

use cosell_dataverse::DataverseClient;
use cosell_mapping::CrmConfig;
use cosell_partner_center::PartnerCenter;
use cosell_sim::Sim;
use cosell_store::{SqliteStore, SyncStore};
use cosell_testkit::stack::IngressSettings;
use serde_json::{Map, Value, json};
use webhook_ingress::App;

pub use cosell_testkit::sim::{self};
pub use cosell_testkit::stack::{self, http, object};

/// A running stack.
pub struct Stack {
    pub sim: Sim,
    pub store: Arc<SqliteStore>,
    pub app: Arc<App>,
    /// Where the ingress handler listens.
    pub url: String,
    pub dataverse: DataverseClient,
    pub partner_center: PartnerCenter,
    pub settings: IngressSettings,
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
    start_on(sim::start().await, crm).await
}

/// Starts the handler over `sim` (e.g. [`sim::start_with_dataverse`]).
pub async fn start_on(sim: cosell_sim::Sim, crm: CrmConfig) -> Stack {
    let (dataverse, partner_center) = sim::clients(&sim, sim::http(3));
    let store = Arc::new(SqliteStore::in_memory().expect("sqlite store"));
    let ingress = stack::ingress(&sim, store.clone(), &partner_center, &dataverse, crm).await;
    stack::seed_currencies(&sim);
    Stack {
        sim,
        store,
        app: ingress.app,
        url: ingress.url,
        dataverse,
        partner_center,
        settings: ingress.settings,
        server: ingress.server,
    }
}

impl Stack {
    /// Stops the handler: deliveries fail from now on (as when its process is replaced).
    pub fn stop_ingress(&self) {
        self.server.abort();
    }

    /// Another app over the same services but its own store, as after a crash that lost a write
    /// to the store.
    pub fn app_with_store(&self, store: Arc<dyn SyncStore>) -> App {
        self.settings
            .app(store, &self.partner_center, &self.dataverse)
    }

    /// Points Partner Center's webhook at nowhere: a test then hands events to the handler
    /// itself, and no delivery of the simulator's races it.
    pub async fn deliver_nowhere(&self) {
        let nowhere = cosell_partner_center::WebhookRegistration::new(
            "http://127.0.0.1:9/nowhere",
            cosell_partner_center::WebhookEvent::REFERRALS.to_vec(),
        );
        self.partner_center
            .register_webhook(&nowhere, false)
            .await
            .expect("registered");
    }

    /// The headers Partner Center signs `body` with, naming the simulator's certificate.
    pub fn signed_headers(&self, body: &[u8]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let signature = cosell_sim::partner_center::signing::Signer::get().sign(body);
        headers.insert(
            "authorization",
            format!("Signature {signature}").parse().unwrap(),
        );
        let certificate_url = &self.sim.state.pc.certificate_url;
        headers.insert("x-ms-certificate-url", certificate_url.parse().unwrap());
        headers.insert("x-ms-signature-algorithm", "rsa-sha256".parse().unwrap());
        headers
    }

    /// Seeds a referral as Microsoft would create it (fires `referral-created`).
    pub async fn seed_referral(&self, referral: Value) -> Value {
        stack::seed_referral(&self.sim, referral).await
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
        stack::edit_referral(&self.sim, id, patch).await
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
        stack::wait_for(what, condition).await;
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

/// [`cosell_referral`] as Microsoft sends it and still waiting for an answer (Incoming, New), with
/// a contact email of its own per customer.
pub fn waiting_referral(customer: &str) -> Value {
    let email = format!(
        "dana@{}.example",
        customer.split([' ', ',']).next().unwrap()
    );
    let mut referral = cosell_referral(customer, "98052", &email);
    referral["direction"] = json!("Incoming");
    referral["status"] = json!("New");
    referral["substatus"] = json!("Pending");
    referral
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

/// A `referral-created` event body for `referral_id`, as Partner Center posts it.
pub fn event_body(referral_id: &str) -> bytes::Bytes {
    bytes::Bytes::from(
        serde_json::to_vec(&json!({
            "EventName": "referral-created",
            "ResourceUri": format!(
                "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"
            ),
            "ResourceName": "referral",
            "AuditUri": null,
            "ResourceChangeUtcDate": "2026-01-01T00:00:00.0000000+00:00",
        }))
        .unwrap(),
    )
}
