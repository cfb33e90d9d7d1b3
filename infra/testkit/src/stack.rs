//! The system as deployed, in one test: the simulators, the functions' routers hosted on real
//! sockets over one in-memory SQLite store and the real clients, the scheduled jobs beside them —
//! and what a test does to it and reads from it.
//!
//! ```ignore
//! let stack = Stack::inbound().await;                      // webhook-ingress, registered
//! let stack = Stack::outbound().await;                     // outbound-sync alone
//! let stack = Stack::build().crm(crm).ingress().outbound().on(sim).start().await;
//! ```

use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::DataverseClient;
use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::{VerifierConfig, WebhookVerifier};
use cosell_partner_center::{PartnerCenter, WebhookEvent, WebhookRegistration};
use cosell_runtime::Jobs;
use cosell_sim::Sim;
use cosell_sim::partner_center::webhooks::DeliveryState;
use cosell_store::{Link, RetryItem, SqliteStore, SyncStore};
use cosell_sync::backoff::{Backoff, Jitter};
use cosell_sync::outbound::feed::PollReport;
use cosell_sync::{
    InboundSettings, InboundSync, OutboundSettings, OutboundSync, ReconcileSettings, RetrySettings,
    Synced, WorkKey,
};
use cosell_transport::Secret;
use http::header::HeaderName;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::crm::{self, Deal, OPPORTUNITIES};
use crate::referrals::{cosell_referral, incoming_referral};
use crate::{http, microsoft, rid, sim};

/// The key outbound-sync's Dataverse webhook expects, and the header it comes in.
pub const KEY: &str = "dv-webhook-key-0123456789";
pub const HEADER: &str = "x-cosell-key";

/// A schedule that retries within the test: 1 s, 2 s, …, no jitter.
pub fn fast_backoff() -> Backoff {
    Backoff {
        base: Duration::from_secs(1),
        jitter: Jitter::None,
        ..Backoff::default()
    }
}

/// A schedule a test can assert: 10 s, 20 s, then 40 s for every later attempt.
pub fn stepped_backoff(max_attempts: u32) -> Backoff {
    Backoff {
        base: Duration::from_secs(10),
        cap: Duration::from_secs(40),
        max_attempts,
        jitter: Jitter::None,
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

/// The outbound sync's settings in tests: a 3 s lease wait, [`fast_backoff`].
pub fn outbound_settings() -> OutboundSettings {
    OutboundSettings {
        lease_wait: Duration::from_secs(3),
        backoff: fast_backoff(),
        ..OutboundSettings::default()
    }
}

/// What webhook-ingress is built from in tests; a process reads it all from
/// `cosell_runtime::Settings`.
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

/// A function's app and where its router listens.
pub struct Hosted<A> {
    pub app: Arc<A>,
    pub url: String,
    server: JoinHandle<()>,
}

/// Serves `router` under `path` on 127.0.0.1:0.
async fn host<A>(app: Arc<A>, path: &str, router: axum::Router) -> Hosted<A> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let router = axum::Router::new().nest_service(path, router);
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Hosted { app, url, server }
}

/// What a stack runs; [`Build::start`] starts it.
#[derive(Default)]
pub struct Build {
    sim: Option<Sim>,
    crm: CrmConfig,
    ingress: bool,
    outbound: bool,
}

impl Build {
    /// The CRM settings both functions use (the default mapping otherwise).
    pub fn crm(mut self, crm: CrmConfig) -> Self {
        self.crm = crm;
        self
    }

    /// Over this simulator (e.g. [`sim::start_with`]) rather than a default one.
    pub fn on(mut self, sim: Sim) -> Self {
        self.sim = Some(sim);
        self
    }

    /// With webhook-ingress hosted and registered for Partner Center's referral events.
    pub fn ingress(mut self) -> Self {
        self.ingress = true;
        self
    }

    /// With outbound-sync's Dataverse webhook hosted (key [`KEY`] in [`HEADER`]).
    pub fn outbound(mut self) -> Self {
        self.outbound = true;
        self
    }

    /// Starts the stack, the currencies a real environment has seeded.
    pub async fn start(self) -> Stack {
        let sim = match self.sim {
            Some(sim) => sim,
            None => sim::start().await,
        };
        let (dataverse, partner_center) = sim::clients(&sim, sim::http(3));
        let store = Arc::new(SqliteStore::in_memory().expect("sqlite store"));
        let settings = IngressSettings {
            verifier: sim::verifier(&sim),
            crm: self.crm,
            inbound: inbound_settings(),
        };
        let mut stack = Stack {
            currencies: Map::new(),
            ingress: None,
            outbound: None,
            sim,
            store,
            dataverse,
            partner_center,
            settings,
        };
        if self.outbound {
            stack.outbound = Some(stack.host_outbound().await);
        }
        if self.ingress {
            stack.ingress = Some(stack.host_ingress().await);
        }
        stack.currencies = crm::seed_currencies(&stack.sim);
        stack
    }
}

/// A running stack; its servers stop when it drops.
pub struct Stack {
    pub sim: Sim,
    pub store: Arc<SqliteStore>,
    pub dataverse: DataverseClient,
    pub partner_center: PartnerCenter,
    /// What webhook-ingress is built from; `settings.crm` is the stack's CRM settings.
    pub settings: IngressSettings,
    /// The seeded currencies' row ids by ISO code.
    pub currencies: Map<String, Value>,
    ingress: Option<Hosted<webhook_ingress::App>>,
    outbound: Option<Hosted<outbound_sync::App>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.ingress.as_ref().inspect(|h| h.server.abort());
        self.outbound.as_ref().inspect(|h| h.server.abort());
    }
}

