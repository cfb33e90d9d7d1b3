//! Who owns a new opportunity or lead: the first seller the referral names (`team`, by email)
//! who is an enabled Dynamics 365 user, else the mapping's default owner, else the application
//! user. Users are asked for by email once per process (one `systemusers` query each, cached
//! whatever the answer), so a warm process spends no request on it.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// Users by email, per process.
#[derive(Default)]
pub struct Owners(Mutex<HashMap<String, Option<User>>>);

impl Owners {
    /// The owner of the referral's new record (see the module docs).
    pub async fn choose(
        &self,
        crm: &dyn Crm,
        referral: &Referral,
        default: Option<Uuid>,
    ) -> Result<Owner, DataverseError> {
        let mut passed = Vec::new();
        for email in seller_emails(referral) {
            match self.user(crm, &email).await? {
                Some(User {
                    id,
                    disabled: false,
                }) => {
                    return Ok(Owner {
                        user: Some(id),
                        why: format!("owner {email}, the seller the referral names"),
                    });
                }
                Some(User { disabled: true, .. }) => passed.push(format!("{email} is disabled")),
                None => passed.push(format!("{email} matches no user")),
            }
        }
        let reason = match passed.is_empty() {
            true => "the referral names no seller".to_owned(),
            false => passed.join(", "),
        };
        Ok(match default {
            Some(user) => Owner {
                user: Some(user),
                why: format!("owner the mapping's default owner {user} ({reason})"),
            },
            None => Owner {
                user: None,
                why: format!("owner the application user ({reason})"),
            },
        })
    }

    async fn user(&self, crm: &dyn Crm, email: &str) -> Result<Option<User>, DataverseError> {
        if let Some(known) = self.0.lock().expect("owner cache").get(email) {
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
            .insert(email.to_owned(), user);
        Ok(user)
    }
}
