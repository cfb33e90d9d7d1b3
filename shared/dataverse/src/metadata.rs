//! Table metadata a preflight checks and the sync discovers: which tables track changes, which
//! columns a table has, a choice column's option values, and the navigation properties from one
//! table to another. Paths as the Web API's "Query schema definitions" page documents them.

use cosell_transport::read_json;
use serde_json::Value;

use crate::client::{DataverseClient, call, values};
use crate::error::DataverseError;
use crate::filter::{Filter, check_column};
use crate::query::encode_params;

impl DataverseClient {
    /// Logical names of the tables with change tracking on
    /// (`EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true`).
    pub async fn change_tracked_tables(&self) -> Result<Vec<String>, DataverseError> {
        let filter = Filter::eq("ChangeTrackingEnabled", true).to_odata()?;
        let url = format!(
            "{}EntityDefinitions?{}",
            self.base,
            encode_params(&[("$select", "LogicalName".into()), ("$filter", filter)])
        );
        self.logical_names(&url).await
    }

    /// Logical names of a table's columns
    /// (`EntityDefinitions(LogicalName='opportunity')/Attributes?$select=LogicalName`).
    pub async fn attribute_names(&self, table: &str) -> Result<Vec<String>, DataverseError> {
        check_column(table)?;
        let url = format!(
            "{}EntityDefinitions(LogicalName='{table}')/Attributes?{}",
            self.base,
            encode_params(&[("$select", "LogicalName".into())])
        );
        self.logical_names(&url).await
    }