/// Starting one.
impl Stack {
    /// webhook-ingress alone, registered with Partner Center.
    pub async fn inbound() -> Stack {
        Stack::build().ingress().start().await
    }

    /// outbound-sync alone: Partner Center's webhooks go nowhere.
    pub async fn outbound() -> Stack {
        Stack::build().outbound().start().await
    }

    /// Both functions on one store: the system as deployed.
    pub async fn both() -> Stack {
        Stack::build().ingress().outbound().start().await
    }

    /// A stack of one's own choosing.
    pub fn build() -> Build {
        Build::default()
    }

    async fn host_ingress(&self) -> Hosted<webhook_ingress::App> {
        let app = Arc::new(self.ingress_app(self.store.clone()));
        let router = webhook_ingress::router(app.clone());
        let hosted = host(app, "/webhook", router).await;
        let events = WebhookEvent::REFERRALS.to_vec();
        let registration = WebhookRegistration::new(hosted.url.clone(), events);
        let registered = self.partner_center.register_webhook(&registration, false);
        registered.await.expect("webhook registered");
        hosted
    }

    async fn host_outbound(&self) -> Hosted<outbound_sync::App> {
        let sync = OutboundSync::new(
            self.store.clone(),
            Arc::new(self.partner_center.clone()),
            Arc::new(self.dataverse.clone()),
            self.settings.crm.clone(),
            outbound_settings(),
        );
        let key = Some(Secret::new(KEY));
        let app = outbound_sync::App::over(Arc::new(sync), key, HeaderName::from_static(HEADER));
        let user = self.sim.state.dv.config().application_user_id;
        let app = Arc::new(app.with_application_user(user));
        host(app.clone(), "/dataverse", outbound_sync::router(app)).await
    }
}

/// The functions and use cases over this stack's store and clients.
impl Stack {
    /// webhook-ingress, hosted; panics when the stack runs none.
    pub fn ingress(&self) -> &Hosted<webhook_ingress::App> {
        self.ingress
            .as_ref()
            .expect("this stack runs no webhook-ingress")
    }

    /// outbound-sync, hosted; panics when the stack runs none.
    pub fn outbound_sync(&self) -> &Hosted<outbound_sync::App> {
        self.outbound
            .as_ref()
            .expect("this stack runs no outbound-sync")
    }

    /// Stops webhook-ingress: deliveries fail from now on (as when its process is replaced).
    pub fn stop_ingress(&self) {
        self.ingress().server.abort();
    }

    /// Another webhook-ingress over the same services but `store`, as after a crash that lost a
    /// write to the store.
    pub fn ingress_app(&self, store: Arc<dyn SyncStore>) -> webhook_ingress::App {
        self.settings
            .app(store, &self.partner_center, &self.dataverse)
    }

    /// outbound-sync over this stack's use case, started with no webhook key.
    pub fn outbound_without_key(&self) -> outbound_sync::App {
        let sync = self.outbound_sync().app.sync.clone();
        outbound_sync::App::over(sync, None, HeaderName::from_static(HEADER))
    }

