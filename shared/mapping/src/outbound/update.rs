//! [`plan_update`]: the JSON Patch that carries the seller's changes to an existing referral.

use serde_json::{Map, Value};

use super::create::{check_closing, check_deal_value, midnight_utc};
use super::{InvalidOpportunity, OpportunityProblem, OutboundInput, Refusal, UpdatePlan};
use crate::config::CrmConfig;
use crate::crm::OpportunityStatusReason;
use crate::deal::{DealState, DealStatus};
use crate::enums::Status;
use crate::patch::{PatchOp, PatchOpKind};
use crate::referral::Referral;
use crate::status::{self, State, check_move};

/// What to send so Partner Center reflects the seller's change: the fields where the CRM's
/// [`DealState`] differs from `last_agreed` (`None` → the current referral's own state), applied
/// on top of `current` (Microsoft's referral now). A 412 re-reads `current` and calls this again:
/// the seller's fields win, Microsoft's other changes are kept. See the [module docs](super).
pub fn plan_update(
    input: &OutboundInput,
    current: &Referral,
    last_agreed: Option<&DealState>,
    cfg: &CrmConfig,
) -> Result<UpdatePlan, InvalidOpportunity> {
    let crm = input.deal();
    let now = DealState::from_referral(current);
    let base = last_agreed.map_or_else(|| now.clone(), DealState::normalised);
    let mut deal = now.clone();
    let mut ops = Ops::new(current);
    let mut refusals = Vec::new();
    let mut problems = Vec::new();
    let changed = crm.changed_from(&base);

    if changed.name {
        match &crm.name {
            Some(name) => {
                let sent = current.name.as_deref().map(str::trim);
                if sent != Some(name.as_str()) {
                    ops.set(None, "name", Value::String(name.clone()));
                }
                deal.name = Some(name.clone());
            }
            None => problems.push(OpportunityProblem::NoName),
        }
    }
    if changed.deal_value {
        check_deal_value(&crm, cfg, &mut problems);
        if crm.deal_value != now.deal_value {
            let value = crm.deal_value.map_or(Value::Null, crate::decimal::to_value);
            ops.set(Some("details"), "dealValue", value);
        }
        deal.deal_value = crm.deal_value;
    }
    if changed.currency {
        let valid = crm
            .currency
            .as_deref()
            .filter(|c| c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()));
        match valid {
            Some(code) => {
                if crm.currency != now.currency {
                    ops.set(Some("details"), "currency", Value::String(code.to_owned()));
                }
                deal.currency = crm.currency.clone();
            }
            None => problems.push(OpportunityProblem::NoCurrency {
                value: crm.currency.clone(),
            }),
        }
    }
    if changed.close_date {
        if crm.close_date != now.close_date {
            let value = crm.close_date.map_or(Value::Null, |date| {
                Value::String(crate::timestamp::format(midnight_utc(date)))
            });
            ops.set(Some("details"), "closingDateTime", value);
        }
        deal.close_date = crm.close_date;
    }
    if changed.notes {
        if crm.notes != now.notes {
            let value = crm.notes.clone().map_or(Value::Null, Value::String);
            ops.set(Some("details"), "notes", value);
        }
        deal.notes = crm.notes.clone();
    }
    if changed.visible {
        if crm.visible {
            if !now.visible {
                ops.set(
                    Some("consent"),
                    "consentToShareReferralWithMicrosoftSellers",
                    Value::Bool(true),
                );
            }
            deal.visible = true;
        } else if now.visible {
            // Sharing is one-way: Partner Center keeps it, and so does the agreed state.
            refusals.push(Refusal::Unshare);
        } else {
            deal.visible = false;
        }
    }
    if changed.status
        && let Some(wanted) = crm.status
    {
        check_closing(&crm, cfg, &mut problems);
        let from = current.state();
        match target(wanted, input.opportunity.status_reason, &from) {
            // Already where the seller wants it.
            None => deal.status = Some(wanted),
            Some(to) => match check_move(from, to.clone()) {
                Ok(()) => {
                    ops.set(None, "status", Value::String(to.0.to_string()));
                    ops.set(None, "substatus", Value::String(to.1.to_string()));
                    deal.status = Some(wanted);
                }
                Err(illegal) => refusals.push(Refusal::IllegalMove(illegal)),
            },
        }
    }

    // Mapped fields that go out: those whose column the seller changed since the agreed deal
    // (a column never agreed on counts as agreed, as inbound reads it).
    let moved = crm.mapped_changed(Some(&base), false);
    let current_json = serde_json::to_value(current).unwrap_or_default();
    let sent = super::mapped::values(
        cfg,
        &crm.mapped,
        |c| moved.iter().any(|m| m == c),
        &mut problems,
    );
    for (field, value) in sent {
        let held = current_json
            .pointer(&field.referral)
            .cloned()
            .unwrap_or_default();
        if held != value {
            ops.set_member(field.member(), value);
        }
        let column = field.column.clone();
        deal.mapped
            .insert(column.clone(), crm.mapped[&column].clone());
    }

    if !problems.is_empty() {
        return Err(InvalidOpportunity {
            opportunity_id: input.opportunity.id,
            problems,
        });
    }
    Ok(UpdatePlan {
        changes: ops.finish(),
        refusals,
        deal,
    })
}

