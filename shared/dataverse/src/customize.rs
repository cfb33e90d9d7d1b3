//! What `cosell setup` writes into an environment's schema instead of a person clicking in
//! Power Apps, as "Create and update table definitions using the Web API" documents it: a table
//! definition is replaced whole by `PUT` (read it, change it, send it back with
//! `MSCRM.MergeLabels: true` so no label in another language is lost), then published with the
//! `PublishXml` action.

use cosell_transport::read_json;
use serde_json::{Value, json};

use crate::client::{DataverseClient, call};
use crate::error::DataverseError;
use crate::filter::check_column;
use crate::query::{columns, encode_params, prefer};

/// Dataverse's `PrivilegeDenied`: the caller's role lacks a privilege (or its depth).
pub const PRIVILEGE_DENIED: &str = "0x80040220";

impl DataverseError {
    /// The caller may not do this: 403, or Dataverse's privilege code under any status.
    pub fn is_privilege_denied(&self) -> bool {
        self.status() == Some(403) || self.code() == Some(PRIVILEGE_DENIED)
    }
}

impl DataverseClient {
    /// Whether `table` has change tracking on
    /// (`EntityDefinitions(LogicalName='…')?$select=ChangeTrackingEnabled`).
    pub async fn change_tracking_enabled(&self, table: &str) -> Result<bool, DataverseError> {
        let url = format!(
            "{}?{}",
            self.definition_url(table)?,
            encode_params(&[("$select", "ChangeTrackingEnabled".into())])
        );
        let call = call("metadata", true);
        let response = self.send(call, |c| c.get(&url)).await?;
        let body: Value = read_json(call, response).await?;
        Ok(body.get("ChangeTrackingEnabled") == Some(&Value::Bool(true)))
    }

    /// Switches change tracking on for `table` and publishes it: the whole definition read,
    /// `ChangeTrackingEnabled` set, `PUT` back. Once on it cannot be switched off (Dataverse's
    /// change-tracking page). Three requests.
    pub async fn enable_change_tracking(&self, table: &str) -> Result<(), DataverseError> {
        let url = self.definition_url(table)?;
        let read = call("read table definition", true);
        let response = self.send(read, |c| c.get(&url)).await?;
        let mut definition: Value = read_json(read, response).await?;
        let Some(fields) = definition.as_object_mut() else {
            return Err(DataverseError::protocol(
                "read table definition",
                "the definition is not a JSON object",
            ));
        };
        fields.insert("ChangeTrackingEnabled".into(), Value::Bool(true));
        let write = call("update table definition", true);
        self.send(write, |c| {
            c.put(&url)
                .header("MSCRM.MergeLabels", "true")
                .json(&definition)
        })
        .await?;
        self.publish(&[table]).await
    }

    /// `PublishXml` for the given tables: customisations take effect in the apps once published.
    pub async fn publish(&self, tables: &[&str]) -> Result<(), DataverseError> {
        let mut entities = String::new();
        for table in tables {
            check_column(table)?;
            entities.push_str(&format!("<entity>{table}</entity>"));
        }
        let xml = format!("<importexportxml><entities>{entities}</entities></importexportxml>");
        let url = format!("{}PublishXml", self.base);
        let call = call("publish customizations", true);
        self.send(call, |c| c.post(&url).json(&json!({ "ParameterXml": xml })))
            .await?;
        Ok(())
    }

    /// Whether the caller may read `set`'s changes: the first page of a baseline, one row long.
    /// Change tracking needs organization-level Read on the table, which a role reading at
    /// business-unit level passes every other read with.
    pub async fn try_change_read(&self, set: &str, key: &str) -> Result<(), DataverseError> {
        let url = format!(
            "{}?{}",
            self.set_url(set)?,
            encode_params(&[("$select", columns(&[key])?)])
        );
        let prefer = prefer(Some(1), None, true).unwrap_or_default();
        let call = call("changes", true);
        self.send(call, |c| c.get(&url).header("Prefer", &prefer))
            .await?;
        Ok(())
    }

    /// The calling user's `systemuserid` (the `WhoAmI` function): for the application user,
    /// the `InitiatingUserId` of the webhook contexts its own writes raise.
    pub async fn who_am_i(&self) -> Result<uuid::Uuid, DataverseError> {
        let url = format!("{}WhoAmI", self.base);
        let call = call("who am i", true);
        let response = self.send(call, |c| c.get(&url)).await?;
        let body: Value = read_json(call, response).await?;
        body.get("UserId")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| DataverseError::protocol("who am i", "no UserId in the answer"))
    }

    fn definition_url(&self, table: &str) -> Result<String, DataverseError> {
        check_column(table)?;
        Ok(format!(
            "{}EntityDefinitions(LogicalName='{table}')",
            self.base
        ))
    }
}
