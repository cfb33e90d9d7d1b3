//! The Lambda binary refuses to start on bad settings, naming the setting.

use std::process::Command;

fn start_with(env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_webhook-ingress"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_settings_stop_the_cold_start_with_every_name_at_once() {
    let (ok, stderr) = start_with(&[]);
    assert!(!ok);
    assert!(
        stderr
            .contains("webhook-ingress cannot start: 4 settings are not set: COSELL_DATAVERSE_URL"),
        "{stderr}"
    );
    for name in [
        "COSELL_PARTNER_CENTER_TENANT",
        "COSELL_CREDENTIALS_SECRET",
        "COSELL_TABLE",
    ] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[test]
fn a_misspelt_setting_stops_the_cold_start_with_the_one_meant() {
    let (ok, stderr) = start_with(&[(
        "COSELL_DATAVERSE_ULR",
        "https://contoso.api.crm.dynamics.com/api/data/v9.2/",
    )]);
    assert!(!ok);
    assert!(
        stderr.contains("COSELL_DATAVERSE_ULR (did you mean COSELL_DATAVERSE_URL?)"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_crm_setting_stops_the_cold_start_with_its_name() {
    // Every required setting given (the settings are read before anything is opened).
    let (ok, stderr) = start_with(&[
        (
            "COSELL_DATAVERSE_URL",
            "https://contoso.api.crm.dynamics.com/api/data/v9.2/",
        ),
        ("COSELL_PARTNER_CENTER_TENANT", "contoso.onmicrosoft.com"),
        ("COSELL_CREDENTIALS_FILE", "/nonexistent/credentials.json"),
        ("COSELL_SQLITE_PATH", "/nonexistent/cosell.db"),
        ("COSELL_SHOW_CHECKMARK", "maybe"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("COSELL_SHOW_CHECKMARK"), "{stderr}");
}

#[test]
fn a_failed_start_is_logged_as_lambdas_log_format_says() {
    let run = |format: &str, level: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_webhook-ingress"))
            .env_clear()
            .env("AWS_LAMBDA_LOG_FORMAT", format)
            .env("AWS_LAMBDA_LOG_LEVEL", level)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // JSON, as template.yaml sets the functions' log format: one object per line.
    let json = run("JSON", "INFO");
    let line: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "ERROR", "{json}");
    assert_eq!(line["fields"]["message"], "cannot start", "{json}");
    assert_eq!(line["fields"]["function"], "webhook-ingress", "{json}");
    // Text otherwise; and a level above ERROR's says nothing.
    assert!(run("Text", "INFO").contains("cannot start"));
    assert!(!run("JSON", "off").contains("cannot start"));
}
