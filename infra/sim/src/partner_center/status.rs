//! The status machine (contract §5), read straight from the contract's table:
//!
//! | status | may move to | substatus allowed |
//! |---|---|---|
//! | New | New, Active, Closed | Pending, Received |
//! | Active | Active, Closed | Accepted |
//! | Closed | Closed (terminal) | Won, Lost, Declined, Expired |
//!
//! Only a change of `(status, substatus)` is checked, so an update that leaves an odd seeded
//! state alone is not refused. Closed is terminal: its substatus cannot change either (a won
//! deal does not become lost). A referral without a status (a draft) may go anywhere valid.
//! Sharing with Microsoft sellers is one-way (contract §4): true never goes back to false.
//! Illegal changes get `400 invalidRequest` naming both states (the real error is undocumented).

use serde_json::Value;

use super::http::PcError;

fn allowed_substatus(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "New" => Some(&["Pending", "Received"]),
        "Active" => Some(&["Accepted"]),
        "Closed" => Some(&["Won", "Lost", "Declined", "Expired"]),
        _ => None,
    }
}

/// Where a status may go; `None` for a status the service does not know.
fn targets(from: &str) -> Option<&'static [&'static str]> {
    match from {
        "New" | "" | "None" => Some(&["New", "Active", "Closed"]),
        "Active" => Some(&["Active", "Closed"]),
        "Closed" => Some(&["Closed"]),
        _ => None,
    }
}

fn state(referral: &Value) -> (&str, &str) {
    let text = |key| referral.get(key).and_then(Value::as_str).unwrap_or("");
    (text("status"), text("substatus"))
}

/// Checks the state a new referral starts in.
pub fn check_initial(referral: &Value) -> Result<(), PcError> {
    check_target(state(referral))
}

/// Checks that `before` may become `after`.
pub fn check_change(before: &Value, after: &Value) -> Result<(), PcError> {
    check_sharing(before, after)?;
    let (from, to) = (state(before), state(after));
    if from == to {
        return Ok(());
    }
    let named = |e: PcError| {
        PcError::invalid(format!(
            "Invalid status transition from {}/{} to {}/{}: {}",
            from.0, from.1, to.0, to.1, e.message
        ))
    };
    check_target(to).map_err(named)?;
    if from.0 == "Closed" {
        return Err(named(PcError::invalid("a closed referral is final")));
    }
    match targets(from.0) {
        Some(targets) if targets.contains(&to.0) => Ok(()),
        Some(targets) => Err(named(PcError::invalid(format!(
            "{} may move only to {}",
            from.0,
            targets.join(", ")
        )))),
        None => Err(named(PcError::invalid(format!(
            "the current status '{}' is unknown",
            from.0
        )))),
    }
}

fn check_target((status, substatus): (&str, &str)) -> Result<(), PcError> {
    let allowed = allowed_substatus(status).ok_or_else(|| {
        PcError::invalid(format!(
            "status '{status}' is not one of New, Active, Closed"
        ))
    })?;
    if !allowed.contains(&substatus) {
        return Err(PcError::invalid(format!(
            "status {status} allows substatus {}, not '{substatus}'",
            allowed.join(", ")
        )));
    }
    Ok(())
}

fn check_sharing(before: &Value, after: &Value) -> Result<(), PcError> {
    let shared = |r: &Value| r["consent"]["consentToShareReferralWithMicrosoftSellers"] == true;
    if shared(before) && !shared(after) {
        return Err(PcError::invalid(
            "A referral shared with Microsoft sellers cannot be made private again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(status: &str, substatus: &str) -> Value {
        json!({"status": status, "substatus": substatus})
    }

    #[test]
    fn contract_moves_are_legal() {
        for (from, to) in [
            (at("New", "Pending"), at("Active", "Accepted")),
            (at("New", "Pending"), at("Closed", "Declined")),
            (at("New", "Pending"), at("New", "Received")),
            (at("Active", "Accepted"), at("Closed", "Won")),
            (at("Closed", "Won"), at("Closed", "Won")),
        ] {
            check_change(&from, &to).unwrap();
        }
    }

    #[test]
    fn illegal_moves_name_both_states() {
        let error = check_change(&at("Closed", "Won"), &at("Active", "Accepted")).unwrap_err();
        assert_eq!(error.code, "invalidRequest");
        assert!(error.message.contains("Closed/Won"), "{}", error.message);
        assert!(
            error.message.contains("Active/Accepted"),
            "{}",
            error.message
        );
        assert!(check_change(&at("Active", "Accepted"), &at("New", "Pending")).is_err());
        assert!(check_change(&at("New", "Pending"), &at("Active", "Pending")).is_err());
        let final_error = check_change(&at("Closed", "Won"), &at("Closed", "Lost")).unwrap_err();
        assert!(
            final_error.message.contains("final"),
            "{}",
            final_error.message
        );
    }

    #[test]
    fn sharing_is_one_way() {
        let shared = json!({"consent": {"consentToShareReferralWithMicrosoftSellers": true}});
        let private = json!({"consent": {"consentToShareReferralWithMicrosoftSellers": false}});
        assert!(check_change(&shared, &private).is_err());
        check_change(&private, &shared).unwrap();
    }
}
