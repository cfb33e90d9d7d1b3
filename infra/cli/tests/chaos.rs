//! The chaos suite: "nothing lost" measured. `cosell serve` (the built binary, on moto's
//! DynamoDB) syncs referrals created and edited in Partner Center and opportunities created and
//! edited in Dataverse while both simulators fail a fifth of their requests (429, 500, 503,
//! timeouts, dropped connections; Partner Center also loses some answers after committing),
//! Partner Center delivers a fifth of its webhooks twice and some out of order, the Dataverse
//! delta token expires mid-run, deals are edited on both sides at once, and the process is
//! killed with SIGKILL at random moments and restarted. After the retry and reconciliation
//! cycles: every referral has exactly one opportunity and vice versa, every field is the last
//! write (both edits of a deal edited on both sides survive), no retry item is dead or pending,
//! and a full quiet cycle writes nothing. Every secret and token of the run is then looked for in
//! all of serve's output.
//!
//! Reduced size by default (CI); `COSELL_CHAOS=full` runs 1,000 referrals, 1,000 opportunities
//! and 50 kills. `COSELL_CHAOS_SEED` replays a run's dice (the simulators' faults and the kill
//! moments); the seed is printed with the counts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::marks::base_name;
use cosell_sim::partner_center::config::{DeliveryConfig, PcConfig, WebhookKnobs};
use cosell_sim::partner_center::referrals::{Source, create_referral};
use cosell_sim::partner_center::webhooks::DeliveryState;
use cosell_sim::token::TokenConfig;
use cosell_sim::{FaultSettings, Service, Sim, SimConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::process::Child;
use tokio::sync::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use cosell_testkit::crm::{self, Deal};
use cosell_testkit::object;
use cosell_testkit::process::{Deployment, run};
use cosell_testkit::referrals::fabrikam;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
struct Size {
    referrals: usize,
    opportunities: usize,
    kills: usize,
    /// Deals edited in Partner Center and Dataverse at the same moment.
    both_sides: usize,
    /// Creates and edits per second while the load runs.
    pace: f64,
    /// How long the cycles after the load may take to converge, at most.
    converge_within: Duration,
    /// How long they may go without getting closer to it (fewer problems and parked items than
    /// ever before): a lost update stays wrong forever, a loaded machine is only slower.
    stall: Duration,
}

impl Size {
    fn from_env() -> Self {
        match std::env::var("COSELL_CHAOS").as_deref() {
            Ok("full") => Self {
                referrals: 1_000,
                opportunities: 1_000,
                kills: 50,
                both_sides: 50,
                pace: 20.0,
                converge_within: Duration::from_secs(900),
                stall: Duration::from_secs(300),
            },
            _ => Self {
                referrals: 200,
                opportunities: 200,
                kills: 5,
                both_sides: 20,
                pace: 40.0,
                converge_within: Duration::from_secs(
                    std::env::var("COSELL_CHAOS_CONVERGE_SECS")
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(600),
                ),
                stall: Duration::from_secs(150),
            },
        }
    }
}

/// serve's schedules and leases, short enough that a run converges in seconds.
const SERVE_SETTINGS: [(&str, &str); 9] = [
    ("COSELL_POLL_INTERVAL", "300ms"),
    ("COSELL_RETRY_INTERVAL", "500ms"),
    ("COSELL_RECONCILE_INTERVAL", "3s"),
    ("COSELL_RETRY_BASE_SECS", "1"),
    ("COSELL_RETRY_CAP_SECS", "4"),
    ("COSELL_RUN_LEASE", "8s"),
    ("COSELL_RECORD_LEASE", "15s"),
    ("COSELL_HTTP_TIMEOUT", "1s"),
    // Everything of ours at debug: the secret scan reads the most talkative output there is.
    (
        "RUST_LOG",
        "info,cosell_sync=debug,cosell_transport=debug,cosell_partner_center=debug,\
         cosell_dataverse=debug,webhook_ingress=debug,outbound_sync=debug,retry_scheduler=debug",
    ),
];

/// Longer than a reconciliation interval and a retry run.
const SETTLE: Duration = Duration::from_secs(5);

/// The simulators' names of injected failures, as counted.
const FAULTS: [&str; 6] = [" 429", " 500", " 503", " timeout", " drop", " lost"];

/// A fifth of requests fail, spread over every kind of failure the clients must survive.
fn faults(service: Service) -> FaultSettings {
    FaultSettings {
        rate_429: 0.04,
        rate_500: 0.04,
        rate_503: 0.04,
        rate_timeout: 0.03,
        rate_drop: 0.03,
        // A committed POST whose answer never arrives: the create must not be repeated.
        rate_lost_answer: if service == Service::PartnerCenter {
            0.02
        } else {
            0.0
        },
        retry_after_secs: 1,
        ..FaultSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_under_faults_duplicates_and_kills() {
    let size = Size::from_env();
    let seed: u64 = std::env::var("COSELL_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("chaos: seed {seed} (COSELL_CHAOS_SEED={seed} replays the dice), {size:?}");
    let started = Instant::now();

    let sim = Sim::start(SimConfig {
        seed,
        partner_center: PcConfig {
            // Partner Center's delivery concurrency is undocumented; a few at once.
            // Partner Center's timeout and ladder are undocumented too: seconds, not the
            // milliseconds of the other tests, so a slow answer is not met by a storm of retries.
            delivery: DeliveryConfig {
                concurrency: 8,
                timeout_ms: 10_000,
                retry_delays_ms: vec![500, 1_000, 2_000, 5_000],
                reorder_hold_ms: 200,
                ..DeliveryConfig::default()
            },
            webhooks: WebhookKnobs {
                duplicate_rate: 0.2,
                reorder_rate: 0.1,
                drop_rate: 0.0,
            },
            ..PcConfig::default()
        },
        // Entra ID keeps a refresh token valid after it is redeemed; a process killed between
        // redeeming and storing the rotated one must not lose the grant.
        token: TokenConfig {
            rotation_revokes_old: false,
            ..TokenConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    crm::seed_currency(&sim, "USD");

    let cli = Deployment::new(&sim, "sim-refresh-token");
    let mut env = Deployment::new(&sim, &sim.state.tokens.mint_refresh_token());
    let store = store_settings(&env).await;
    for (name, value) in &store {
        env.set(name, value);
    }
    env.unset(if store[0].0 == "COSELL_TABLE" {
        "COSELL_SQLITE_PATH"
    } else {
        "COSELL_TABLE"
    });
    for (name, value) in SERVE_SETTINGS {
        env.set(name, value);
    }
    let port = free_port();
    let serve = Arc::new(Mutex::new(Serve::new(env, port)));
    serve.lock().await.start().await;
    let (code, out, err) = cli
        .run(&[
            "webhooks",
            "register",
            &format!("http://127.0.0.1:{port}/webhooks/partner-center"),
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");

    for service in [Service::PartnerCenter, Service::Dataverse] {
        sim.state.faults.set(service, faults(service));
    }

    // The load: creates, then edits, at a steady pace, while the killer works.
    let mut rng = StdRng::seed_from_u64(seed);
    let operations = 2 * (size.referrals + size.opportunities);
    let load_time = Duration::from_secs_f64(operations as f64 / size.pace);
    let mut kill_at: Vec<Duration> = (0..size.kills)
        .map(|_| load_time.mul_f64(rng.random_range(0.02..0.98)))
        .collect();
    kill_at.sort();
    let killer = tokio::spawn(kill_and_restart(serve.clone(), kill_at));

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut load = Load::new(size.pace);
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    for i in 0..size.referrals.max(size.opportunities) {
        if i < size.referrals {
            load.tick().await;
            let mut body = fabrikam();
            body["name"] = json!(format!("Chaos in {i}"));
            body["customerProfile"]["name"] = json!(format!("Fabrikam {i}"));
            // Each customer its own contact: the simulator keys contacts by email.
            body["customerProfile"]["team"][0]["email"] =
                json!(format!("dana{i}@fabrikam.example"));
            let created = create_referral(&sim.state, body, Source::Admin).unwrap();
            inbound.push(created["id"].as_str().unwrap().to_owned());
        }
        if i < size.opportunities {
            load.tick().await;
            outbound.push(crm::seed_deal(
                &sim,
                &Deal {
                    name: (&format!("Chaos out {i}")).into(),
                    value: (10_000 + i as u64) as f64,
                    ..Deal::default()
                },
            ));
        }
    }
    for i in 0..size.referrals.max(size.opportunities) {
        if i == size.referrals.max(size.opportunities) / 2 {
            sim.state.dv.expire_delta_tokens();
            println!("chaos: Dataverse delta tokens expired mid-run");
        }
        if let Some(referral) = inbound.get(i) {
            load.tick().await;
            microsoft_edit(
                &http,
                &sim,
                referral,
                json!({"name": format!("Chaos in {i} v2"), "details": {"dealValue": 5_000 + i}}),
            )
            .await;
        }
        if let Some(&opportunity) = outbound.get(i) {
            load.tick().await;
            sim.state
                .dv
                .edit(
                    "opportunities",
                    opportunity,
                    object(
                        json!({"name": format!("Chaos out {i} v2"), "estimatedvalue": 20_000 + i}),
                    ),
                )
                .unwrap()
                .expect("the opportunity exists");
        }
    }
    // Both sides at once, on deals that have reached Dataverse by now: Microsoft changes the
    // deal value, the seller the description. Each side changed a different field since the
    // deal both last agreed on, so both changes must survive on both sides.
    let mut both_sides = BTreeMap::new();
    for (i, referral) in inbound.iter().enumerate() {
        if both_sides.len() == size.both_sides {
            break;
        }
        let Some(opportunity) = opportunity_of(&sim, referral) else {
            continue;
        };
        let value = 777_000 + i;
        let note = format!("Seller note {i}");
        tokio::join!(
            microsoft_edit(
                &http,
                &sim,
                referral,
                json!({"details": {"dealValue": value}})
            ),
            async {
                sim.state
                    .dv
                    .edit(
                        "opportunities",
                        opportunity,
                        object(json!({"description": note})),
                    )
                    .unwrap();
            }
        );
        both_sides.insert(i, (value, note));
    }
    killer.await.unwrap();
    let load_done = started.elapsed();
    println!(
        "chaos: load done in {load_done:.1?} ({} edited on both sides)",
        both_sides.len()
    );

    // Converge: the schedules keep running, faults and all, until the world is right.
    let expected = Expected {
        inbound: &inbound,
        outbound: &outbound,
        both_sides: &both_sides,
    };
    // Converged means right twice, a reconciliation interval and more apart: a sync still in
    // flight at the first look (the CRM already right, its write not yet made) is done by then.
    let deadline = Instant::now() + size.converge_within;
    let mut right_once = false;
    let (mut fewest, mut closer_at) = (usize::MAX, Instant::now());
    loop {
        let problems = expected.problems(&sim);
        let queue = if problems.is_empty() {
            retry_queue(&cli, &store).await
        } else {
            None
        };
        let left = problems.len() + queue.map_or(0, |(pending, dead)| (pending + dead) as usize);
        if left < fewest {
            (fewest, closer_at) = (left, Instant::now());
        }
        if queue != Some((0, 0)) {
            right_once = false;
        }
        let last = match queue {
            Some((0, 0)) if right_once => break,
            Some((0, 0)) => {
                right_once = true;
                tokio::time::sleep(SETTLE).await;
                continue;
            }
            Some((pending, dead)) => format!("retry queue: {pending} pending, {dead} dead"),
            None if !problems.is_empty() => {
                let shown: Vec<&String> = problems.iter().take(30).collect();
                format!("{} problems, first: {shown:#?}", problems.len())
            }
            None => "cosell status failed".into(),
        };
        let stalled = closer_at.elapsed() > size.stall;
        if Instant::now() > deadline || stalled {
            let kept = keep_logs(&*serve.lock().await);
            let why = if stalled {
                format!("no closer for {:?}", size.stall)
            } else {
                format!("not converged within {:?}", size.converge_within)
            };
            panic!("{why} after the load; seed {seed}; serve's output: {kept}\n{last}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let converged = started.elapsed() - load_done;
    println!("chaos: converged {converged:.1?} after the load");

    // A full quiet cycle: polls, retry runs and a reconciliation sweep, with nothing to do.
    let faults_injected: u64 = sim
        .state
        .counters
        .snapshot()
        .events
        .iter()
        .filter(|(name, _)| FAULTS.iter().any(|f| name.ends_with(f)))
        .map(|(_, n)| n)
        .sum();
    sim.state.counters.reset();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let quiet = sim.state.counters.snapshot();
    let quiet_writes = writes(&quiet);
    // A pass begins at the listing and goes on at its next links, which point at
    // `/v1.0/referrals` (partner-rest's form): a sweep resuming a kept link lists there.
    let swept: u64 = [
        "partner-center GET /v1.0/engagements/referrals",
        "partner-center GET /v1.0/referrals",
    ]
    .iter()
    .filter_map(|route| quiet.routes.get(*route))
    .sum();
    assert!(
        swept > 0,
        "a sweep listed referrals in the quiet cycle: {quiet:?}"
    );
    assert!(
        quiet
            .events
            .keys()
            .any(|k| k.starts_with("dataverse GET opportunities")),
        "the change feed was polled in the quiet cycle: {quiet:?}"
    );
    if quiet_writes != 0 {
        let kept = keep_logs(&*serve.lock().await);
        panic!(
            "the quiet cycle wrote {quiet_writes} times: {:?}; seed {seed}; serve's output: {kept}",
            quiet.routes
        );
    }

    serve.lock().await.stop().await;
    let logs = std::fs::read_to_string(serve.lock().await.logs()).unwrap();
    let incarnations = serve.lock().await.incarnations;
    let counts = Counts::of(&sim, &logs, &expected, incarnations, faults_injected);
    println!("chaos: {counts}, writes in the quiet cycle {quiet_writes}, seed {seed}");

    // Not one secret or token of the run in anything serve wrote.
    let leaks = leaks(&logs, &secrets_of_the_run(&cli));
    assert!(
        leaks.is_empty(),
        "serve's output holds secrets or tokens: {leaks:?}"
    );
    assert!(
        logs.lines().count() > 1_000,
        "the scan read serve's output ({} lines)",
        logs.lines().count()
    );
}

/// The expected end state.
struct Expected<'a> {
    inbound: &'a [String],
    outbound: &'a [Uuid],
    /// Deal index → (Microsoft's deal value, the seller's description).
    both_sides: &'a BTreeMap<usize, (usize, String)>,
}

impl Expected<'_> {
    /// What is not yet as it must end; empty when converged.
    fn problems(&self, sim: &Sim) -> Vec<String> {
        let referrals: Vec<Value> = sim.state.pc.store.lock().unwrap().all().to_vec();
        let rows = sim.state.dv.rows("opportunities");
        let mut problems = Vec::new();
        let expected_total = self.inbound.len() + self.outbound.len();
        if referrals.len() != expected_total {
            problems.push(format!(
                "{} referrals in Partner Center, {expected_total} expected",
                referrals.len()
            ));
        }
        if rows.len() != expected_total {
            problems.push(format!(
                "{} opportunities in Dataverse, {expected_total} expected",
                rows.len()
            ));
        }
        let mut rows_of: HashMap<&str, Vec<&serde_json::Map<String, Value>>> = HashMap::new();
        for row in &rows {
            if let Some(id) = row
                .get("msft_microsoftpartnercenterreferralidentifier")
                .and_then(Value::as_str)
            {
                rows_of.entry(id).or_default().push(row);
            }
        }
        let by_id: HashMap<&str, &Value> = referrals
            .iter()
            .filter_map(|r| Some((r["id"].as_str()?, r)))
            .collect();
        for referral in &referrals {
            let id = referral["id"].as_str().unwrap_or_default();
            match rows_of.get(id).map(Vec::as_slice) {
                Some([row]) => problems.extend(differences(referral, row)),
                Some(more) => problems.push(format!("referral {id}: {} opportunities", more.len())),
                None => problems.push(format!("referral {id}: no opportunity")),
            }
        }
        for (i, id) in self.inbound.iter().enumerate() {
            let Some(referral) = by_id.get(id.as_str()) else {
                problems.push(format!("inbound referral {id} gone"));
                continue;
            };
            let value = self.both_sides.get(&i).map_or(5_000 + i, |(v, _)| *v);
            expect(
                &mut problems,
                id,
                &referral["name"],
                &json!(format!("Chaos in {i} v2")),
            );
            expect(
                &mut problems,
                id,
                &referral["details"]["dealValue"],
                &json!(value),
            );
            if let Some((_, note)) = self.both_sides.get(&i) {
                expect(
                    &mut problems,
                    id,
                    &referral["details"]["notes"],
                    &json!(note),
                );
            }
        }
        for (i, id) in self.outbound.iter().enumerate() {
            let Some(row) = rows.iter().find(|r| r["opportunityid"] == id.to_string()) else {
                problems.push(format!("opportunity {id} gone"));
                continue;
            };
            let Some(referral) = row
                .get("msft_microsoftpartnercenterreferralidentifier")
                .and_then(Value::as_str)
                .and_then(|r| by_id.get(r))
            else {
                problems.push(format!("opportunity {id}: no referral"));
                continue;
            };
            let rid = referral["id"].as_str().unwrap_or_default();
            expect(
                &mut problems,
                rid,
                &referral["externalReferenceId"],
                &json!(id.to_string()),
            );
            expect(
                &mut problems,
                rid,
                &referral["name"],
                &json!(format!("Chaos out {i} v2")),
            );
            expect(
                &mut problems,
                rid,
                &referral["details"]["dealValue"],
                &json!(20_000 + i),
            );
        }
        problems
    }
}

/// Where an opportunity differs from its referral in the fields both sides keep.
fn differences(referral: &Value, row: &serde_json::Map<String, Value>) -> Vec<String> {
    let id = referral["id"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    let name = row.get("name").and_then(Value::as_str).map(base_name);
    if name != referral["name"].as_str() {
        problems.push(format!("{id}: name {:?} ≠ {}", name, referral["name"]));
    }
    let value = row.get("estimatedvalue").and_then(Value::as_f64);
    if value != referral["details"]["dealValue"].as_f64() {
        problems.push(format!(
            "{id}: deal value {value:?} ≠ {}",
            referral["details"]["dealValue"]
        ));
    }
    let notes = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    if notes(row.get("description")) != notes(referral["details"].get("notes")) {
        problems.push(format!(
            "{id}: description {:?} ≠ notes {:?}",
            row.get("description"),
            referral["details"].get("notes")
        ));
    }
    problems
}

fn expect(problems: &mut Vec<String>, id: &str, actual: &Value, wanted: &Value) {
    let same = match (actual.as_f64(), wanted.as_f64()) {
        (Some(a), Some(w)) => a == w,
        _ => actual == wanted,
    };
    if !same {
        problems.push(format!("{id}: {actual} where {wanted} was written last"));
    }
}

/// Where serve keeps its state: a fresh table on moto's DynamoDB, or — `COSELL_CHAOS_STORE=sqlite`,
/// for the full size, where moto's server outgrows the machine's memory — serve's SQLite file.
async fn store_settings(env: &Deployment) -> Vec<(String, String)> {
    let pairs = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    if std::env::var("COSELL_CHAOS_STORE").as_deref() == Ok("sqlite") {
        let path = env.path("cosell.db").to_string_lossy().into_owned();
        println!("chaos: store SQLite");
        return pairs(&[("COSELL_SQLITE_PATH", path)]);
    }
    let table = cosell_testkit::unique_table("chaos");
    cosell_store::dynamodb::create_table(&cosell_testkit::dynamodb().await, &table)
        .await
        .unwrap();
    println!("chaos: store DynamoDB (moto) table {table}");
    pairs(&[
        ("COSELL_TABLE", table),
        ("AWS_ENDPOINT_URL", cosell_testkit::dynamodb_url()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ])
}

/// `(pending, dead)` retry items, from `cosell status --json` over serve's store.
async fn retry_queue(cli: &Deployment, store: &[(String, String)]) -> Option<(u64, u64)> {
    let mut command = cli.command(&["status", "--json"]);
    command
        .env_remove("COSELL_SQLITE_PATH")
        .env_remove("COSELL_TABLE")
        .envs(store.iter().map(|(k, v)| (k, v)));
    let (code, stdout, _) = run(command).await;
    // 1 is a status that shows ✖ (a job whose last run met a fault): still read.
    let status: Value = serde_json::from_str(&stdout)
        .ok()
        .filter(|_| matches!(code, 0 | 1))?;
    Some((
        status["retries"]["pending"].as_u64()?,
        status["retries"]["dead"].as_u64()?,
    ))
}

/// Requests that change something, per the simulators' counters.
fn writes(snapshot: &cosell_sim::counters::Snapshot) -> u64 {
    snapshot
        .routes
        .iter()
        .filter(|(route, _)| {
            (route.starts_with("partner-center ") || route.starts_with("dataverse "))
                && route.split(' ').nth(1).is_none_or(|m| m != "GET")
        })
        .map(|(_, n)| n)
        .sum()
}

fn opportunity_of(sim: &Sim, referral: &str) -> Option<Uuid> {
    let id = cosell_mapping::inbound::record_id("opportunities", referral);
    sim.state.dv.row("opportunities", id).map(|_| id)
}

async fn microsoft_edit(http: &reqwest::Client, sim: &Sim, referral: &str, patch: Value) {
    let response = http
        .patch(format!(
            "{}/_admin/partner-center/referrals/{referral}",
            sim.base_url
        ))
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Operations at a steady pace.
struct Load {
    next: Instant,
    every: Duration,
}

impl Load {
    fn new(per_second: f64) -> Self {
        Self {
            next: Instant::now(),
            every: Duration::from_secs_f64(1.0 / per_second),
        }
    }

    async fn tick(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next += self.every;
    }
}

/// SIGKILL at each moment (from the start of the load), then a restart, as a service manager
/// would.
async fn kill_and_restart(serve: Arc<Mutex<Serve>>, at: Vec<Duration>) {
    let start = Instant::now();
    for moment in at {
        tokio::time::sleep_until(start + moment).await;
        let mut serve = serve.lock().await;
        serve.kill().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        serve.start().await;
    }
}

/// The `cosell serve` process, restarted on the same port; its output appended to one file.
struct Serve {
    env: Deployment,
    port: u16,
    child: Option<Child>,
    incarnations: u32,
}

impl Serve {
    fn new(env: Deployment, port: u16) -> Self {
        Self {
            env,
            port,
            child: None,
            incarnations: 0,
        }
    }

    fn logs(&self) -> PathBuf {
        self.env.path("serve.log")
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs())
            .unwrap();
        let listen = format!("127.0.0.1:{}", self.port);
        let mut command = self.env.command(&["serve", "--listen", &listen]);
        command
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        self.child = Some(command.spawn().unwrap());
        self.incarnations += 1;
        let health = format!("http://{listen}/healthz");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(&health).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not come up: {}",
                tail(&self.logs())
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap(); // SIGKILL
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().unwrap().to_string();
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            if tokio::time::timeout(Duration::from_secs(300), child.wait())
                .await
                .is_err()
            {
                panic!(
                    "serve did not stop within 300 s of SIGTERM; its output: {}",
                    keep_logs(self)
                );
            }
        }
    }
}

/// Copies serve's output out of the temporary directory, for the failure to be read.
fn keep_logs(serve: &Serve) -> String {
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos-serve.log");
    match std::fs::copy(serve.logs(), &kept) {
        Ok(_) => kept.display().to_string(),
        Err(error) => format!("not kept: {error}"),
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The suite's counts, printed.
struct Counts {
    referrals: usize,
    opportunities: usize,
    deliveries: usize,
    duplicates: usize,
    reordered: usize,
    offline: usize,
    lost: usize,
    merges: usize,
    parked: usize,
    dead: usize,
    kills: u32,
    faults: u64,
}

impl Counts {
    fn of(sim: &Sim, logs: &str, expected: &Expected<'_>, incarnations: u32, faults: u64) -> Self {
        let deliveries = sim.state.pc.webhooks.log();
        let problems = expected.problems(sim);
        Self {
            referrals: expected.inbound.len(),
            opportunities: expected.outbound.len(),
            deliveries: deliveries.len(),
            duplicates: deliveries
                .iter()
                .filter(|d| d.duplicate_of.is_some())
                .count(),
            reordered: deliveries.iter().filter(|d| d.reordered).count(),
            offline: deliveries
                .iter()
                .filter(|d| d.state == DeliveryState::Parked)
                .count(),
            lost: problems.len(),
            merges: logs.matches("(412); merging").count(),
            parked: logs.matches("sync parked").count(),
            dead: logs.matches("\"permanent\":true").count(),
            kills: incarnations - 1,
            faults,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "created {} referrals + {} opportunities, {} webhook deliveries ({} duplicates, {} out \
             of order, {} given up while serve was down), lost {}, 412 merges {}, retries (syncs \
             parked) {}, parked dead {}, kills {}",
            self.referrals,
            self.opportunities,
            self.deliveries,
            self.duplicates,
            self.reordered,
            self.offline,
            self.lost,
            self.merges,
            self.parked,
            self.dead,
            self.kills,
        )?;
        write!(f, ", faults injected {}", self.faults)
    }
}

/// What must never appear in a log: the apps' secrets, the refresh tokens, and the prefixes every
/// access and refresh token the simulator issues carries.
fn secrets_of_the_run(cli: &Deployment) -> Vec<String> {
    let mut secrets = vec![
        "sim-secret".to_owned(),
        "sim-refresh-token".to_owned(),
        "sim-rt-".to_owned(),
        cosell_sim::token::jwt::prefix(),
    ];
    if let Ok(text) = std::fs::read_to_string(cli.path("credentials.json"))
        && let Ok(document) = serde_json::from_str::<Value>(&text)
        && let Some(token) = document["partner_center"]["refresh_token"].as_str()
    {
        secrets.push(token.to_owned());
    }
    secrets
}

fn leaks<'a>(logs: &'a str, secrets: &[String]) -> Vec<&'a str> {
    logs.lines()
        .filter(|line| secrets.iter().any(|s| line.contains(s.as_str())))
        .take(5)
        .collect()
}

#[test]
fn the_scan_finds_a_token_in_a_log_line() {
    let logs = "{\"message\":\"ok\"}\n{\"message\":\"auth\",\"token\":\"sim-at-0123\"}\n";
    let found = leaks(logs, &["sim-at-".to_owned()]);
    assert_eq!(
        found,
        vec!["{\"message\":\"auth\",\"token\":\"sim-at-0123\"}"]
    );
}
