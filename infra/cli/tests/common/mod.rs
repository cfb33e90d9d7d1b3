//! Driving the built `cosell` binary against an in-process simulator over real sockets: the
//! settings a deployment would have, pointed at the simulator, and helpers to run a command to
//! its end or to read a long-running one line by line.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cosell_sim::Sim;
use cosell_sim::partner_center::signing::Signer;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::Instant;
use uuid::Uuid;

pub use cosell_testkit::sim;

/// The binary under test, with no `COSELL_*` variable inherited from the shell.
pub fn cosell() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cosell"));
    for (name, _) in std::env::vars() {
        if name.starts_with("COSELL_") {
            command.env_remove(name);
        }
    }
    command.kill_on_drop(true);
    command
}

/// A deployment's settings, pointed at `sim`, with their files in a temporary directory.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Deployment {
    /// Credentials with the simulator's default app and `refresh_token`.
    pub fn new(sim: &Sim, refresh_token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials.json");
        write_credentials(&credentials, refresh_token);
        let ca = dir.path().join("sim-ca.pem");
        std::fs::write(&ca, &Signer::get().ca_pem).unwrap();
        let text = |p: PathBuf| p.to_string_lossy().into_owned();
        let vars = [
            ("COSELL_DATAVERSE_URL", sim.state.dv.api_base_url()),
            ("COSELL_PARTNER_CENTER_TENANT", sim::TENANT.to_owned()),
            ("COSELL_CREDENTIALS_FILE", text(credentials)),
            ("COSELL_SQLITE_PATH", text(dir.path().join("cosell.db"))),
            ("COSELL_LOGIN_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_WEBHOOKS_URL", sim.base_url.clone()),
            ("COSELL_WEBHOOK_CERT_HOSTS", sim.addr.to_string()),
            ("COSELL_WEBHOOK_TRUST_ROOTS", text(ca)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self { dir, vars }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.into()));
    }

    /// A setting's value (panics when it is not set: a test's own mistake).
    pub fn get(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is not set"))
    }

    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cosell ARGS` with these settings in the environment, run in the directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = cosell();
        command
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        command
    }

    /// Runs `cosell ARGS` to its end: (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        run(self.command(args)).await
    }
}

pub async fn run(mut command: Command) -> (i32, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the command ends within 60 s")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

pub fn write_credentials(path: &Path, refresh_token: &str) {
    let document = json!({
        "partner_center": {"client_id": "sim-client", "client_secret": "sim-secret", "refresh_token": refresh_token},
        "dataverse": {"tenant_id": "tenant-1", "client_id": "sim-client", "client_secret": "sim-secret"}
    });
    std::fs::write(path, document.to_string()).unwrap();
}

/// A long-running `cosell` (serve, sandbox), read line by line.
pub struct Running {
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads until a line satisfies `wanted`, for at most `within`; panics with what was read.
    pub async fn line(&mut self, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.next_line()).await;
            match next {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Ok(Ok(None)) => panic!("the output ended; read:\n{}", self.seen.join("\n")),
                Ok(Err(error)) => panic!("reading the output: {error}"),
                Err(_) => panic!(
                    "no such line within {within:?}; read:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, as a service manager stops it; returns the exit code and every line read.
    pub async fn terminate(mut self) -> (i32, Vec<String>) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        // Drain the output so the process never blocks on a full pipe while stopping.
        let drain = async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                self.seen.push(line);
            }
        };
        tokio::time::timeout(Duration::from_secs(20), drain)
            .await
            .expect("the output closes after SIGTERM");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the process exits after SIGTERM")
            .unwrap();
        (status.code().unwrap_or(-1), self.seen)
    }
}

/// Polls `condition` until it holds; panics after `within`.
pub async fn wait_for(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// The USD currency row.
pub fn seed_currency(sim: &Sim) -> Uuid {
    sim.state
        .dv
        .seed(
            "transactioncurrencies",
            object(json!({"isocurrencycode": "USD", "currencyname": "US Dollar"})),
        )
        .unwrap()
}

/// A seller's complete opportunity marked "Sync with Partner Center" = yes, with its account,
/// contact and solution.
pub fn seed_shared_opportunity(sim: &Sim, currency: Uuid) -> Uuid {
    seed_named_opportunity(sim, currency, "Litware - Data platform", 125_000)
}

/// [`seed_shared_opportunity`] with its own name and deal value.
pub fn seed_named_opportunity(sim: &Sim, currency: Uuid, name: &str, value: u64) -> Uuid {
    let dv = &sim.state.dv;
    let account = dv
        .seed(
            "accounts",
            object(json!({
                "name": "Litware, Inc.", "address1_line1": "1 Main Street", "address1_city": "Seattle",
                "address1_postalcode": "98101", "address1_country": "US"
            })),
        )
        .unwrap();
    let contact = dv
        .seed(
            "contacts",
            object(json!({"firstname": "Avery", "lastname": "Chen", "emailaddress1": "avery@litware.example"})),
        )
        .unwrap();
    let opportunity = dv
        .seed(
            "opportunities",
            object(json!({
                "name": name,
                "estimatedvalue": value,
                "estimatedclosedate": "2026-09-30",
                "description": "Move the warehouse to Azure.",
                "parentaccountid@odata.bind": format!("/accounts({account})"),
                "customerid_account@odata.bind": format!("/accounts({account})"),
                "parentcontactid@odata.bind": format!("/contacts({contact})"),
                "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})"),
                "msft_microsoftpartnercenterreferralsync": true,
            })),
        )
        .unwrap();
    dv.seed(
        "msft_microsoftpartnercentersolutions",
        object(json!({
            "msft_solutionid": "SOL-2F5A1C7E",
            "msft_name": "Accelerator",
            "msft_opportunityid@odata.bind": format!("/opportunities({opportunity})"),
        })),
    )
    .unwrap();
    opportunity
}

/// An incoming co-sell referral, as Microsoft creates it.
/// Seeds [`cosell_referral`] as Microsoft would, without a webhook delivery; the referral.
pub fn seed_cosell_referral(sim: &Sim) -> Value {
    cosell_sim::partner_center::referrals::create_referral(
        &sim.state,
        cosell_referral(),
        cosell_sim::partner_center::referrals::Source::Admin,
    )
    .expect("the referral is created")
}

pub fn cosell_referral() -> Value {
    json!({
        "name": "Fabrikam - Azure migration",
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": "Fabrikam, Inc.",
            "address": {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"},
            "team": [{"firstName": "Dana", "lastName": "Whitfield", "email": "dana@fabrikam.example"}]
        },
        "consent": {"consentToContact": true, "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"dealValue": 250000, "currency": "USD", "closingDateTime": "2026-06-30T00:00:00Z"}
    })
}

/// A `cosell login` whose stderr (the instructions) is read line by line.
pub struct Login {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    seen: Vec<String>,
}

impl Login {
    /// `cosell login --timeout 30 ARGS` in `deployment`.
    pub fn spawn(deployment: &Deployment, args: &[&str]) -> Self {
        let mut all = vec!["login", "--timeout", "30"];
        all.extend_from_slice(args);
        Self::spawn_command(deployment.command(&all))
    }

    /// `command` (a `cosell login …`), its stdout and stderr piped.
    pub fn spawn_command(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stderr).lines(),
            seen: Vec::new(),
        }
    }

    /// The first instruction line satisfying `wanted`.
    pub async fn line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
                .await
                .expect("an instruction within 20 s")
                .unwrap()
                .unwrap_or_else(|| panic!("stderr ended; read:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    /// The sign-in URL printed for the browser.
    pub async fn url(&mut self) -> url::Url {
        let line = self.line(|l| l.trim_start().starts_with("http")).await;
        url::Url::parse(line.trim()).unwrap()
    }

    /// Waits for the end: (exit code, stdout, the rest of stderr).
    pub async fn finish(mut self) -> (i32, String, String) {
        let mut rest = self.seen.join("\n");
        while let Ok(Some(line)) = self.lines.next_line().await {
            rest.push('\n');
            rest.push_str(&line);
        }
        let output = tokio::time::timeout(Duration::from_secs(30), self.child.wait_with_output())
            .await
            .expect("login ends")
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            rest,
        )
    }
}

pub fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The browser: opens the sign-in URL (as `user`, else as the URL's `login_hint` or the first user), follows Entra ID's redirect to the loopback.
pub async fn browse(url: &url::Url, user: Option<&str>) -> reqwest::Response {
    let mut url = url.clone();
    if let Some(user) = user {
        url.query_pairs_mut().append_pair("login_hint", user);
    }
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
}
