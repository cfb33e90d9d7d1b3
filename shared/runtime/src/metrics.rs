//! CloudWatch metrics as Embedded Metric Format lines: one JSON object on stdout per set of
//! metrics sharing dimensions, which CloudWatch Logs turns into metrics — no API call, no
//! permission, no latency on the request path. The alarms in `template.yaml` read them.
//!
//! | metric | unit | dimensions | emitted by |
//! |---|---|---|---|
//! | `Syncs` | Count | `Direction`, `Outcome` | every function, per record synced (or not) |
//! | `SyncLatency` | Milliseconds | `Direction` | every function, per record written |
//! | `RetriesQueued`, `RetriesDead` | Count | `Direction` | when work is parked / goes dead |
//! | `DeadRetries` | Count | — | retry-scheduler, each run: dead items waiting for `cosell replay` |
//! | `Throttled` | Count | `Service` | every function: 429s answered to this process |
//! | `WebhookReceived`, `WebhookRejected` | Count | — | webhook-ingress, per delivery |
//! | `WebhookAge`, `CursorAge` | Seconds | — / `Cursor` | retry-scheduler, each run |

use std::time::Duration;

use cosell_sync::alerts::deliver::Delivered;
use cosell_sync::respond::Reminded;
use cosell_sync::retry::Redone;
use cosell_sync::{Handled, Synced};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// The CloudWatch namespace of every cosell metric.
pub const NAMESPACE: &str = "cosell";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// Metrics that share one set of dimensions: one EMF line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSet {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, value as f64, Unit::Count));
        self
    }

    pub fn millis(mut self, name: &'static str, value: Duration) -> Self {
        self.metrics
            .push((name, value.as_secs_f64() * 1000.0, Unit::Milliseconds));
        self
    }

    pub fn seconds(mut self, name: &'static str, value: f64) -> Self {
        self.metrics.push((name, value, Unit::Seconds));
        self
    }

    /// The value of metric `name`, if in this set.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, _)| *v)
    }

    /// The value of dimension `name`, if set.
    pub fn dimension_value(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The EMF document (specification: `_aws.CloudWatchMetrics` directives, values at the top
    /// level beside the dimension values).
    pub fn to_emf(&self, at: OffsetDateTime) -> Value {
        let mut root = Map::new();
        let names: Vec<&str> = self.dimensions.iter().map(|(n, _)| *n).collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": (at.unix_timestamp_nanos() / 1_000_000) as i64,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [names],
                    "Metrics": metrics,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root)
    }
}

/// Where a process's metrics go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Metrics {
    /// EMF lines on stdout: CloudWatch Logs turns them into metrics (Lambda).
    #[default]
    Emf,
    /// Nowhere: stdout is a person's (`cosell serve`, the bench).
    Off,
}

impl Metrics {
    /// Writes `sets`, with the 429s answered since the last call ([`throttled`]).
    pub fn emit(self, mut sets: Vec<MetricSet>) {
        if self == Metrics::Emf {
            sets.extend(throttled());
            emit(&sets);
        }
    }
}

/// Writes each non-empty set as one EMF line on stdout (CloudWatch Logs in Lambda).
pub fn emit(sets: &[MetricSet]) {
    let at = OffsetDateTime::now_utc();
    for set in sets.iter().filter(|s| !s.metrics.is_empty()) {
        println!("{}", set.to_emf(at));
    }
}

/// The 429s this process was answered since the last call, as `Throttled` per service.
pub fn throttled() -> Vec<MetricSet> {
    cosell_transport::throttled::take()
        .into_iter()
        .map(|(service, n)| {
            MetricSet::new()
                .dimension("Service", service)
                .count("Throttled", n)
        })
        .collect()
}

/// What an inbound sync did, as metrics; `latency` when the sync was timed (`SyncLatency` is
/// reported only for a sync that wrote).
pub fn inbound(handled: &Handled, latency: Option<Duration>) -> Vec<MetricSet> {
    let outcome = match handled {
        Handled::Duplicate => "duplicate",
        Handled::InFlight { .. } => "in_flight",
        Handled::Ignored { .. } => "ignored",
        Handled::Unchanged { .. } => "unchanged",
        Handled::AlreadyClosed { .. } => "closed",
        Handled::Synced { .. } => "synced",
        Handled::Parked {
            permanent: false, ..
        } => "parked",
        Handled::Parked {
            permanent: true, ..
        } => "dead",
    };
    sync("inbound", outcome, latency)
}