    /// An inbound use case with the default settings (the stack's CRM settings): what the
    /// retry-scheduler function redoes inbound work through.
    pub fn inbound_sync(&self) -> Arc<InboundSync> {
        Arc::new(InboundSync::new(
            self.store.clone(),
            Arc::new(self.partner_center.clone()),
            Arc::new(self.dataverse.clone()),
            self.settings.crm.clone(),
            InboundSettings::default(),
        ))
    }

    /// The retry-scheduler's two jobs with `crm` settings and `backoff` for both use cases.
    pub fn jobs(&self, crm: CrmConfig, backoff: Backoff) -> Jobs {
        self.jobs_with(
            crm,
            backoff,
            RetrySettings::default(),
            ReconcileSettings::default(),
        )
    }

    /// [`Stack::jobs`] with their own run and sweep settings.
    pub fn jobs_with(
        &self,
        crm: CrmConfig,
        backoff: Backoff,
        retry: RetrySettings,
        reconcile: ReconcileSettings,
    ) -> Jobs {
        let store: Arc<dyn SyncStore> = self.store.clone();
        let partner_center = Arc::new(self.partner_center.clone());
        let dataverse = Arc::new(self.dataverse.clone());
        let inbound = InboundSettings {
            backoff,
            lease_wait: Duration::from_secs(3),
            alerts: retry.channels.names(),
            ..InboundSettings::default()
        };
        let inbound = InboundSync::new(
            store.clone(),
            partner_center.clone(),
            dataverse.clone(),
            crm.clone(),
            inbound,
        );
        let outbound = OutboundSettings {
            backoff,
            alerts: retry.channels.names(),
            ..OutboundSettings::default()
        };
        let outbound = OutboundSync::new(
            store.clone(),
            partner_center.clone(),
            dataverse,
            crm,
            outbound,
        );
        let (inbound, outbound) = (Arc::new(inbound), Arc::new(outbound));
        Jobs::new(store, inbound, outbound, partner_center, retry, reconcile)
    }

    /// One run of the retry scheduler over outbound-sync's use case and [`Stack::inbound_sync`]:
    /// what the retry-scheduler function does on its schedule.
    pub async fn retry(&self, now: OffsetDateTime) -> cosell_sync::RetryReport {
        cosell_sync::RetryScheduler::new(
            self.store.clone(),
            self.inbound_sync(),
            self.outbound_sync().app.sync.clone(),
            RetrySettings::default(),
        )
        .run(now)
        .await
        .expect("retry run")
    }

    /// One reconciliation sweep over Partner Center's referrals through [`Stack::inbound_sync`]:
    /// what the retry-scheduler function does every 15 minutes.
    pub async fn sweep(&self, now: OffsetDateTime) -> cosell_sync::SweepReport {
        cosell_sync::Reconciler::new(
            self.store.clone(),
            self.inbound_sync(),
            Arc::new(self.partner_center.clone()),
            ReconcileSettings::default(),
        )
        .sweep(now)
        .await
        .expect("sweep")
    }

    /// One scheduled run of outbound-sync.
    pub async fn poll(&self) -> PollReport {
        outbound_sync::poll(&self.outbound_sync().app, OffsetDateTime::now_utc())
            .await
            .expect("poll")
    }
}

/// What Microsoft and the sellers do, and the webhooks that tell of it.
impl Stack {
    /// Points Partner Center's webhook at nowhere: a test then hands events to webhook-ingress
    /// itself, and no delivery of the simulator's races it.
    pub async fn deliver_nowhere(&self) {
        let events = WebhookEvent::REFERRALS.to_vec();
        let nowhere = WebhookRegistration::new("http://127.0.0.1:9/nowhere", events);
        let registered = self.partner_center.register_webhook(&nowhere, false);
        registered.await.expect("registered");
    }

    /// The headers Partner Center signs `body` with, naming the simulator's certificate.
    pub fn signed_headers(&self, body: &[u8]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        let signature = cosell_sim::partner_center::signing::Signer::get().sign(body);
        let authorization = format!("Signature {signature}").parse().unwrap();
        headers.insert("authorization", authorization);
        let certificate_url = &self.sim.state.pc.certificate_url;
        headers.insert("x-ms-certificate-url", certificate_url.parse().unwrap());
        headers.insert("x-ms-signature-algorithm", "rsa-sha256".parse().unwrap());
        headers
    }

