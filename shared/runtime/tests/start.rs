//! Settings are read with clear errors, and a runtime built from them talks to the simulators.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cosell_runtime::{CredentialSource, Runtime, Settings, SettingsError, StoreSource};
use cosell_sim::{Sim, SimConfig};

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const MINIMAL: &[(&str, &str)] = &[
    (
        "COSELL_DATAVERSE_URL",
        "https://contoso.api.crm.dynamics.com/api/data/v9.2",
    ),
    ("COSELL_PARTNER_CENTER_TENANT", "contoso.onmicrosoft.com"),
    ("COSELL_CREDENTIALS_SECRET", "cosell/credentials"),
    ("COSELL_TABLE", "cosell-sync-state"),
];

#[test]
fn minimal_settings_take_microsofts_hosts() {
    let settings = Settings::from_lookup(lookup(MINIMAL)).unwrap();
    assert_eq!(
        settings.dataverse_url,
        "https://contoso.api.crm.dynamics.com/api/data/v9.2/"
    );
    assert_eq!(
        settings.partner_center_referrals_url,
        "https://api.partner.microsoft.com/v1.0/engagements/referrals"
    );
    assert_eq!(
        settings.partner_center_registration_url,
        "https://api.partnercenter.microsoft.com/webhooks/v1/registration"
    );
    assert_eq!(
        settings.token_url("t"),
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    );
    assert_eq!(
        settings.credentials,
        CredentialSource::SecretsManager("cosell/credentials".into())
    );
    assert_eq!(
        settings.store,
        StoreSource::DynamoDb {
            table: "cosell-sync-state".into()
        }
    );
}

#[test]
fn missing_conflicting_and_malformed_settings_name_the_variable() {
    let without = |name: &str| -> Vec<(&str, &str)> {
        MINIMAL
            .iter()
            .copied()
            .filter(|(k, _)| *k != name)
            .collect()
    };
    for name in [
        "COSELL_DATAVERSE_URL",
        "COSELL_PARTNER_CENTER_TENANT",
        "COSELL_CREDENTIALS_SECRET",
        "COSELL_TABLE",
    ] {
        let error = Settings::from_lookup(lookup(&without(name))).unwrap_err();
        assert!(
            matches!(&error, SettingsError::Missing(missing) if missing.len() == 1 && missing[0].0 == name),
            "{name}: {error}"
        );
    }
    let mut both = MINIMAL.to_vec();
    both.push(("COSELL_SQLITE_PATH", "state.sqlite"));
    let error = Settings::from_lookup(lookup(&both)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "set only one of COSELL_TABLE and COSELL_SQLITE_PATH"
    );

    let mut bad_url = MINIMAL.to_vec();
    bad_url.push(("COSELL_LOGIN_URL", "login.microsoftonline.com"));
    let error = Settings::from_lookup(lookup(&bad_url)).unwrap_err();
    assert!(error.to_string().contains("COSELL_LOGIN_URL"), "{error}");
}

#[test]
fn crm_settings_are_checked_at_start() {
    let mut bad = MINIMAL.to_vec();
    bad.push(("COSELL_DEAL_VALUE_COLUMN", "estimated value; drop"));
    assert!(Settings::from_lookup(lookup(&bad)).is_err());
}

