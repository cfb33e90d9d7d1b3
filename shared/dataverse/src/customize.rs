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

/// Definitions of what `cosell setup` creates, in the Web API's metadata shapes ("Create and
/// update table definitions using the Web API"): labels in English (1033), nothing required.
pub mod definitions {
    use serde_json::{Value, json};

    fn label(text: &str) -> Value {
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.Label",
            "LocalizedLabels": [{
                "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel",
                "Label": text,
                "LanguageCode": 1033,
            }],
        })
    }

    fn column(odata_type: &str, schema: &str, display: &str) -> Value {
        json!({
            "@odata.type": format!("Microsoft.Dynamics.CRM.{odata_type}"),
            "SchemaName": schema,
            "DisplayName": label(display),
            "RequiredLevel": {"Value": "None", "CanBeChanged": true},
        })
    }

    fn with(mut value: Value, extra: Value) -> Value {
        if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
            object.extend(extra);
        }
        value
    }

    /// A yes/no column (default no).
    pub fn yes_no(schema: &str, display: &str) -> Value {
        with(
            column("BooleanAttributeMetadata", schema, display),
            json!({
                "DefaultValue": false,
                "OptionSet": {
                    "@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata",
                    "OptionSetType": "Boolean",
                    "TrueOption": {"Value": 1, "Label": label("Yes")},
                    "FalseOption": {"Value": 0, "Label": label("No")},
                },
            }),
        )
    }

    /// A single line of text; `format` is `Text` or `Url`.
    pub fn text(schema: &str, display: &str, max_length: u32, format: &str) -> Value {
        with(
            column("StringAttributeMetadata", schema, display),
            json!({"MaxLength": max_length, "FormatName": {"Value": format}}),
        )
    }

    /// Multiple lines of text.
    pub fn memo(schema: &str, display: &str, max_length: u32) -> Value {
        with(
            column("MemoAttributeMetadata", schema, display),
            json!({"MaxLength": max_length, "Format": "TextArea"}),
        )
    }

    /// A date and time, in the user's time zone.
    pub fn date_time(schema: &str, display: &str) -> Value {
        with(
            column("DateTimeAttributeMetadata", schema, display),
            json!({"Format": "DateAndTime", "DateTimeBehavior": {"Value": "UserLocal"}}),
        )
    }

    /// A local choice with these options (value, label).
    pub fn choice(schema: &str, display: &str, options: &[(i64, &str)]) -> Value {
        let options: Vec<Value> = options
            .iter()
            .map(|(value, text)| json!({"Value": value, "Label": label(text)}))
            .collect();
        with(
            column("PicklistAttributeMetadata", schema, display),
            json!({"OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
                "IsGlobal": false,
                "OptionSetType": "Picklist",
                "Options": options,
            }}),
        )
    }

    /// A user-owned table with its primary name column.
    pub fn table(schema: &str, display: &str, plural: &str, primary: Value) -> Value {
        let mut primary = primary;
        if let Some(object) = primary.as_object_mut() {
            object.insert("IsPrimaryName".into(), true.into());
        }
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
            "SchemaName": schema,
            "DisplayName": label(display),
            "DisplayCollectionName": label(plural),
            "OwnershipType": "UserOwned",
            "HasActivities": false,
            "HasNotes": false,
            "IsActivity": false,
            "Attributes": [primary],
        })
    }

    /// A one-to-many relationship: `child`'s lookup `lookup` to `parent`, whose rows' children
    /// are deleted with them.
    pub fn one_to_many(
        schema: &str,
        parent: &str,
        child: &str,
        lookup: &str,
        display: &str,
    ) -> Value {
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "SchemaName": schema,
            "ReferencedEntity": parent,
            "ReferencedAttribute": format!("{parent}id"),
            "ReferencingEntity": child,
            "CascadeConfiguration": {
                "Assign": "NoCascade", "Delete": "Cascade", "Merge": "NoCascade",
                "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade",
            },
            "Lookup": {
                "@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                "AttributeType": "Lookup",
                "SchemaName": lookup,
                "DisplayName": label(display),
                "RequiredLevel": {"Value": "None", "CanBeChanged": true},
            },
        })
    }
}

impl DataverseClient {
    /// Creates a column on `table`, in the unmanaged solution `solution`.
    pub async fn create_column(
        &self,
        table: &str,
        definition: &Value,
        solution: &str,
    ) -> Result<(), DataverseError> {
        let url = format!("{}/Attributes", self.definition_url(table)?);
        self.create_definition(&url, definition, solution).await
    }

    /// Creates a table, in the unmanaged solution `solution`.
    pub async fn create_table(
        &self,
        definition: &Value,
        solution: &str,
    ) -> Result<(), DataverseError> {
        let url = format!("{}EntityDefinitions", self.base);
        self.create_definition(&url, definition, solution).await
    }

    /// Creates a relationship, in the unmanaged solution `solution`.
    pub async fn create_relationship(
        &self,
        definition: &Value,
        solution: &str,
    ) -> Result<(), DataverseError> {
        let url = format!("{}RelationshipDefinitions", self.base);
        self.create_definition(&url, definition, solution).await
    }

    async fn create_definition(
        &self,
        url: &str,
        definition: &Value,
        solution: &str,
    ) -> Result<(), DataverseError> {
        // Not repeated blindly: a lost answer may hide a created definition, which a rerun of
        // setup then finds.
        let call = call("create definition", false);
        self.send(call, |c| {
            c.post(url)
                .header("MSCRM.SolutionUniqueName", solution)
                .json(definition)
        })
        .await?;
        Ok(())
    }
}
