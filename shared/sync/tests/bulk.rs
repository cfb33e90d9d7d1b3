//! The bulk path against the simulators over real sockets: grouped, the sync writes the rows and
//! links one by one writes, in a handful of `$batch` requests; one referral's change set failing
//! leaves the others written and that one parked; Dataverse's execution-time limit slows it
//! down and loses nothing.

use std::sync::Arc;
use std::time::Duration;

use cosell_mapping::CrmConfig;
use cosell_partner_center::{Listed, PartnerCenter, Stamp};
use cosell_sim::Sim;
use cosell_sim::dataverse::LimitConfig;
use cosell_store::{RetryState, SqliteStore, SyncStore};
use cosell_sync::bulk::pace::EXECUTION_TIME;
use cosell_sync::{Bulk, Handled, InboundSettings, InboundSync, ReconcileSettings, Reconciler};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use cosell_testkit::referrals::{cosell_referral, marketplace_lead};
use cosell_testkit::{crm, microsoft, rid, sim};

struct Side {
    sim: Sim,
    store: Arc<SqliteStore>,
    partner_center: PartnerCenter,
    reconciler: Reconciler,
}

async fn side() -> Side {
    let sim = sim::start().await;
    crm::seed_currencies(&sim);
    let (dataverse, partner_center) = sim::clients(&sim, sim::http(4));
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let inbound = Arc::new(InboundSync::new(
        store.clone(),
        Arc::new(partner_center.clone()),
        Arc::new(dataverse),
        CrmConfig::default(),
        InboundSettings::default(),
    ));
    let reconciler = Reconciler::new(
        store.clone(),
        inbound,
        Arc::new(partner_center.clone()),
        ReconcileSettings::default(),
    );
    Side {
        sim,
        store,
        partner_center,
        reconciler,
    }
}

/// The referrals both sides get, with the same ids: new co-sell referrals (two of one customer,
/// so the second finds the first's account), one already won, a marketplace lead, and one whose
/// customer's account the CRM already has.
fn referrals() -> Vec<Value> {
    let mut all: Vec<Value> = (0..12)
        .map(|n| {
            let customer = format!("Customer {} Ltd", n % 11);
            let postal = format!("{:05}", 10_000 + n % 11);
            cosell_referral(&customer, &postal, &format!("buyer{n}@customer.example"))
        })
        .collect();
    let mut won = cosell_referral("Won Ltd", "20000", "won@won.example");
    won["status"] = "Closed".into();
    won["substatus"] = "Won".into();
    all.push(won);
    all.push(marketplace_lead());
    all.push(cosell_referral(
        "Contoso Ltd",
        "98052",
        "ana@contoso.example",
    ));
    for (n, referral) in all.iter_mut().enumerate() {
        referral["id"] = format!("b0000000-0000-4000-8000-{n:012}").into();
        referral["direction"] = "Incoming".into();
    }
    all
}

async fn seed(side: &Side) {
    side.sim
        .state
        .dv
        .seed(
            "accounts",
            object(json!({"accountid": "a0000000-0000-4000-8000-000000000001", "name": "Contoso Ltd", "address1_postalcode": "98052"})),
        )
        .unwrap();
    for referral in referrals() {
        microsoft::seed_referral(&side.sim, referral).await;
    }
}

/// Every referral Partner Center lists as changed since the epoch.
async fn listed(side: &Side) -> Vec<Listed> {
    let mut changes = side
        .partner_center
        .changes(Stamp::Updated, OffsetDateTime::UNIX_EPOCH, None);
    let mut all = Vec::new();
    while let Some(page) = changes.next_page().await.unwrap() {
        all.extend(page);
    }
    all
}

/// A side seeded and listed, its simulator keeping 1 s of server time per 3 s: a group of 10
/// new referrals (10 reads, 40 writes) spends it.
async fn tight() -> (Side, Vec<Listed>) {
    let side = side().await;
    seed(&side).await;
    side.sim.state.dv.set_limits(LimitConfig {
        window_secs: 3,
        max_execution_secs: Some(1),
        ..LimitConfig::default()
    });
    let entries = listed(&side).await;
    (side, entries)
}