/// The referral state a deal status asks for, or `None` when `from` already is it.
fn target(
    wanted: DealStatus,
    reason: Option<OpportunityStatusReason>,
    from: &State,
) -> Option<State> {
    let to = match wanted {
        // On hold means "not accepted yet": a New referral already is; from anywhere else the
        // move back to New is what the status machine will refuse.
        DealStatus::OnHold if from.0 == Status::New => return None,
        DealStatus::OnHold => (Status::New, crate::enums::Substatus::Pending),
        DealStatus::InProgress => status::accept(),
        DealStatus::Won => status::won(),
        DealStatus::Lost if reason == Some(OpportunityStatusReason::Canceled) => status::decline(),
        DealStatus::Lost => status::lost(),
    };
    (to != *from).then_some(to)
}

/// Collects the operations, grouping the fields of a parent object the current referral lacks
/// into one `add` of that object.
struct Ops<'a> {
    current: &'a Referral,
    /// `current` as JSON: which members exist (a `replace` of a missing one is refused).
    json: Value,
    changes: Vec<PatchOp>,
    /// `(parent, fields)` for parents missing from `current`, in first-use order.
    missing: Vec<(&'static str, Map<String, Value>)>,
}

impl<'a> Ops<'a> {
    fn new(current: &'a Referral) -> Self {
        Self {
            current,
            json: serde_json::to_value(current).unwrap_or(Value::Null),
            changes: Vec::new(),
            missing: Vec::new(),
        }
    }

    fn has(&self, parent: &str) -> bool {
        match parent {
            "details" => self.current.details.is_some(),
            "consent" => self.current.consent.is_some(),
            _ => true,
        }
    }

    fn set(&mut self, parent: Option<&'static str>, field: &str, value: Value) {
        match parent {
            None => self
                .changes
                .push(PatchOp::replace(format!("/{field}"), value)),
            // RFC 6902: `replace` needs the member to exist; `add` sets a member that does not.
            Some(parent) if self.has(parent) => self.changes.push(PatchOp {
                op: if self.json[parent].get(field).is_some_and(|v| !v.is_null()) {
                    PatchOpKind::Replace
                } else {
                    PatchOpKind::Add
                },
                path: format!("/{parent}/{field}"),
                value,
            }),
            Some(parent) => {
                let index = match self.missing.iter().position(|(p, _)| *p == parent) {
                    Some(index) => index,
                    None => {
                        self.missing.push((parent, Map::new()));
                        self.missing.len() - 1
                    }
                };
                self.missing[index].1.insert(field.to_owned(), value);
            }
        }
    }

    /// A top-level member: `replace` when the referral holds it, `add` when it does not.
    fn set_member(&mut self, member: &str, value: Value) {
        let held = self.json.get(member).is_some_and(|v| !v.is_null());
        self.changes.push(PatchOp {
            op: if held {
                PatchOpKind::Replace
            } else {
                PatchOpKind::Add
            },
            path: format!("/{member}"),
            value,
        });
    }

    fn finish(mut self) -> Vec<PatchOp> {
        for (parent, fields) in self.missing {
            self.changes
                .push(PatchOp::add(format!("/{parent}"), Value::Object(fields)));
        }
        self.changes
    }
}
