//! The status machine against contract `partner-center.md` §5, move by move.

use cosell_mapping::status::{self, MoveRule, State};
use cosell_mapping::{Status, Substatus, check_move};

fn state(status: Status, substatus: Substatus) -> State {
    (status, substatus)
}

/// Every state the contract defines.
fn valid_states() -> Vec<State> {
    use Status::*;
    vec![
        state(New, Substatus::Pending),
        state(New, Substatus::Received),
        state(Active, Substatus::Accepted),
        state(Closed, Substatus::Won),
        state(Closed, Substatus::Lost),
        state(Closed, Substatus::Declined),
        state(Closed, Substatus::Expired),
    ]
}

/// The legal targets from each valid state, written out from the contract's table.
fn legal_targets(from: &State) -> Vec<State> {
    let states = valid_states();
    match from.0 {
        // New may move to New, Active or Closed: every valid state.
        Status::New => states,
        // Active may move to Active or Closed.
        Status::Active => states.into_iter().filter(|s| s.0 != Status::New).collect(),
        // Closed is terminal: only itself.
        _ => vec![from.clone()],
    }
}

#[test]
fn every_move_matches_the_contract_table() {
    let mut checked = 0;
    for from in valid_states() {
        let legal = legal_targets(&from);
        for status in Status::KNOWN {
            for substatus in Substatus::KNOWN {
                let to = state(status.clone(), substatus.clone());
                let result = check_move(from.clone(), to.clone());
                assert_eq!(
                    result.is_ok(),
                    legal.contains(&to),
                    "{from:?} -> {to:?}: {result:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 7 * 4 * 8);
}

#[test]
fn named_targets_are_the_contract_states() {
    assert_eq!(status::accept(), state(Status::Active, Substatus::Accepted));
    assert_eq!(
        status::decline(),
        state(Status::Closed, Substatus::Declined)
    );
    assert_eq!(status::won(), state(Status::Closed, Substatus::Won));
    assert_eq!(status::lost(), state(Status::Closed, Substatus::Lost));
    assert_eq!(status::expired(), state(Status::Closed, Substatus::Expired));

    let pending = state(Status::New, Substatus::Pending);
    for target in [
        status::accept(),
        status::decline(),
        status::won(),
        status::lost(),
    ] {
        assert!(check_move(pending.clone(), target).is_ok());
    }
    assert!(check_move(status::accept(), status::won()).is_ok());
    assert!(check_move(status::accept(), status::decline()).is_ok());
}

#[test]
fn a_closed_referral_is_final() {
    let error = check_move(status::won(), status::accept()).unwrap_err();
    assert_eq!(error.rule, MoveRule::ClosedIsFinal);
    assert_eq!(
        error.to_string(),
        "cannot move a referral from Closed/Won to Active/Accepted: a closed referral is final"
    );
    let error = check_move(status::won(), status::lost()).unwrap_err();
    assert_eq!(error.rule, MoveRule::ClosedIsFinal);
    assert!(check_move(status::won(), status::won()).is_ok());
}

#[test]
fn the_target_substatus_must_fit_its_status() {
    let error = check_move(
        state(Status::New, Substatus::Pending),
        state(Status::Active, Substatus::Won),
    )
    .unwrap_err();
    assert_eq!(error.rule, MoveRule::SubstatusNotAllowed);
    assert_eq!(
        error.to_string(),
        "cannot move a referral from New/Pending to Active/Won: Active allows only substatus Accepted"
    );
    let error =
        check_move(status::accept(), state(Status::Closed, Substatus::Accepted)).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("Closed allows only substatus Won, Lost, Declined, Expired"),
        "{error}"
    );
}

#[test]
fn active_never_goes_back_to_new() {
    let error = check_move(status::accept(), state(Status::New, Substatus::Pending)).unwrap_err();
    assert_eq!(error.rule, MoveRule::NoWayBack);
    assert_eq!(
        error.to_string(),
        "cannot move a referral from Active/Accepted to New/Pending: Active never moves back to New"
    );
}

#[test]
fn none_and_unknown_statuses() {
    // A draft (status None) may enter the machine anywhere valid.
    let draft = state(Status::None, Substatus::None);
    assert!(check_move(draft.clone(), state(Status::New, Substatus::Pending)).is_ok());
    assert!(check_move(draft.clone(), status::accept()).is_ok());
    // But nothing moves to None.
    let error = check_move(state(Status::New, Substatus::Pending), draft).unwrap_err();
    assert_eq!(error.rule, MoveRule::NotATarget);
    // An odd current substatus does not block a legal move.
    assert!(check_move(state(Status::New, Substatus::None), status::accept()).is_ok());
    // An unknown current status allows nothing.
    let error = check_move(
        state(Status::Other("Archived".into()), Substatus::None),
        status::won(),
    )
    .unwrap_err();
    assert_eq!(error.rule, MoveRule::UnknownCurrentStatus);
    assert!(error.to_string().contains("Archived"), "{error}");
}

#[test]
fn allowed_substatuses_follow_the_table() {
    assert_eq!(
        status::allowed_substatuses(&Status::New),
        [Substatus::Pending, Substatus::Received]
    );
    assert_eq!(
        status::allowed_substatuses(&Status::Active),
        [Substatus::Accepted]
    );
    assert_eq!(
        status::allowed_substatuses(&Status::Closed),
        [
            Substatus::Won,
            Substatus::Lost,
            Substatus::Declined,
            Substatus::Expired
        ]
    );
    assert!(status::allowed_substatuses(&Status::None).is_empty());
}
