//! `cosell preview outbound FILE`, run as the binary a partner runs.

use std::process::Command;

use serde_json::{Value, json};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/mapping/tests/fixtures"
);

fn preview(file: &str, env: &[(&str, &str)]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cosell"))
        .args(["preview", "outbound", file])
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
fn a_co_sell_opportunity_previews_both_referrals() {
    let (code, out, stderr) = preview(&format!("{FIXTURES}/opportunity_cosell.json"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["kind"], "co-sell");
    let partner = &out["partner"];
    assert_eq!(partner["type"], "Shared");
    assert!(
        partner.get("direction").is_none(),
        "read-only: the service sets it"
    );
    assert_eq!(
        partner["team"][0]["email"],
        "sam.seller@contoso-partner.example"
    );
    assert_eq!(partner["status"], "New");
    assert_eq!(partner["substatus"], "Pending");
    assert_eq!(
        partner["externalReferenceId"],
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    );
    assert_eq!(
        partner["target"],
        json!([
            {"type": "SolutionProfile", "id": "SOL-2F5A1C7E"},
            {"type": "SolutionProfile", "id": "SOL-9C4D2B1A"}
        ])
    );
    assert_eq!(partner["customerProfile"]["address"]["country"], "US");
    assert_eq!(
        partner["customerProfile"]["team"][0]["email"],
        "dana.whitfield@fabrikam.example"
    );
    assert_eq!(
        partner["consent"]["consentToShareReferralWithMicrosoftSellers"],
        true
    );
    assert_eq!(partner["details"]["dealValue"], 250000);
    assert_eq!(partner["details"]["currency"], "USD");
    assert_eq!(
        partner["details"]["closingDateTime"],
        "2024-06-30T00:00:00Z"
    );
    assert_eq!(
        partner["inviteContext"]["assistanceRequestCode"],
        "CustomerTechnicalArchitecture"
    );

    let microsoft = &out["microsoft"];
    assert_eq!(
        microsoft["target"],
        json!([{"type": "BusinessProfileLocation", "id": "msft"}])
    );
    assert_eq!(microsoft["type"], "Shared");
    assert_eq!(microsoft["details"], partner["details"]);
    assert_eq!(microsoft.get("engagementId"), None);
}

#[test]
fn a_private_opportunity_previews_one_referral() {
    let (code, out, stderr) = preview(&format!("{FIXTURES}/opportunity_private.json"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["kind"], "private");
    assert_eq!(out.get("microsoft"), None);
    let partner = &out["partner"];
    assert_eq!(partner["type"], "Independent");
    assert_eq!(partner["name"], "Northwind - Dynamics 365 rollout");
    assert_eq!(
        partner["consent"]["consentToShareReferralWithMicrosoftSellers"],
        false
    );
    assert_eq!(partner["details"]["dealValue"], 48000.5);
    assert_eq!(partner.get("inviteContext"), None);
}

#[test]
fn a_partner_led_opportunity_previews_one_shared_independent_referral() {
    let (code, out, stderr) = preview(&format!("{FIXTURES}/opportunity_partner_led.json"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["kind"], "partner-led");
    assert_eq!(out["partner"]["type"], "Independent");
    assert_eq!(
        out["partner"]["consent"]["consentToShareReferralWithMicrosoftSellers"],
        true
    );
}

#[test]
fn an_invalid_opportunity_exits_non_zero_with_the_validation_sentences() {
    let (code, out, stderr) = preview(&format!("{FIXTURES}/opportunity_invalid.json"), &[]);
    assert_eq!(code, 1, "a problem found, not a usage error (2): {stderr}");
    assert_eq!(out, Value::Null, "nothing on stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "cosell preview outbound: opportunity a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d cannot be sent to Partner Center:"
    );
    assert!(
        lines[1].starts_with("Customer account country code is missing"),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("A customer contact is required"),
        "{stderr}"
    );
    assert!(lines[3].starts_with("Solution ID is required"), "{stderr}");
    assert!(lines[4].starts_with("Currency is missing"), "{stderr}");
    assert!(
        lines[5].starts_with("Closing a lead requires revenue and a close date"),
        "{stderr}"
    );
    assert_eq!(lines.len(), 6);
}

#[test]
fn settings_come_from_the_environment() {
    // Under another country column the fixture's country is not found.
    let (code, _, stderr) = preview(
        &format!("{FIXTURES}/opportunity_partner_led.json"),
        &[("COSELL_COUNTRY_COLUMN", "new_iso2")],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("the account's new_iso2 must hold a two-letter ISO 3166 code"),
        "{stderr}"
    );
    // Under another relationship name no solution is found.
    let (code, _, stderr) = preview(
        &format!("{FIXTURES}/opportunity_partner_led.json"),
        &[("COSELL_SOLUTIONS_RELATIONSHIP", "new_opportunity_solutions")],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("Solution ID is required"), "{stderr}");
}

#[test]
fn an_unreadable_file_or_setting_exits_one() {
    let (code, _, stderr) = preview("/nonexistent/opportunity.json", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("reading /nonexistent/opportunity.json"),
        "{stderr}"
    );
    let (code, _, stderr) = preview(
        &format!("{FIXTURES}/cosell_referral_full.json"),
        &[("COSELL_SOLUTION_ID_COLUMN", "Not A Name")],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("COSELL_SOLUTION_ID_COLUMN"), "{stderr}");
}
