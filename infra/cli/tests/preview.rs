//! `cosell preview inbound FILE`, run as the binary a partner runs.

use std::process::Command;

use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/mapping/tests/fixtures"
);

fn preview(file: &str, env: &[(&str, &str)]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cosell"))
        .args(["preview", "inbound", file])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_co_sell_referral_previews_as_account_contact_and_opportunity() {
    let (code, rows, stderr) = preview(&format!("{FIXTURES}/cosell_referral_full.json"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let account = &rows["accounts"];
    let contact = &rows["contacts"];
    let opportunity = &rows["opportunities"];
    assert_eq!(account["name"], "Fabrikam, Inc.");
    assert_eq!(account["address1_country"], "US");
    let account_id = account["accountid"].as_str().unwrap();
    assert_eq!(
        contact["parentcustomerid_account@odata.bind"],
        format!("/accounts({account_id})")
    );
    assert_eq!(contact["emailaddress1"], "dana.whitfield@fabrikam.example");
    assert_eq!(
        opportunity["customerid_account@odata.bind"],
        format!("/accounts({account_id})")
    );
    assert_eq!(
        opportunity["name"],
        "Fabrikam - Azure data platform modernisation ✔"
    );
    assert_eq!(opportunity["estimatedvalue"], 250000.55);
    assert_eq!(opportunity["estimatedclosedate"], "2024-06-30");
    assert_eq!(opportunity["msft_microsoftpartnercenterreferralsync"], true);
    assert_eq!(opportunity["msft_microsoftcrmidentifier"], "7-3JKX9QWERT");
    assert_eq!(
        opportunity["transactioncurrencyid@odata.bind"],
        "/transactioncurrencies(isocurrencycode='USD')"
    );
}

#[test]
fn settings_from_the_environment_rename_columns_and_drop_the_check_mark() {
    let (code, rows, stderr) = preview(
        &format!("{FIXTURES}/cosell_referral_full.json"),
        &[
            ("COSELL_SHOW_CHECKMARK", "false"),
            ("COSELL_DEAL_VALUE_COLUMN", "new_dealvalue"),
            ("COSELL_COUNTRY_COLUMN", "new_countrycode"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows["opportunities"]["new_dealvalue"], 250000.55);
    assert!(rows["opportunities"].get("estimatedvalue").is_none());
    assert_eq!(rows["accounts"]["new_countrycode"], "US");
    assert_eq!(
        rows["opportunities"]["name"],
        "Fabrikam - Azure data platform modernisation"
    );
}

#[test]
fn a_marketplace_referral_previews_as_a_lead() {
    let (code, rows, stderr) = preview(&format!("{FIXTURES}/marketplace_lead.json"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows.as_object().unwrap().len(), 1, "{rows}");
    assert_eq!(rows["leads"]["companyname"], "Wide World Importers");
    assert!(rows["leads"]["leadid"].is_string());
}

#[test]
fn an_invalid_referral_exits_non_zero_with_every_reason() {
    let dir = std::env::temp_dir().join(format!("cosell-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"id":"r1","name":"Deal","customerProfile":{"name":"Contoso","address":{"country":"Germany"}},"details":{"currency":"euro"}}"#,
    )
    .unwrap();
    let (code, rows, stderr) = preview(file.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert_eq!(rows, Value::Null);
    assert!(
        stderr.contains("'euro' is not an ISO 4217 currency code"),
        "{stderr}"
    );
    assert!(stderr.contains("'Germany' is not an ISO 3166"), "{stderr}");

    let (code, _, stderr) = preview(dir.join("missing.json").to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("reading"), "{stderr}");
}

#[test]
fn an_invalid_setting_fails_with_its_name() {
    let (code, _, stderr) = preview(
        &format!("{FIXTURES}/cosell_referral_full.json"),
        &[("COSELL_SHOW_CHECKMARK", "maybe")],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("COSELL_SHOW_CHECKMARK"), "{stderr}");
}

/// The mapping example of docs/settings.md, as it stands, in a `--config` file: the preview
/// applies it.
#[test]
fn the_documented_mapping_example_is_accepted_and_applied() {
    const SETTINGS: &str = include_str!("../../../docs/settings.md");
    let example = SETTINGS
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("[mapping]"))
        .expect("docs/settings.md has a ```toml block with [mapping]");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cosell.toml");
    std::fs::write(&config, example).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cosell"))
        .arg("--config")
        .arg(&config)
        .args(["preview", "inbound"])
        .arg(format!("{FIXTURES}/cosell_referral_full.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    let opportunity = &rows["opportunities"];
    assert_eq!(opportunity["new_region"], 100_000_000);
    assert_eq!(opportunity["new_source"], "Microsoft co-sell");
    assert_eq!(
        opportunity["new_territoryid@odata.bind"],
        "/territories(name='EMEA')"
    );
    assert_eq!(rows["accounts"]["new_segment"], 2);
    assert_eq!(
        rows["accounts"]["new_countryid@odata.bind"],
        "/new_countries(new_isocode='US')"
    );
    assert!(rows["accounts"].get("address1_country").is_none(), "{rows}");
}
