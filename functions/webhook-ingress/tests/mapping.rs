//! The mapping document on the inbound path, over real sockets: required custom columns filled
//! by defaults under a plug-in that enforces them, an account found by an external-id rule, an
//! industry mapped into a choice column, a lead-free configuration, a country kept as a lookup,
//! and an upgrade that maps a field without writing to the records already synced.

use cosell_mapping::CrmConfig;
use cosell_mapping::custom::Mapping;
use cosell_mapping::inbound::record_id;
use cosell_sim::dataverse::{ChoiceConfig, DvConfig, TableConfig};
use cosell_store::SyncStore;
use serde_json::{Value, json};
use time::OffsetDateTime;

use cosell_testkit::referrals::{cosell_referral, id_of, marketplace_lead};
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;
use cosell_testkit::{object, sim};

const EMEA: i64 = 100_000_000;
const RETAIL: i64 = 100_000_001;
const HEALTHCARE: i64 = 100_000_002;

/// A partner's environment: two business-required custom columns on opportunity, one on lead,
/// a plug-in that refuses creates missing them, an industry choice column, and countries kept
/// in their own table (alternate key on the ISO code) that accounts look up.
fn environment() -> DvConfig {
    let mut config = DvConfig::default();
    let choices = |options: &[(i64, &str)]| -> Vec<ChoiceConfig> {
        options
            .iter()
            .map(|(value, label)| ChoiceConfig {
                value: *value,
                label: (*label).to_owned(),
                ..Default::default()
            })
            .collect()
    };
    let opportunities = config.tables.get_mut("opportunities").unwrap();
    opportunities
        .attributes
        .extend(["new_region", "new_source", "new_industry"].map(String::from));
    opportunities.business_required = vec!["new_region".into(), "new_source".into()];
    opportunities.choices.insert(
        "new_region".into(),
        choices(&[(EMEA, "EMEA"), (100_000_001, "Americas")]),
    );
    opportunities.choices.insert(
        "new_industry".into(),
        choices(&[(RETAIL, "Retail"), (HEALTHCARE, "Healthcare")]),
    );
    let leads = config.tables.get_mut("leads").unwrap();
    leads.attributes.push("new_leadsource".into());
    leads.business_required = vec!["new_leadsource".into()];
    let accounts = config.tables.get_mut("accounts").unwrap();
    accounts.attributes.push("new_countryid".into());
    accounts
        .types
        .insert("new_countryid".into(), "Lookup".into());
    config.tables.insert(
        "new_countries".into(),
        TableConfig {
            alternate_keys: vec!["new_isocode".into()],
            attributes: ["new_countryid", "new_isocode", "new_name"]
                .map(String::from)
                .to_vec(),
            ..TableConfig::derived("new_countries")
        },
    );
    config.plugin_requires_business_required = true;
    config
}

/// The partner's mapping, as `cosell.toml`'s `[mapping]` table arrives (JSON).
fn mapping(extra: Value) -> CrmConfig {
    let mut document = json!({
        "version": 1,
        "defaults": {
            "opportunity": {"new_region": {"option": EMEA}, "new_source": "Microsoft co-sell"},
            "lead": {"new_leadsource": "Microsoft marketplace"},
        },
    });
    document.as_object_mut().unwrap().extend(object(extra));
    CrmConfig::default()
        .with_mapping(Mapping::parse(&document.to_string()).unwrap())
        .unwrap()
}

fn industry_field() -> Value {
    json!([{
        "referral": "/details/requirements/industries/0/id",
        "column": "new_industry",
        "values": {"Retail": RETAIL, "Healthcare": HEALTHCARE},
    }])
}

async fn start(crm: CrmConfig) -> Stack {
    Stack::build()
        .on(sim::start_with_dataverse(environment()).await)
        .crm(crm)
        .ingress()
        .start()
        .await
}

fn with_industry(mut referral: Value, industry: &str) -> Value {
    referral["details"]["requirements"]["industries"] = json!([{"id": industry, "name": industry}]);
    referral
}

