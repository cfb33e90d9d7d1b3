//! Change tracking: baseline, delta links with updates and deletes, expiry.

use std::collections::HashSet;

use cosell_dataverse::{DataverseClient, DataverseError, Id, Key, Precondition};
use serde_json::json;

use cosell_testkit::{object, sim};

async fn start_with_page_size(size: u32) -> (cosell_sim::Sim, DataverseClient) {
    let sim = cosell_sim::Sim::start(cosell_sim::SimConfig::default())
        .await
        .unwrap();
    let mut config = sim::dataverse_config(&sim, sim::http(5));
    config.change_page_size = Some(size);
    let client = DataverseClient::new(config).unwrap();
    (sim, client)
}

#[tokio::test]
async fn a_delta_link_returns_updates_creates_and_deletes() {
    let (sim, client) = start_with_page_size(2).await;
    let ids: Vec<Id> = (0..5)
        .map(|n| {
            Id(sim
                .state
                .dv
                .seed("opportunities", object(json!({"name": format!("O{n}")})))
                .unwrap())
        })
        .collect();

    let baseline = client
        .track_changes("opportunities", &["name", "statecode"])
        .await
        .expect("baseline");
    assert_eq!(
        baseline.records.len(),
        5,
        "every row, over three pages of two"
    );
    assert!(sim::event(&sim, "dataverse GET opportunities (changes)") >= 3);
    assert!(
        baseline.delta_link.as_str().contains("$deltatoken="),
        "{}",
        baseline.delta_link.as_str()
    );

    // A seller edits one, our client creates one, someone deletes one.
    sim.state
        .dv
        .edit("opportunities", ids[1].0, object(json!({"name": "edited"})))
        .unwrap();
    let created = client
        .create("opportunities", &object(json!({"name": "new"})))
        .await
        .unwrap();
    client
        .delete("opportunities", &Key::Id(ids[3]), Precondition::None)
        .await
        .unwrap();

    let changes = client
        .changes_since(&baseline.delta_link)
        .await
        .expect("changes");
    let upserted: HashSet<Id> = changes
        .upserted
        .iter()
        .filter_map(|r| r.id("opportunityid"))
        .collect();
    assert_eq!(upserted, HashSet::from([ids[1], created]));
    assert_eq!(changes.deleted, vec![ids[3]]);
    let edited = changes
        .upserted
        .iter()
        .find(|r| r.id("opportunityid") == Some(ids[1]))
        .unwrap();
    assert_eq!(edited.get_str("name"), Some("edited"));
    assert!(edited.etag.is_some());
    assert_ne!(changes.delta_link, baseline.delta_link);

    let quiet = client
        .changes_since(&changes.delta_link)
        .await
        .expect("no changes");
    assert!(quiet.upserted.is_empty() && quiet.deleted.is_empty());
}

#[tokio::test]
async fn an_expired_delta_link_is_its_own_error_and_a_new_baseline_works() {
    let (sim, client) = start_with_page_size(50).await;
    sim.state
        .dv
        .seed("accounts", object(json!({"name": "A"})))
        .unwrap();
    let baseline = client.track_changes("accounts", &["name"]).await.unwrap();
    sim.state.dv.expire_delta_tokens();

    let error = client
        .changes_since(&baseline.delta_link)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DataverseError::DeltaLinkExpired { .. }),
        "{error}"
    );
    assert_eq!(error.code(), Some("0x80044352"));

    let fresh = client
        .track_changes("accounts", &["name"])
        .await
        .expect("new baseline");
    assert_eq!(fresh.records.len(), 1);
    sim.state
        .dv
        .seed("accounts", object(json!({"name": "B"})))
        .unwrap();
    let changes = client
        .changes_since(&fresh.delta_link)
        .await
        .expect("the new link works");
    assert_eq!(changes.upserted.len(), 1);
}

#[tokio::test]
async fn a_delta_link_older_than_the_configured_age_expires() {
    let (sim, client) = start_with_page_size(50).await;
    let baseline = client.track_changes("leads", &["subject"]).await.unwrap();
    sim.state.dv.set_delta_token_max_age_secs(0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let error = client
        .changes_since(&baseline.delta_link)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DataverseError::DeltaLinkExpired { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_table_without_change_tracking_is_refused() {
    let (_sim, client) = start_with_page_size(50).await;
    let error = client
        .track_changes("transactioncurrencies", &["isocurrencycode"])
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "{error}");
}
