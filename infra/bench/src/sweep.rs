//! The reconciliation sweep's cost under each reading of Partner Center's list API: N referrals
//! Microsoft last changed two days ago (a second apart, stored oldest first), a first sweep that
//! sets the watermark, then c of them edited by Microsoft — spread over the whole listing — and
//! the measured sweep that finds them. The simulator plays each reading: the range filter taken
//! (the `updated_range` knob), the published one (range refused, `$orderby=updatedDateTime` honoured),
//! and the order ignored or refused (`updated_order`). No webhook is registered, so the sweep
//! is the only way the edits arrive.

use anyhow::Context as _;
use cosell_partner_center::Reading;
use cosell_sim::partner_center::{Honour, PcConfig};
use cosell_sync::Handled;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::counts::Counts;
use crate::seed;
use crate::stack::{Options, Stack};

/// What the simulated Partner Center honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// `updatedDateTime gt …` taken.
    RangeTaken,
    /// As published: the range refused, newest first honoured.
    Published,
    OrderIgnored,
    OrderRefused,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::RangeTaken,
        Service::Published,
        Service::OrderIgnored,
        Service::OrderRefused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Service::RangeTaken => "range filter taken",
            Service::Published => "as published (range refused, order honoured)",
            Service::OrderIgnored => "range refused, order ignored",
            Service::OrderRefused => "range and order refused",
        }
    }

    fn config(self) -> PcConfig {
        let order = |updated_order| PcConfig {
            updated_order,
            ..PcConfig::default()
        };
        match self {
            Service::RangeTaken => PcConfig {
                updated_range: Honour::Honoured,
                ..PcConfig::default()
            },
            Service::Published => order(Honour::Honoured),
            Service::OrderIgnored => order(Honour::Ignored),
            Service::OrderRefused => order(Honour::Refused),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub service: Service,
    pub referrals: usize,
    pub changed: usize,
    /// The reading the measured sweep used (the first sweep paid for finding it).
    pub reading: Option<Reading>,
    pub pages: usize,
    /// Partner Center requests of the measured sweep: its pages and one read per referral synced.
    pub partner_center_requests: f64,
    pub synced: usize,
    pub wall_secs: f64,
    /// The first sweep's Partner Center requests (refusals included).
    pub first_sweep_requests: f64,
}

pub async fn run(service: Service, referrals: usize, changed: usize) -> anyhow::Result<Outcome> {
    let stack = Stack::start(Options {
        partner_center: Some(service.config()),
        ..Options::default()
    })
    .await?;
    seed::currency(&stack)?;
    seed::seller(&stack)?;
    let ids = seed::referrals(&stack, 0, referrals)?;
    let long_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    {
        let mut store = stack.sim.state.pc.store.lock().expect("store lock");
        for (i, id) in ids.iter().enumerate() {
            let mut referral = store.get(id).context("a seeded referral")?.clone();
            let at = long_ago + time::Duration::seconds(i as i64);
            referral["updatedDateTime"] = json!(cosell_mapping::timestamp::format(at));
            store.replace(referral);
        }
    }
    let reconciler = &stack.services.jobs.reconciler;
    let before = Counts::now(&stack);
    reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .context("the first sweep")?;
    let first_sweep_requests = Counts::now(&stack).minus(&before).partner_center;

    let step = (referrals / changed.max(1)).max(1);
    for id in ids.iter().step_by(step).take(changed) {
        let url = format!(
            "{}/_admin/partner-center/referrals/{id}",
            stack.sim.base_url
        );
        let edit = json!({"details": {"notes": "Microsoft's seller moved the deadline."}});
        let response = stack.client.patch(url).json(&edit).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "editing {id}: {}",
            response.status()
        );
    }

    let before = Counts::now(&stack);
    let started = Instant::now();
    let report = reconciler
        .sweep(OffsetDateTime::now_utc())
        .await
        .context("the measured sweep")?;
    let wall = started.elapsed();
    let requests = Counts::now(&stack).minus(&before);
    let synced = report
        .synced
        .iter()
        .filter(|(_, handled)| matches!(handled, Handled::Synced { .. }))
        .count();
    anyhow::ensure!(
        synced == changed,
        "the sweep synced {synced} of the {changed} referrals Microsoft edited ({report:?})"
    );
    Ok(Outcome {
        service,
        referrals,
        changed,
        reading: report.reading,
        pages: report.pages,
        partner_center_requests: requests.partner_center,
        synced,
        wall_secs: wall.as_secs_f64(),
        first_sweep_requests,
    })
}
