//! The whole outbound path over real sockets: the simulator (Partner Center + Dataverse +
//! tokens), the outbound handler (schedule and Dataverse webhook, the latter hosted on an axum
//! server), the real clients and an in-memory SQLite store. With [`Stack::with_inbound`], the
//! webhook-ingress handler runs too, on the same store, receiving the Partner Center simulator's
//! signed webhooks — the system as deployed.
#![allow(dead_code)] // each test file uses a different part

use cosell_testkit::rid;
use std::sync::Arc;
use std::time::Duration;

use cosell_dataverse::DataverseClient;
use cosell_mapping::CrmConfig;
use cosell_partner_center::PartnerCenter;
use cosell_sim::Sim;
use cosell_sim::partner_center::PcConfig;
use cosell_sim::partner_center::webhooks::DeliveryState;
use cosell_store::{RetryItem, SqliteStore, SyncStore};
use cosell_sync::outbound::feed::PollReport;
use cosell_sync::{OutboundSettings, OutboundSync, Synced};
use cosell_transport::Secret;
use http::header::HeaderName;
use outbound_sync::App;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

pub use cosell_testkit::sim::{self};
pub use cosell_testkit::stack::{self, http, object, wait_for};
pub const KEY: &str = "dv-webhook-key-0123456789";
pub const HEADER: &str = "x-cosell-key";
pub const OPPORTUNITIES: &str = "opportunities";
/// "How can Microsoft help?" = CustomerTechnicalArchitecture (the default option table).
pub const HELP_ARCHITECTURE: i64 = 100_000_001;

/// A running stack.
pub struct Stack {
    pub sim: Sim,
    pub store: Arc<SqliteStore>,
    pub app: Arc<App>,
    /// Where the outbound function's Dataverse webhook listens.
    pub url: String,
    pub dataverse: DataverseClient,
    pub partner_center: PartnerCenter,
    /// The inbound function, when started with it.
    pub inbound: Option<Arc<webhook_ingress::App>>,
    pub currencies: Map<String, Value>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

pub fn outbound_settings() -> OutboundSettings {
    OutboundSettings {
        lease_wait: Duration::from_secs(3),
        backoff: stack::fast_backoff(),
        ..OutboundSettings::default()
    }
}

/// The outbound function alone: Partner Center's webhooks go nowhere.
pub async fn start() -> Stack {
    Stack::start(false).await
}

impl Stack {
    /// The outbound and the inbound function on one store.
    pub async fn with_inbound() -> Stack {
        Stack::start(true).await
    }

    /// Both functions, on a Partner Center simulator configured so.
    pub async fn with_partner_center(config: PcConfig) -> Stack {
        Stack::start_on(sim::start_with(config).await, CrmConfig::default(), true).await
    }

    /// The outbound function alone, with these settings, on a Partner Center configured so.
    pub async fn with_settings(pc: PcConfig, crm: CrmConfig) -> Stack {
        Stack::start_on(sim::start_with(pc).await, crm, false).await
    }

    /// The outbound function alone, on this simulator.
    pub async fn on(sim: Sim) -> Stack {
        Stack::start_on(sim, CrmConfig::default(), false).await
    }

    async fn start(inbound: bool) -> Stack {
        Stack::start_on(sim::start().await, CrmConfig::default(), inbound).await
    }

    /// Both functions (or outbound alone), on this simulator, with these CRM settings.
    pub async fn start_on(sim: Sim, crm: CrmConfig, inbound: bool) -> Stack {
        let (dataverse, partner_center) = sim::clients(&sim, sim::http(3));

        let store = Arc::new(SqliteStore::in_memory().expect("sqlite store"));
        let sync = OutboundSync::new(
            store.clone(),
            Arc::new(partner_center.clone()),
            Arc::new(dataverse.clone()),
            crm.clone(),
            outbound_settings(),
        );
        let key = Some(Secret::new(KEY));
        let app = App::over(Arc::new(sync), key, HeaderName::from_static(HEADER))
            .with_application_user(sim.state.dv.config().application_user_id);
        let app = Arc::new(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/dataverse", listener.local_addr().unwrap());
        let router =
            axum::Router::new().nest_service("/dataverse", outbound_sync::router(app.clone()));
        let mut servers = vec![tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        })];