    /// A referral as Microsoft creates it (fires `referral-created`); the referral.
    pub async fn seed_referral(&self, referral: Value) -> Value {
        microsoft::seed_referral(&self.sim, referral).await
    }

    /// Seeds [`cosell_referral`] for this customer; its id.
    pub async fn seed_cosell(&self, customer: &str, postal: &str, email: &str) -> String {
        let referral = self.seed_referral(cosell_referral(customer, postal, email));
        crate::referrals::id_of(&referral.await)
    }

    /// Seeds the Fabrikam co-sell referral; its id.
    pub async fn fabrikam(&self) -> String {
        crate::referrals::id_of(&self.seed_referral(crate::referrals::fabrikam()).await)
    }

    /// A Microsoft seller's edit (fires `referral-updated`); the referral.
    pub async fn edit_referral(&self, id: &str, patch: Value) -> Value {
        microsoft::edit_referral(&self.sim, id, patch).await
    }

    /// Seeds `referral` and waits for every delivery to be handled (the stack runs
    /// webhook-ingress); the opportunity it was synced to and the referral id.
    pub async fn seed_incoming(&self, referral: &Value) -> (Uuid, String) {
        let referral = self.seed_referral(referral.clone()).await;
        let referral_id = crate::referrals::id_of(&referral);
        self.drain_deliveries().await;
        (self.link(&referral_id).await.crm_id.uuid(), referral_id)
    }

    /// An incoming referral from Microsoft, still waiting for an answer (so it has its task),
    /// synced inbound and already agreed with the change feed; the opportunity and referral id.
    pub async fn incoming(&self) -> (Uuid, String) {
        let (id, referral_id) = self.seed_incoming(&incoming_referral()).await;
        assert_eq!(self.opportunity(id)["statuscode"], 2, "On Hold");
        // The inbound write is already agreed: the change feed sends nothing for it.
        self.reset_counters();
        let report = self.poll().await;
        let unchanged = report.synced.iter().all(|(_, s)| *s == Synced::Unchanged);
        assert!(unchanged, "{report:?}");
        assert_eq!(self.requests("partner-center"), 0);
        (id, referral_id)
    }

    /// Seeds `deal`'s account, contact, owner, opportunity (sync = yes) and solutions.
    pub fn seed_deal(&self, deal: &Deal) -> Uuid {
        crm::seed_deal(&self.sim, deal)
    }

    /// A seller's edit in Dynamics 365 (change tracking sees it).
    pub fn seller_edit(&self, id: Uuid, changes: Value) {
        crm::seller_edit(&self.sim, id, changes);
    }

    /// A Dataverse webhook call to outbound-sync with this context and the key.
    pub async fn deliver(&self, context: &Value) -> (u16, String) {
        let request = http().post(&self.outbound_sync().url).header(HEADER, KEY);
        answer(request.json(context)).await
    }

    /// The Dataverse webhook call Dataverse's service endpoint makes for an update of `id`.
    pub async fn dataverse_webhook(&self, id: Uuid, key: Option<&str>) -> (u16, String) {
        let context = crm::remote_execution_context(id);
        let mut request = http().post(&self.outbound_sync().url).json(&context);
        if let Some(key) = key {
            request = request.header(HEADER, key);
        }
        answer(request).await
    }

    /// The call a service endpoint with WebhookKey authentication makes for an update of `id`:
    /// the key as `?code=` on the URL (percent-encoded).
    pub async fn dataverse_webhook_by_code(&self, id: Uuid, code: &str) -> (u16, String) {
        let context = crm::remote_execution_context(id);
        let request = http()
            .post(&self.outbound_sync().url)
            .query(&[("code", code)]);
        answer(request.json(&context)).await
    }
}

/// Sends `request`: its status and body.
async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Waiting for what happens next.
impl Stack {
    /// Polls `condition` until it holds; panics after 10 s.
    pub async fn wait_for(&self, what: &str, condition: impl Fn() -> bool) {
        crate::wait_for(what, condition).await;
    }

    /// Waits until `count` deliveries have been answered 200 by webhook-ingress. The simulator
    /// logs a delivery once the answer came back, so the handler's work is done by then.
    pub async fn wait_delivered(&self, count: usize) {
        let answered = || {
            let log = self.sim.state.pc.webhooks.log();
            let ok = log
                .iter()
                .filter(|d| d.attempts.iter().any(|a| a.status == Some(200)));
            ok.count() >= count
        };
        self.wait_for("webhook deliveries", answered).await;
    }