#[tokio::test]
async fn required_custom_columns_are_filled_by_defaults_and_never_rewritten() {
    // Without defaults, the partner's plug-in refuses the create: the referral is parked with
    // the plug-in's words, nothing written.
    let bare = start(CrmConfig::default()).await;
    let id = bare
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    bare.wait_delivered(1).await;
    assert!(bare.rows("opportunities").is_empty());
    let item = bare
        .store
        .retry(&format!("inbound:{id}"))
        .await
        .unwrap()
        .expect("parked");
    let error = item.last_error.unwrap_or_default();
    assert!(
        error.contains("new_region") && error.contains("new_source"),
        "{error}"
    );

    let stack = start(mapping(json!({}))).await;
    let id = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    stack.wait_delivered(1).await;
    let key = record_id("opportunities", &id);
    let row = stack.row("opportunities", key);
    assert_eq!(row["new_region"], json!(EMEA));
    assert_eq!(row["new_source"], json!("Microsoft co-sell"));

    // A seller's choice of source survives Microsoft's next edit: defaults are for creates.
    stack
        .sim
        .state
        .dv
        .seed(
            "opportunities",
            object(json!({"opportunityid": key.to_string(), "new_source": "Partner event"})),
        )
        .unwrap();
    stack
        .edit_referral(&id, json!({"details": {"dealValue": 9000}}))
        .await;
    stack.wait_delivered(2).await;
    let row = stack.row("opportunities", key);
    assert_eq!(row["estimatedvalue"], json!(9000));
    assert_eq!(row["new_source"], json!("Partner event"));

    // A lead's required column comes from the lead defaults.
    let lead = id_of(&stack.seed_referral(marketplace_lead()).await);
    stack.wait_delivered(3).await;
    let row = stack.row("leads", record_id("leads", &lead));
    assert_eq!(row["new_leadsource"], json!("Microsoft marketplace"));
}

#[tokio::test]
async fn an_external_id_rule_finds_the_account_the_name_would_miss() {
    let crm = mapping(json!({"accounts": [
        {"rule": "external_id", "kind": "Duns", "column": "accountnumber"},
        {"rule": "name_postal_code"},
    ]}));
    let stack = start(crm).await;
    stack
        .seed_referral(cosell_referral("Warmup Ltd", "1000", "a@warmup.example"))
        .await;
    stack.wait_delivered(1).await;
    // The CRM knows the customer under its legal name, at its head office.
    let account = stack
        .sim
        .state
        .dv
        .seed(
            "accounts",
            object(json!({"name": "Fabrikam Holdings LLC", "accountnumber": "081466849", "address1_postalcode": "10001"})),
        )
        .unwrap();
    let accounts_before = stack.rows("accounts").len();
    stack.reset_counters();

    let mut referral = cosell_referral("Fabrikam, Inc.", "98052", "dana@fabrikam.example");
    referral["customerProfile"]["ids"] = json!({"Duns": "081466849"});
    let id = id_of(&stack.seed_referral(referral).await);
    stack.wait_delivered(2).await;

    let row = stack.row("opportunities", record_id("opportunities", &id));
    assert_eq!(row["_customerid_value"], json!(account.to_string()));
    assert_eq!(
        stack.rows("accounts").len(),
        accounts_before,
        "no account created"
    );
    // The id rule's query, then the change set: the name rule is never asked.
    assert_eq!(stack.requests("dataverse"), 2);
}

#[tokio::test]
async fn an_industry_lands_in_a_choice_column_and_follows_microsofts_edits() {
    let stack = start(mapping(json!({"fields": industry_field()}))).await;
    let referral = with_industry(
        cosell_referral("Fabrikam, Inc.", "98052", "dana@fabrikam.example"),
        "Retail",
    );
    let id = id_of(&stack.seed_referral(referral).await);
    stack.wait_delivered(1).await;
    let key = record_id("opportunities", &id);
    assert_eq!(
        stack.row("opportunities", key)["new_industry"],
        json!(RETAIL)
    );

    stack.reset_counters();
    let industries = json!([{"id": "Healthcare", "name": "Healthcare"}]);
    stack
        .edit_referral(
            &id,
            json!({"details": {"requirements": {"industries": industries}}}),
        )
        .await;
    stack.wait_delivered(2).await;
    assert_eq!(
        stack.row("opportunities", key)["new_industry"],
        json!(HEALTHCARE)
    );
    assert_eq!(stack.requests("dataverse"), 1, "one change set");

    stack.reset_counters();
    stack.edit_referral(&id, json!({"tags": ["fy27"]})).await;
    stack.wait_delivered(3).await;
    assert_eq!(stack.requests("dataverse"), 0, "nothing mapped moved");
}