    /// A table's columns with their type and required level
    /// (`EntityDefinitions(LogicalName='opportunity')/Attributes?$select=LogicalName,AttributeType,RequiredLevel`).
    pub async fn attributes(&self, table: &str) -> Result<Vec<Attribute>, DataverseError> {
        check_column(table)?;
        let url = format!(
            "{}EntityDefinitions(LogicalName='{table}')/Attributes?{}",
            self.base,
            encode_params(&[("$select", "LogicalName,AttributeType,RequiredLevel".into())])
        );
        let body = self.metadata(&url).await?;
        let text = |row: &Value, key: &str| row.get(key)?.as_str().map(str::to_owned);
        Ok(values(&body)
            .filter_map(|row| {
                Some(Attribute {
                    logical_name: text(row, "LogicalName")?,
                    attribute_type: text(row, "AttributeType"),
                    required_level: row
                        .get("RequiredLevel")
                        .and_then(|level| level.get("Value"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            })
            .collect())
    }

    /// A choice column's options, value and label (the user's language; labels are localised,
    /// values are not): `EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='…')
    /// /Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet(
    /// $select=Options),GlobalOptionSet($select=Options)` — a local or a global choice.
    pub async fn option_values(
        &self,
        table: &str,
        column: &str,
    ) -> Result<Vec<ChoiceOption>, DataverseError> {
        check_column(table)?;
        check_column(column)?;
        let url = format!(
            "{}EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')/\
             Microsoft.Dynamics.CRM.PicklistAttributeMetadata?{}",
            self.base,
            encode_params(&[
                ("$select", "LogicalName".into()),
                (
                    "$expand",
                    "OptionSet($select=Options),GlobalOptionSet($select=Options)".into()
                ),
            ])
        );
        let body = self.metadata(&url).await?;
        let options = ["OptionSet", "GlobalOptionSet"]
            .iter()
            .filter_map(|set| body.get(*set)?.get("Options")?.as_array())
            .flatten()
            .filter_map(|option| {
                let labels = option
                    .pointer("/Label/LocalizedLabels")
                    .and_then(Value::as_array);
                let english = labels
                    .into_iter()
                    .flatten()
                    .find(|l| l.get("LanguageCode").and_then(Value::as_i64) == Some(ENGLISH))
                    .and_then(|l| l.get("Label")?.as_str())
                    .map(str::to_owned);
                Some(ChoiceOption {
                    value: option.get("Value")?.as_i64()?,
                    label: option
                        .pointer("/Label/UserLocalizedLabel/Label")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    english,
                })
            })
            .collect();
        Ok(options)
    }

    /// The logical names of `table`'s choice columns: the `Attributes` collection cast to
    /// `PicklistAttributeMetadata`. One request.
    pub async fn choice_columns(&self, table: &str) -> Result<Vec<String>, DataverseError> {
        check_column(table)?;
        let url = format!(
            "{}EntityDefinitions(LogicalName='{table}')/Attributes/\
             Microsoft.Dynamics.CRM.PicklistAttributeMetadata?{}",
            self.base,
            encode_params(&[("$select", "LogicalName".into())])
        );
        Ok(values(&self.metadata(&url).await?)
            .filter_map(|row| row.get("LogicalName")?.as_str().map(str::to_owned))
            .collect())
    }

    /// The `MaxLength` of `table`'s text and multiline text columns, by logical name: the
    /// `Attributes` collection cast to `StringAttributeMetadata` and to
    /// `MemoAttributeMetadata` ("Query table definitions using the Web API": to read a type's
    /// properties, cast the collection to it). Two requests.
    pub async fn max_lengths(&self, table: &str) -> Result<Vec<(String, usize)>, DataverseError> {
        check_column(table)?;
        let mut found = Vec::new();
        for kind in ["StringAttributeMetadata", "MemoAttributeMetadata"] {
            let url = format!(
                "{}EntityDefinitions(LogicalName='{table}')/Attributes/Microsoft.Dynamics.CRM.{kind}?{}",
                self.base,
                encode_params(&[("$select", "LogicalName,MaxLength".into())])
            );
            for row in values(&self.metadata(&url).await?) {
                let name = row.get("LogicalName").and_then(Value::as_str);
                let max = row.get("MaxLength").and_then(Value::as_u64);
                if let (Some(name), Some(max)) = (name, max) {
                    found.push((name.to_owned(), max as usize));
                }
            }
        }
        Ok(found)
    }

    /// The collection-valued navigation properties from `table` to `other`: its one-to-many
    /// relationships whose referencing table is `other`, then its many-to-many ones with
    /// `other` (`…/OneToManyRelationships`, `…/ManyToManyRelationships`). Two requests.
    pub async fn navigations_to(
        &self,
        table: &str,
        other: &str,
    ) -> Result<Vec<String>, DataverseError> {
        check_column(table)?;
        check_column(other)?;
        let list = |kind: &str, select: &str| {
            format!(
                "{}EntityDefinitions(LogicalName='{table}')/{kind}?{}",
                self.base,
                encode_params(&[("$select", select.into())])
            )
        };
        let one_to_many = list(
            "OneToManyRelationships",
            "SchemaName,ReferencingEntity,ReferencedEntityNavigationPropertyName",
        );
        let many_to_many = list(
            "ManyToManyRelationships",
            "SchemaName,Entity1LogicalName,Entity2LogicalName,Entity1NavigationPropertyName,\
             Entity2NavigationPropertyName",
        );
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut found = Vec::new();
        for row in values(&self.metadata(&one_to_many).await?) {
            if text(row, "ReferencingEntity").as_deref() == Some(other) {
                found.extend(text(row, "ReferencedEntityNavigationPropertyName"));
            }
        }
        for row in values(&self.metadata(&many_to_many).await?) {
            let (one, two) = (
                text(row, "Entity1LogicalName"),
                text(row, "Entity2LogicalName"),
            );
            // The property on `table`'s side of the pair.
            let side = match (one.as_deref(), two.as_deref()) {
                (Some(a), Some(b)) if a == table && b == other => "Entity1NavigationPropertyName",
                (Some(a), Some(b)) if b == table && a == other => "Entity2NavigationPropertyName",
                _ => continue,
            };
            found.extend(text(row, side));
        }
        Ok(found)
    }

    /// How `table`'s collection-valued navigation property `navigation` relates it to another
    /// table, from `…/OneToManyRelationships` and `…/ManyToManyRelationships` (two requests);
    /// `None` when `table` has no such property.
    pub async fn relationship(
        &self,
        table: &str,
        navigation: &str,
    ) -> Result<Option<Relationship>, DataverseError> {
        check_column(table)?;
        let list = |kind: &str, select: &str| {
            format!(
                "{}EntityDefinitions(LogicalName='{table}')/{kind}?{}",
                self.base,
                encode_params(&[("$select", select.into())])
            )
        };
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let one_to_many = list(
            "OneToManyRelationships",
            "ReferencingEntity,ReferencingAttribute,ReferencedEntityNavigationPropertyName",
        );
        for row in values(&self.metadata(&one_to_many).await?) {
            if text(row, "ReferencedEntityNavigationPropertyName").as_deref() == Some(navigation)
                && let (Some(other), Some(lookup)) = (
                    text(row, "ReferencingEntity"),
                    text(row, "ReferencingAttribute"),
                )
            {
                return Ok(Some(Relationship::OneToMany {
                    table: other,
                    lookup,
                }));
            }
        }
        let many_to_many = list(
            "ManyToManyRelationships",
            "Entity1LogicalName,Entity2LogicalName,Entity1NavigationPropertyName,\
             Entity2NavigationPropertyName",
        );
        for row in values(&self.metadata(&many_to_many).await?) {
            let sides = [
                (
                    "Entity1LogicalName",
                    "Entity1NavigationPropertyName",
                    "Entity2LogicalName",
                ),
                (
                    "Entity2LogicalName",
                    "Entity2NavigationPropertyName",
                    "Entity1LogicalName",
                ),
            ];
            for (own, property, other) in sides {
                if text(row, own).as_deref() == Some(table)
                    && text(row, property).as_deref() == Some(navigation)
                    && let Some(other) = text(row, other)
                {
                    return Ok(Some(Relationship::ManyToMany { table: other }));
                }
            }
        }
        Ok(None)
    }

    async fn metadata(&self, url: &str) -> Result<Value, DataverseError> {
        let call = call("metadata", true);
        let response = self.send(call, |c| c.get(url)).await?;
        Ok(read_json(call, response).await?)
    }

    async fn logical_names(&self, url: &str) -> Result<Vec<String>, DataverseError> {
        let call = call("metadata", true);
        let response = self.send(call, |c| c.get(url)).await?;
        let body: Value = read_json(call, response).await?;
        Ok(values(&body)
            .filter_map(|v| v.get("LogicalName")?.as_str().map(str::to_owned))
            .collect())
    }
}

/// How a table relates to another through one of its navigation properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relationship {
    /// The other table's rows point at this one through their lookup column `lookup`.
    OneToMany { table: String, lookup: String },
    /// An intersect table links rows of the two (the Associate and Disassociate messages).
    ManyToMany { table: String },
}

/// One column as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub logical_name: String,
    /// `AttributeType`: `String`, `Picklist`, `Lookup`, `Money`, …
    pub attribute_type: Option<String>,
    /// `RequiredLevel.Value`: `None`, `SystemRequired`, `ApplicationRequired` (business
    /// required), `Recommended`.
    pub required_level: Option<String>,
}

/// One option of a choice column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    pub value: i64,
    /// In the calling user's language; for people, never for matching.
    pub label: Option<String>,
    /// The English (1033) label, when the option has one: Microsoft's taxonomies are English.
    pub english: Option<String>,
}

/// Dataverse's language code for English (United States).
const ENGLISH: i64 = 1033;
