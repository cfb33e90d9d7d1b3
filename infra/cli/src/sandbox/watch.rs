//! What the sandbox shows beside the syncs: the tasks respond-by creates and closes in the
//! simulated Dynamics 365, and the alerts posted to the simulated Teams webhook (the
//! simulator's sink) — read from the simulators, as a person would look.

use std::collections::HashMap;

use cosell_sim::SimState;
use serde_json::{Map, Value};

/// What was shown so far.
#[derive(Default)]
pub struct Watch {
    /// Task id → the state last shown.
    tasks: HashMap<String, i64>,
    /// Posts to the Teams sink shown.
    alerts: usize,
}

impl Watch {
    /// A line for each task created or closed, and each alert posted, since the last call.
    pub fn lines(&mut self, state: &SimState) -> Vec<String> {
        let mut lines = Vec::new();
        for task in state.dv.rows("tasks") {
            let id = text(&task, "activityid").to_owned();
            let now = task.get("statecode").and_then(Value::as_i64).unwrap_or(0);
            let before = self.tasks.insert(id, now);
            let subject = text(&task, "subject");
            match (before, now) {
                (None, _) => {
                    let due = text(&task, "scheduledend");
                    let due = due.split('T').next().unwrap_or(due);
                    let owner = owner(state, &task);
                    lines.push(format!(
                        "  ☐ task created for {owner}: \"{subject}\", due {due}"
                    ));
                }
                (Some(was), 1) if was != 1 => {
                    lines.push(format!("  ☑ task completed: \"{subject}\""))
                }
                (Some(was), 2) if was != 2 => {
                    lines.push(format!("  ☒ task cancelled: \"{subject}\""))
                }
                _ => {}
            }
        }
        let posted = state.sink.posted("teams");
        for post in posted.iter().skip(self.alerts) {
            for headline in headlines(post) {
                lines.push(format!("  ⚑ alert → Teams: {headline}"));
            }
        }
        self.alerts = posted.len();
        lines
    }
}

fn text<'a>(row: &'a Map<String, Value>, column: &str) -> &'a str {
    row.get(column).and_then(Value::as_str).unwrap_or("")
}

/// The owner's email, or the application user when the task has no owner of its own.
fn owner(state: &SimState, task: &Map<String, Value>) -> String {
    let user = task
        .get("_ownerid_value")
        .and_then(Value::as_str)
        .and_then(|id| uuid::Uuid::try_parse(id).ok())
        .and_then(|id| state.dv.row("systemusers", id));
    match user {
        Some(user) => text(&user, "internalemailaddress").to_owned(),
        None => "the application user".to_owned(),
    }
}

/// The first line of each alert in a Teams Adaptive Card message.
fn headlines(post: &Value) -> Vec<String> {
    let body = &post["attachments"][0]["content"]["body"];
    body.as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|block| block["items"][0]["text"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
