//! `DealState`: one deal, read from either side, hashes the same — the rule that stops
//! ping-pong. The opportunity side is built from the rows inbound writes for a referral, read
//! back as the Web API returns them, so the round trip is the real one.

use std::str::FromStr;

use cosell_mapping::crm::{CrmRow, Row};
use cosell_mapping::inbound::{self, RecordPlan, StatusAction};
use cosell_mapping::outbound::OutboundInput;
use cosell_mapping::{
    CrmConfig, DealState, DealStatus, Direction, OpportunityState, OpportunityStatusReason,
    Referral,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::date;
use uuid::Uuid;

const FULL: &str = include_str!("fixtures/cosell_referral_full.json");

fn referral(edit: impl FnOnce(&mut Value)) -> Referral {
    let mut value: Value = serde_json::from_str(FULL).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

/// The opportunity inbound creates for `referral`, read back as outbound reads it: the rows
/// inbound writes, the close action applied, then `$expand`ed like the Web API answers.
fn opportunity_written_for(referral: &Referral, config: &CrmConfig) -> OutboundInput {
    let plan = inbound::plan(referral, config).expect("inbound plans the referral");
    let account = plan.account.as_ref().unwrap();
    let contact = plan.contact.as_ref().map(|c| c.row_under(account.new_id()));
    let currency = Uuid::from_u128(0x9e8d);
    let opportunity = plan
        .opportunity_to_create(
            account.new_id(),
            contact.as_ref().and_then(|c| c.id),
            Some(currency),
            "2024-03-04T08:00:02Z Created from referral",
        )
        .unwrap();
    let mut row: Row = opportunity.to_row(config).unwrap();
    // What Dataverse answers for the row: the key, lookups as `_…_value`, the state the close
    // action (or the default Open) left.
    row.insert("opportunityid".into(), json!(plan.record.new_id()));
    row.insert("_parentaccountid_value".into(), json!(account.new_id()));
    let (state, reason) = match plan.status {
        StatusAction::Win => (OpportunityState::Won, Some(OpportunityStatusReason::Won)),
        StatusAction::Lose => (
            OpportunityState::Lost,
            Some(OpportunityStatusReason::Canceled),
        ),
        _ => (OpportunityState::Open, opportunity.status_reason),
    };
    row.insert("statecode".into(), json!(state.value()));
    let reason = reason.unwrap_or(OpportunityStatusReason::InProgress);
    row.insert("statuscode".into(), json!(reason.value()));
    let mut account_row = account.new_row.to_row(config).unwrap();
    account_row.insert("accountid".into(), json!(account.new_id()));
    row.insert("parentaccountid".into(), Value::Object(account_row));
    if let Some(contact) = &contact {
        row.insert(
            "parentcontactid".into(),
            Value::Object(contact.to_row(config).unwrap()),
        );
    }
    row.insert(
        "transactioncurrencyid".into(),
        json!({"isocurrencycode": plan.currency_code, "transactioncurrencyid": currency}),
    );
    row.insert(
        config.solutions.relationship.clone(),
        json!([{"msft_solutionid": "SOL-2F5A1C7E", "msft_name": "Contoso Data Estate Accelerator"}]),
    );
    assert!(matches!(plan.record, RecordPlan::Opportunity { .. }));
    // Through JSON text, as it crosses the wire.
    let row: Row = serde_json::from_str(&Value::Object(row).to_string()).unwrap();
    OutboundInput::from_expanded_row(&row, config).unwrap()
}

fn assert_round_trip(referral: &Referral, config: &CrmConfig) -> DealState {
    let input = opportunity_written_for(referral, config);
    let from_referral = DealState::from_referral(referral);
    let from_opportunity = input.deal();
    assert_eq!(from_opportunity, from_referral);
    assert_eq!(from_opportunity.hash(), from_referral.hash());
    from_referral
}

#[test]
fn a_referral_and_the_opportunity_inbound_writes_from_it_hash_equal() {
    let config = CrmConfig::default();
    let deal = assert_round_trip(&referral(|_| {}), &config);
    assert_eq!(
        deal,
        DealState {
            name: Some("Fabrikam - Azure data platform modernisation".into()),
            deal_value: Some(Decimal::from_str("250000.55").unwrap()),
            currency: Some("USD".into()),
            close_date: Some(date!(2024 - 06 - 30)),
            notes: Some("Customer wants to retire its on-premises warehouse before Q3.".into()),
            visible: true,
            status: Some(DealStatus::InProgress),
            mapped: Default::default(),
            mapping_version: None,
        }
    );
}

#[test]
fn the_round_trip_holds_for_every_status_and_with_the_check_mark_off() {
    for (status, substatus, direction, expected) in [
        ("New", "Pending", "Incoming", DealStatus::OnHold),
        ("New", "Received", "Incoming", DealStatus::OnHold),
        ("New", "Pending", "Outgoing", DealStatus::InProgress),
        ("Active", "Accepted", "Incoming", DealStatus::InProgress),
        ("Closed", "Won", "Incoming", DealStatus::Won),
        ("Closed", "Lost", "Outgoing", DealStatus::Lost),
        ("Closed", "Declined", "Incoming", DealStatus::Lost),
        ("Closed", "Expired", "Incoming", DealStatus::Lost),
    ] {
        let referral = referral(|v| {
            v["status"] = json!(status);
            v["substatus"] = json!(substatus);
            v["direction"] = json!(direction);
        });
        for check_mark in ["true", "false"] {
            let config = CrmConfig::from_lookup(|key| {
                (key == "COSELL_SHOW_CHECKMARK").then(|| check_mark.to_owned())
            })
            .unwrap();
            let deal = assert_round_trip(&referral, &config);
            assert_eq!(
                deal.status,
                Some(expected),
                "{status}/{substatus} {direction}"
            );
        }
    }
}

#[test]
fn the_round_trip_holds_for_odd_but_valid_values() {
    let config = CrmConfig::default();
    // A closing time late in the evening west of UTC is the next day in UTC on both sides; a
    // whole amount written with decimals; notes with spaces; no consent; no name.
    let referral = referral(|v| {
        v["details"]["closingDateTime"] = json!("2024-06-30T23:30:00-05:00");
        v["details"]["dealValue"] = json!("1000.00");
        v["details"]["notes"] = json!("  Needs a PoC first.  \n");
        v["details"]["currency"] = json!("eur");
        v["consent"] = Value::Null;
        v["name"] = Value::Null;
    });
    let deal = assert_round_trip(&referral, &config);
    assert_eq!(deal.close_date, Some(date!(2024 - 07 - 01)));
    assert_eq!(deal.deal_value, Some(Decimal::from(1000)));
    assert_eq!(deal.notes.as_deref(), Some("Needs a PoC first."));
    assert_eq!(deal.currency.as_deref(), Some("EUR"));
    assert!(!deal.visible);
    assert_eq!(
        deal.name.as_deref(),
        Some("Fabrikam, Inc."),
        "named after the customer"
    );
}

#[test]
fn decimals_are_normalised_so_1000_and_1000_00_hash_equal() {
    let a = DealState {
        deal_value: Some(Decimal::from_str("1000").unwrap()),
        ..DealState::default()
    };
    let b = DealState {
        deal_value: Some(Decimal::from_str("1000.00").unwrap()),
        ..DealState::default()
    };
    assert_eq!(a.hash(), b.hash());
    let c = DealState {
        deal_value: Some(Decimal::from_str("1000.01").unwrap()),
        ..DealState::default()
    };
    assert_ne!(a.hash(), c.hash());

    // Through both readers: a referral's number and an opportunity's string.
    let referral = referral(|v| v["details"]["dealValue"] = json!(1000.0));
    let mut input = OutboundInput::default();
    input.opportunity.deal_value = Some(Decimal::from_str("1000.0000").unwrap());
    assert_eq!(
        DealState::from_referral(&referral).deal_value,
        input.deal().deal_value
    );
    assert_eq!(
        serde_json::to_value(input.deal()).unwrap()["deal_value"],
        "1000"
    );
}

#[test]
fn names_compare_without_the_check_marks() {
    let mut input = OutboundInput::default();
    input.opportunity.name = Some("Fabrikam expansion ✔".into());
    let with_mark = input.deal();
    input.opportunity.name = Some("  Fabrikam expansion ✖ ".into());
    let failed_mark = input.deal();
    let referral = referral(|v| v["name"] = json!("Fabrikam expansion"));
    let mut plain = DealState::from_referral(&referral);
    plain = DealState {
        name: plain.name,
        ..DealState::default()
    };
    assert_eq!(with_mark.name.as_deref(), Some("Fabrikam expansion"));
    assert_eq!(with_mark.hash(), plain.hash());
    assert_eq!(failed_mark.hash(), plain.hash());
}

#[test]
fn the_stored_json_reads_back_to_the_same_state_and_hash() {
    let deal = DealState::from_referral(&referral(|_| {}));
    let stored = serde_json::to_value(&deal).unwrap();
    assert_eq!(
        stored,
        json!({
            "name": "Fabrikam - Azure data platform modernisation",
            "deal_value": "250000.55",
            "currency": "USD",
            "close_date": "2024-06-30",
            "notes": "Customer wants to retire its on-premises warehouse before Q3.",
            "visible": true,
            "status": "InProgress"
        })
    );
    let back: DealState = serde_json::from_value(stored).unwrap();
    assert_eq!(back, deal);
    assert_eq!(back.hash(), deal.hash());
    // A hand-written value in another spelling still hashes as the canonical one.
    let loose: DealState = serde_json::from_value(json!({
        "name": "Fabrikam - Azure data platform modernisation ✔",
        "deal_value": 250000.550,
        "currency": "usd",
        "close_date": "2024-06-30",
        "notes": " Customer wants to retire its on-premises warehouse before Q3. ",
        "visible": true,
        "status": "InProgress"
    }))
    .unwrap();
    assert_eq!(loose.hash(), deal.hash());
    assert_eq!(loose.normalised(), deal);
}

#[test]
fn every_field_changes_the_hash() {
    let deal = DealState::from_referral(&referral(|_| {}));
    let hash = deal.hash();
    assert_eq!(hash.len(), 64);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    let variants = [
        DealState {
            name: Some("Other".into()),
            ..deal.clone()
        },
        DealState {
            deal_value: Some(Decimal::from(1)),
            ..deal.clone()
        },
        DealState {
            currency: Some("EUR".into()),
            ..deal.clone()
        },
        DealState {
            close_date: Some(date!(2024 - 07 - 01)),
            ..deal.clone()
        },
        DealState {
            notes: None,
            ..deal.clone()
        },
        DealState {
            visible: false,
            ..deal.clone()
        },
        DealState {
            status: Some(DealStatus::Won),
            ..deal.clone()
        },
    ];
    for variant in variants {
        assert_ne!(variant.hash(), hash, "{variant:?}");
    }
}

#[test]
fn opportunity_states_map_to_deal_statuses() {
    use OpportunityState as S;
    use OpportunityStatusReason as R;
    for (state, reason, expected) in [
        (Some(S::Open), Some(R::OnHold), Some(DealStatus::OnHold)),
        (
            Some(S::Open),
            Some(R::InProgress),
            Some(DealStatus::InProgress),
        ),
        (
            Some(S::Open),
            Some(R::Other(100_000_001)),
            Some(DealStatus::InProgress),
        ),
        (Some(S::Open), None, Some(DealStatus::InProgress)),
        (Some(S::Won), Some(R::Won), Some(DealStatus::Won)),
        (Some(S::Lost), Some(R::Canceled), Some(DealStatus::Lost)),
        (Some(S::Lost), Some(R::OutSold), Some(DealStatus::Lost)),
        (None, Some(R::OnHold), Some(DealStatus::OnHold)),
        (None, Some(R::OutSold), Some(DealStatus::Lost)),
        (None, None, None),
    ] {
        assert_eq!(
            DealStatus::of_opportunity(state, reason),
            expected,
            "{state:?} {reason:?}"
        );
    }
    // A referral status this version does not know compares as nothing.
    let unknown = referral(|v| v["status"] = json!("Paused"));
    assert_eq!(DealStatus::of_referral(&unknown), None);
    let outgoing_new = referral(|v| {
        v["status"] = json!("New");
        v["direction"] = json!("Outgoing");
    });
    assert_eq!(outgoing_new.direction, Some(Direction::Outgoing));
    assert_eq!(
        DealStatus::of_referral(&outgoing_new),
        Some(DealStatus::InProgress)
    );
}
