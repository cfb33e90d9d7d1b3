//! "What changed after a time" under each reading Microsoft's material allows, against the
//! simulator playing each: the range filter refused (as published) or taken, `$orderby` on
//! `updatedDateTime` honoured, ignored or refused. Whatever the reading, a pass finds the same
//! referrals; the readings differ in pages read.

use std::collections::BTreeSet;

use cosell_partner_center::{Changes, Listed, PartnerCenter, Reading, Stamp};
use cosell_sim::partner_center::{Honour, PcConfig};
use cosell_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use cosell_testkit::{microsoft, sim};

/// 250 referrals, one a day of 2024 — created and last updated that day — stored oldest first,
/// as a listing without an order would keep them.
async fn seeded(pc: PcConfig) -> (Sim, PartnerCenter) {
    let sim = Sim::start(SimConfig {
        partner_center: pc,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut referrals = Vec::new();
    for day in 1..=250 {
        let date = time::Date::from_ordinal_date(2024, day).unwrap();
        referrals.push(json!({
            "name": format!("day {day}"),
            "createdDateTime": format!("{date}T00:00:00.0000000Z"),
            "updatedDateTime": format!("{date}T00:00:00.0000000Z"),
        }));
    }
    microsoft::seed_referral(&sim, Value::Array(referrals)).await;
    let (client, _) = sim::partner_center(&sim, "sim-refresh-token");
    (sim, client)
}

/// Requests Partner Center's referrals API answered (refusals included).
fn requests(sim: &Sim) -> u64 {
    let counted = sim.state.counters.snapshot();
    counted.services.get("partner-center").copied().unwrap_or(0)
}

fn names(listed: Vec<Listed>) -> BTreeSet<String> {
    listed
        .into_iter()
        .map(|entry| entry.readable().unwrap().name.unwrap())
        .collect()
}

fn days(range: std::ops::RangeInclusive<u16>) -> BTreeSet<String> {
    range.map(|day| format!("day {day}")).collect()
}

/// Day 245 of 2024.
const SINCE: OffsetDateTime = datetime!(2024-09-01 00:00 UTC);

/// One whole pass: what it found, the requests it took, the reading it ended on.
async fn pass(
    sim: &Sim,
    client: &PartnerCenter,
    since: OffsetDateTime,
) -> (BTreeSet<String>, u64, Reading) {
    let before = requests(sim);
    let mut changes = client.changes(Stamp::Updated, since, None);
    let mut found = Vec::new();
    while let Some(page) = changes.next_page().await.unwrap() {
        found.extend(page);
    }
    (names(found), requests(sim) - before, changes.reading())
}

#[tokio::test]
async fn the_published_reading_refuses_the_range_and_the_order_is_trusted_only_while_it_holds() {
    let (sim, client) = seeded(PcConfig::default()).await;
    assert_eq!(client.reading(Stamp::Updated), Reading::Range);

    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(found, days(246..=250));
    assert_eq!(reading, Reading::Ordered);
    assert_eq!(
        cost, 2,
        "the range refused once, then one page newest first reached back"
    );

    // Remembered: no refusal paid again; a longer look back reads three pages.
    assert_eq!(client.reading(Stamp::Updated), Reading::Ordered);
    let (found, cost, _) = pass(&sim, &client, datetime!(2024-01-10 00:00 UTC)).await;
    assert_eq!(found, days(11..=250));
    assert_eq!(cost, 3);
}

#[tokio::test]
async fn an_ignored_order_is_caught_and_every_page_is_read() {
    let pc = PcConfig {
        updated_order: Honour::Ignored,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    // Stored oldest first: the first page holds day 1 (at or before the time) but is not
    // newest first, so the pass goes on to the third page, where the changes are.
    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(found, days(246..=250));
    assert_eq!((reading, cost), (Reading::Full, 1 + 3));
    assert_eq!(client.reading(Stamp::Updated), Reading::Full);
    let (found, cost, _) = pass(&sim, &client, SINCE).await;
    assert_eq!((found, cost), (days(246..=250), 3));
}

#[tokio::test]
async fn a_refused_order_falls_back_to_every_page() {
    let pc = PcConfig {
        updated_order: Honour::Refused,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(found, days(246..=250));
    assert_eq!((reading, cost), (Reading::Full, 2 + 3));
}

#[tokio::test]
async fn a_range_filter_taken_reads_only_what_changed() {
    let pc = PcConfig {
        updated_range: Honour::Honoured,
        updated_order: Honour::Refused,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(found, days(246..=250));
    assert_eq!((reading, cost), (Reading::Range, 1));
}

#[tokio::test]
async fn an_ignored_range_is_caught_and_the_next_pass_reads_newest_first() {
    let pc = PcConfig {
        updated_range: Honour::Ignored,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    // The range is taken and dropped: the first page lists day 1, older than the time, so the
    // pass reads every page (its next links), and the process moves on to the order.
    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(found, days(246..=250));
    assert_eq!((reading, cost), (Reading::Full, 3));
    assert_eq!(client.reading(Stamp::Updated), Reading::Ordered);
    let (found, cost, reading) = pass(&sim, &client, SINCE).await;
    assert_eq!(
        (found, cost, reading),
        (days(246..=250), 1, Reading::Ordered)
    );
}

#[tokio::test]
async fn a_stopped_pass_goes_on_from_its_resume_point() {
    let pc = PcConfig {
        updated_order: Honour::Refused,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    let since = datetime!(2024-01-10 00:00 UTC);
    let mut first: Changes = client.changes(Stamp::Updated, since, None);
    let mut found = first.next_page().await.unwrap().unwrap();
    let resume = first.resume().expect("more pages follow");
    assert_eq!((resume.reading, resume.pages), (Reading::Full, 1));
    drop(first);

    let before = requests(&sim);
    let mut rest = client.changes(Stamp::Updated, since, Some(resume));
    while let Some(page) = rest.next_page().await.unwrap() {
        found.extend(page);
    }
    assert_eq!(names(found), days(11..=250));
    assert_eq!(requests(&sim) - before, 2, "only the pages not read yet");
    assert_eq!(rest.pages(), 3);
    assert!(rest.resume().is_none(), "the pass is over");
}

#[tokio::test]
async fn creations_are_found_newest_first_the_documented_order_unless_it_is_ignored() {
    let (sim, client) = seeded(PcConfig::default()).await;
    let before = requests(&sim);
    let found = client
        .changes(Stamp::Created, SINCE, None)
        .all()
        .await
        .unwrap();
    assert_eq!(names(found), days(246..=250));
    assert_eq!(requests(&sim) - before, 1);

    let pc = PcConfig {
        created_order: Honour::Ignored,
        ..PcConfig::default()
    };
    let (sim, client) = seeded(pc).await;
    let before = requests(&sim);
    let found = client
        .changes(Stamp::Created, SINCE, None)
        .all()
        .await
        .unwrap();
    assert_eq!(names(found), days(246..=250));
    assert_eq!(requests(&sim) - before, 3);
    assert_eq!(client.reading(Stamp::Created), Reading::Full);
    assert_eq!(
        client.reading(Stamp::Updated),
        Reading::Range,
        "each date's reading is its own"
    );
}
