//! Every request the client and the outbound mapping can build, checked against what Microsoft
//! publishes (the facts in the simulator's `published.toml`, which names its sources: the
//! certified connector's Swagger and the partner-rest pages). A mapped field the connector's
//! PATCH does not allow fails here, unless it is one the sync sends by `PUT`.

use std::collections::BTreeSet;

use cosell_mapping::outbound::{OutboundInput, plan_update};
use cosell_mapping::{CrmConfig, Referral};
use cosell_partner_center::{
    Field, Filter, ListQuery, OrderBy, PATCHABLE, PatchOp, READ_ONLY, patchable, writable,
};
use cosell_sim::partner_center::published::Published;
use serde_json::{Map, Value, json};

use cosell_testkit::sim;
use cosell_testkit::sim::WithPartnerCenter;

const OPPORTUNITY: &str = include_str!("../../mapping/tests/fixtures/opportunity_cosell.json");
const REFERRAL: &str = include_str!("../../mapping/tests/fixtures/cosell_referral_full.json");

#[test]
fn the_client_patches_exactly_the_connectors_allow_list() {
    let ours: BTreeSet<&str> = PATCHABLE.iter().copied().collect();
    let published: BTreeSet<&str> = Published::get()
        .patch
        .paths
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ours, published);
}

#[test]
fn the_client_leaves_out_exactly_the_swaggers_read_only_members() {
    let ours: BTreeSet<&str> = READ_ONLY.iter().copied().collect();
    let published: BTreeSet<&str> = Published::get()
        .referral
        .read_only
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ours, published);
    // A referral as read (every member set), written back: none of them goes out.
    let mut read: Value = serde_json::from_str(REFERRAL).unwrap();
    for key in READ_ONLY {
        read[*key] = match *key {
            "acceptedDateTime" | "closedDateTime" => json!("2026-11-01T10:00:00Z"),
            "direction" => json!("Incoming"),
            _ => json!("set by the service"),
        };
    }
    let referral: Referral = serde_json::from_value(read).unwrap();
    let body = writable(&referral);
    for key in READ_ONLY {
        assert!(body.get(*key).is_none(), "{key} sent");
    }
    assert_eq!(body["name"], json!(referral.name), "the rest is kept");
}

#[test]
fn every_filter_and_order_the_client_can_build_is_documented_or_a_verified_reading() {
    let facts = Published::get();
    let tried = |form: &str| facts.list.tried_filters.iter().any(|t| t == form);
    // Exhaustive: a new field fails to compile here until it is checked.
    let fields = [
        Field::EngagementId,
        Field::Status,
        Field::Substatus,
        Field::Qualification,
        Field::Type,
        Field::Direction,
        Field::CustomerCountry,
        Field::UpdatedDateTime,
    ];
    for field in fields {
        match field {
            Field::EngagementId
            | Field::Status
            | Field::Substatus
            | Field::Qualification
            | Field::Type
            | Field::Direction
            | Field::CustomerCountry
            | Field::UpdatedDateTime => {}
        }
        let text = Filter::new().eq(field, "x").to_string();
        let (name, rest) = text.split_once(' ').unwrap();
        let op = rest.split(' ').next().unwrap();
        assert!(facts.filterable(name, op), "{text}");
    }
    // The range is only ever the first reading of a sweep, which falls back when it is refused.
    let range = Filter::new()
        .after(Field::UpdatedDateTime, time::OffsetDateTime::UNIX_EPOCH)
        .to_string();
    let form: Vec<&str> = range.split(' ').take(2).collect();
    assert!(!facts.filterable(form[0], form[1]), "{range}");
    assert!(tried(&form.join(" ")), "{range}");
    for order in [
        OrderBy::CreatedAsc,
        OrderBy::CreatedDesc,
        OrderBy::UpdatedAsc,
        OrderBy::UpdatedDesc,
    ] {
        let key = order.as_str().split(' ').next().unwrap();
        let documented = facts.list.orderby.iter().any(|k| k == key);
        let verified = facts.list.tried_orderby.iter().any(|k| k == key);
        assert!(
            documented != verified,
            "{order:?}: documented or tried, not both"
        );
    }
    // partner-rest documents the creation order only (see published.toml).
    assert_eq!(facts.list.orderby, ["createdDateTime"]);
}

