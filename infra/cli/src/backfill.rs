//! `cosell backfill`: the first-time sync of everything already open — every open referral into
//! Dynamics 365, every opportunity marked "Sync with Partner Center" into Partner Center —
//! through the same use cases as the functions.
//!
//! - Resumable: a referral equal to what its link last synced, or an opportunity whose deal both
//!   sides agreed on, costs one store read and no write, so a second run (or one after a crash)
//!   skips what the first did.
//! - In bulk: referrals are synced in groups whose Dataverse queries and change sets travel as a
//!   few `$batch` requests ([`cosell_sync::bulk`]), a few groups at once, paced by what Dataverse
//!   answers (its `429` codes, `x-ms-dop-hint`) and within `--rate` requests per second (default
//!   15; Dataverse allows 6,000 per 5 minutes per user, 20 per second). Opportunities go one at a
//!   time at that rate.
//! - `--mapped` also writes what a changed mapping maps on referrals already synced: each linked
//!   referral is synced with every mapped column the link never agreed on counted as empty, so
//!   only records whose mapped values differ are written, in bulk too.
//! - `--waiting` is the pass over the referrals Microsoft sent that wait for an answer: each
//!   linked one without a task gets its task and its reminder (the reconcile job does this once
//!   by itself after an upgrade); one not in the CRM yet is synced, its create adds the task.
//! - Failures are parked as retry items by the use cases (and shown on the record), as in
//!   production; the run goes on and exits 1 at the end. A store failure stops it: run it again.

use std::process::ExitCode;

use anyhow::Context as _;
use cosell_dataverse::{Filter, Query};
use cosell_mapping::{CrmRow, Opportunity};
use cosell_partner_center::Listed;
use cosell_store::ReferralId;
use cosell_sync::{Bulk, Handled, Synced};
use cosell_transport::RateLimit;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::output::{self, Format, Report};
use crate::wiring::{self, Wired};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only Partner Center referrals → Dynamics 365.
    #[arg(long, conflicts_with = "opportunities_only")]
    referrals_only: bool,
    /// Only opportunities → Partner Center.
    #[arg(long)]
    opportunities_only: bool,
    /// Also write the mapped fields of referrals already synced where the mapping changed or added
    /// them (a column the link never agreed on, or whose value moved); the rest costs no
    /// Dataverse request. Referrals only.
    #[arg(long, conflicts_with = "opportunities_only")]
    mapped: bool,
    /// Only the referrals waiting for an answer: each gets its respond-by task and reminder.
    #[arg(long, conflicts_with_all = ["opportunities_only", "mapped"])]
    waiting: bool,
    /// Dataverse requests per second at most.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=20))]
    rate: u32,
}

