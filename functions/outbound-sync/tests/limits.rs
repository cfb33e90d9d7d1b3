//! Dataverse's limits over real sockets. A referral whose name and notes are longer than their
//! columns (Microsoft's published `MaxLength`: opportunity name 300, description 2,000) is
//! written cut, with Audit saying so; the cut text is the agreed deal, so a seller's edit of
//! another field sends only that field — never the cut name or notes back to Partner Center as
//! if the seller had shortened them. What the simulator refuses, the real service refuses.

use cosell_dataverse::{Key, Precondition, Row};
use serde_json::json;

use cosell_testkit::stack::Stack;

#[tokio::test]
async fn a_long_referral_is_cut_to_fit_and_the_cut_is_never_sent_back() {
    let stack = Stack::both().await;
    let long_name = format!("Fabrikam - {}", "Azure migration ".repeat(320));
    let long_notes = "Retire the warehouse. ".repeat(460);
    let mut referral = cosell_testkit::referrals::incoming_referral();
    referral["name"] = json!(long_name);
    referral["details"]["notes"] = json!(long_notes);
    (referral["status"], referral["substatus"]) = (json!("Active"), json!("Accepted"));
    // Synced inbound: cut rather than refused.
    let (id, referral_id) = stack.seed_incoming(&referral).await;
    let row = stack.opportunity(id);
    assert_eq!(row["name"].as_str().unwrap().chars().count(), 300);
    assert_eq!(row["description"].as_str().unwrap().chars().count(), 2000);
    let audit = stack.audit(id);
    assert!(
        audit.contains("opportunity.name cut from")
            && audit.contains("opportunity.description cut from"),
        "{audit}"
    );

    // The seller moves the close date: only that goes to Partner Center.
    stack.seller_edit(id, json!({"estimatedclosedate": "2026-09-30"}));
    stack.poll().await;
    let after = stack.referral(&referral_id);
    assert_eq!(
        after["name"],
        long_name.as_str(),
        "the name Microsoft wrote stands"
    );
    assert_eq!(after["details"]["notes"], long_notes.as_str());
    assert!(
        after["details"]["closingDateTime"]
            .as_str()
            .unwrap()
            .starts_with("2026-09-30"),
        "{after}"
    );
}

/// The simulator plays the service: a value its column cannot hold is a 400 in Dataverse's
/// error shape, with its code.
#[tokio::test]
async fn values_a_column_cannot_hold_are_refused_with_dataverses_error() {
    let stack = Stack::both().await;
    let id = stack.seed_deal(&cosell_testkit::crm::Deal::default());
    for (column, value, code) in [
        ("name", json!("N".repeat(301)), "0x80044331"),
        ("estimatedvalue", json!(1e13), "0x80040317"),
        ("estimatedclosedate", json!("1700-01-01"), "0x80040239"),
    ] {
        let mut row = Row::new();
        row.insert(column.into(), value);
        let error = stack
            .dataverse
            .update(
                "opportunities",
                &Key::from(id),
                &row,
                Precondition::MustExist,
            )
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(400), "{column}: {error}");
        assert_eq!(error.code(), Some(code), "{column}: {error}");
    }
    let mut fits = Row::new();
    fits.insert("name".into(), json!("N".repeat(300)));
    stack
        .dataverse
        .update(
            "opportunities",
            &Key::from(id),
            &fits,
            Precondition::MustExist,
        )
        .await
        .unwrap();
}
