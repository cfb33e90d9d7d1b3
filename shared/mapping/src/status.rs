//! The referral status machine (contract `partner-center.md` §5).
//!
//! | status | may move to | substatus allowed |
//! |---|---|---|
//! | New | New, Active, Closed | Pending, Received |
//! | Active | Active, Closed | Accepted |
//! | Closed | Closed (terminal) | Won, Lost, Declined, Expired |
//!
//! Readings this module chose where the table is silent:
//! - **Closed is final.** Closed may "move" only to itself with the same substatus: an outcome,
//!   once recorded, is never rewritten (Won → Lost is illegal; reopen by creating a new referral).
//! - **The target must be complete.** Its status must be New, Active or Closed and its substatus
//!   one the status allows.
//! - **The current state is read leniently.** Only its status decides where it may go (an odd
//!   substatus such as `New/None` does not block a move). Status `None` is a referral not yet
//!   placed in the machine (a draft), so it may move to any valid state. A status this version
//!   does not know ([`Status::Other`]) may move nowhere: we cannot say what is legal.
//!
//! Partner Center's answer to an illegal move is undocumented (the simulator answers
//! `400 invalidRequest`), so callers check here first and get a sentence they can show a seller.

use crate::enums::{Status, Substatus};

/// A referral's `(status, substatus)`.
pub type State = (Status, Substatus);

/// The state that accepts a referral: `Active/Accepted`.
pub fn accept() -> State {
    (Status::Active, Substatus::Accepted)
}

/// The state that declines a referral: `Closed/Declined`.
pub fn decline() -> State {
    (Status::Closed, Substatus::Declined)
}

/// The state of a won deal: `Closed/Won`.
pub fn won() -> State {
    (Status::Closed, Substatus::Won)
}

/// The state of a lost deal: `Closed/Lost`.
pub fn lost() -> State {
    (Status::Closed, Substatus::Lost)
}

/// Where an unanswered incoming referral ends after 14 days: `Closed/Expired`.
pub fn expired() -> State {
    (Status::Closed, Substatus::Expired)
}

const NEW_SUBSTATUSES: &[Substatus] = &[Substatus::Pending, Substatus::Received];
const ACTIVE_SUBSTATUSES: &[Substatus] = &[Substatus::Accepted];
const CLOSED_SUBSTATUSES: &[Substatus] = &[
    Substatus::Won,
    Substatus::Lost,
    Substatus::Declined,
    Substatus::Expired,
];

/// The substatuses `status` allows; empty for a status no referral can be moved to.
pub fn allowed_substatuses(status: &Status) -> &'static [Substatus] {
    match status {
        Status::New => NEW_SUBSTATUSES,
        Status::Active => ACTIVE_SUBSTATUSES,
        Status::Closed => CLOSED_SUBSTATUSES,
        Status::None | Status::Other(_) => &[],
    }
}

/// Checks that a referral in state `from` may be moved to state `to`.
pub fn check_move(from: State, to: State) -> Result<(), IllegalMove> {
    match rule_broken(&from, &to) {
        None => Ok(()),
        Some(rule) => Err(IllegalMove { from, to, rule }),
    }
}

fn rule_broken(from: &State, to: &State) -> Option<MoveRule> {
    let allowed = allowed_substatuses(&to.0);
    if allowed.is_empty() {
        return Some(MoveRule::NotATarget);
    }
    if !allowed.contains(&to.1) {
        return Some(MoveRule::SubstatusNotAllowed);
    }
    match (&from.0, &to.0) {
        (Status::None | Status::New, _) => None,
        (Status::Active, Status::Active | Status::Closed) => None,
        (Status::Closed, Status::Closed) if from.1 == to.1 => None,
        (Status::Closed, _) => Some(MoveRule::ClosedIsFinal),
        (Status::Other(_), _) => Some(MoveRule::UnknownCurrentStatus),
        _ => Some(MoveRule::NoWayBack),
    }
}

/// A move the status machine forbids, e.g. "cannot move a referral from Closed/Won to
/// Active/Accepted: a closed referral is final".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot move a referral from {}/{} to {}/{}: {}",
    .from.0, .from.1, .to.0, .to.1, self.explain()
)]
pub struct IllegalMove {
    pub from: State,
    pub to: State,
    /// Which rule the move breaks.
    pub rule: MoveRule,
}

impl IllegalMove {
    fn explain(&self) -> String {
        let (from, to) = (&self.from.0, &self.to.0);
        match self.rule {
            MoveRule::ClosedIsFinal => "a closed referral is final".into(),
            MoveRule::NoWayBack => format!("{from} never moves back to {to}"),
            MoveRule::SubstatusNotAllowed => {
                let allowed: Vec<&str> = allowed_substatuses(to)
                    .iter()
                    .map(Substatus::as_str)
                    .collect();
                format!("{to} allows only substatus {}", allowed.join(", "))
            }
            MoveRule::NotATarget => format!("{to} is not a status a referral can be moved to"),
            MoveRule::UnknownCurrentStatus => {
                format!("its current status {from} is unknown to this version")
            }
        }
    }
}

/// The rule of the status machine an [`IllegalMove`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveRule {
    /// Closed may only stay as it is.
    ClosedIsFinal,
    /// Active never goes back to New.
    NoWayBack,
    /// The target substatus is not one the target status allows.
    SubstatusNotAllowed,
    /// The target status is `None` or unknown.
    NotATarget,
    /// The current status is unknown, so nothing can be said to be legal.
    UnknownCurrentStatus,
}
