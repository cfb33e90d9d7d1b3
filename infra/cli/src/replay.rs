//! `cosell replay ID | --dead`: parked work redone now, through the same use cases, with its
//! attempts counted afresh (see `cosell_sync::retry::RetryScheduler::replay`). Exit 1 when
//! something is still parked afterwards.

use std::process::ExitCode;
use std::time::Duration;

use cosell_sync::alerts::deliver::Delivered;
use cosell_sync::respond::Reminded;
use cosell_sync::retry::Redone;
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Context;
use crate::output::{self, FAILED, OK, Report};
use crate::serve::SyncEvent;

/// Dead items replayed per `--dead` run.
const DEAD_LIMIT: usize = 1000;

#[derive(Debug, Serialize)]
pub struct Replayed {
    pub items: Vec<Item>,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub id: String,
    pub done: bool,
    pub outcome: String,
}

impl Report for Replayed {
    fn human(&self) -> String {
        if self.items.is_empty() {
            return "Nothing to replay.\n".into();
        }
        self.items
            .iter()
            .map(|i| {
                let mark = if i.done { OK } else { FAILED };
                format!("{mark} {}  {}\n", i.id, i.outcome)
            })
            .collect()
    }

    fn ok(&self) -> bool {
        self.items.iter().all(|i| i.done)
    }
}

fn item(id: String, redone: &Redone) -> Item {
    let outcome = match (SyncEvent::redone(&id, redone, Duration::ZERO), redone) {
        (Some(event), _) => match event.detail {
            Some(detail) => format!("{}: {detail}", event.outcome),
            None => event.outcome,
        },
        (None, Redone::Unknown) => {
            "not work this version knows; left pending for one that does".into()
        }
        (None, Redone::Respond(reminded)) => match reminded {
            Reminded::Waiting { reminded: true } => "still unanswered: reminder sent".into(),
            Reminded::Waiting { reminded: false } => "still unanswered: reminder pending".into(),
            Reminded::Closed { answer } => format!("referral {}: task closed", answer.describe()),
            Reminded::Gone => "nothing to remind of".into(),
            Reminded::Parked { message, .. } => format!("parked: {message}"),
        },
        (None, Redone::Alert(delivered)) => match delivered {
            Delivered::Sent => "alert posted".into(),
            Delivered::Later => "alert waits for the next post".into(),
            Delivered::Parked { message, .. } => format!("parked: {message}"),
        },
        (None, _) => "in sync; nothing to do".into(),
    };
    Item {
        done: redone.done(),
        id,
        outcome,
    }
}

pub fn main(ctx: &Context, id: Option<&str>, dead: bool) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?;
        let wired = crate::wiring::wire(&config, None).await?;
        let now = OffsetDateTime::now_utc();
        let replayed = match id {
            Some(id) if !dead => wired.jobs.retries.replay(id, now).await?,
            _ => wired.jobs.retries.replay_dead(now, DEAD_LIMIT).await?,
        };
        anyhow::Ok(Replayed {
            items: replayed
                .into_iter()
                .map(|(id, redone)| item(id, &redone))
                .collect(),
        })
    });
    match result {
        Ok(replayed) => output::print(ctx.format, &replayed),
        Err(error) => output::fail(ctx.format, "replay", &error),
    }
}
