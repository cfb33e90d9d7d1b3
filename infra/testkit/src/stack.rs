//! The pieces of a running test stack every function's tests share: webhook-ingress hosted on a
//! real socket and registered with the simulator, the currencies an environment has, a Microsoft
//! seller's actions through the simulator's admin routes, and waiting for what happens next.

use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::DataverseClient;
use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::{VerifierConfig, WebhookVerifier};
use cosell_partner_center::{PartnerCenter, WebhookEvent, WebhookRegistration};
use cosell_sim::Sim;
use cosell_store::SyncStore;
use cosell_sync::backoff::{Backoff, Jitter};
use cosell_sync::{InboundSettings, InboundSync};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::sim;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A schedule that retries within the test: 1 s, 2 s, …, no jitter.
pub fn fast_backoff() -> Backoff {
    Backoff {
        base: Duration::from_secs(1),
        jitter: Jitter::None,
        ..Backoff::default()
    }
}

/// The inbound sync's settings in tests: a 3 s lease wait, [`fast_backoff`].
pub fn inbound_settings() -> InboundSettings {
    InboundSettings {
        lease_wait: Duration::from_secs(3),
        backoff: fast_backoff(),
        ..InboundSettings::default()
    }
}

/// What webhook-ingress is built from in tests; a process reads it all from
/// [`cosell_runtime::Settings`].
#[derive(Debug, Clone)]
pub struct IngressSettings {
    pub verifier: VerifierConfig,
    pub crm: CrmConfig,
    pub inbound: InboundSettings,
}

impl IngressSettings {
    /// webhook-ingress over `store` and the clients.
    pub fn app(
        &self,
        store: Arc<dyn SyncStore>,
        partner_center: &PartnerCenter,
        dataverse: &DataverseClient,
    ) -> webhook_ingress::App {
        let sync = InboundSync::new(
            store,
            Arc::new(partner_center.clone()),
            Arc::new(dataverse.clone()),
            self.crm.clone(),
            self.inbound.clone(),
        );
        let verifier = WebhookVerifier::new(self.verifier.clone()).expect("verifier");
        webhook_ingress::App::over(verifier, Arc::new(sync))
    }
}

/// webhook-ingress on its own server, registered for the referral events.
pub struct Ingress {
    pub app: Arc<webhook_ingress::App>,
    pub settings: IngressSettings,
    /// Where it listens.
    pub url: String,
    pub server: JoinHandle<()>,
}

/// Hosts webhook-ingress's router over `store` and the clients, and registers it with the
/// simulator.
pub async fn ingress(
    sim: &Sim,
    store: Arc<dyn SyncStore>,
    partner_center: &PartnerCenter,
    dataverse: &DataverseClient,
    crm: CrmConfig,
) -> Ingress {
    let settings = IngressSettings {
        verifier: sim::verifier(sim),
        crm,
        inbound: inbound_settings(),
    };
    let app = Arc::new(settings.app(store, partner_center, dataverse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let router = axum::Router::new().nest_service("/webhook", webhook_ingress::router(app.clone()));
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    partner_center
        .register_webhook(
            &WebhookRegistration::new(url.clone(), WebhookEvent::REFERRALS.to_vec()),
            false,
        )
        .await
        .expect("webhook registered");
    Ingress {
        app,
        settings,
        url,
        server,
    }
}

/// The currencies a real environment has (USD, EUR): their row ids by ISO code.
pub fn seed_currencies(sim: &Sim) -> Map<String, Value> {
    let mut currencies = Map::new();
    for (code, name) in [("USD", "US Dollar"), ("EUR", "Euro")] {
        let row = object(json!({"isocurrencycode": code, "currencyname": name}));
        let id = sim.state.dv.seed("transactioncurrencies", row).unwrap();
        currencies.insert(code.into(), Value::String(id.to_string()));
    }
    currencies
}

/// A referral as Microsoft creates it (fires `referral-created`); the referral.
pub async fn seed_referral(sim: &Sim, referral: Value) -> Value {
    let url = format!("{}/_admin/partner-center/referrals", sim.base_url);
    let response = http().post(url).json(&referral).send().await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// A Microsoft seller's edit in Partner Center (fires `referral-updated`); the referral.
pub async fn edit_referral(sim: &Sim, id: &str, patch: Value) -> Value {
    let url = format!("{}/_admin/partner-center/referrals/{id}", sim.base_url);
    let response = http().patch(url).json(&patch).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Polls `condition` until it holds; panics after 10 s.
pub async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