async fn one_by_one(side: &Side, entries: &[Listed]) -> Vec<Option<Handled>> {
    let mut handled = Vec::new();
    for entry in entries {
        let now = OffsetDateTime::now_utc();
        handled.push(side.reconciler.bring_up_to_date(entry, now).await.unwrap());
    }
    handled
}

async fn in_bulk(side: &Side, entries: &[Listed]) -> (Vec<Option<Handled>>, Bulk) {
    in_bulk_within(side, entries, Bulk::new()).await
}

async fn in_bulk_within(
    side: &Side,
    entries: &[Listed],
    bulk: Bulk,
) -> (Vec<Option<Handled>>, Bulk) {
    let handled = bulk
        .run(
            entries.len(),
            |index| async move {
                let now = OffsetDateTime::now_utc();
                side.reconciler
                    .bring_up_to_date(&entries[index], now)
                    .await
                    .unwrap()
            },
            |_, _| {},
        )
        .await;
    (handled, bulk)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn outcome(handled: &Option<Handled>) -> String {
    match handled {
        None => "in sync".into(),
        Some(Handled::Synced { created, kind, .. }) => format!("synced {kind:?} created={created}"),
        Some(other) => format!("{other:?}"),
    }
}

#[tokio::test]
async fn grouped_the_sync_writes_the_rows_and_links_one_by_one_writes() {
    let (alone, grouped) = (side().await, side().await);
    seed(&alone).await;
    seed(&grouped).await;
    let entries = listed(&alone).await;
    assert_eq!(entries.len(), referrals().len());
    let before = sim::requests(&grouped.sim, "dataverse");

    let one = one_by_one(&alone, &entries).await;
    let (bulk, run) = in_bulk(&grouped, &listed(&grouped).await).await;

    let outcomes: Vec<String> = one.iter().map(outcome).collect();
    assert_eq!(outcomes, bulk.iter().map(outcome).collect::<Vec<_>>());
    assert!(
        outcomes.iter().all(|o| o.starts_with("synced")),
        "{outcomes:?}"
    );
    for set in ["accounts", "contacts", "opportunities", "leads", "tasks"] {
        let (a, b) = (
            crm::rows_as_written(&alone.sim, set),
            crm::rows_as_written(&grouped.sim, set),
        );
        assert_eq!(a.len(), b.len(), "{set}");
        for ((id, a), (_, b)) in a.iter().zip(&b) {
            let differ: Vec<_> = a
                .iter()
                .filter(|(name, value)| b.get(*name) != Some(value))
                .map(|(name, value)| format!("{name}: {value} / {:?}", b.get(name)))
                .collect();
            assert!(
                differ.is_empty() && a.len() == b.len(),
                "{set} {id}: {differ:?}"
            );
        }
    }
    assert!(!crm::rows_as_written(&grouped.sim, "opportunities").is_empty());
    for referral in referrals() {
        let id = rid(referral["id"].as_str().unwrap());
        let (a, b) = (
            alone
                .store
                .link_by_referral(&id)
                .await
                .unwrap()
                .expect("linked"),
            grouped
                .store
                .link_by_referral(&id)
                .await
                .unwrap()
                .expect("linked"),
        );
        // Not `inbound_hash`: it hashes the referral as read, the times Partner Center stamped
        // when each side's copy was seeded included.
        assert_eq!(
            (a.crm_kind, a.crm_id, &a.outbound_hash, &a.deal, a.closed),
            (b.crm_kind, b.crm_id, &b.outbound_hash, &b.deal, b.closed),
            "{id}"
        );
        assert!(
            alone
                .store
                .retry(&format!("inbound:{id}"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            grouped
                .store
                .retry(&format!("inbound:{id}"))
                .await
                .unwrap()
                .is_none()
        );
    }
    // 15 referrals in groups of 10 and 5: each group's match queries (and the first lookups of
    // currencies and owners) in one batch, its change sets in one or two (a close cannot be
    // sent twice, so it goes alone), where one by one sends 2 requests a new referral.
    let report = run.report();
    assert_eq!(report.groups, 2, "{report:?}");
    let grouped_requests = sim::requests(&grouped.sim, "dataverse") - before;
    assert!(
        grouped_requests <= 8,
        "{grouped_requests} Dataverse requests for {} referrals: {report:?}",
        entries.len()
    );
    assert!(sim::requests(&alone.sim, "dataverse") >= 2 * entries.len() as u64);
}

#[tokio::test]
async fn one_referral_s_change_set_failing_leaves_the_others_written_and_it_parked() {
    let side = side().await;
    seed(&side).await;
    let entries = listed(&side).await;
    in_bulk(&side, &entries).await;
    let ids: Vec<String> = (0..3)
        .map(|n| referrals()[n]["id"].as_str().unwrap().to_owned())
        .collect();
    // A seller deletes one's opportunity; Microsoft then changes all three.
    let gone = side
        .store
        .link_by_referral(&rid(&ids[1]))
        .await
        .unwrap()
        .unwrap()
        .crm_id
        .uuid();
    assert!(side.sim.state.dv.delete("opportunities", gone));
    for id in &ids {
        microsoft::edit_referral(&side.sim, id, json!({"details": {"dealValue": 777}})).await;
    }
    let changed: Vec<Listed> = listed(&side)
        .await
        .into_iter()
        .filter(|e| e.id().is_some_and(|id| ids.iter().any(|i| i == id)))
        .collect();
    assert_eq!(changed.len(), 3);
    let batches = sim::event(&side.sim, "dataverse POST $batch");
    let patched = sim::event(&side.sim, "dataverse batch PATCH opportunities(key)");

    let (handled, _) = in_bulk(&side, &changed).await;

    let patches = "dataverse batch PATCH opportunities(key)";
    assert_eq!(
        (
            sim::event(&side.sim, "dataverse POST $batch") - batches,
            sim::event(&side.sim, patches) - patched
        ),
        (2, 4),
        "the three change sets in one batch, then the failed one's ✖ (best effort: its record is gone)"
    );
    for (entry, handled) in changed.iter().zip(&handled) {
        let id = entry.id().unwrap();
        let retry = side.store.retry(&format!("inbound:{id}")).await.unwrap();
        if id == ids[1] {
            assert!(
                matches!(
                    handled,
                    Some(Handled::Parked {
                        permanent: false,
                        ..
                    })
                ),
                "{handled:?}"
            );
            assert_eq!(retry.map(|r| r.state), Some(RetryState::Pending));
            assert!(side.sim.state.dv.row("opportunities", gone).is_none());
        } else {
            assert!(
                matches!(handled, Some(Handled::Synced { .. })),
                "{handled:?}"
            );
            assert!(retry.is_none());
            let link = side
                .store
                .link_by_referral(&rid(id))
                .await
                .unwrap()
                .unwrap();
            let row = side
                .sim
                .state
                .dv
                .row("opportunities", link.crm_id.uuid())
                .unwrap();
            assert_eq!(row["estimatedvalue"].as_f64(), Some(777.0), "{row:?}");
        }
    }
}

#[tokio::test]
async fn the_execution_time_limit_slows_the_groups_and_loses_nothing() {
    let (side, entries) = tight().await;
    let (handled, bulk) = in_bulk(&side, &entries).await;
    let report = bulk.report();
    assert!(
        report.throttled.get(EXECUTION_TIME).is_some_and(|n| *n > 0),
        "{report:?}"
    );
    assert!(
        sim::event(&side.sim, "dataverse throttled 0x80072321") > 0,
        "the simulator refused on execution time"
    );
    assert_eq!(report.lanes, 1, "{report:?}");
    assert!(report.size <= 10, "halved from where it grew: {report:?}");
    assert!(
        handled
            .iter()
            .all(|h| matches!(h, Some(Handled::Synced { .. }))),
        "{handled:?}"
    );
}

#[tokio::test]
async fn within_the_same_allowance_a_run_paces_itself_and_meets_no_429() {
    let (side, entries) = tight().await;
    // The limit the simulator keeps, known to the run: it spends it at a third of a second a
    // second once the first second is spent, instead of running into it.
    let within = Bulk::within(Duration::from_secs(1), Duration::from_secs(3));
    let (handled, bulk) = in_bulk_within(&side, &entries, within).await;
    assert_eq!(
        sim::event(&side.sim, "dataverse throttled"),
        0,
        "{:?}",
        bulk.report()
    );
    assert!(
        handled
            .iter()
            .all(|h| matches!(h, Some(Handled::Synced { .. }))),
        "{handled:?}"
    );
}