        let inbound = if inbound {
            let ingress = stack::ingress(&sim, store.clone(), &partner_center, &dataverse, crm);
            let ingress = ingress.await;
            servers.push(ingress.server);
            Some(ingress.app)
        } else {
            None
        };
        let currencies = stack::seed_currencies(&sim);
        Stack {
            sim,
            store,
            app,
            url,
            dataverse,
            partner_center,
            inbound,
            currencies,
            servers,
        }
    }
}

impl Stack {
    /// One run of the retry scheduler over this stack's outbound use case (and an inbound one on
    /// the same store and clients): what the retry-scheduler function does on its schedule.
    pub async fn retry(&self, now: OffsetDateTime) -> cosell_sync::RetryReport {
        cosell_sync::RetryScheduler::new(
            self.store.clone(),
            self.inbound_sync(),
            self.app.sync.clone(),
            cosell_sync::RetrySettings::default(),
        )
        .run(now)
        .await
        .expect("retry run")
    }
}

impl Stack {
    /// One reconciliation sweep over Partner Center's referrals, through an inbound use case on
    /// this stack's store and clients: what the retry-scheduler function does every 15 minutes.
    pub async fn sweep(&self, now: OffsetDateTime) -> cosell_sync::SweepReport {
        cosell_sync::Reconciler::new(
            self.store.clone(),
            self.inbound_sync(),
            Arc::new(self.partner_center.clone()),
            cosell_sync::ReconcileSettings::default(),
        )
        .sweep(now)
        .await
        .expect("sweep")
    }

    pub fn inbound_sync(&self) -> Arc<cosell_sync::InboundSync> {
        Arc::new(cosell_sync::InboundSync::new(
            self.store.clone(),
            Arc::new(self.partner_center.clone()),
            Arc::new(self.dataverse.clone()),
            self.app.sync.config().clone(),
            cosell_sync::InboundSettings::default(),
        ))
    }
}

/// A seller's opportunity, as the test seeds it.
#[derive(Debug, Clone)]
pub struct Deal {
    pub name: &'static str,
    pub help: Option<i64>,
    pub visible: bool,
    pub country: Option<&'static str>,
    pub contact: bool,
    pub solutions: Vec<&'static str>,
    pub currency: Option<&'static str>,
    pub value: f64,
    pub close_date: &'static str,
    pub notes: &'static str,
}

impl Default for Deal {
    fn default() -> Self {
        Self {
            name: "Contoso - Data platform",
            help: None,
            visible: false,
            country: Some("US"),
            contact: true,
            solutions: vec!["SOL-2F5A1C7E"],
            currency: Some("USD"),
            value: 125_000.0,
            close_date: "2026-09-30",
            notes: "Move the warehouse to Azure.",
        }
    }
}

impl Stack {
    /// Seeds the account, contact, opportunity (sync = yes) and solution rows of `deal`.
    pub fn seed_deal(&self, deal: &Deal) -> Uuid {
        let dv = &self.sim.state.dv;
        let mut account = json!({
            "name": "Contoso Ltd",
            "address1_line1": "1 Main Street",
            "address1_city": "Seattle",
            "address1_stateorprovince": "WA",
            "address1_postalcode": "98101",
        });
        if let Some(country) = deal.country {
            account["address1_country"] = country.into();
        }
        let account = dv.seed("accounts", object(account)).unwrap();
        let mut row = json!({
            "name": deal.name,
            "estimatedvalue": deal.value,
            "estimatedclosedate": deal.close_date,
            "description": deal.notes,
            "parentaccountid@odata.bind": format!("/accounts({account})"),
            "customerid_account@odata.bind": format!("/accounts({account})"),
            "msft_microsoftpartnercenterreferralsync": true,
            "msft_microsoftpartnercenterreferralvisible": deal.visible,
        });
        if deal.contact {
            let contact = dv
                .seed(
                    "contacts",
                    object(json!({
                        "firstname": "Avery",
                        "lastname": "Chen",
                        "emailaddress1": format!("avery.{account}@contoso.example"),
                        "telephone1": "+1 206 555 0100",
                    })),
                )
                .unwrap();
            row["parentcontactid@odata.bind"] = format!("/contacts({contact})").into();
        }
        if let Some(code) = deal.currency {
            let currency = self.currencies[code].as_str().unwrap();
            row["transactioncurrencyid@odata.bind"] =
                format!("/transactioncurrencies({currency})").into();
        }
        if let Some(help) = deal.help {
            row["msft_microsoftpartnercenterhelp"] = help.into();
        }
        // The seller who owns it in Dynamics 365: the referral's partner team.
        let owner = dv
            .seed(
                "systemusers",
                object(json!({
                    "firstname": "Sam",
                    "lastname": "Seller",
                    "fullname": "Sam Seller",
                    "internalemailaddress": "sam.seller@partner.example",
                    "address1_telephone1": "+1 425 555 0199",
                    "isdisabled": false,
                })),
            )
            .unwrap();
        row["ownerid@odata.bind"] = format!("/systemusers({owner})").into();
        let id = dv.seed(OPPORTUNITIES, object(row)).unwrap();
        for solution in &deal.solutions {
            dv.seed(
                "msft_microsoftpartnercentersolutions",
                object(json!({
                    "msft_solutionid": solution,
                    "msft_name": format!("Solution {solution}"),
                    "msft_opportunityid@odata.bind": format!("/opportunities({id})"),
                })),
            )
            .unwrap();
        }
        id
    }

