//! The inbound use case against the simulator, called directly (the webhook path is tested end
//! to end in `functions/webhook-ingress`): outgoing referrals, unreadable referrals, a busy
//! referral.

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_partner_center::webhook::WebhookEnvelope;
use cosell_sim::{Sim, SimConfig};
use cosell_store::{RetryState, SqliteStore, SyncStore};
use cosell_sync::inbound::{InboundError, envelope};
use cosell_sync::{Handled, InboundSettings, InboundSync};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use cosell_testkit::sim;
use cosell_testkit::{cid, rid};

struct Setup {
    sim: Sim,
    store: Arc<SqliteStore>,
    sync: InboundSync,
}

async fn setup() -> Setup {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (dataverse, partner_center) = sim::clients(&sim, sim::http(2));
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let sync = InboundSync::new(
        store.clone(),
        Arc::new(partner_center),
        Arc::new(dataverse),
        CrmConfig::default(),
        InboundSettings {
            lease_wait: Duration::from_millis(100),
            // The first retry is due exactly 30 s later.
            backoff: cosell_sync::backoff::Backoff {
                jitter: cosell_sync::backoff::Jitter::None,
                ..Default::default()
            },
            ..InboundSettings::default()
        },
    );
    sim.state
        .dv
        .seed(
            "transactioncurrencies",
            object(json!({"isocurrencycode": "USD"})),
        )
        .unwrap();
    Setup { sim, store, sync }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn seed_referral(sim: &Sim, referral: Value) -> String {
    let created: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/_admin/partner-center/referrals", sim.base_url))
        .json(&referral)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

fn envelope_of(referral_id: &str) -> WebhookEnvelope {
    WebhookEnvelope {
        event_name: "referral-updated".into(),
        resource_uri: format!(
            "https://api.partnercenter.microsoft.com/engagements/v1/referrals/{referral_id}"
        ),
        resource_name: Some("referral".into()),
        audit_uri: None,
        resource_change_utc_date: Some("2026-01-01T00:00:00+00:00".into()),
    }
}

fn referral(direction: &str, external: Option<String>) -> Value {
    json!({
        "name": "Fabrikam upgrade",
        "direction": direction,
        "externalReferenceId": external,
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {"name": "Fabrikam", "address": {"postalCode": "98052", "country": "US"}},
        "details": {"dealValue": 10, "currency": "USD"},
        "inviteContext": {"assistanceRequestCode": "GeneralOrOther"}
    })
}

fn seed_opportunity(setup: &Setup, row: Value) -> uuid::Uuid {
    setup
        .sim
        .state
        .dv
        .seed("opportunities", object(row))
        .unwrap()
}

#[tokio::test]
async fn an_outgoing_referral_updates_the_opportunity_it_was_created_from() {
    let setup = setup().await;
    let sellers = seed_opportunity(&setup, json!({"name": "Fabrikam upgrade", "statuscode": 1}));
    let id = seed_referral(&setup.sim, referral("Outgoing", Some(sellers.to_string()))).await;

    let handled = setup
        .sync
        .sync_referral(&rid(&id), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        matches!(&handled, Handled::Synced { created: false, crm_id, .. } if *crm_id == sellers),
        "{handled:?}"
    );
    let rows = setup.sim.state.dv.rows("opportunities");
    assert_eq!(rows.len(), 1, "no second opportunity");
    assert_eq!(rows[0]["estimatedvalue"], json!(10));
    assert_eq!(
        rows[0]["statuscode"], 1,
        "our own New referral leaves the seller's status"
    );
    assert!(setup.sim.state.dv.rows("accounts").is_empty());
    let link = setup
        .store
        .link_by_referral(&rid(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.crm_id, cid(sellers));
}

#[tokio::test]
async fn a_referral_that_cannot_be_read_is_parked_for_retry_with_its_envelope() {
    let setup = setup().await;
    let envelope = envelope_of("no-such-referral");
    let now = OffsetDateTime::now_utc();
    let handled = setup.sync.handle(&envelope, now).await.unwrap();
    let Handled::Parked {
        retry_id,
        permanent,
        message,
        ..
    } = handled
    else {
        panic!("parked, got {handled:?}")
    };
    assert_eq!(retry_id, "inbound:no-such-referral");
    assert!(!permanent);
    assert!(message.contains("Partner Center"), "{message}");
    let item = setup.store.retry(&retry_id).await.unwrap().unwrap();
    assert_eq!(item.state, RetryState::Pending);
    assert_eq!(item.due_at, now + Duration::from_secs(30));
    assert_eq!(
        envelope::from_payload(&item.payload),
        Some(envelope.clone())
    );
    assert_eq!(
        setup
            .sim
            .state
            .counters
            .snapshot()
            .services
            .get("dataverse"),
        None
    );

    // Delivered again: a duplicate, and the dedupe row is what made the first answer a 200.
    assert_eq!(
        setup.sync.handle(&envelope, now).await.unwrap(),
        Handled::Duplicate
    );
}

#[tokio::test]
async fn a_referral_held_by_another_sync_is_parked_not_written_twice() {
    let setup = setup().await;
    let id = seed_referral(&setup.sim, referral("Incoming", None)).await;
    let now = OffsetDateTime::now_utc();
    assert!(
        setup
            .store
            .acquire_lease(
                &format!("inbound:{id}"),
                "another-invocation",
                now,
                Duration::from_secs(60)
            )
            .await
            .unwrap()
    );
    let error = setup.sync.sync_referral(&rid(&id), now).await.unwrap_err();
    assert!(
        matches!(error.problem, InboundError::Busy),
        "{:?}",
        error.problem
    );
    assert!(setup.sim.state.dv.rows("opportunities").is_empty());

    let handled = setup.sync.handle(&envelope_of(&id), now).await.unwrap();
    assert!(
        matches!(
            handled,
            Handled::Parked {
                permanent: false,
                ..
            }
        ),
        "{handled:?}"
    );
    setup
        .store
        .release_lease(&format!("inbound:{id}"), "another-invocation")
        .await
        .unwrap();
    let handled = setup.sync.sync_referral(&rid(&id), now).await.unwrap();
    assert!(
        matches!(handled, Handled::Synced { created: true, .. }),
        "{handled:?}"
    );
}

#[tokio::test]
async fn a_link_stored_before_the_closed_flag_keeps_its_closed_record_closed() {
    let setup = setup().await;
    let opportunity = seed_opportunity(
        &setup,
        json!({"name": "Fabrikam upgrade", "statuscode": 3, "statecode": 1}),
    );
    let id = seed_referral(&setup.sim, referral("Incoming", None)).await;
    // As the code before the flag stored it: no `closed`, the hash's `won:` tag says it.
    let link: cosell_store::Link = serde_json::from_value(json!({
        "referral_id": id,
        "crm_kind": "opportunity",
        "crm_id": opportunity.to_string(),
        "inbound_hash": "won:0000000000000000000000000000000000000000000000000000000000000000",
        "outbound_hash": null,
        "referral_etag": null,
        "crm_etag": null,
        "last_outcome": null,
        "version": 0
    }))
    .unwrap();
    setup.store.put_link(&link).await.unwrap();

    let handled = setup
        .sync
        .sync_referral(&rid(&id), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        matches!(&handled, Handled::AlreadyClosed { crm_id, .. } if *crm_id == opportunity),
        "{handled:?}"
    );
}
