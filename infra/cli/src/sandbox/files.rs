//! The sandbox's state directory: what a real deployment keeps in Secrets Manager, the function
//! settings and the store, as files a person can open — and reuse with
//! `cosell check --config <dir>/cosell.toml` while the sandbox runs.
//!
//! | file | holds |
//! |---|---|
//! | `cosell.toml` | every `COSELL_*` setting serve runs with |
//! | `credentials.json` | the simulator's app credentials and refresh token (rotated in place) |
//! | `sim-ca.pem` | the simulator's test CA, the webhook signature's trust anchor |
//! | `cosell.db` | the SQLite sync state |
//! | `cosell.log` | serve's and the simulators' JSON logs |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cosell_sim::Sim;
use cosell_sim::partner_center::signing::Signer;
use serde_json::json;

/// The tenant the sandbox's Partner Center client signs in to.
pub const TENANT: &str = "contoso.onmicrosoft.com";
/// The sandbox's Dataverse webhook key (not a secret: the simulator is local).
pub const DATAVERSE_WEBHOOK_KEY: &str = "sandbox-dataverse-key";

/// A directory kept (`--dir`) or removed on exit.
pub enum StateDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl StateDir {
    /// `dir`, created if needed, or a new temporary directory.
    pub fn new(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        match dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let dir = dir.canonicalize()?;
                // The simulators start empty, so an old store would point at rows that are gone.
                for stale in ["cosell.db", "cosell.db-wal", "cosell.db-shm"] {
                    let _ = std::fs::remove_file(dir.join(stale));
                }
                Ok(StateDir::Kept(dir))
            }
            None => Ok(StateDir::Temporary(
                tempfile::Builder::new()
                    .prefix("cosell-sandbox-")
                    .tempdir()
                    .context("creating a temporary directory")?,
            )),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            StateDir::Kept(path) => path,
            StateDir::Temporary(dir) => dir.path(),
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// Writes the credentials and the CA, and returns the settings serve runs with (also written to
/// `cosell.toml`).
pub fn write(
    dir: &StateDir,
    sim: &Sim,
    serve_url: &str,
    poll_interval: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let credentials = dir.file("credentials.json");
    let document = json!({
        "partner_center": {
            "client_id": "sim-client",
            "client_secret": "sim-secret",
            "refresh_token": "sim-refresh-token"
        },
        "dataverse": {
            "tenant_id": "tenant-1",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
            "webhook_key": DATAVERSE_WEBHOOK_KEY
        },
        // The simulator's webhook sink stands in for a Teams Workflows webhook.
        "alerts": {
            "teams_workflow_url": format!("{}/hooks/teams", sim.base_url)
        }
    });
    std::fs::write(
        &credentials,
        serde_json::to_string_pretty(&document).expect("JSON"),
    )
    .with_context(|| format!("writing {}", credentials.display()))?;
    let ca = dir.file("sim-ca.pem");
    std::fs::write(&ca, &Signer::get().ca_pem)
        .with_context(|| format!("writing {}", ca.display()))?;

    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let settings: BTreeMap<String, String> = [
        ("COSELL_DATAVERSE_URL", sim.state.dv.api_base_url()),
        ("COSELL_PARTNER_CENTER_TENANT", TENANT.to_owned()),
        ("COSELL_CREDENTIALS_FILE", path(credentials)),
        ("COSELL_SQLITE_PATH", path(dir.file("cosell.db"))),
        ("COSELL_LOGIN_URL", sim.base_url.clone()),
        ("COSELL_PARTNER_CENTER_URL", sim.base_url.clone()),
        ("COSELL_PARTNER_CENTER_WEBHOOKS_URL", sim.base_url.clone()),
        ("COSELL_WEBHOOK_CERT_HOSTS", sim.addr.to_string()),
        ("COSELL_WEBHOOK_TRUST_ROOTS", path(ca)),
        (
            "COSELL_WEBHOOK_URL",
            format!("{serve_url}/webhooks/partner-center"),
        ),
        (
            "COSELL_DATAVERSE_WEBHOOK_URL",
            format!("{serve_url}/webhooks/dataverse"),
        ),
        ("COSELL_POLL_INTERVAL", poll_interval.to_owned()),
        // Due alerts are posted by the retry run: every two seconds here, not every minute.
        ("COSELL_RETRY_INTERVAL", "2s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let toml = toml::to_string(&settings).expect("string settings serialise");
    let file = dir.file("cosell.toml");
    std::fs::write(
        &file,
        format!(
            "# The settings of the running sandbox (`cosell check --config {}`).\n{toml}",
            file.display()
        ),
    )
    .with_context(|| format!("writing {}", file.display()))?;
    Ok(settings)
}
