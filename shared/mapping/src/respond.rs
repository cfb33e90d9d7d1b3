//! Respond-by: an incoming referral nobody answers closes as Expired at `expirationDateTime`, so a
//! waiting referral gets a Dataverse task for its owner, due some days before, that closes when
//! the referral is answered. The rules, without I/O: which referral waits, when its task is due,
//! what the task row holds and how an answer closes it.
//!
//! The task's columns and its regarding binding are taken from Microsoft's Task table reference
//! (Dynamics 365 `task` entity): `subject`, `description`, `scheduledend` (Due), the lookups
//! `ownerid` and `regardingobjectid` — bound through the navigation properties
//! `regardingobjectid_opportunity_task` (relationship Opportunity_Tasks) and
//! `regardingobjectid_lead_task` (Lead_Tasks) — and `statecode`/`statuscode` (Open 0 with
//! Not Started 2; Completed 1 with 5; Canceled 2 with 6).

use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crm::ids::record_id;
use crate::enums::{Direction, Status, Substatus};
use crate::referral::Referral;

/// The task table's entity set.
pub const TASKS: &str = "tasks";

/// The users table's entity set, for owners.
pub const USERS: &str = "systemusers";

/// How the respond-by rules are set (`COSELL_RESPOND_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespondConfig {
    /// Whether a waiting referral gets a task (`COSELL_RESPOND_TASKS`, on by default).
    pub tasks: bool,
    /// The task is due this many days before the referral expires, and the "expiring" alert
    /// goes out then (`COSELL_RESPOND_DAYS_BEFORE`, 3).
    pub days_before: u32,
    /// The opportunity column holding the expiry (`COSELL_COLUMN_EXPIRES`); without it the
    /// expiry is in the top Audit line only.
    pub expiry_column: Option<String>,
}

impl Default for RespondConfig {
    fn default() -> Self {
        Self {
            tasks: true,
            days_before: 3,
            expiry_column: None,
        }
    }
}

impl RespondConfig {
    /// When the task is due and the reminder goes out: `days_before` before `expires`.
    pub fn due(&self, expires: OffsetDateTime) -> OffsetDateTime {
        expires - Duration::days(i64::from(self.days_before))
    }
}

/// When a referral sent to us and still unanswered (status New) expires; `None` for any other.
pub fn waiting(referral: &Referral) -> Option<OffsetDateTime> {
    let incoming = referral.direction.as_ref() == Some(&Direction::Incoming);
    let new = referral.status.as_ref() == Some(&Status::New);
    referral.expiration_date_time.filter(|_| incoming && new)
}

/// How a referral sent to us was answered; `None` while it waits (or for one we sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Accepted (Active, or closed Won or Lost after being worked): the task is completed.
    Accepted,
    /// Declined by the partner: the task is cancelled.
    Declined,
    /// Nobody answered in time: the task is cancelled.
    Expired,
}

impl Answer {
    pub fn of(referral: &Referral) -> Option<Self> {
        if referral.direction.as_ref() != Some(&Direction::Incoming) {
            return None;
        }
        let (status, substatus) = referral.state();
        match (status, substatus) {
            (Status::New, _) => None,
            (Status::Closed, Substatus::Declined) => Some(Self::Declined),
            (Status::Closed, Substatus::Expired) => Some(Self::Expired),
            (Status::Active | Status::Closed, _) => Some(Self::Accepted),
            _ => None,
        }
    }

    /// The task's `statecode` and `statuscode` once the referral is answered so.
    pub fn task_state(self) -> (i64, i64) {
        match self {
            Self::Accepted => (1, 5),                 // Completed, Completed
            Self::Declined | Self::Expired => (2, 6), // Canceled, Canceled
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
        }
    }
}

/// The task a waiting referral gets: one per referral, at an id derived from it, so a retry or
/// a duplicate delivery writes the same row and never a second one.
pub fn task_id(referral_id: &str) -> Uuid {
    record_id(TASKS, referral_id)
}

/// What the task is about: the opportunity or the lead the referral became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regarding {
    Opportunity(Uuid),
    Lead(Uuid),
}

impl Regarding {
    /// The task's navigation property to the record, and the record's address.
    pub fn bind(self) -> (&'static str, String) {
        match self {
            // Microsoft's Task reference: relationship Opportunity_Tasks.
            Self::Opportunity(id) => (
                "regardingobjectid_opportunity_task@odata.bind",
                format!("/opportunities({id})"),
            ),
            // Relationship Lead_Tasks.
            Self::Lead(id) => (
                "regardingobjectid_lead_task@odata.bind",
                format!("/leads({id})"),
            ),
        }
    }
}