    /// A seller's edit in Dynamics 365 (change tracking sees it).
    pub fn seller_edit(&self, id: Uuid, changes: Value) {
        self.sim
            .state
            .dv
            .edit(OPPORTUNITIES, id, object(changes))
            .unwrap()
            .expect("the opportunity exists");
    }

    /// A Microsoft seller's edit in Partner Center (fires `referral-updated`).
    pub async fn microsoft_edit(&self, referral_id: &str, patch: Value) -> Value {
        stack::edit_referral(&self.sim, referral_id, patch).await
    }

    /// One scheduled run.
    pub async fn poll(&self) -> PollReport {
        outbound_sync::poll(&self.app, OffsetDateTime::now_utc())
            .await
            .expect("poll")
    }

    pub fn opportunity(&self, id: Uuid) -> Map<String, Value> {
        self.sim
            .state
            .dv
            .row(OPPORTUNITIES, id)
            .unwrap_or_else(|| panic!("no opportunity {id}"))
    }

    pub fn referrals(&self) -> Vec<Value> {
        self.sim.state.pc.store.lock().unwrap().all().to_vec()
    }

    pub fn referral(&self, id: &str) -> Value {
        self.sim
            .state
            .pc
            .store
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no referral {id}"))
    }

    /// The referral id written back on the opportunity.
    pub fn referral_id_of(&self, id: Uuid) -> String {
        self.opportunity(id)["msft_microsoftpartnercenterreferralidentifier"]
            .as_str()
            .expect("referral id written back")
            .to_owned()
    }

    pub fn counters(&self) -> cosell_sim::counters::Snapshot {
        self.sim.state.counters.snapshot()
    }

    pub fn reset_counters(&self) {
        self.sim.state.counters.reset();
    }

    /// Requests to a service (token requests are counted apart).
    pub fn requests(&self, service: &str) -> u64 {
        self.counters().services.get(service).copied().unwrap_or(0)
    }