    /// Waits until every Partner Center webhook queued so far was answered (or given up).
    pub async fn drain_deliveries(&self) {
        let settled = || {
            let log = self.sim.state.pc.webhooks.log();
            let pending = [DeliveryState::Queued, DeliveryState::Retrying];
            !log.iter().any(|d| pending.contains(&d.state))
        };
        self.wait_for("webhook deliveries", settled).await;
    }
}

/// What the store, Dataverse and Partner Center hold.
impl Stack {
    /// The store, as the port.
    pub fn port(&self) -> &dyn SyncStore {
        self.store.as_ref()
    }

    /// The link of a synced referral; panics when it has none.
    pub async fn link(&self, referral_id: &str) -> Link {
        let link = self.store.link_by_referral(&rid(referral_id)).await;
        link.expect("reading the link")
            .unwrap_or_else(|| panic!("referral {referral_id} has no link"))
    }

    /// The opportunity's retry item (`outbound:<id>`), if it has one.
    pub async fn parked(&self, id: Uuid) -> Option<RetryItem> {
        self.retry_item(WorkKey::Outbound(id)).await
    }

    /// The referral's retry item (`inbound:<id>`), if it has one.
    pub async fn parked_referral(&self, referral_id: &str) -> Option<RetryItem> {
        self.retry_item(WorkKey::Inbound(rid(referral_id))).await
    }

    async fn retry_item(&self, key: WorkKey) -> Option<RetryItem> {
        let item = self.port().retry(&key.to_string()).await;
        item.expect("reading the retry item")
    }

    pub fn rows(&self, set: &str) -> Vec<Map<String, Value>> {
        self.sim.state.dv.rows(set)
    }

    pub fn row(&self, set: &str, id: Uuid) -> Map<String, Value> {
        let row = self.sim.state.dv.row(set, id);
        row.unwrap_or_else(|| panic!("no {set} row {id}"))
    }

    pub fn opportunity(&self, id: Uuid) -> Map<String, Value> {
        self.row(OPPORTUNITIES, id)
    }

    /// A text column of the opportunity ("" when empty).
    pub fn text(&self, id: Uuid, column: &str) -> String {
        let opportunity = self.opportunity(id);
        let text = opportunity.get(column).and_then(Value::as_str);
        text.unwrap_or_default().to_owned()
    }

    /// The sync audit written on the opportunity.
    pub fn audit(&self, id: Uuid) -> String {
        self.text(id, "msft_microsoftpartnercenterreferralsyncaudit")
    }

    /// The referral id written back on the opportunity.
    pub fn referral_id_of(&self, id: Uuid) -> String {
        let written = self.text(id, "msft_microsoftpartnercenterreferralidentifier");
        assert!(!written.is_empty(), "no referral id written back on {id}");
        written
    }

    pub fn referrals(&self) -> Vec<Value> {
        self.sim.state.pc.store.lock().unwrap().all().to_vec()
    }

    pub fn referral(&self, id: &str) -> Value {
        let referral = self.sim.state.pc.store.lock().unwrap().get(id).cloned();
        referral.unwrap_or_else(|| panic!("no referral {id}"))
    }
}

/// What the simulators counted.
impl Stack {
    pub fn counters(&self) -> cosell_sim::counters::Snapshot {
        self.sim.state.counters.snapshot()
    }

    pub fn reset_counters(&self) {
        self.sim.state.counters.reset();
    }

    /// Requests to a service (token requests are counted apart).
    pub fn requests(&self, service: &str) -> u64 {
        sim::requests(&self.sim, service)
    }

    /// Requests on one `"<service> <METHOD> <route>"` counter (0 when absent).
    pub fn route(&self, key: &str) -> u64 {
        sim::route(&self.sim, key)
    }

    /// Requests to `service` whose method is not GET: the writes.
    pub fn writes(&self, service: &str) -> u64 {
        let prefix = format!("{service} ");
        let write = |route: &String| {
            let rest = route.strip_prefix(&prefix);
            rest.is_some_and(|rest| !rest.starts_with("GET "))
        };
        let counters = self.counters();
        counters
            .routes
            .iter()
            .filter(|(r, _)| write(r))
            .map(|(_, n)| n)
            .sum()
    }
}