/// The new task's row: due `days_before` the expiry, owned by `owner` (the application user
/// when `None`), regarding the record.
pub fn task_row(
    referral_id: &str,
    deal_name: &str,
    expires: OffsetDateTime,
    regarding: Regarding,
    owner: Option<Uuid>,
    config: &RespondConfig,
) -> Map<String, Value> {
    let date = expires.date();
    let (navigation, target) = regarding.bind();
    let mut row = Map::new();
    row.insert(
        "subject".into(),
        json!(format!(
            "Answer Microsoft's referral '{deal_name}' by {date}"
        )),
    );
    row.insert(
        "description".into(),
        json!(format!(
            "Microsoft's co-sell referral {referral_id} expires {} and then closes as Expired. \
             Accept or decline it before then.",
            crate::timestamp::format(expires)
        )),
    );
    row.insert(
        "scheduledend".into(),
        json!(crate::timestamp::format(config.due(expires))),
    );
    row.insert(navigation.into(), json!(target));
    if let Some(owner) = owner {
        row.insert("ownerid@odata.bind".into(), json!(owner_bind(owner)));
    }
    row
}

/// The row that closes the task for `answer`.
pub fn closing_row(answer: Answer) -> Map<String, Value> {
    let (state, status) = answer.task_state();
    let mut row = Map::new();
    row.insert("statecode".into(), json!(state));
    row.insert("statuscode".into(), json!(status));
    row
}

/// `ownerid@odata.bind`'s value for a user.
pub fn owner_bind(user: Uuid) -> String {
    format!("/{USERS}({user})")
}

/// The Audit words for the expiry: "answer by 2026-12-14 (expires 2026-12-17T09:00:00Z)".
pub fn answer_by(expires: OffsetDateTime, config: &RespondConfig) -> String {
    format!(
        "answer by {} (expires {})",
        config.due(expires).date(),
        crate::timestamp::format(expires)
    )
}

/// The partner's sellers the referral names (`team`), by email, in order: who should own it.
pub fn seller_emails(referral: &Referral) -> Vec<String> {
    let mut emails: Vec<String> = Vec::new();
    for member in &referral.team {
        if let Some(email) = member.email.as_deref().map(str::trim)
            && email.contains('@')
            && !emails.iter().any(|e| e.eq_ignore_ascii_case(email))
        {
            emails.push(email.to_ascii_lowercase());
        }
    }
    emails
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn referral(direction: &str, status: &str, substatus: &str) -> Referral {
        serde_json::from_value(json!({
            "id": "r-1", "direction": direction, "status": status, "substatus": substatus,
            "expirationDateTime": "2026-12-17T09:00:00Z",
            "team": [{"email": " Jane@Partner.example "}, {"email": "jane@partner.example"},
                     {"email": "not-an-email"}, {"email": "bob@partner.example"}]
        }))
        .expect("a referral")
    }

    #[test]
    fn only_an_incoming_referral_still_new_waits() {
        let expires = datetime!(2026-12-17 09:00 UTC);
        assert_eq!(
            waiting(&referral("Incoming", "New", "Pending")),
            Some(expires)
        );
        assert_eq!(waiting(&referral("Outgoing", "New", "Pending")), None);
        assert_eq!(waiting(&referral("Incoming", "Active", "Accepted")), None);
    }

    #[test]
    fn an_answer_completes_or_cancels_the_task() {
        let of = |s, sub| Answer::of(&referral("Incoming", s, sub));
        assert_eq!(of("New", "Received"), None);
        assert_eq!(of("Active", "Accepted"), Some(Answer::Accepted));
        assert_eq!(of("Closed", "Declined"), Some(Answer::Declined));
        assert_eq!(of("Closed", "Expired"), Some(Answer::Expired));
        assert_eq!(of("Closed", "Won"), Some(Answer::Accepted));
        assert_eq!(
            Answer::of(&referral("Outgoing", "Active", "Accepted")),
            None
        );
        assert_eq!(Answer::Accepted.task_state(), (1, 5));
        assert_eq!(Answer::Expired.task_state(), (2, 6));
    }

    #[test]
    fn the_task_is_due_days_before_expiry_and_regards_the_record() {
        let config = RespondConfig::default();
        let record = Uuid::from_u128(7);
        let owner = Uuid::from_u128(9);
        let expires = datetime!(2026-12-17 09:00 UTC);
        let row = task_row(
            "r-1",
            "Contoso",
            expires,
            Regarding::Lead(record),
            Some(owner),
            &config,
        );
        assert_eq!(row["scheduledend"], "2026-12-14T09:00:00Z");
        assert_eq!(
            row["regardingobjectid_lead_task@odata.bind"],
            format!("/leads({record})")
        );
        assert_eq!(row["ownerid@odata.bind"], format!("/systemusers({owner})"));
        assert!(row["subject"].as_str().unwrap().contains("by 2026-12-17"));
        let row = task_row(
            "r-1",
            "C",
            expires,
            Regarding::Opportunity(record),
            None,
            &config,
        );
        assert!(row.contains_key("regardingobjectid_opportunity_task@odata.bind"));
        assert!(!row.contains_key("ownerid@odata.bind"));
        assert_eq!(task_id("r-1"), task_id("r-1"));
        assert_ne!(task_id("r-1"), task_id("r-2"));
    }

    #[test]
    fn sellers_are_the_teams_distinct_emails_in_order() {
        let emails = seller_emails(&referral("Incoming", "New", "Pending"));
        assert_eq!(emails, ["jane@partner.example", "bob@partner.example"]);
    }
}