/// What an outbound sync did, as metrics; `latency` as for [`inbound`].
pub fn outbound(synced: &Synced, latency: Option<Duration>) -> Vec<MetricSet> {
    let outcome = match synced {
        Synced::Missing => "missing",
        Synced::NotShared => "not_shared",
        Synced::Unchanged => "unchanged",
        Synced::Waiting { .. } => "waiting",
        Synced::Created { .. } => "created",
        Synced::Updated { .. } => "updated",
        Synced::Invalid { .. } => "invalid",
        Synced::Parked {
            permanent: false, ..
        } => "parked",
        Synced::Parked {
            permanent: true, ..
        } => "dead",
    };
    sync("outbound", outcome, latency)
}

/// A retry item redone, as the metrics of the sync it was.
pub fn redone(redone: &Redone, latency: Option<Duration>) -> Vec<MetricSet> {
    match redone {
        Redone::Inbound(handled) => inbound(handled, latency),
        Redone::Outbound(synced) => outbound(synced, latency),
        Redone::Respond(reminded) => {
            let outcome = match reminded {
                Reminded::Waiting { reminded: true } => "reminded",
                Reminded::Waiting { reminded: false } => "waiting",
                Reminded::Closed { .. } => "closed",
                Reminded::Gone => "gone",
                Reminded::Parked {
                    permanent: false, ..
                } => "parked",
                Reminded::Parked {
                    permanent: true, ..
                } => "dead",
            };
            sync("respond", outcome, None)
        }
        Redone::Alert(delivered) => {
            let outcome = match delivered {
                Delivered::Sent => "sent",
                Delivered::Later => "later",
                Delivered::Parked {
                    permanent: false, ..
                } => "parked",
                Delivered::Parked {
                    permanent: true, ..
                } => "dead",
            };
            sync("alert", outcome, None)
        }
        Redone::Unknown => sync("unknown", "left", latency),
    }
}

fn sync(
    direction: &'static str,
    outcome: &'static str,
    latency: Option<Duration>,
) -> Vec<MetricSet> {
    let mut sets = vec![
        MetricSet::new()
            .dimension("Direction", direction)
            .dimension("Outcome", outcome)
            .count("Syncs", 1),
    ];
    let wrote = matches!(outcome, "synced" | "created" | "updated");
    if let Some(latency) = latency.filter(|_| wrote) {
        sets.push(
            MetricSet::new()
                .dimension("Direction", direction)
                .millis("SyncLatency", latency),
        );
    }
    match outcome {
        "parked" => sets.push(
            MetricSet::new()
                .dimension("Direction", direction)
                .count("RetriesQueued", 1),
        ),
        "dead" | "invalid" => sets.push(
            MetricSet::new()
                .dimension("Direction", direction)
                .count("RetriesDead", 1),
        ),
        _ => {}
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_one_emf_document() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let set = MetricSet::new()
            .dimension("Direction", "inbound")
            .dimension("Outcome", "synced")
            .count("Syncs", 1)
            .millis("SyncLatency", Duration::from_millis(42));
        let emf = set.to_emf(at);
        assert_eq!(emf["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "cosell");
        assert_eq!(directive["Dimensions"], json!([["Direction", "Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Syncs", "Unit": "Count"}, {"Name": "SyncLatency", "Unit": "Milliseconds"}])
        );
        assert_eq!(emf["Direction"], "inbound");
        assert_eq!(emf["Outcome"], "synced");
        assert_eq!(emf["Syncs"], 1.0);
        assert_eq!(emf["SyncLatency"], 42.0);
    }

    #[test]
    fn a_set_without_dimensions_has_one_empty_dimension_set() {
        let emf = MetricSet::new()
            .count("WebhookReceived", 1)
            .to_emf(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn outcomes_become_counts_latency_and_retry_signals() {
        let synced = inbound(
            &Handled::Synced {
                referral_id: "r".parse().unwrap(),
                kind: cosell_store::CrmKind::Opportunity,
                crm_id: uuid::Uuid::nil(),
                created: true,
                message: String::new(),
            },
            Some(Duration::from_millis(30)),
        );
        assert_eq!(synced[0].dimension_value("Outcome"), Some("synced"));
        assert_eq!(synced[0].value("Syncs"), Some(1.0));
        assert_eq!(synced[1].value("SyncLatency"), Some(30.0));

        let dead = outbound(
            &Synced::Parked {
                retry_id: "outbound:x".into(),
                message: String::new(),
                permanent: true,
            },
            None,
        );
        assert_eq!(dead[0].dimension_value("Outcome"), Some("dead"));
        assert_eq!(dead.len(), 2, "no latency for what was not written");
        assert_eq!(dead[1].value("RetriesDead"), Some(1.0));

        let parked = inbound(
            &Handled::Parked {
                referral_id: "r".parse().unwrap(),
                retry_id: "inbound:r".into(),
                message: String::new(),
                permanent: false,
            },
            None,
        );
        assert_eq!(parked[1].value("RetriesQueued"), Some(1.0));
        assert_eq!(inbound(&Handled::Duplicate, None).len(), 1);
    }
}
