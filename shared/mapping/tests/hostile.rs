//! Hostile input for the pure mapping: the referral JSON Partner Center sends, the opportunity rows
//! Dataverse sends, the deal state kept in the store, and the inbound and outbound plans made from
//! whatever of those parses.
//!
//! Every payload here comes from outside, so none of it may panic a sync: arbitrary bytes, arbitrary
//! JSON, and realistic fixtures mutated (fields dropped, types changed, huge, empty and unicode
//! strings, huge numbers, deep nesting, timestamps at the edges of the calendar). What is refused is
//! refused with a typed error that names the problem; what is accepted keeps its id, writes back,
//! and plans.

use cosell_mapping::inbound::{self, InvalidReferral, RecordPlan, record_id};
use cosell_mapping::outbound::{InvalidOpportunity, OutboundInput, plan_create, plan_update};
use cosell_mapping::referral::Referral;
use cosell_mapping::{CrmConfig, CrmRow, DealState, MappingError, timestamp};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use rust_decimal::Decimal;
use serde_json::{Number, Value, json};
use uuid::Uuid;

const FULL: &str = include_str!("fixtures/cosell_referral_full.json");
const LEAD: &str = include_str!("fixtures/marketplace_lead.json");
const IDS_ARRAY_NULLS: &str = include_str!("fixtures/referral_ids_array_nulls.json");
const OPPORTUNITY: &str = include_str!("fixtures/opportunity_cosell.json");
const OPPORTUNITY_PRIVATE: &str = include_str!("fixtures/opportunity_private.json");

/// Cases per property: enough to reach every field of the fixtures, few enough for CI.
const CASES: u32 = 256;

// ---------------------------------------------------------------------------------------------
// Generators

/// Strings that have broken parsers before: edges of the calendar and of `Decimal`, GUID
/// spellings, control and bidi characters, the check marks, and values the enums know.
const TRICKY: &[&str] = &[
    "",
    "   ",
    "\u{0}",
    "\u{202e}gnp.exe",
    "👩‍👩‍👧‍👦",
    "Fabrikam ✔ ✖",
    " ✔",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.9999999Z",
    "0000-01-01T00:00:00+23:59",
    "0000-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-03-01T10:15:30.1234567Z",
    "2024-03-01T10:15:30",
    "2024-06-30",
    "1e400",
    "-1e-400",
    "79228162514264337593543950336",
    "-79228162514264337593543950335",
    "0.0000000000000000000000000001",
    "-0",
    "NaN",
    "Infinity",
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
    "US",
    "usd",
    "SOL-1",
    "msft",
    "New",
    "Active",
    "Closed",
    "Won",
    "Lost",
    "Declined",
    "Outgoing",
    "Incoming",
    "Direct",
    "CustomerTechnicalArchitecture",
    "Unknown",
];

/// Keys the parsers look for, so generated objects reach past the first level.
const KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "substatus",
    "direction",
    "type",
    "qualification",
    "customerProfile",
    "details",
    "dealValue",
    "currency",
    "closingDateTime",
    "address",
    "country",
    "team",
    "email",
    "consent",
    "inviteContext",
    "assistanceRequestCode",
    "invitedBy",
    "organizationId",
    "target",
    "links",
    "self",
    "uri",
    "ids",
    "requirements",
    "solutions",
    "opportunityid",
    "statecode",
    "statuscode",
    "estimatedvalue",
    "estimatedclosedate",
    "parentaccountid",
    "parentcontactid",
    "transactioncurrencyid",
    "isocurrencycode",
    "msft_microsoftpartnercenterhelp",
    "msft_opportunity_msft_microsoftpartnercentersolutions",
    "msft_solutionid",
    "deal_value",
    "close_date",
    "visible",
];

fn tricky_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>(),
        3 => select(TRICKY).prop_map(str::to_owned),
        2 => "[ -~]{0,24}",
        1 => (1usize..70_000).prop_map(|n| "é".repeat(n)),
    ]
    .boxed()
}

fn tricky_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        select(
            &[
                0.1,
                -0.0,
                1e308,
                -1e308,
                5e-324,
                7.922816251426434e28,
                1e29,
                -12345.678901234567,
            ][..]
        )
        .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(KEYS).prop_map(str::to_owned), 1 => any::<String>()].boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        tricky_number(),
        tricky_string().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value, up to a few levels deep, with keys the parsers know.
fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
}

