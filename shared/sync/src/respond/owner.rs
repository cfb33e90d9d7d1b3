//! Who owns a new opportunity or lead: the first seller the referral names (`team`, by email)
//! who is an enabled Dynamics 365 user, else the mapping's default owner, else the application
//! user. Users are asked for by email (one `systemusers` query each), and the answer is kept for
//! an hour, so a warm process spends no request on it and a user added or disabled since is seen
//! within the hour. A lookup that fails (no Read on User) is not kept, and never fails the sync:
//! the fallback owns the record and Audit says why.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cosell_dataverse::{DataverseError, Filter, Query};
use cosell_mapping::Referral;
use cosell_mapping::respond::{USERS, seller_emails};
use uuid::Uuid;

use crate::ports::Crm;

const KEY: &str = "systemuserid";
const EMAIL: &str = "internalemailaddress";
const DISABLED: &str = "isdisabled";

/// A Dynamics 365 user found by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct User {
    id: Uuid,
    disabled: bool,
}

/// The owner chosen for a new record, and why, for its Audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `None`: the application user (no `ownerid` is written).
    pub user: Option<Uuid>,
    pub why: String,
}

/// How long a user found (or not) by email is trusted.
const KEEP: Duration = Duration::from_secs(3600);

/// Users by email, per process, with when each was asked for.
#[derive(Default)]
pub struct Owners(Mutex<HashMap<String, (Instant, Option<User>)>>);

impl Owners {
    /// The owner of the referral's new record (see the module docs).
    pub async fn choose(&self, crm: &dyn Crm, referral: &Referral, default: Option<Uuid>) -> Owner {
        let mut passed = Vec::new();
        for email in seller_emails(referral) {
            let user = match self.user(crm, &email).await {
                Ok(user) => user,
                Err(error) => {
                    tracing::warn!(%error, "users not read; the fallback owner is used");
                    passed.push(format!("users could not be read ({})", short(&error)));
                    break;
                }
            };
            match user {
                Some(User {
                    id,
                    disabled: false,
                }) => {
                    return Owner {
                        user: Some(id),
                        why: format!("owner {email}, the seller the referral names"),
                    };
                }
                Some(User { disabled: true, .. }) => passed.push(format!("{email} is disabled")),
                None => passed.push(format!("{email} matches no user")),
            }
        }
        let reason = match passed.is_empty() {
            true => "the referral names no seller".to_owned(),
            false => passed.join(", "),
        };
        match default {
            Some(user) => Owner {
                user: Some(user),
                why: format!("owner the mapping's default owner {user} ({reason})"),
            },
            None => Owner {
                user: None,
                why: format!("owner the application user ({reason})"),
            },
        }
    }

    async fn user(&self, crm: &dyn Crm, email: &str) -> Result<Option<User>, DataverseError> {
        if let Some((at, known)) = self.0.lock().expect("owner cache").get(email)
            && at.elapsed() < KEEP
        {
            return Ok(*known);
        }
        let query = Query::new()
            .select([KEY, DISABLED])
            .filter(Filter::eq(EMAIL, email))
            .top(2);
        let records = crm.query(USERS, &query).await?;
        // An enabled user first: an email can stay on a disabled account too.
        let users: Vec<User> = records
            .iter()
            .filter_map(|r| {
                Some(User {
                    id: r.id(KEY)?.0,
                    disabled: r.get(DISABLED).and_then(|v| v.as_bool()).unwrap_or(false),
                })
            })
            .collect();
        let user = users
            .iter()
            .find(|u| !u.disabled)
            .or(users.first())
            .copied();
        self.0
            .lock()
            .expect("owner cache")
            .insert(email.to_owned(), (Instant::now(), user));
        Ok(user)
    }
}

/// The service's words without the request's detail, for one Audit line.
fn short(error: &DataverseError) -> String {
    match error.status() {
        Some(status) => format!("HTTP {status}"),
        None => "no answer".to_owned(),
    }
}
