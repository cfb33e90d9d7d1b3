//! What respond-by needs of the environment: the users an owner is picked from, the task table,
//! the mapping's default owner, and the expiry column.
//!
//! | check | passes when |
//! |---|---|
//! | users | `systemusers` reads (a referral's seller is found by `internalemailaddress`) |
//! | tasks | `tasks` reads (with `COSELL_RESPOND_TASKS` on); the line reminds of the Create, Write and Assign privileges a read cannot show |
//! | default owner | the mapping's `owner` is a user, and not disabled |
//! | expiry column | `COSELL_COLUMN_EXPIRES`, when set, exists on opportunity |

use cosell_dataverse::{DataverseClient, Key, Query};
use cosell_mapping::CrmConfig;
use cosell_mapping::config::keys;
use cosell_mapping::respond::{TASKS, USERS};

use super::{Check, table_columns};

pub async fn checks(dataverse: &DataverseClient, config: &CrmConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    let users = dataverse
        .query(USERS, &Query::new().select(["systemuserid"]).top(1))
        .await;
    checks.push(match users {
        Ok(_) => Check::pass(
            "users",
            "readable: a new referral is owned by the seller it names",
        ),
        Err(error) => Check::fail(
            "users",
            format!("systemusers not read: {error}"),
            "give the application user's security role Read on User",
        ),
    });
    if config.respond.tasks {
        let tasks = dataverse
            .query(TASKS, &Query::new().select(["activityid"]).top(1))
            .await;
        checks.push(match tasks {
            Ok(_) => Check::pass(
                "tasks",
                "readable; the role also needs Create, Write and Assign on Task, and Assign on Opportunity and Lead",
            ),
            Err(error) => Check::fail(
                "tasks",
                format!("tasks not read: {error}"),
                format!(
                    "give the application user's role Read, Create, Write and Assign on Task, or set {} to false",
                    keys::RESPOND_TASKS
                ),
            ),
        });
    }
    if let Some(owner) = config.mapping.owner {
        let read = dataverse
            .read(USERS, &Key::from(owner), &["systemuserid", "isdisabled"])
            .await;
        let disabled = |r: &cosell_dataverse::Record| {
            r.get("isdisabled").and_then(|v| v.as_bool()) == Some(true)
        };
        checks.push(match read {
            Ok(Some(user)) if !disabled(&user) => {
                Check::pass("default owner", format!("user {owner} is enabled"))
            }
            Ok(Some(_)) => Check::fail(
                "default owner",
                format!("user {owner} is disabled"),
                "name an enabled user as the mapping's owner",
            ),
            Ok(None) => Check::fail(
                "default owner",
                format!("no user {owner}"),
                "set the mapping's owner to a systemuserid of this environment",
            ),
            Err(error) => Check::fail(
                "default owner",
                format!("user {owner} not read: {error}"),
                "give the application user's role Read on User",
            ),
        });
    }
    if let Some(column) = &config.respond.expiry_column {
        let wanted = [(column.as_str(), keys::COLUMN_EXPIRES)];
        checks.push(table_columns(dataverse, "expiry column", "opportunity", &wanted).await);
    }
    checks
}
