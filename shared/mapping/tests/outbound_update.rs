//! `plan_update`: only the seller's changes are sent, on top of whatever Microsoft changed;
//! status moves follow the status machine; sharing is never undone.

use std::str::FromStr;

use cosell_mapping::outbound::{OpportunityProblem, OutboundInput, Refusal, plan_update};
use cosell_mapping::status::MoveRule;
use cosell_mapping::{CrmConfig, DealState, DealStatus, PatchOp, PatchOpKind, Referral};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use time::macros::date;

const OPPORTUNITY: &str = include_str!("fixtures/opportunity_cosell.json");
const REFERRAL: &str = include_str!("fixtures/cosell_referral_full.json");

/// Microsoft's referral as Partner Center returns it now.
fn current(edit: impl FnOnce(&mut Value)) -> Referral {
    let mut value: Value = serde_json::from_str(REFERRAL).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

/// The opportunity, starting from the same deal as the referral fixture (so nothing differs),
/// then edited as the seller edits it.
fn opportunity(edit: impl FnOnce(&mut Map<String, Value>)) -> OutboundInput {
    let mut row: Map<String, Value> = serde_json::from_str(OPPORTUNITY).unwrap();
    row.insert("estimatedvalue".into(), json!(250000.55));
    row.insert("statecode".into(), json!(0));
    row.insert("statuscode".into(), json!(1));
    edit(&mut row);
    OutboundInput::from_expanded_row(&row, &CrmConfig::default()).unwrap()
}

fn replace(path: &str, value: Value) -> PatchOp {
    PatchOp {
        op: PatchOpKind::Replace,
        path: path.into(),
        value,
    }
}

fn set_status(row: &mut Map<String, Value>, state: i64, reason: i64) {
    row.insert("statecode".into(), json!(state));
    row.insert("statuscode".into(), json!(reason));
}

#[test]
fn the_untouched_opportunity_sends_nothing() {
    let current = current(|_| {});
    let input = opportunity(|_| {});
    assert_eq!(input.deal(), DealState::from_referral(&current));
    for last in [None, Some(DealState::from_referral(&current))] {
        let plan = plan_update(&input, &current, last.as_ref(), &CrmConfig::default()).unwrap();
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        assert!(plan.refusals.is_empty());
        assert_eq!(plan.deal, DealState::from_referral(&current));
    }
}

#[test]
fn only_the_seller_s_fields_are_sent_on_top_of_microsoft_s_changes() {
    let agreed = DealState::from_referral(&current(|_| {}));
    // Since the last agreement Microsoft renamed the deal and moved its closing date…
    let current = current(|v| {
        v["name"] = json!("Fabrikam - data platform (MSX)");
        v["details"]["closingDateTime"] = json!("2024-07-31T00:00:00Z");
    });
    // …while the seller raised the value, rewrote the notes and renamed it with a ✔ shown.
    let input = opportunity(|row| {
        row.insert("estimatedvalue".into(), json!("300000.00"));
        row.insert(
            "description".into(),
            json!("Retire the warehouse by August."),
        );
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(
        plan.changes,
        [
            replace("/details/dealValue", json!(300000)),
            replace("/details/notes", json!("Retire the warehouse by August.")),
        ]
    );
    assert!(plan.refusals.is_empty());
    assert_eq!(
        plan.patch(),
        json!([
            {"op": "replace", "path": "/details/dealValue", "value": 300000},
            {"op": "replace", "path": "/details/notes", "value": "Retire the warehouse by August."}
        ])
    );
    // The agreed state: Microsoft's name and date, the seller's value and notes.
    assert_eq!(
        plan.deal.name.as_deref(),
        Some("Fabrikam - data platform (MSX)")
    );
    assert_eq!(plan.deal.close_date, Some(date!(2024 - 07 - 31)));
    assert_eq!(plan.deal.deal_value, Some(Decimal::from(300000)));
    assert_eq!(
        plan.deal.notes.as_deref(),
        Some("Retire the warehouse by August.")
    );
    assert_eq!(plan.deal.status, Some(DealStatus::InProgress));
}

#[test]
fn every_synced_field_has_its_path() {
    let current = current(|_| {});
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|row| {
        row.insert("name".into(), json!("Fabrikam - Fabric migration ✔"));
        row.insert("estimatedvalue".into(), json!(99.5));
        row["transactioncurrencyid"]["isocurrencycode"] = json!("cad");
        row.insert("estimatedclosedate".into(), json!("2024-12-01"));
        row.insert("description".into(), Value::Null);
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(
        plan.changes,
        [
            replace("/name", json!("Fabrikam - Fabric migration")),
            replace("/details/dealValue", json!(99.5)),
            replace("/details/currency", json!("CAD")),
            replace("/details/closingDateTime", json!("2024-12-01T00:00:00Z")),
            replace("/details/notes", Value::Null),
        ]
    );
    assert_eq!(plan.deal, input.deal());
}

#[test]
fn a_412_replan_keeps_the_seller_s_change_and_drops_what_already_landed() {
    let agreed = DealState::from_referral(&current(|_| {}));
    let input = opportunity(|row| {
        row.insert("estimatedvalue".into(), json!(260000));
        row.insert("estimatedclosedate".into(), json!("2024-08-15"));
    });
    // Re-read after the 412: someone already set the same close date, and changed the notes.
    let current = current(|v| {
        v["details"]["closingDateTime"] = json!("2024-08-15T00:00:00Z");
        v["details"]["notes"] = json!("Microsoft seller engaged.");
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(plan.changes, [replace("/details/dealValue", json!(260000))]);
    assert_eq!(plan.deal.close_date, Some(date!(2024 - 08 - 15)));
    assert_eq!(
        plan.deal.notes.as_deref(),
        Some("Microsoft seller engaged.")
    );
}

#[test]
fn a_missing_parent_object_is_added_whole() {
    let agreed = DealState::from_referral(&current(|_| {}));
    let current = current(|v| {
        v.as_object_mut().unwrap().remove("details");
        v.as_object_mut().unwrap().remove("consent");
    });
    let input = opportunity(|row| {
        row.insert("estimatedvalue".into(), json!(1000));
        row.insert("description".into(), json!("Short notes"));
    });
    let mut agreed_private = agreed.clone();
    agreed_private.visible = false;
    let plan = plan_update(
        &input,
        &current,
        Some(&agreed_private),
        &CrmConfig::default(),
    )
    .unwrap();
    assert_eq!(
        plan.changes,
        [
            PatchOp {
                op: PatchOpKind::Add,
                path: "/details".into(),
                value: json!({"dealValue": 1000, "notes": "Short notes"}),
            },
            PatchOp {
                op: PatchOpKind::Add,
                path: "/consent".into(),
                value: json!({"consentToShareReferralWithMicrosoftSellers": true}),
            },
        ]
    );
    assert_eq!(
        plan.patch()[0],
        json!({"op": "add", "path": "/details", "value": {"dealValue": 1000, "notes": "Short notes"}})
    );
}

#[test]
fn sharing_a_private_deal_is_sent() {
    let current =
        current(|v| v["consent"]["consentToShareReferralWithMicrosoftSellers"] = json!(false));
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|_| {});
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(
        plan.changes,
        [replace(
            "/consent/consentToShareReferralWithMicrosoftSellers",
            json!(true)
        )]
    );
    assert!(plan.deal.visible);
}

#[test]
fn un_sharing_is_refused_and_nothing_is_sent_for_it() {
    let current = current(|_| {});
    let agreed = DealState::from_referral(&current);
    assert!(agreed.visible);
    let input = opportunity(|row| {
        row.insert(
            "msft_microsoftpartnercenterreferralvisible".into(),
            json!(false),
        );
        row.insert("description".into(), json!("Still going."));
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(plan.refusals, [Refusal::Unshare]);
    assert_eq!(
        plan.changes,
        [replace("/details/notes", json!("Still going."))]
    );
    assert!(plan.deal.visible, "Partner Center keeps it shared");
    assert!(
        plan.refusals[0]
            .to_string()
            .contains("sharing cannot be undone"),
        "{}",
        plan.refusals[0]
    );
}

/// `(current status, substatus, opportunity statecode, statuscode, expected status, substatus)`.
fn status_move(
    from: (&str, &str),
    agreed: DealStatus,
    to: (i64, i64),
) -> cosell_mapping::outbound::UpdatePlan {
    let current = current(|v| {
        v["status"] = json!(from.0);
        v["substatus"] = json!(from.1);
    });
    let agreed = DealState {
        status: Some(agreed),
        ..DealState::from_referral(&current)
    };
    let input = opportunity(|row| set_status(row, to.0, to.1));
    plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap()
}

#[test]
fn on_hold_to_in_progress_accepts_the_referral() {
    let plan = status_move(("New", "Pending"), DealStatus::OnHold, (0, 1));
    assert_eq!(
        plan.changes,
        [
            replace("/status", json!("Active")),
            replace("/substatus", json!("Accepted")),
        ]
    );
    assert_eq!(plan.deal.status, Some(DealStatus::InProgress));
}

#[test]
fn canceled_declines_the_referral() {
    let plan = status_move(("New", "Pending"), DealStatus::OnHold, (2, 4));
    assert_eq!(
        plan.changes,
        [
            replace("/status", json!("Closed")),
            replace("/substatus", json!("Declined")),
        ]
    );
    assert_eq!(plan.deal.status, Some(DealStatus::Lost));
}

#[test]
fn won_closes_the_referral_as_won() {
    let plan = status_move(("Active", "Accepted"), DealStatus::InProgress, (1, 3));
    assert_eq!(
        plan.changes,
        [
            replace("/status", json!("Closed")),
            replace("/substatus", json!("Won")),
        ]
    );
    assert_eq!(plan.deal.status, Some(DealStatus::Won));
}

#[test]
fn lost_or_out_sold_closes_the_referral_as_lost() {
    let plan = status_move(("Active", "Accepted"), DealStatus::InProgress, (2, 5));
    assert_eq!(
        plan.changes,
        [
            replace("/status", json!("Closed")),
            replace("/substatus", json!("Lost")),
        ]
    );
    assert_eq!(plan.deal.status, Some(DealStatus::Lost));
}

#[test]
fn an_illegal_move_is_refused_locally() {
    // Reopening a won deal: Closed is final.
    let plan = status_move(("Closed", "Won"), DealStatus::Won, (0, 1));
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    let [Refusal::IllegalMove(illegal)] = plan.refusals.as_slice() else {
        panic!("{:?}", plan.refusals);
    };
    assert_eq!(illegal.rule, MoveRule::ClosedIsFinal);
    assert_eq!(
        plan.deal.status,
        Some(DealStatus::Won),
        "Partner Center's state stays"
    );
    assert_eq!(
        plan.refusals[0].to_string(),
        "the status change was not sent: cannot move a referral from Closed/Won to \
         Active/Accepted: a closed referral is final"
    );

    // Putting an accepted referral back on hold: Active never goes back to New.
    let plan = status_move(("Active", "Accepted"), DealStatus::InProgress, (0, 2));
    assert!(plan.changes.is_empty());
    let [Refusal::IllegalMove(illegal)] = plan.refusals.as_slice() else {
        panic!("{:?}", plan.refusals);
    };
    assert_eq!(illegal.rule, MoveRule::NoWayBack);
    assert_eq!(plan.deal.status, Some(DealStatus::InProgress));
}

#[test]
fn on_hold_while_the_referral_is_new_sends_nothing() {
    let plan = status_move(("New", "Pending"), DealStatus::InProgress, (0, 2));
    assert!(plan.changes.is_empty());
    assert!(plan.refusals.is_empty());
    assert_eq!(plan.deal.status, Some(DealStatus::OnHold));
}

#[test]
fn a_status_already_reached_is_not_sent_again() {
    let plan = status_move(("Closed", "Won"), DealStatus::InProgress, (1, 3));
    assert!(plan.changes.is_empty());
    assert!(plan.refusals.is_empty());
    assert_eq!(plan.deal.status, Some(DealStatus::Won));
}

#[test]
fn closing_without_revenue_and_close_date_is_invalid() {
    let current = current(|_| {});
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|row| {
        set_status(row, 1, 3);
        row.insert("estimatedvalue".into(), Value::Null);
    });
    let error = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap_err();
    assert_eq!(
        error.problems,
        [OpportunityProblem::ClosingWithoutRevenueAndCloseDate {
            column: "estimatedvalue".into()
        }]
    );
}

#[test]
fn removing_the_currency_is_invalid() {
    let current = current(|_| {});
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|row| {
        row.insert("transactioncurrencyid".into(), Value::Null);
    });
    let error = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap_err();
    assert_eq!(
        error.problems,
        [OpportunityProblem::NoCurrency { value: None }]
    );
    assert!(error.to_string().starts_with("Currency is missing"));
}

#[test]
fn without_a_stored_agreement_the_current_referral_is_the_baseline() {
    let current = current(|_| {});
    let input = opportunity(|row| {
        row.insert(
            "estimatedvalue".into(),
            json!(Decimal::from_str("1.5").unwrap().to_string()),
        );
    });
    let plan = plan_update(&input, &current, None, &CrmConfig::default()).unwrap();
    assert_eq!(plan.changes, [replace("/details/dealValue", json!(1.5))]);
}

/// RFC 6902 refuses a `replace` of a member that does not exist: notes written for the first
/// time are an `add`, and the same edit over existing notes stays a `replace`.
#[test]
fn notes_the_referral_never_had_are_added_not_replaced() {
    let without = current(|v| {
        v["details"].as_object_mut().unwrap().remove("notes");
    });
    let agreed = DealState::from_referral(&without);
    let input = opportunity(|row| {
        row.insert("description".into(), json!("First notes from the seller."));
    });
    let plan = plan_update(&input, &without, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(
        plan.changes,
        vec![PatchOp {
            op: PatchOpKind::Add,
            path: "/details/notes".into(),
            value: json!("First notes from the seller."),
        }]
    );

    let with = current(|v| v["details"]["notes"] = json!("Earlier notes."));
    let agreed = DealState::from_referral(&with);
    let plan = plan_update(&input, &with, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(
        plan.changes,
        vec![replace(
            "/details/notes",
            json!("First notes from the seller.")
        )]
    );
}

#[test]
fn a_refused_rename_leaves_the_other_changes_and_the_name_as_partner_center_holds_it() {
    let current = current(|_| {});
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|row| {
        row.insert("name".into(), json!("Fabrikam - renamed by the seller"));
        row.insert("estimatedvalue".into(), json!("300000"));
        row.insert("description".into(), json!("New notes."));
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert_eq!(plan.changes.len(), 3, "{:?}", plan.changes);

    let (plan, dropped) = plan.without(&current, |path| path != "/name");

    assert_eq!(dropped, vec!["/name".to_owned()]);
    let paths: Vec<&str> = plan.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/details/dealValue", "/details/notes"]);
    // What both sides hold once the rest lands: Partner Center's name, the seller's value.
    assert_eq!(plan.deal.name, agreed.name);
    assert_eq!(plan.deal.deal_value, Some(Decimal::from(300_000)));
    assert_eq!(plan.deal.notes.as_deref(), Some("New notes."));
}

#[test]
fn a_refused_parent_object_keeps_every_field_it_carries() {
    let current = current(|v| {
        v.as_object_mut().unwrap().remove("details");
    });
    let agreed = DealState::from_referral(&current);
    let input = opportunity(|row| {
        row.insert("description".into(), json!("New notes."));
    });
    let plan = plan_update(&input, &current, Some(&agreed), &CrmConfig::default()).unwrap();
    assert!(plan.changes.iter().any(|c| c.path == "/details"));

    let (plan, dropped) = plan.without(&current, |path| path != "/details");

    assert!(dropped.contains(&"/details".to_owned()));
    assert!(plan.changes.iter().all(|c| c.path != "/details"));
    assert_eq!(plan.deal.notes, agreed.notes);
    assert_eq!(plan.deal.deal_value, agreed.deal_value);
}
