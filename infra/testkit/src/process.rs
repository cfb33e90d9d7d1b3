//! The built `cosell` binary run as an operator runs it: with a deployment's settings pointed at
//! the simulator, to its end or read line by line while it runs, and `cosell login`'s browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cosell_sim::Sim;
use cosell_sim::partner_center::signing::Signer;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::Instant;

use crate::sim;

/// A binary of the workspace, built beside the running test (Cargo builds a package's binaries
/// before its integration tests; `target/<profile>/deps/<test>` → `target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run the test through cargo",
        path.display()
    );
    path
}

/// The built `cosell` binary, with no `COSELL_*` variable inherited from the shell.
pub fn cosell() -> Command {
    let mut command = Command::new(binary("cosell"));
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

    /// Sets (or replaces) a setting.
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

    /// Removes a setting.
    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    /// A file in the deployment's directory.
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

/// Runs `command` to its end (within 60 s): (exit code, stdout, stderr).
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

/// The credentials file a deployment reads: the simulator's default app, this refresh token.
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
    /// Starts `command`, its stdout piped.
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

/// A query parameter of `url` (panics when absent).
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