/// One step along a JSON path.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// One way of damaging the value at a path.
#[derive(Debug, Clone)]
enum Mutation {
    Drop,
    Replace(Value),
    /// Buried under this many arrays and objects.
    Nest(usize),
    /// The same content as another JSON type (`"12"` for 12, an array for an object…).
    Retype,
    /// Another value of the same type: a string for a string, a number for a number, a flipped
    /// bool, one more element in an array (a copy of the first), one more key in an object.
    Perturb {
        text: String,
        number: Value,
    },
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        2 => Just(Mutation::Drop),
        3 => leaf().prop_map(Mutation::Replace),
        1 => any_json().prop_map(Mutation::Replace),
        1 => (1usize..200).prop_map(Mutation::Nest),
        2 => Just(Mutation::Retype),
        6 => (tricky_string(), tricky_number())
            .prop_map(|(text, number)| Mutation::Perturb { text, number }),
    ]
    .boxed()
}

fn perturb(value: Value, text: String, number: Value) -> Value {
    match value {
        Value::Null | Value::String(_) => Value::String(text),
        Value::Number(_) => number,
        Value::Bool(b) => Value::Bool(!b),
        Value::Array(mut items) => {
            items.push(items.first().cloned().unwrap_or(Value::String(text)));
            Value::Array(items)
        }
        Value::Object(mut map) => {
            map.insert(text, number);
            Value::Object(map)
        }
    }
}

fn paths(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push(Step::Key(key.clone()));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::At(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn retype(value: Value) -> Value {
    match value {
        Value::Null => json!({}),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::Array(vec![Value::String(s)]), Value::Number),
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
    }
}

fn nest(mut value: Value, depth: usize) -> Value {
    for level in 0..depth {
        value = if level % 2 == 0 {
            Value::Array(vec![value])
        } else {
            json!({ "value": value })
        };
    }
    value
}

fn apply(root: &mut Value, path: &[Step], mutation: Mutation) {
    let Some((last, parent_path)) = path.split_last() else {
        let old = std::mem::take(root);
        *root = match mutation {
            Mutation::Drop => Value::Null,
            Mutation::Replace(value) => value,
            Mutation::Nest(depth) => nest(old, depth),
            Mutation::Retype => retype(old),
            Mutation::Perturb { text, number } => perturb(old, text, number),
        };
        return;
    };
    let mut parent = &mut *root;
    for step in parent_path {
        parent = match (step, parent) {
            (Step::Key(key), Value::Object(map)) => map.get_mut(key).expect("path exists"),
            (Step::At(i), Value::Array(items)) => &mut items[*i],
            _ => unreachable!("paths are taken from the same value"),
        };
    }
    let slot = match (last, &mut *parent) {
        (Step::Key(key), Value::Object(map)) => {
            if matches!(mutation, Mutation::Drop) {
                map.remove(key);
                return;
            }
            map.get_mut(key).expect("path exists")
        }
        (Step::At(i), Value::Array(items)) => {
            if matches!(mutation, Mutation::Drop) {
                items.remove(*i);
                return;
            }
            &mut items[*i]
        }
        _ => unreachable!("paths are taken from the same value"),
    };
    let old = std::mem::take(slot);
    *slot = match mutation {
        Mutation::Drop => unreachable!("handled above"),
        Mutation::Replace(value) => value,
        Mutation::Nest(depth) => nest(old, depth),
        Mutation::Retype => retype(old),
        Mutation::Perturb { text, number } => perturb(old, text, number),
    };
}

/// `sample` with one to four mutations, each at a node picked among those still present.
fn mutated(sample: &'static str) -> BoxedStrategy<Value> {
    let original: Value = serde_json::from_str(sample).expect("fixture parses");
    prop::collection::vec((any::<Index>(), mutation()), 1..5)
        .prop_map(move |edits| {
            let mut value = original.clone();
            for (index, mutation) in edits {
                let mut all = Vec::new();
                paths(&value, &mut Vec::new(), &mut all);
                let path = index.get(&all).clone();
                apply(&mut value, &path, mutation);
            }
            value
        })
        .boxed()
}

fn referral_json() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => mutated(FULL),
        1 => mutated(LEAD),
        1 => mutated(IDS_ARRAY_NULLS),
        1 => any_json(),
    ]
    .boxed()
}

fn opportunity_json() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => mutated(OPPORTUNITY),
        1 => mutated(OPPORTUNITY_PRIVATE),
        1 => any_json(),
    ]
    .boxed()
}