/// The seller's edits the outbound mapping turns into referral changes, each on its own: the
/// opportunity's columns and their new values.
fn edits() -> Vec<(&'static str, Vec<(&'static str, Value)>)> {
    vec![
        ("deal value", vec![("estimatedvalue", json!(99000))]),
        (
            "close date",
            vec![("estimatedclosedate", json!("2027-01-31"))],
        ),
        ("notes", vec![("description", json!("New notes."))]),
        (
            "currency",
            vec![("transactioncurrencyid", json!({"isocurrencycode": "EUR"}))],
        ),
        ("name", vec![("name", json!("Renamed deal"))]),
        (
            "won",
            vec![("statecode", json!(1)), ("statuscode", json!(3))],
        ),
        (
            "lost",
            vec![("statecode", json!(2)), ("statuscode", json!(5))],
        ),
        (
            "declined",
            vec![("statecode", json!(2)), ("statuscode", json!(4))],
        ),
    ]
}

fn referral(edit: impl FnOnce(&mut Value)) -> Referral {
    let mut value: Value = serde_json::from_str(REFERRAL).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

fn paths_for(current: &Referral, edit: &[(&str, Value)]) -> Vec<(String, String)> {
    // The fixture opportunity holds the fixture referral's deal (as the mapping tests start).
    let mut row: Map<String, Value> = serde_json::from_str(OPPORTUNITY).unwrap();
    row.insert("estimatedvalue".into(), json!(250000.55));
    row.insert("statecode".into(), json!(0));
    row.insert("statuscode".into(), json!(1));
    for (column, value) in edit {
        row.insert((*column).into(), value.clone());
    }
    let input = OutboundInput::from_expanded_row(&row, &CrmConfig::default()).unwrap();
    let agreed = cosell_mapping::DealState::from_referral(current);
    let plan = plan_update(&input, current, Some(&agreed), &CrmConfig::default()).unwrap();
    plan.changes
        .iter()
        .map(|c| (c.op.as_str().to_owned(), c.path.clone()))
        .collect()
}

#[test]
fn every_field_the_mapping_changes_is_patchable_except_the_name_which_goes_by_put() {
    let facts = Published::get();
    let current = referral(|_| {});
    let mut not_patchable = BTreeSet::new();
    for (what, edit) in edits() {
        let paths = paths_for(&current, &edit);
        assert!(!paths.is_empty(), "{what} changes something");
        for (op, path) in paths {
            assert_eq!(
                patchable(&path),
                facts.patchable(&op, &path),
                "{what}: {op} {path}"
            );
            if !facts.patchable(&op, &path) {
                not_patchable.insert(path);
            }
        }
    }
    assert_eq!(not_patchable, BTreeSet::from(["/name".to_owned()]));

    // Sharing with Microsoft's sellers (one way) is a patchable path.
    let private =
        referral(|r| r["consent"]["consentToShareReferralWithMicrosoftSellers"] = json!(false));
    let paths = paths_for(&private, &[]);
    assert_eq!(
        paths,
        [(
            "replace".to_owned(),
            "/consent/consentToShareReferralWithMicrosoftSellers".to_owned()
        )]
    );
    assert!(facts.patchable(&paths[0].0, &paths[0].1));
}

#[test]
fn a_change_to_a_referral_without_details_is_sent_whole() {
    let facts = Published::get();
    let bare = referral(|r| {
        r.as_object_mut().unwrap().remove("details");
    });
    let paths = paths_for(&bare, &[("estimatedvalue", json!(99000))]);
    assert_eq!(paths, [("add".to_owned(), "/details".to_owned())]);
    assert!(!facts.patchable("add", "/details"), "so the sync PUTs it");
    assert!(!patchable("/details"));
}

/// Each operation the client sends, over a real socket: `Content-Type: application/json` on every
/// one, as the connector declares the header required on every operation (bodiless GETs too).
#[tokio::test]
async fn every_request_carries_json_content_type() {
    let WithPartnerCenter { sim, client, .. } = sim::with_partner_center().await;
    let draft = Referral {
        name: Some("Conformance".into()),
        ..Referral::default()
    };
    let created = client.create_referral(&draft).await.unwrap();
    let id = created.value.id.clone().unwrap();
    let read = client.get_referral(&id).await.unwrap();
    let mut renamed = read.value.clone();
    renamed.name = Some("Conformance, renamed".into());
    let replaced = client
        .replace_referral(&id, &renamed, read.etag.as_deref().unwrap())
        .await
        .unwrap();
    client
        .patch_referral(
            &id,
            &[PatchOp::replace("/externalReferenceId", "crm-1")],
            replaced.etag.as_deref(),
        )
        .await
        .unwrap();
    client.list_all_referrals(ListQuery::new()).await.unwrap();

    let logged = sim.state.pc.requests.all();
    let methods: BTreeSet<&str> = logged.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, BTreeSet::from(["GET", "PATCH", "POST", "PUT"]));
    for request in &logged {
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/json"),
            "{request:?}"
        );
    }
}