#[tokio::test]
async fn with_leads_left_out_a_lead_writes_nothing_and_parks_nothing() {
    let stack = start(mapping(json!({"leads": false}))).await;
    stack.reset_counters();
    let id = id_of(&stack.seed_referral(marketplace_lead()).await);
    stack.wait_delivered(1).await;
    assert!(stack.rows("leads").is_empty());
    assert_eq!(stack.requests("dataverse"), 0);
    assert!(
        stack
            .store
            .link_by_referral(&rid(&id))
            .await
            .unwrap()
            .is_none()
    );
    let parked = stack.store.retry(&format!("inbound:{id}")).await.unwrap();
    assert!(parked.is_none(), "{parked:?}");

    // A co-sell referral still becomes an opportunity.
    let id = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    stack.wait_delivered(2).await;
    stack.row("opportunities", record_id("opportunities", &id));
}

#[tokio::test]
async fn a_new_account_looks_its_country_up_by_code() {
    let crm = mapping(json!({"country": {
        "lookup": "new_countryid", "table": "new_countries", "code": "new_isocode",
    }}));
    let stack = start(crm).await;
    let us = stack
        .sim
        .state
        .dv
        .seed(
            "new_countries",
            object(json!({"new_isocode": "US", "new_name": "United States"})),
        )
        .unwrap();
    let id = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    stack.wait_delivered(1).await;
    let account = stack.row("accounts", record_id("accounts", &id));
    assert_eq!(account["_new_countryid_value"], json!(us.to_string()));
    assert!(account.get("address1_country").is_none_or(Value::is_null));
}

#[tokio::test]
async fn mapping_a_field_later_writes_nothing_to_records_already_synced() {
    let stack = start(mapping(json!({}))).await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for (n, industry) in ["Retail", "Healthcare", "Retail"].iter().enumerate() {
            let customer = format!("Customer {n}");
            let referral = with_industry(
                cosell_referral(&customer, "98052", &format!("c{n}@example.com")),
                industry,
            );
            ids.push(id_of(&stack.seed_referral(referral).await));
        }
        ids
    };
    stack.wait_delivered(3).await;

    // The upgrade: the old process gone, the same store, a mapping with the industry.
    stack.stop_ingress();
    let upgraded = mapping(json!({"version": 2, "fields": industry_field()}));
    let mut settings = stack.settings.clone();
    settings.crm = upgraded;
    let app = settings.app(stack.store.clone(), &stack.partner_center, &stack.dataverse);
    stack.reset_counters();
    for id in &ids {
        let handled = app
            .sync
            .redo(&rid(id), json!({}), OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(
            matches!(handled, cosell_sync::inbound::Handled::Unchanged { .. }),
            "{handled:?}"
        );
    }
    assert_eq!(stack.requests("dataverse"), 0, "no write storm");

    // The next sync that writes agrees on the industry as Microsoft states it; from then on
    // Microsoft's industry changes are written.
    let sync = |id: String| {
        let app = &app;
        async move {
            app.sync
                .redo(&rid(&id), json!({}), OffsetDateTime::now_utc())
                .await
                .unwrap()
        }
    };
    stack
        .edit_referral(&ids[0], json!({"details": {"dealValue": 777}}))
        .await;
    stack.reset_counters();
    sync(ids[0].clone()).await;
    // The new process's currency lookup, then the change set (with no industry in it).
    assert_eq!(stack.requests("dataverse"), 2);
    let key = record_id("opportunities", &ids[0]);
    assert_eq!(
        stack.row("opportunities", key)["estimatedvalue"],
        json!(777)
    );
    stack
        .edit_referral(
            &ids[0],
            json!({"details": {"requirements": {"industries": [{"id": "Healthcare"}]}}}),
        )
        .await;
    sync(ids[0].clone()).await;
    assert_eq!(
        stack.row("opportunities", key)["new_industry"],
        json!(HEALTHCARE)
    );

    // `cosell backfill --mapped`: the two records never written since the upgrade get their
    // industry, one change set each; the one already written costs nothing. A second run
    // writes nothing at all.
    let resync = |id: String| {
        let app = &app;
        async move {
            app.sync
                .resync_mapped(&rid(&id), OffsetDateTime::now_utc())
                .await
                .unwrap()
        }
    };
    stack.reset_counters();
    let mut written = Vec::new();
    for id in &ids {
        let handled = resync(id.clone()).await;
        written.push(matches!(
            handled,
            cosell_sync::inbound::Handled::Synced { .. }
        ));
    }
    assert_eq!(written, [false, true, true]);
    assert_eq!(stack.requests("dataverse"), 2);
    for (id, industry) in ids.iter().zip([HEALTHCARE, HEALTHCARE, RETAIL]) {
        let row = stack.row("opportunities", record_id("opportunities", id));
        assert_eq!(row["new_industry"], json!(industry), "{id}");
    }
    stack.reset_counters();
    for id in &ids {
        resync(id.clone()).await;
    }
    assert_eq!(
        stack.requests("dataverse"),
        0,
        "a second run writes nothing"
    );
}