/// Bytes: random, or a fixture's text cut short, with a byte changed, or buried deeper than the
/// JSON reader's recursion limit.
fn referral_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = FULL.as_bytes().to_vec();
            bytes[at.index(FULL.len())] = byte;
            bytes
        }),
        any::<Index>().prop_map(|cut| FULL.as_bytes()[..cut.index(FULL.len())].to_vec()),
        mutated(FULL).prop_map(|value| serde_json::to_vec(&value).unwrap()),
        (1usize..2_000).prop_map(|depth| {
            format!("{}{FULL}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }),
        (1usize..2_000).prop_map(|depth| {
            format!(
                r#"{{"id":"r-1","details":{{"requirements":{{"products":[{}1{}]}}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()
        }),
    ]
    .boxed()
}

/// An RFC 3339-shaped timestamp, mostly valid, reaching the first and last representable years
/// and the largest offsets.
fn timestamp_text() -> BoxedStrategy<String> {
    let year = prop_oneof![Just(0), Just(9999), 0..=9999i32];
    let offset = prop_oneof![
        Just(String::from("Z")),
        Just(String::new()),
        (any::<bool>(), 0..=23u8, 0..=59u8)
            .prop_map(|(east, h, m)| format!("{}{h:02}:{m:02}", if east { '+' } else { '-' })),
        Just(String::from("+24:00")),
    ];
    let month = prop_oneof![Just(1), Just(12), 1..=12u8, Just(0), Just(13)];
    let day = prop_oneof![Just(1), Just(31), 1..=28u8, Just(0), Just(32)];
    let hour = prop_oneof![Just(0), Just(23), 0..=23u8, Just(24)];
    (
        year,
        month,
        day,
        hour,
        0..=60u8,
        0..=60u8,
        "[0-9]{0,12}",
        offset,
    )
        .prop_map(|(y, mo, d, h, mi, s, fraction, offset)| {
            let fraction = if fraction.is_empty() {
                fraction
            } else {
                format!(".{fraction}")
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{offset}")
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties

/// A serde error is about the input (syntax, shape, end of input), never I/O, and says something.
fn check_serde_error(error: &serde_json::Error) -> Result<(), TestCaseError> {
    prop_assert!(!error.is_io(), "{error}");
    prop_assert!(!error.to_string().trim().is_empty());
    prop_assert!(!error.to_string().contains("panicked"), "{error}");
    Ok(())
}

/// An accepted referral writes back (no panic, no error), keeps its id, and reads back.
fn check_writes_back(referral: &Referral) -> Result<(), TestCaseError> {
    let written = serde_json::to_value(referral).expect("an accepted referral serialises");
    prop_assert_eq!(
        written.get("id").and_then(Value::as_str),
        referral.id.as_deref()
    );
    for date in written_dates(&written) {
        prop_assert!(date.ends_with('Z'), "written as UTC: {date}");
        prop_assert!(timestamp::parse(&date).is_ok(), "{date} reads back");
    }
    Ok(())
}

fn written_dates(written: &Value) -> Vec<String> {
    let mut dates: Vec<String> = [
        "createdDateTime",
        "updatedDateTime",
        "expirationDateTime",
        "acceptedDateTime",
        "closedDateTime",
    ]
    .iter()
    .filter_map(|key| written.get(key)?.as_str().map(str::to_owned))
    .collect();
    if let Some(close) = written
        .pointer("/details/closingDateTime")
        .and_then(Value::as_str)
    {
        dates.push(close.to_owned());
    }
    dates
}

/// The inbound plan: a plan that keeps the referral's id and hashes what it writes, or every
/// problem named.
fn check_inbound(referral: &Referral) -> Result<(), TestCaseError> {
    let config = CrmConfig::default();
    let deal = DealState::from_referral(referral);
    prop_assert_eq!(deal.hash().len(), 64);
    match inbound::plan(referral, &config) {
        Ok(plan) => {
            // The id as given, less surrounding whitespace: a plan's id is checked when made.
            prop_assert_eq!(
                Some(plan.referral_id.as_str()),
                referral.id.as_deref().map(str::trim)
            );
            prop_assert!(!plan.referral_id.trim().is_empty());
            let (tag, hex) = plan.hash.split_once(':').expect("tagged hash");
            prop_assert!(matches!(tag, "open" | "won" | "lost"), "{}", plan.hash);
            prop_assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
            prop_assert_eq!(
                plan.record.new_id(),
                record_id(plan.record.entity_set(), &plan.referral_id)
            );
            let again = inbound::plan(referral, &config).expect("same referral, same plan");
            prop_assert_eq!(&again.hash, &plan.hash, "the plan hash is deterministic");
            // Every planned row becomes Dataverse columns (what `cosell preview` prints).
            let rows = match &plan.record {
                RecordPlan::Opportunity { row } => row.to_row(&config),
                RecordPlan::Lead { row } => row.to_row(&config),
            };
            prop_assert!(rows.is_ok(), "a planned row converts: {:?}", rows.err());
            if let Some(account) = &plan.account {
                prop_assert!(account.new_row.to_row(&config).is_ok());
            }
            if let Some(contact) = &plan.contact {
                let account = plan
                    .account
                    .as_ref()
                    .map(|a| a.new_id())
                    .unwrap_or_default();
                prop_assert!(contact.row_under(account).to_row(&config).is_ok());
            }
        }
        Err(InvalidReferral {
            referral_id,
            problems,
        }) => {
            prop_assert!(!problems.is_empty(), "a refusal names its problems");
            prop_assert_eq!(referral_id.as_ref(), referral.id.as_ref());
            let error = InvalidReferral {
                referral_id,
                problems: problems.clone(),
            };
            let message = error.to_string();
            for problem in &problems {
                prop_assert!(message.contains(&problem.to_string()), "{message}");
            }
        }
    }
    Ok(())
}

fn check_mapping_error(error: &MappingError) -> Result<(), TestCaseError> {
    match error {
        MappingError::InvalidColumn { column, .. }
        | MappingError::UnknownHelpOption { column, .. } => {
            prop_assert!(!column.is_empty(), "{error}")
        }
        other => prop_assert!(
            false,
            "reading a row fails with a column error, got {other:?}"
        ),
    }
    prop_assert!(!error.to_string().trim().is_empty());
    Ok(())
}

fn check_invalid_opportunity(error: &InvalidOpportunity) -> Result<(), TestCaseError> {
    prop_assert!(!error.problems.is_empty(), "a refusal names its problems");
    for sentence in error.sentences() {
        prop_assert!(sentence.ends_with('.'), "{sentence}");
    }
    prop_assert!(!error.to_string().trim().is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Referral text from the wire: bytes that are not a referral are a serde error; bytes that
    /// are one write back.
    #[test]
    fn referral_bytes_parse_or_fail_with_a_serde_error(bytes in referral_bytes()) {
        match serde_json::from_slice::<Referral>(&bytes) {
            Ok(referral) => check_writes_back(&referral)?,
            Err(error) => check_serde_error(&error)?,
        }
    }

    /// Referral JSON of any shape: parsed or refused with a serde error; what parses writes back
    /// and either plans inbound or is refused with every problem named.
    #[test]
    fn referral_json_parses_and_plans_or_fails_typed(value in referral_json()) {
        match serde_json::from_value::<Referral>(value) {
            Ok(referral) => {
                check_writes_back(&referral)?;
                check_inbound(&referral)?;
            }
            Err(error) => check_serde_error(&error)?,
        }
    }

    /// A timestamp in any date field: read as the instant it names (written back in UTC, the
    /// same instant) or refused as not RFC 3339; an accepted one never breaks the plan.
    #[test]
    fn timestamps_read_write_back_or_are_refused(text in timestamp_text()) {
        match timestamp::parse(&text) {
            Ok(at) => {
                let written = timestamp::format(at);
                prop_assert!(written.ends_with('Z'), "{written}");
                prop_assert_eq!(timestamp::parse(&written).expect("reads back"), at);
            }
            Err(error) => {
                let is_timestamp_error = matches!(error, MappingError::InvalidTimestamp { .. });
                prop_assert!(is_timestamp_error);
                prop_assert!(error.to_string().contains("RFC 3339"));
            }
        }
        let mut value: Value = serde_json::from_str(FULL).unwrap();
        for key in ["createdDateTime", "updatedDateTime", "acceptedDateTime", "closedDateTime"] {
            value[key] = Value::String(text.clone());
        }
        value["details"]["closingDateTime"] = Value::String(text.clone());
        match serde_json::from_value::<Referral>(value) {
            Ok(referral) => {
                let close = referral.details.as_ref().and_then(|d| d.closing_date_time);
                prop_assert_eq!(close, timestamp::parse(&text).ok());
                check_writes_back(&referral)?;
                check_inbound(&referral)?;
            }
            Err(error) => {
                check_serde_error(&error)?;
                prop_assert!(timestamp::parse(&text).is_err(), "only a bad timestamp fails");
            }
        }
    }

    /// A valid referral with generated values: the id, name, currency and amount come through
    /// parsing, the write-back round trip and the inbound plan unchanged.
    #[test]
    fn a_generated_referral_round_trips_and_plans(
        id in prop_oneof![any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()), "[A-Za-z0-9-]{1,40}"],
        name in "[A-Za-z0-9][ -~]{0,60}[A-Za-z0-9]",
        customer in "[A-Za-z][A-Za-z0-9 .,&'-]{0,40}",
        currency in "[A-Za-z]{3}",
        country in "[A-Za-z]{2}",
        cents in 0i64..=999_999_999_999,
        scale in 0u32..=4,
    ) {
        let amount = Decimal::new(cents, scale);
        let mut value: Value = serde_json::from_str(FULL).unwrap();
        value["id"] = json!(id);
        value["name"] = json!(name);
        value["customerProfile"]["name"] = json!(customer);
        value["customerProfile"]["address"]["country"] = json!(country);
        value["details"]["currency"] = json!(currency);
        value["details"]["dealValue"] = json!(amount.to_string());

        let referral: Referral = serde_json::from_value(value).expect("a valid referral parses");
        prop_assert_eq!(referral.id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(referral.details.as_ref().and_then(|d| d.deal_value), Some(amount));
        let again: Referral =
            serde_json::from_value(serde_json::to_value(&referral).unwrap()).unwrap();
        prop_assert_eq!(&again, &referral, "write-back round trip");

        let plan = inbound::plan(&referral, &CrmConfig::default()).expect("a valid referral plans");
        prop_assert_eq!(plan.referral_id.as_str(), id.as_str());
        prop_assert_eq!(&plan.name, &name);
        prop_assert_eq!(plan.currency_code, Some(currency.to_ascii_uppercase()));
        prop_assert_eq!(plan.deal.deal_value, Some(amount.normalize()));
        prop_assert_eq!(plan.record.new_id(), record_id("opportunities", &id));
        let account = plan.account.expect("co-sell has an account");
        prop_assert_eq!(account.new_row.country_code, Some(country.to_ascii_uppercase()));
        check_inbound(&referral)?;
    }

    /// An opportunity row of any shape: read, or refused with the column named; what is read
    /// either plans a create (keeping the opportunity id as the referral's external reference) or
    /// is refused with every problem named. An update of it (the fixture when the row was
    /// refused) against any parseable referral and any stored deal state is a JSON Patch or a
    /// refusal, never a panic.
    #[test]
    fn opportunity_rows_plan_or_fail_typed(
        row in opportunity_json(),
        current in referral_json(),
        stored in prop_oneof![Just(None), mutated(DEAL_STATE).prop_map(Some)],
    ) {
        let config = CrmConfig::default();
        let read = match row {
            Value::Object(row) => OutboundInput::from_expanded_row(&row, &config),
            _ => Ok(fixture_input()),
        };
        let input = match read {
            Ok(input) => {
                match plan_create(&input, &config) {
                    Ok(plan) => {
                        prop_assert_eq!(
                            plan.referral.external_reference_id.clone(),
                            input.opportunity.id.map(|id| id.to_string())
                        );
                        check_writes_back(&plan.referral)?;
                        prop_assert_eq!(&plan.deal.name, &plan.referral.name);
                    }
                    Err(error) => check_invalid_opportunity(&error)?,
                }
                input
            }
            Err(error) => {
                check_mapping_error(&error)?;
                fixture_input()
            }
        };
        let current = match serde_json::from_value::<Referral>(current) {
            Ok(current) => current,
            Err(error) => {
                check_serde_error(&error)?;
                serde_json::from_str(FULL).unwrap()
            }
        };
        let agreed = match stored.map(serde_json::from_value::<DealState>) {
            None => None,
            Some(Ok(state)) => Some(state),
            Some(Err(error)) => {
                check_serde_error(&error)?;
                None
            }
        };
        match plan_update(&input, &current, agreed.as_ref(), &config) {
            Ok(plan) => {
                let patch = plan.patch();
                let ops = patch.as_array().expect("a JSON Patch is an array");
                prop_assert_eq!(ops.len(), plan.changes.len());
                for op in ops {
                    prop_assert!(matches!(op["op"].as_str(), Some("replace" | "add")), "{op}");
                    prop_assert!(op["path"].as_str().is_some_and(|p| p.starts_with('/')), "{op}");
                }
                prop_assert_eq!(plan.deal.hash().len(), 64);
            }
            Err(error) => check_invalid_opportunity(&error)?,
        }
    }

    /// A valid opportunity with generated values: the create plan carries its id, name, customer
    /// and currency.
    #[test]
    fn a_generated_opportunity_plans_a_create(
        id in any::<u128>().prop_map(Uuid::from_u128),
        name in "[A-Za-z0-9][ -~]{0,60}[A-Za-z0-9]",
        customer in "[A-Za-z][A-Za-z0-9 .,&'-]{0,40}",
        country in select(&["us", "GB", " de ", "Jp"][..]),
        currency in "[A-Za-z]{3}",
        solution in "SOL-[A-Z0-9]{1,12}",
    ) {
        let mut row: Value = serde_json::from_str(OPPORTUNITY).unwrap();
        row["opportunityid"] = json!(id.to_string());
        row["name"] = json!(format!("{name} ✔"));
        row["parentaccountid"]["name"] = json!(customer);
        row["parentaccountid"]["address1_country"] = json!(country);
        row["transactioncurrencyid"]["isocurrencycode"] = json!(currency);
        row["msft_opportunity_msft_microsoftpartnercentersolutions"][0]["msft_solutionid"] =
            json!(solution);
        let Value::Object(row) = row else { unreachable!() };

        let config = CrmConfig::default();
        let input = OutboundInput::from_expanded_row(&row, &config).expect("a valid row reads");
        prop_assert_eq!(input.opportunity.id, Some(id));
        let plan = plan_create(&input, &config).expect("a valid opportunity plans");
        let referral = &plan.referral;
        prop_assert_eq!(referral.external_reference_id.clone(), Some(id.to_string()));
        prop_assert_eq!(referral.name.as_deref(), Some(name.as_str()), "mark removed");
        let profile = referral.customer_profile.as_ref().unwrap();
        prop_assert_eq!(profile.name.as_deref(), Some(customer.trim()));
        let written_country = profile.address.as_ref().and_then(|a| a.country.clone());
        prop_assert_eq!(written_country, Some(country.trim().to_ascii_uppercase()));
        let details = referral.details.as_ref().unwrap();
        prop_assert_eq!(details.currency.clone(), Some(currency.to_ascii_uppercase()));
        let ids: Vec<_> = details.requirements.as_ref().unwrap().solutions.iter()
            .filter_map(|s| s.id.clone()).collect();
        prop_assert!(ids.contains(&solution), "{ids:?}");
        check_writes_back(referral)?;
    }
}

fn fixture_input() -> OutboundInput {
    let Value::Object(row) = serde_json::from_str(OPPORTUNITY).unwrap() else {
        unreachable!("the fixture is an object")
    };
    OutboundInput::from_expanded_row(&row, &CrmConfig::default()).expect("the fixture reads")
}

/// `Link.deal` as stored: the sample the stored-state mutations start from.
const DEAL_STATE: &str = r#"{"name":"Fabrikam","deal_value":"250000","currency":"USD",
    "close_date":"2024-06-30","notes":"n","visible":true,"status":"InProgress"}"#;

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties above

/// The last representable day with a western offset is the year 10000 in UTC: it used to be
/// accepted and then panic (`to_offset`) in the plan and on write-back.
#[test]
fn a_timestamp_past_the_last_utc_year_is_refused_not_a_panic() {
    for text in [
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T20:00:00-05:00",
        "0000-01-01T00:00:00+00:01",
    ] {
        let error = timestamp::parse(text).expect_err("not representable in UTC");
        assert!(
            matches!(error, MappingError::InvalidTimestamp { ref value } if value == text),
            "{error:?}"
        );
        let mut value: Value = serde_json::from_str(FULL).unwrap();
        value["details"]["closingDateTime"] = json!(text);
        let error = serde_json::from_value::<Referral>(value).expect_err("refused when read");
        assert!(error.to_string().contains("RFC 3339"), "{error}");
    }
    // The edges that are representable still read.
    for text in ["9999-12-31T23:59:59+23:59", "0000-01-01T00:00:00-01:00"] {
        let at = timestamp::parse(text).unwrap();
        assert_eq!(timestamp::parse(&timestamp::format(at)).unwrap(), at);
    }
}

#[test]
fn the_fixtures_the_mutations_start_from_are_valid() {
    let referral: Referral = serde_json::from_str(FULL).unwrap();
    inbound::plan(&referral, &CrmConfig::default()).expect("the full referral plans");
    plan_create(&fixture_input(), &CrmConfig::default()).expect("the co-sell opportunity plans");
    serde_json::from_str::<DealState>(DEAL_STATE).expect("the stored deal state reads");
}
