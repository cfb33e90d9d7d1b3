//! What a function needs to start, pointed at the simulator instead of AWS and Microsoft: the
//! settings of `infra/cli/tests/common` (a credentials file, SQLite, the simulator's URLs and
//! signing CA) plus the variables Lambda itself sets. Each start gets a fresh SQLite file and its
//! own output file, so every run is a first start.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cosell_sim::partner_center::signing::Signer;
use cosell_sim::{Sim, SimConfig};
use serde_json::json;
use tokio::process::Command;

use super::BenchError;
use super::binary::Binary;

/// The Partner Center tenant the simulator's token endpoint answers for (any name works).
const TENANT: &str = "contoso.onmicrosoft.com";
/// The template's `MemorySize`.
const MEMORY_MB: &str = "128";

pub struct Environment {
    pub sim: Sim,
    dir: tempfile::TempDir,
    settings: Vec<(&'static str, String)>,
}

impl Environment {
    pub async fn start() -> Result<Environment, BenchError> {
        let sim = Sim::start(SimConfig::default())
            .await
            .map_err(BenchError::io("starting the simulator"))?;
        let dir = tempfile::tempdir().map_err(BenchError::io("creating a temporary directory"))?;
        let write = |name: &str, text: String| -> Result<String, BenchError> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map_err(BenchError::io(format!("writing {name}")))?;
            Ok(path.to_string_lossy().into_owned())
        };
        // The simulator's default app and refresh token.
        let credentials = json!({
            "partner_center": {"client_id": "sim-client", "client_secret": "sim-secret", "refresh_token": "sim-refresh-token"},
            "dataverse": {"tenant_id": "tenant-1", "client_id": "sim-client", "client_secret": "sim-secret"}
        });
        let settings = vec![
            ("COSELL_DATAVERSE_URL", sim.state.dv.api_base_url()),
            ("COSELL_PARTNER_CENTER_TENANT", TENANT.to_owned()),
            (
                "COSELL_CREDENTIALS_FILE",
                write("credentials.json", credentials.to_string())?,
            ),
            ("COSELL_LOGIN_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_URL", sim.base_url.clone()),
            ("COSELL_PARTNER_CENTER_WEBHOOKS_URL", sim.base_url.clone()),
            ("COSELL_WEBHOOK_CERT_HOSTS", sim.addr.to_string()),
            (
                "COSELL_WEBHOOK_TRUST_ROOTS",
                write("sim-ca.pem", Signer::get().ca_pem.clone())?,
            ),
        ];
        Ok(Environment { sim, dir, settings })
    }

    /// Where start `run` of `binary` writes its stdout and stderr.
    pub fn output_path(&self, binary: &Binary, run: usize) -> PathBuf {
        self.dir.path().join(format!("{}-{run}.log", binary.name))
    }

    /// `binary` with only these settings and Lambda's variables in its environment.
    pub fn command(
        &self,
        binary: &Binary,
        runtime_api: SocketAddr,
        run: usize,
    ) -> Result<Command, BenchError> {
        let output_path = self.output_path(binary, run);
        let output = File::create(&output_path).map_err(BenchError::io(format!(
            "creating {}",
            output_path.display()
        )))?;
        let errors = output
            .try_clone()
            .map_err(BenchError::io(format!("opening {}", output_path.display())))?;
        let sqlite = self.dir.path().join(format!("{}-{run}.db", binary.name));
        let mut command = Command::new(&binary.path);
        command
            .env_clear()
            .envs(self.settings.iter().map(|(k, v)| (k, v)))
            .env("COSELL_SQLITE_PATH", path_text(&sqlite))
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &binary.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", binary.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("bench-{run}"))
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .kill_on_drop(true);
        Ok(command)
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