/// A mapping pushed but not yet deployed everywhere: a process on the older version leaves the
/// mapped fields the newer one agreed, so the two never undo each other.
#[tokio::test]
async fn an_older_mapping_leaves_mapped_fields_to_the_newer_one() {
    let stack = start(mapping(json!({}))).await;
    stack.stop_ingress();
    let app_on = |version: u64, retail: i64| {
        let fields = json!([{
            "referral": "/details/requirements/industries/0/id",
            "column": "new_industry",
            "values": {"Retail": retail},
        }]);
        let mut settings = stack.settings.clone();
        settings.crm = mapping(json!({"version": version, "fields": fields}));
        settings.app(stack.store.clone(), &stack.partner_center, &stack.dataverse)
    };
    // Version 2 corrects version 1's value for Retail.
    let older = app_on(1, RETAIL);
    let newer = app_on(2, HEALTHCARE);
    let sync = |app: &webhook_ingress::App, id: &str| {
        let sync = app.sync.clone();
        let id = id.to_owned();
        async move {
            sync.redo(&rid(&id), json!({}), OffsetDateTime::now_utc())
                .await
                .unwrap()
        }
    };
    let referral = with_industry(
        cosell_referral("Fabrikam, Inc.", "98052", "dana@fabrikam.example"),
        "Retail",
    );
    let id = id_of(&stack.seed_referral(referral).await);
    sync(&older, &id).await;
    let key = record_id("opportunities", &id);
    assert_eq!(
        stack.row("opportunities", key)["new_industry"],
        json!(RETAIL)
    );
    sync(&newer, &id).await;
    assert_eq!(
        stack.row("opportunities", key)["new_industry"],
        json!(HEALTHCARE)
    );

    // Microsoft edits the deal value; the older process writes that, and only that.
    stack
        .edit_referral(&id, json!({"details": {"dealValue": 5150}}))
        .await;
    sync(&older, &id).await;
    let row = stack.row("opportunities", key);
    assert_eq!(row["estimatedvalue"], json!(5150));
    assert_eq!(row["new_industry"], json!(HEALTHCARE));
    stack.reset_counters();
    for app in [&older, &newer, &older] {
        let handled = sync(app, &id).await;
        assert!(
            matches!(handled, cosell_sync::inbound::Handled::Unchanged { .. }),
            "{handled:?}"
        );
    }
    assert_eq!(stack.requests("dataverse"), 0, "no ping-pong");
}