    /// Requests to `service` whose method is not GET: the writes.
    pub fn writes(&self, service: &str) -> u64 {
        let prefix = format!("{service} ");
        self.counters()
            .routes
            .iter()
            .filter(|(route, _)| {
                route
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.starts_with("GET "))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests on one `"<service> <METHOD> <route>"` counter (0 when absent).
    pub fn route(&self, key: &str) -> u64 {
        self.counters().routes.get(key).copied().unwrap_or(0)
    }

    /// The Dataverse webhook call a service endpoint with WebhookKey authentication makes for
    /// an update of `id`: the key as `?code=` on the URL (percent-encoded).
    pub async fn dataverse_webhook_by_code(&self, id: Uuid, code: &str) -> (u16, String) {
        let response = http()
            .post(&self.url)
            .query(&[("code", code)])
            .json(&remote_execution_context(id))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The outbound function on this stack's store and clients, started with no webhook key.
    pub fn app_without_key(&self) -> App {
        App::over(self.app.sync.clone(), None, HeaderName::from_static(HEADER))
    }

    /// A Dataverse webhook call with this context and the key.
    pub async fn deliver(&self, context: &Value) -> (u16, String) {
        let response = http()
            .post(&self.url)
            .header(HEADER, KEY)
            .json(context)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The Dataverse webhook call Dataverse's service endpoint makes for an update of `id`.
    pub async fn dataverse_webhook(&self, id: Uuid, key: Option<&str>) -> (u16, String) {
        let mut request = http().post(&self.url).json(&remote_execution_context(id));
        if let Some(key) = key {
            request = request.header(HEADER, key);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Waits until every Partner Center webhook queued so far was answered (or given up).
    pub async fn drain_deliveries(&self) {
        wait_for("webhook deliveries", || {
            let log = self.sim.state.pc.webhooks.log();
            log.iter()
                .all(|d| !matches!(d.state, DeliveryState::Queued | DeliveryState::Retrying))
        })
        .await;
    }

    pub fn text(&self, id: Uuid, column: &str) -> String {
        self.opportunity(id)
            .get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    pub fn audit(&self, id: Uuid) -> String {
        self.text(id, "msft_microsoftpartnercenterreferralsyncaudit")
    }

    pub fn port(&self) -> &dyn SyncStore {
        self.store.as_ref()
    }

    /// The opportunity's retry item (`outbound:<id>`), if it has one.
    pub async fn parked(&self, id: Uuid) -> Option<RetryItem> {
        let item = cosell_sync::WorkKey::Outbound(id).to_string();
        self.port()
            .retry(&item)
            .await
            .expect("reading the retry item")
    }
}

/// A `RemoteExecutionContext` as Dataverse posts it for an Update of an opportunity.
pub fn remote_execution_context(id: Uuid) -> Value {
    json!({
        "BusinessUnitId": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "CorrelationId": Uuid::new_v4(),
        "Depth": 1,
        "InitiatingUserId": "7d3c1a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "InputParameters": [{
            "key": "Target",
            "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Attributes": [{"key": "opportunityid", "value": id}],
                "Id": id,
                "LogicalName": "opportunity"
            }
        }],
        "IsExecutingOffline": false,
        "MessageName": "Update",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1732435200000)/",
        "OrganizationId": "b4a4c4e6-2f0e-4d2c-9a57-0b6c3f5a1e21",
        "OrganizationName": "contoso",
        "OutputParameters": [],
        "PrimaryEntityId": id,
        "PrimaryEntityName": "opportunity",
        "Stage": 40,
        "UserId": "7d3c1a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    })
}

/// A referral as Microsoft sends one: incoming, New, naming a partner seller's customer.
pub fn incoming_referral() -> Value {
    json!({
        "name": "Fabrikam - Azure migration",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "status": "New",
        "substatus": "Pending",
        "target": [{"type": "SolutionProfile", "id": "SOL-2F5A1C7E"}],
        "customerProfile": {
            "name": "Fabrikam, Inc.",
            "address": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"},
            "team": [{"firstName": "Dana", "lastName": "Whitfield", "email": format!("dana.{}@fabrikam.example", Uuid::new_v4())}]
        },
        "consent": {"consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "Retire the warehouse.", "dealValue": 250000, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"},
        "inviteContext": {"invitedBy": {"organizationId": "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "organizationName": "Northwind Traders"}, "assistanceRequestCode": "CustomerTechnicalArchitecture"}
    })
}

/// Seeds `referral` in Partner Center and syncs it inbound (every delivery handed over); the
/// opportunity and the referral id.
pub async fn seed_incoming(stack: &Stack, referral: &Value) -> (Uuid, String) {
    let referral = http()
        .post(format!(
            "{}/_admin/partner-center/referrals",
            stack.sim.base_url
        ))
        .json(referral)
        .send()
        .await
        .unwrap();
    assert_eq!(referral.status(), 201);
    let referral: Value = referral.json().await.unwrap();
    let referral_id = referral["id"].as_str().unwrap().to_owned();
    stack.drain_deliveries().await;
    let link = stack
        .port()
        .link_by_referral(&rid(&referral_id))
        .await
        .unwrap()
        .expect("synced inbound");
    (link.crm_id.uuid(), referral_id)
}

/// An incoming referral from Microsoft, still waiting for an answer (so it has its task), synced
/// inbound; the opportunity and the referral id.
pub async fn incoming(stack: &Stack) -> (Uuid, String) {
    let (id, referral_id) = seed_incoming(stack, &incoming_referral()).await;
    assert_eq!(stack.opportunity(id)["statuscode"], 2, "On Hold");
    // The inbound write is already agreed: the change feed sends nothing for it.
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(
        report.synced.iter().all(|(_, s)| *s == Synced::Unchanged),
        "{report:?}"
    );
    assert_eq!(stack.requests("partner-center"), 0);
    (id, referral_id)
}
