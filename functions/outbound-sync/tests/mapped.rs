//! A mapped field both ways on the strict simulator: the sales stage, a choice column in the CRM
//! and `salesStage` in Partner Center — one of the few members its PATCH takes. Created with the
//! referral, sent on the seller's edit, written back on Microsoft's, and never echoed.

use cosell_mapping::CrmConfig;
use cosell_mapping::custom::Mapping;
use cosell_sim::dataverse::{ChoiceConfig, DvConfig};
use cosell_sync::Synced;
use serde_json::json;

use cosell_testkit::crm::Deal;
use cosell_testkit::sim;
use cosell_testkit::stack::Stack;

/// Partner Center's `salesStage` values (the connector definition's enum, as the strict
/// simulator's `published.toml` holds it) and the partner's option values for them.
const STAGES: [(&str, i64); 4] = [
    ("Qualify", 100_000_000),
    ("Develop", 100_000_001),
    ("Propose", 100_000_002),
    ("Close", 100_000_003),
];

fn environment() -> DvConfig {
    let mut config = DvConfig::default();
    let opportunities = config.tables.get_mut("opportunities").unwrap();
    opportunities.attributes.push("new_salesstage".into());
    let options = STAGES
        .iter()
        .map(|(label, value)| ChoiceConfig {
            value: *value,
            label: (*label).into(),
            ..Default::default()
        })
        .collect();
    opportunities
        .choices
        .insert("new_salesstage".into(), options);
    config
}

fn crm() -> CrmConfig {
    let values: serde_json::Map<String, serde_json::Value> = STAGES
        .iter()
        .map(|(label, value)| ((*label).to_owned(), json!(value)))
        .collect();
    let document = json!({"version": 1, "fields": [{
        "referral": "/salesStage",
        "column": "new_salesstage",
        "direction": "both",
        "values": values,
    }]});
    CrmConfig::default()
        .with_mapping(Mapping::parse(&document.to_string()).unwrap())
        .unwrap()
}

/// A poll that finds every row as agreed and sends nothing to Partner Center.
async fn assert_nothing_sent(stack: &Stack) {
    stack.reset_counters();
    let report = stack.poll().await;
    let unchanged = report
        .synced
        .iter()
        .all(|(_, how)| *how == Synced::Unchanged);
    assert!(unchanged, "{report:?}");
    let sent = stack.requests("partner-center");
    assert_eq!(sent, 0, "{:?}", stack.counters());
}

/// Whether the poll updated the referral of `id`.
fn updated(report: &cosell_sync::outbound::feed::PollReport, id: uuid::Uuid) -> bool {
    report
        .synced
        .iter()
        .any(|(synced, how)| *synced == id && matches!(how, Synced::Updated { .. }))
}

#[tokio::test]
async fn the_sales_stage_goes_out_on_create_and_edit_and_comes_back_without_an_echo() {
    let sim = sim::start_with_dataverse(environment()).await;
    let stack = Stack::build()
        .on(sim)
        .crm(crm())
        .ingress()
        .outbound()
        .start()
        .await;
    let id = stack.seed_deal(&Deal::default());
    stack.seller_edit(id, json!({"new_salesstage": 100_000_001}));

    let report = stack.poll().await;
    assert!(
        matches!(report.synced[..], [(_, Synced::Created { .. })]),
        "{report:?}"
    );
    let referral_id = stack.referral_id_of(id);
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Develop");
    stack.drain_deliveries().await;

    // The seller moves the stage: one PATCH of /salesStage, which the strict simulator takes.
    stack.seller_edit(id, json!({"new_salesstage": 100_000_002}));
    stack.reset_counters();
    let report = stack.poll().await;
    assert!(updated(&report, id), "{report:?}");
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Propose");
    stack.drain_deliveries().await;
    assert_eq!(
        stack.opportunity(id)["new_salesstage"],
        json!(100_000_002),
        "the echo changed nothing"
    );

    // Nothing moved: nothing sent.
    assert_nothing_sent(&stack).await;

    // Microsoft moves it: written to the CRM, and not sent back.
    stack
        .edit_referral(&referral_id, json!({"salesStage": "Close"}))
        .await;
    stack.drain_deliveries().await;
    assert_eq!(stack.opportunity(id)["new_salesstage"], json!(100_000_003));
    assert_nothing_sent(&stack).await;

    // A value the mapping does not list is not sent: the row says why.
    stack.seller_edit(id, json!({"new_salesstage": 7}));
    let report = stack.poll().await;
    let synced = report.synced.iter().find(|(synced, _)| *synced == id);
    assert!(
        matches!(synced, Some((_, Synced::Invalid { .. }))),
        "{report:?}"
    );
    let audit = stack.audit(id);
    assert!(
        audit.contains("The mapped column new_salesstage holds 7, which the mapping's values for /salesStage do not list"),
        "{audit}"
    );
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Close");
}

/// A mapping pushed but not yet deployed everywhere: an outbound process on the older version
/// sends none of the mapped fields a newer one agreed; the newer one sends the seller's edit.
#[tokio::test]
async fn an_older_mapping_sends_no_mapped_field_a_newer_one_agreed() {
    let sim = sim::start_with_dataverse(environment()).await;
    let newer = {
        let mut crm = crm();
        crm.mapping.version = 2;
        crm
    };
    let stack = Stack::build().on(sim).crm(newer).outbound().start().await;
    let id = stack.seed_deal(&Deal::default());
    stack.seller_edit(id, json!({"new_salesstage": 100_000_001}));
    stack.poll().await;
    let referral_id = stack.referral_id_of(id);
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Develop");

    // Version 1 maps the stages one off: were it to send, Partner Center would read "Close".
    let mut older = crm();
    older.mapping.fields[0].values = STAGES
        .iter()
        .zip(STAGES.iter().skip(1))
        .map(|((_, value), (label, _))| ((*label).to_owned(), *value))
        .collect();
    let older = cosell_sync::OutboundSync::new(
        stack.store.clone(),
        std::sync::Arc::new(stack.partner_center.clone()),
        std::sync::Arc::new(stack.dataverse.clone()),
        older,
        cosell_testkit::stack::outbound_settings(),
    );
    stack.seller_edit(id, json!({"new_salesstage": 100_000_002}));
    let now = time::OffsetDateTime::now_utc();
    older.sync_opportunity(id, now).await.unwrap();
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Develop");

    // The newer process sends it as its own map says.
    let report = stack.poll().await;
    assert!(updated(&report, id), "{report:?}");
    assert_eq!(stack.referral(&referral_id)["salesStage"], "Propose");
}
