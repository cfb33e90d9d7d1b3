//! One cold start: exec, wait for the first `next` call, read the process's memory while it
//! waits for its event, stop it.

use std::time::Duration;

use tokio::time::Instant;

use super::BenchError;
use super::binary::Binary;
use super::environment::Environment;
use super::runtime_api::{RuntimeApi, Signal};

pub struct Sample {
    /// Exec → first `GET /runtime/invocation/next`.
    pub ready: Duration,
    /// Resident memory when ready (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident memory up to then (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// Requests the start made to the simulator (token, Dataverse, Partner Center).
    pub sim_requests: u64,
}

pub async fn cold_start(
    binary: &Binary,
    environment: &Environment,
    api: &mut RuntimeApi,
    run: usize,
    timeout: Duration,
) -> Result<Sample, BenchError> {
    api.drain();
    let requests_before = sim_requests(environment);
    let mut command = environment.command(binary, api.addr(), run)?;
    let not_started = |detail: String| BenchError::NotStarted {
        function: binary.name.clone(),
        run,
        detail,
        output: std::fs::read_to_string(environment.output_path(binary, run)).unwrap_or_default(),
    };

    let started = Instant::now();
    let mut child = command.spawn().map_err(BenchError::io(format!(
        "starting {}",
        binary.path.display()
    )))?;
    let pid = child.id().expect("a child not yet waited for has an id");
    let outcome = tokio::select! {
        signal = api.signal() => match signal {
            Signal::Ready(at) => memory(pid).map(|(rss_kib, hwm_kib)| Sample {
                ready: at.saturating_duration_since(started),
                rss_kib,
                hwm_kib,
                sim_requests: sim_requests(environment) - requests_before,
            }),
            Signal::InitError(body) => Err(not_started(format!("it posted init/error: {body}"))),
        },
        status = child.wait() => Err(not_started(match status {
            Ok(status) => format!("it exited ({status}) before asking for an event"),
            Err(e) => format!("waiting for it: {e}"),
        })),
        () = tokio::time::sleep(timeout) => Err(not_started(format!("not ready within {timeout:?}"))),
    };
    let _ = child.kill().await;
    api.release();
    outcome
}

/// `VmRSS` and `VmHWM` of a running process, KiB.
fn memory(pid: u32) -> Result<(u64, u64), BenchError> {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).map_err(BenchError::io(format!("reading {path}")))?;
    let field = |name: &str| -> Result<u64, BenchError> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
            .ok_or_else(|| BenchError::Io {
                context: format!("reading {path}"),
                source: std::io::Error::other(format!("no {name} line in kB")),
            })
    };
    Ok((field("VmRSS")?, field("VmHWM")?))
}

fn sim_requests(environment: &Environment) -> u64 {
    environment
        .sim
        .state
        .counters
        .snapshot()
        .services
        .values()
        .sum()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A stand-in function in bash, which reaches the Runtime API with builtins only (`/dev/tcp`),
    /// as the benchmark clears the environment (no PATH). It checks the settings a cosell function
    /// needs are there, exiting 9 otherwise.
    fn function(dir: &Path, name: &str, body: &str) -> Binary {
        let path = dir.join(name);
        let script = format!(
            r#"#!/bin/bash
for file in "$COSELL_CREDENTIALS_FILE" "$COSELL_WEBHOOK_TRUST_ROOTS"; do [ -r "$file" ] || exit 9; done
[ -n "$COSELL_SQLITE_PATH" ] && [ -n "$COSELL_DATAVERSE_URL" ] && [ -n "$AWS_LAMBDA_FUNCTION_NAME" ] || exit 9
exec 3<>"/dev/tcp/${{AWS_LAMBDA_RUNTIME_API%:*}}/${{AWS_LAMBDA_RUNTIME_API#*:}}"
{body}
"#
        );
        // Written through `install`, a child process: were this test's own process to hold the
        // executable open for writing, a concurrent test's fork could inherit that descriptor and
        // the spawn would fail with ETXTBSY ("Text file busy").
        let source = dir.join(format!("{name}.sh"));
        std::fs::write(&source, script).unwrap();
        let installed = std::process::Command::new("install")
            .args(["-m", "755"])
            .arg(&source)
            .arg(&path)
            .status()
            .unwrap();
        assert!(installed.success());
        Binary {
            name: name.to_owned(),
            shown: path.display().to_string(),
            path,
            bytes: 0,
            arch: std::env::consts::ARCH.to_owned(),
            stripped: true,
        }
    }

    const ASK_FOR_EVENT: &str = r#"printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n' >&3
read -r status <&3"#;

    #[tokio::test]
    async fn a_start_lasts_until_the_first_next_call_and_memory_is_read_then() {
        let environment = Environment::start().await.unwrap();
        let mut api = RuntimeApi::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        // 300 ms of "initialisation" (a read that times out), then ready.
        let slow = function(
            dir.path(),
            "slow",
            &format!("read -t 0.3 -u 3\n{ASK_FOR_EVENT}"),
        );
        let timeout = Duration::from_secs(10);

        for run in 1..=2 {
            let sample = cold_start(&slow, &environment, &mut api, run, timeout)
                .await
                .unwrap();
            assert!(
                sample.ready >= Duration::from_millis(300),
                "{:?}",
                sample.ready
            );
            assert!(sample.rss_kib > 0);
            assert!(sample.hwm_kib >= sample.rss_kib);
            assert_eq!(sample.sim_requests, 0);
        }
    }

    #[tokio::test]
    async fn a_function_that_exits_or_reports_an_init_error_did_not_start() {
        let environment = Environment::start().await.unwrap();
        let mut api = RuntimeApi::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let timeout = Duration::from_secs(10);

        let exits = function(
            dir.path(),
            "exits",
            "echo 'COSELL_X is missing' >&2\nexit 3",
        );
        let error = cold_start(&exits, &environment, &mut api, 1, timeout)
            .await
            .err()
            .expect("an exit before `next` is an error");
        let text = error.to_string();
        assert!(text.contains("exits did not start (run 1)"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("COSELL_X is missing"), "{text}");

        let body = r#"{"errorType":"Config","errorMessage":"bad"}"#;
        let reports = function(
            dir.path(),
            "reports",
            &format!(
                "printf 'POST /2018-06-01/runtime/init/error HTTP/1.1\\r\\nHost: runtime\\r\\nContent-Length: {}\\r\\n\\r\\n%s' '{body}' >&3\nread -r status <&3\nread -t 5 -u 3",
                body.len()
            ),
        );
        let error = cold_start(&reports, &environment, &mut api, 1, timeout)
            .await
            .err()
            .expect("init/error is an error");
        assert!(error.to_string().contains(body), "{error}");
    }
}
