//! [`SyncEvent`]: one sync `serve` did, built from the use cases' own outcomes ([`Handled`],
//! [`Synced`]). `serve` logs each; the sandbox narrates them. Outcomes that changed nothing
//! (duplicates, echoes of our own writes, rows not marked for sync) make no event.

use std::time::Duration;

use cosell_mapping::outbound::DealKind;
use cosell_store::CrmKind;
use cosell_sync::WorkKey;
use cosell_sync::activity::SyncDirection;
use cosell_sync::retry::Redone;
use cosell_sync::{Handled, Synced};
use serde::Serialize;
use uuid::Uuid;

use crate::output::{FAILED, OK, millis, short};

/// A record on either side, e.g. `opportunity 12ab…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncEvent {
    pub direction: SyncDirection,
    /// The record the change came from.
    pub source: Record,
    /// The record written, when known.
    pub target: Option<Record>,
    pub ok: bool,
    /// What happened, in a word or two: `created`, `updated`, `parked`, `invalid`…
    pub outcome: String,
    /// Why it failed (the sentence the record's Audit shows), for failures.
    pub detail: Option<String>,
    /// How long serve took: the webhook's handling, or the poll run that synced it.
    #[serde(rename = "latency_ms", serialize_with = "as_millis")]
    pub latency: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
}

impl SyncEvent {
    /// The inbound use case's outcome for `referral-*` webhooks; `None` when nothing changed.
    pub fn inbound(handled: &Handled, latency: Duration) -> Option<Self> {
        let referral = |id: &str| Record {
            kind: "referral",
            id: id.to_owned(),
        };
        match handled {
            Handled::Synced {
                referral_id,
                kind,
                crm_id,
                created,
                ..
            } => Some(Self {
                direction: SyncDirection::Inbound,
                source: referral(referral_id),
                target: Some(Record {
                    kind: match kind {
                        CrmKind::Opportunity => "opportunity",
                        CrmKind::Lead => "lead",
                    },
                    id: crm_id.to_string(),
                }),
                ok: true,
                outcome: if *created { "created" } else { "updated" }.into(),
                detail: None,
                latency,
            }),
            Handled::Parked {
                referral_id,
                message,
                permanent,
                ..
            } => Some(Self {
                direction: SyncDirection::Inbound,
                source: referral(referral_id),
                target: None,
                ok: false,
                outcome: parked(*permanent),
                detail: Some(message.clone()),
                latency,
            }),
            Handled::Duplicate
            | Handled::InFlight { .. }
            | Handled::Ignored { .. }
            | Handled::Unchanged { .. }
            | Handled::AlreadyClosed { .. } => None,
        }
    }

    /// The outbound use case's outcome for one opportunity; `None` when nothing changed.
    pub fn outbound(opportunity: Uuid, synced: &Synced, latency: Duration) -> Option<Self> {
        let event = |target: Option<&str>, ok: bool, outcome: String, detail: Option<&str>| Self {
            direction: SyncDirection::Outbound,
            source: Record {
                kind: "opportunity",
                id: opportunity.to_string(),
            },
            target: target.map(|id| Record {
                kind: "referral",
                id: id.to_owned(),
            }),
            ok,
            outcome,
            detail: detail.map(str::to_owned),
            latency,
        };
        match synced {
            Synced::Created {
                referral_id, kind, ..
            } => {
                let kind = match kind {
                    DealKind::Private => "private",
                    DealKind::PartnerLed => "partner-led",
                    DealKind::CoSell => "co-sell",
                };
                Some(event(
                    Some(referral_id),
                    true,
                    format!("created ({kind})"),
                    None,
                ))
            }
            Synced::Updated {
                referral_id,
                changes,
                refused,
                ..
            } => {
                let mut outcome = format!("updated ({changes} field{})", plural(*changes));
                if *refused > 0 {
                    outcome = format!("{outcome}, {refused} refused");
                }
                Some(event(Some(referral_id), true, outcome, None))
            }
            Synced::Invalid { message } => {
                Some(event(None, false, "invalid".into(), Some(message)))
            }
            Synced::Parked {
                message, permanent, ..
            } => Some(event(None, false, parked(*permanent), Some(message))),
            Synced::Missing | Synced::NotShared | Synced::Unchanged | Synced::Waiting { .. } => {
                None
            }
        }
    }

    /// A retry item redone (by the schedule or a replay); `None` when nothing changed.
    pub fn redone(item_id: &str, redone: &Redone, latency: Duration) -> Option<Self> {
        match (WorkKey::parse(item_id), redone) {
            (_, Redone::Inbound(handled)) => Self::inbound(handled, latency),
            (Some(WorkKey::Outbound(opportunity_id)), Redone::Outbound(synced)) => {
                Self::outbound(opportunity_id, synced, latency)
            }
            _ => None,
        }
    }

    /// `✔ inbound  referral 7f3c… → opportunity 12ab…  created  (43 ms)`.
    pub fn line(&self) -> String {
        let mark = if self.ok { OK } else { FAILED };
        let direction = match self.direction {
            SyncDirection::Inbound => "inbound ",
            SyncDirection::Outbound => "outbound",
        };
        let target = match &self.target {
            Some(target) => format!(" → {} {}", target.kind, short(&target.id)),
            None => String::new(),
        };
        let detail = match &self.detail {
            Some(detail) => format!(" — {detail}"),
            None => String::new(),
        };
        format!(
            "{mark} {direction} {} {}{target}  {}  ({}){detail}",
            self.source.kind,
            short(&self.source.id),
            self.outcome,
            millis(self.latency),
        )
    }
}

fn parked(permanent: bool) -> String {
    if permanent {
        "failed, kept for replay".into()
    } else {
        "failed, will retry".into()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbound_create_reads_as_one_line() {
        let crm_id = Uuid::parse_str("12ab34cd-0000-4000-8000-000000000000").unwrap();
        let handled = Handled::Synced {
            referral_id: "7f3c9d2e-1111-4111-8111-111111111111".parse().unwrap(),
            kind: CrmKind::Opportunity,
            crm_id,
            created: true,
            message: "Created".into(),
        };
        let event = SyncEvent::inbound(&handled, Duration::from_millis(43)).unwrap();
        assert_eq!(
            event.line(),
            "✔ inbound  referral 7f3c9d2e… → opportunity 12ab34cd…  created  (43 ms)"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["direction"], "inbound");
        assert_eq!(json["latency_ms"], 43);
        assert!(SyncEvent::inbound(&Handled::Duplicate, Duration::ZERO).is_none());
    }

    #[test]
    fn outbound_failures_carry_their_reason() {
        let id = Uuid::nil();
        let synced = Synced::Invalid {
            message: "Solution ID is required".into(),
        };
        let line = SyncEvent::outbound(id, &synced, Duration::from_millis(5))
            .unwrap()
            .line();
        assert!(
            line.starts_with("✖ outbound opportunity 00000000…  invalid"),
            "{line}"
        );
        assert!(line.ends_with("— Solution ID is required"), "{line}");
        assert!(SyncEvent::outbound(id, &Synced::Unchanged, Duration::ZERO).is_none());
    }
}