#[test]
fn every_functions_settings_are_read_here_once() {
    let defaults = Settings::from_lookup(lookup(MINIMAL)).unwrap();
    assert_eq!(defaults.crm, cosell_mapping::CrmConfig::default());
    assert_eq!(
        defaults.verifier.cert_hosts,
        [cosell_partner_center::webhook::DEFAULT_CERT_HOST]
    );
    assert_eq!(defaults.webhook_header, "x-cosell-key");
    assert_eq!(defaults.reconcile.overlap, Duration::from_secs(300));

    let mut given = MINIMAL.to_vec();
    given.extend([
        ("COSELL_SHOW_CHECKMARK", "false"),
        ("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue"),
        ("COSELL_RETRY_MAX_ATTEMPTS", "5"),
        ("COSELL_RECONCILE_OVERLAP_SECS", "120"),
        ("COSELL_DATAVERSE_WEBHOOK_HEADER", "X-Dv-Key"),
        ("COSELL_RECONCILE_SCHEDULE", "rate(30 minutes)"),
    ]);
    let settings = Settings::from_lookup(lookup(&given)).unwrap();
    assert!(!settings.crm.check_mark_in_name);
    assert_eq!(settings.crm.deal_value_column, "new_dealvalue");
    // One retry schedule for both directions.
    assert_eq!(settings.inbound.backoff.max_attempts, 5);
    assert_eq!(settings.outbound.backoff.max_attempts, 5);
    assert_eq!(settings.reconcile.overlap, Duration::from_secs(120));
    assert_eq!(settings.reconcile.interval, Some(Duration::from_secs(1800)));
    assert_eq!(settings.webhook_header, "x-dv-key");
}

#[test]
fn a_functions_setting_that_cannot_be_used_is_named() {
    for (name, value) in [
        ("COSELL_SHOW_CHECKMARK", "yes please"),
        ("COSELL_COUNTRY_COLUMN", "address1 country"),
        ("COSELL_WEBHOOK_TRUST_ROOTS", "/no/such/roots.pem"),
        ("COSELL_RECONCILE_OVERLAP_SECS", "five minutes"),
        ("COSELL_RETRY_BASE_SECS", "-1"),
        ("COSELL_DATAVERSE_WEBHOOK_HEADER", "bad header"),
    ] {
        let mut bad = MINIMAL.to_vec();
        bad.push((name, value));
        let error = Settings::from_lookup(lookup(&bad)).unwrap_err();
        assert!(error.to_string().contains(name), "{name}: {error}");
    }
}

#[tokio::test]
async fn a_runtime_from_settings_reaches_both_simulated_services() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("cosell-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"partner_center": {"client_id": "sim-client", "client_secret": "sim-secret", "refresh_token": "sim-refresh-token"},
            "dataverse": {"tenant_id": "sim", "client_id": "sim-client", "client_secret": "sim-secret"}}"#,
    )
    .unwrap();
    let base = sim.base_url.as_str();
    let dataverse_url = format!("{base}/api/data/v9.2/");
    let credentials_path = credentials.display().to_string();
    let sqlite = dir.join("state.sqlite").display().to_string();
    let settings = Settings::from_lookup(lookup(&[
        ("COSELL_DATAVERSE_URL", &dataverse_url),
        ("COSELL_PARTNER_CENTER_TENANT", "sim"),
        ("COSELL_CREDENTIALS_FILE", &credentials_path),
        ("COSELL_SQLITE_PATH", &sqlite),
        ("COSELL_LOGIN_URL", base),
        ("COSELL_PARTNER_CENTER_URL", base),
        ("COSELL_PARTNER_CENTER_WEBHOOKS_URL", base),
    ]))
    .unwrap();
    let runtime = Runtime::start(settings).await.unwrap();

    let page = runtime
        .partner_center
        .list_referral_page(&Default::default())
        .await
        .unwrap();
    assert!(page.entries.is_empty());
    // The refresh token was rotated by that call, and the rotated one was written back.
    let stored = std::fs::read_to_string(&credentials).unwrap();
    assert!(!stored.contains("\"sim-refresh-token\""), "{stored}");

    let accounts = runtime
        .dataverse
        .query("accounts", &cosell_dataverse::Query::new())
        .await
        .unwrap();
    assert!(accounts.records.is_empty());
    assert!(runtime.store.cursor("nothing").await.unwrap().is_none());

    // One use case per direction, shared by whoever asks: the webhooks and the jobs never sync
    // one record with two caches.
    let jobs = runtime.jobs();
    assert!(Arc::ptr_eq(&runtime.inbound_sync(), &jobs.inbound));
    assert!(Arc::ptr_eq(&runtime.outbound_sync(), &jobs.outbound));
    assert!(
        jobs.schema.is_some(),
        "the sweep refreshes the metadata cache"
    );
}