#[derive(Debug, Default, Serialize)]
pub struct Referrals {
    pub listed: usize,
    pub in_sync: usize,
    pub synced: usize,
    pub parked: usize,
    /// Listed entries without a readable id: nothing could be parked for them.
    pub unreadable: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Opportunities {
    pub listed: usize,
    pub in_sync: usize,
    pub created: usize,
    pub updated: usize,
    pub invalid: usize,
    pub parked: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Waiting {
    pub listed: usize,
    pub tasks: usize,
    pub synced: usize,
    pub failed: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Backfill {
    pub referrals: Option<Referrals>,
    pub opportunities: Option<Opportunities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

impl Report for Backfill {
    fn human(&self) -> String {
        let mut out = String::new();
        if let Some(r) = &self.referrals {
            out += &format!(
                "referrals      {} open: {} synced, {} already in sync, {} parked\n",
                r.listed, r.synced, r.in_sync, r.parked
            );
            if r.unreadable > 0 {
                out += &format!(
                    "  ✖ {} listed without a readable id: skipped (the log has each one's problem)\n",
                    r.unreadable
                );
            }
        }
        if let Some(o) = &self.opportunities {
            out += &format!(
                "opportunities  {} marked for sync: {} created, {} updated, {} already in sync, {} invalid, {} parked\n",
                o.listed, o.created, o.updated, o.in_sync, o.invalid, o.parked
            );
        }
        if let Some(w) = &self.waiting {
            out += &format!(
                "waiting        {} waiting for an answer: {} task(s) created, {} synced, {} failed\n",
                w.listed,
                w.tasks,
                w.synced,
                w.failed.len()
            );
            for failed in &w.failed {
                out += &format!("  ✖ {failed}\n");
            }
        }
        if !self.ok() {
            out += "Some were not synced: `cosell status` lists them with the reason.\n";
        }
        out
    }

    fn ok(&self) -> bool {
        self.waiting.as_ref().is_none_or(|w| w.failed.is_empty())
            && self
                .referrals
                .as_ref()
                .is_none_or(|r| r.parked == 0 && r.unreadable == 0)
            && self
                .opportunities
                .as_ref()
                .is_none_or(|o| o.parked == 0 && o.invalid == 0)
    }
}

/// A bar on stderr for people; hidden with `--json`.
fn bar(format: Format, length: usize, what: &'static str) -> ProgressBar {
    if format == Format::Json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what);
    bar
}

/// What became of one listed referral.
enum Seen {
    /// Listed without a readable id: nothing could be parked for it.
    Unreadable,
    InSync,
    Synced,
    Parked,
}

async fn referrals(wired: &Wired, format: Format, mapped: bool) -> anyhow::Result<Referrals> {
    let listed = wired
        .partner_center
        .open_referrals()
        .await
        .context("listing the open referrals in Partner Center")?;
    let mut counts = Referrals {
        listed: listed.len(),
        ..Referrals::default()
    };
    let bar = bar(format, listed.len(), "referrals");
    let bulk = Bulk::new();
    let sync = |index: usize| referral(wired, &listed[index], mapped);
    let seen = bulk
        .run(listed.len(), sync, |_, seen| {
            match seen {
                Ok(Seen::Unreadable) => counts.unreadable += 1,
                Ok(Seen::InSync) => counts.in_sync += 1,
                Ok(Seen::Synced) => counts.synced += 1,
                Ok(Seen::Parked) => counts.parked += 1,
                Err(_) => {}
            }
            bar.set_message(format!(
                "{} synced, {} parked",
                counts.synced, counts.parked
            ));
            bar.inc(1);
        })
        .await;
    bar.finish();
    // A store failure stops the run (said once): running it again resumes.
    seen.into_iter()
        .find_map(Result::err)
        .map_or(Ok(counts), Err)
}

/// One listed referral brought up to date (with `mapped`, a linked one's mapped fields
/// written).
async fn referral(wired: &Wired, entry: &Listed, mapped: bool) -> anyhow::Result<Seen> {
    let now = OffsetDateTime::now_utc();
    let Some(id) = entry.id().and_then(|id| ReferralId::new(id).ok()) else {
        // Nothing can be parked under no key (or one no request can carry): counted, and said.
        return Ok(Seen::Unreadable);
    };
    let resume = || format!("referral {id} (run it again to resume)");
    let readable = matches!(entry, Listed::Readable(_));
    let linked = mapped && readable && wired.jobs.store.link_by_referral(&id).await?.is_some();
    let handled = if linked {
        let inbound = &wired.jobs.inbound;
        let handled = inbound.resync_mapped(&id, now).await.with_context(resume)?;
        (!matches!(handled, Handled::Unchanged { .. })).then_some(handled)
    } else {
        let reconciler = &wired.jobs.reconciler;
        let handled = reconciler.bring_up_to_date(entry, now).await;
        handled.with_context(resume)?
    };
    Ok(match handled {
        None => Seen::InSync,
        Some(Handled::Parked { .. }) => Seen::Parked,
        Some(_) => Seen::Synced,
    })
}

async fn opportunities(wired: &Wired, format: Format) -> anyhow::Result<Opportunities> {
    let sync_column = wired.jobs.outbound.config().columns.sync.clone();
    let query = Query::new()
        .select([Opportunity::KEY])
        .filter(Filter::eq(sync_column, true));
    let rows = wired
        .dataverse
        .query_all(Opportunity::ENTITY_SET, &query)
        .await
        .context("listing the opportunities marked for sync in Dataverse")?;
    let ids: Vec<_> = rows
        .iter()
        .filter_map(|row| row.id(Opportunity::KEY))
        .collect();
    let mut counts = Opportunities {
        listed: ids.len(),
        ..Opportunities::default()
    };
    let bar = bar(format, ids.len(), "opportunities");
    for id in ids {
        let now = OffsetDateTime::now_utc();
        let synced = wired
            .jobs
            .outbound
            .sync_opportunity(id.0, now)
            .await
            .with_context(|| format!("opportunity {} (run it again to resume)", id.0))?;
        match synced {
            Synced::Created { .. } => counts.created += 1,
            Synced::Updated { .. } => counts.updated += 1,
            Synced::Invalid { .. } => counts.invalid += 1,
            Synced::Parked { .. } | Synced::Waiting { .. } => counts.parked += 1,
            Synced::Unchanged | Synced::Missing | Synced::NotShared => counts.in_sync += 1,
        }
        bar.set_message(format!(
            "{} created, {} updated, {} parked",
            counts.created, counts.updated, counts.parked
        ));
        bar.inc(1);
    }
    bar.finish();
    Ok(counts)
}

pub fn main(ctx: &Context, args: Args) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?;
        let rate = RateLimit {
            per_second: args.rate,
            burst: args.rate,
        };
        let wired = wiring::wire(&config, Some(rate)).await?;
        let mut report = Backfill::default();
        if args.waiting {
            let done = wired
                .jobs
                .reconciler
                .waiting(OffsetDateTime::now_utc())
                .await?;
            report.waiting = Some(Waiting {
                listed: done.listed,
                tasks: done.tasks.len(),
                synced: done.synced.len(),
                failed: done.failed,
            });
            return anyhow::Ok(report);
        }
        if !args.opportunities_only {
            report.referrals = Some(referrals(&wired, ctx.format, args.mapped).await?);
        }
        if !args.referrals_only {
            report.opportunities = Some(opportunities(&wired, ctx.format).await?);
        }
        anyhow::Ok(report)
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "backfill", &error),
    }
}
