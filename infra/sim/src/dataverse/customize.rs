//! Schema writes, as "Create and update table definitions using the Web API" documents them:
//! `POST EntityDefinitions` (a table with its primary name column), `POST
//! EntityDefinitions(LogicalName='…')/Attributes` (a column, typed by its `@odata.type`), and
//! `POST RelationshipDefinitions` (a one-to-many relationship with its lookup). Each changes the
//! simulator's configuration, so the new table or column is then read, written, listed in
//! metadata and expandable like a configured one; a new table gets its message filters, as a
//! step may then be registered on it. Strict where the service is: a name without a
//! publisher prefix, or one that exists, is refused.

use serde_json::{Map, Value};

use super::config::{ChoiceConfig, DvConfig, RelationshipConfig, TableConfig};
use super::error::DvError;
use super::request::{DvRequest, DvResponse};
use super::store::Store;
use crate::SimState;

/// `@odata.type` of a column definition → its `AttributeType`.
const TYPES: [(&str, &str); 8] = [
    ("Microsoft.Dynamics.CRM.BooleanAttributeMetadata", "Boolean"),
    ("Microsoft.Dynamics.CRM.StringAttributeMetadata", "String"),
    ("Microsoft.Dynamics.CRM.MemoAttributeMetadata", "Memo"),
    (
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        "Picklist",
    ),
    (
        "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
        "DateTime",
    ),
    ("Microsoft.Dynamics.CRM.IntegerAttributeMetadata", "Integer"),
    ("Microsoft.Dynamics.CRM.MoneyAttributeMetadata", "Money"),
    ("Microsoft.Dynamics.CRM.DecimalAttributeMetadata", "Decimal"),
];

/// The logical name of a definition: its `SchemaName`, lower-cased, which must carry a
/// publisher prefix (`prefix_name`).
fn logical_name(definition: &Map<String, Value>) -> Result<String, DvError> {
    let schema = definition
        .get("SchemaName")
        .and_then(Value::as_str)
        .ok_or_else(|| DvError::bad_request("SchemaName is required."))?;
    match schema.split_once('_') {
        Some((prefix, rest)) if !prefix.is_empty() && !rest.is_empty() => {
            Ok(schema.to_ascii_lowercase())
        }
        _ => Err(DvError::bad_request(format!(
            "The schema name {schema} must start with a valid customization prefix."
        ))),
    }
}

fn exists(what: &str, name: &str) -> DvError {
    DvError::bad_request(format!("A {what} with the name {name} already exists."))
}

/// The entity set of a table's logical name, configured or derived.
fn set_of(config: &DvConfig, logical: &str) -> String {
    config
        .set_of_logical(logical)
        .unwrap_or_else(|| format!("{logical}s"))
}

/// `POST EntityDefinitions(LogicalName='table')/Attributes`.
pub fn create_attribute(
    state: &SimState,
    table: &str,
    request: &DvRequest,
) -> Result<DvResponse, DvError> {
    let definition = request.json_object()?;
    let column = logical_name(&definition)?;
    let kind = definition
        .get("@odata.type")
        .and_then(Value::as_str)
        .and_then(|t| TYPES.iter().find(|(odata, _)| *odata == t))
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            DvError::bad_request("@odata.type must name a creatable attribute metadata type.")
        })?;
    let choices = options(&definition);
    let config = state.dv.config();
    let set = config.set_of_logical(table).ok_or_else(|| {
        DvError::new(
            axum::http::StatusCode::NOT_FOUND,
            super::error::code::NOT_FOUND,
            format!("Could not find an entity with name {table}"),
        )
    })?;
    if config.table(&set).attributes.contains(&column) {
        return Err(exists("attribute", &column));
    }
    state.dv.update_config(|config| {
        let entry = config
            .tables
            .entry(set.clone())
            .or_insert_with(|| TableConfig::derived(&set));
        entry.attributes.push(column.clone());
        entry.types.insert(column.clone(), kind.to_owned());
        if kind == "Picklist" {
            entry.choices.insert(column.clone(), choices);
        }
    });
    Ok(created(
        state,
        &format!("EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"),
    ))
}

/// A picklist definition's options: `OptionSet.Options[{Value, Label.LocalizedLabels[0].Label}]`.
fn options(definition: &Map<String, Value>) -> Vec<ChoiceConfig> {
    definition
        .get("OptionSet")
        .and_then(|set| set.get("Options"))
        .and_then(Value::as_array)
        .map(|options| {
            options
                .iter()
                .filter_map(|o| {
                    Some(ChoiceConfig {
                        value: o.get("Value")?.as_i64()?,
                        label: o
                            .pointer("/Label/LocalizedLabels/0/Label")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        ..Default::default()
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `POST EntityDefinitions`: a table, its id and its primary name column (`Attributes` holds
/// the one with `IsPrimaryName`). Its entity set is its logical name plus `s`; change tracking
/// off, as for a new table.
pub fn create_table(
    state: &SimState,
    store: &mut Store,
    request: &DvRequest,
) -> Result<DvResponse, DvError> {
    let definition = request.json_object()?;
    let logical = logical_name(&definition)?;
    let primary = definition
        .get("Attributes")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|c| c.get("IsPrimaryName") == Some(&Value::Bool(true)))
        })
        .and_then(Value::as_object)
        .ok_or_else(|| {
            DvError::bad_request("A table needs its primary name attribute (IsPrimaryName).")
        })
        .and_then(logical_name)?;
    let config = state.dv.config();
    if config.set_of_logical(&logical).is_some() {
        return Err(exists("table", &logical));
    }
    let set = format!("{logical}s");
    let key = format!("{logical}id");
    state.dv.update_config(|config| {
        let mut table = TableConfig::derived(&set);
        table.logical_name = logical.clone();
        table.primary_key = key.clone();
        table.change_tracking = false;
        table.attributes = vec![key.clone(), primary.clone()];
        table.required = vec![primary.clone()];
        config.tables.insert(set.clone(), table);
    });
    super::plugins::seed_filters(store, &logical);
    Ok(created(
        state,
        &format!("EntityDefinitions(LogicalName='{logical}')"),
    ))
}

/// `POST RelationshipDefinitions`: a `OneToManyRelationshipMetadata` with its `Lookup`; the
/// lookup column is added to the referencing table and the relationship's `SchemaName` is the
/// navigation property on the referenced one.
pub fn create_relationship(state: &SimState, request: &DvRequest) -> Result<DvResponse, DvError> {
    let definition = request.json_object()?;
    if definition.get("@odata.type").and_then(Value::as_str)
        != Some("Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata")
    {
        return Err(DvError::bad_request(
            "The simulator creates one-to-many relationships only.",
        ));
    }
    let name = definition
        .get("SchemaName")
        .and_then(Value::as_str)
        .ok_or_else(|| DvError::bad_request("SchemaName is required."))?
        .to_owned();
    logical_name(&definition)?;
    let text = |key: &str| {
        definition
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| DvError::bad_request(format!("{key} is required.")))
    };
    let (parent, child) = (text("ReferencedEntity")?, text("ReferencingEntity")?);
    let lookup = definition
        .get("Lookup")
        .and_then(Value::as_object)
        .ok_or_else(|| DvError::bad_request("Lookup is required."))
        .and_then(logical_name)?;
    let config = state.dv.config();
    if config.relationships.iter().any(|r| r.name == name) {
        return Err(exists("relationship", &name));
    }
    let (parent_set, child_set) = (set_of(&config, &parent), set_of(&config, &child));
    state.dv.update_config(|config| {
        config.relationships.push(RelationshipConfig {
            name: name.clone(),
            parent_set: parent_set.clone(),
            child_set: child_set.clone(),
            child_lookup: lookup.clone(),
        });
        let table = config
            .tables
            .entry(child_set.clone())
            .or_insert_with(|| TableConfig::derived(&child_set));
        table.attributes.push(lookup.clone());
        table.types.insert(lookup.clone(), "Lookup".into());
    });
    Ok(created(
        state,
        &format!("RelationshipDefinitions(SchemaName='{name}')"),
    ))
}

fn created(state: &SimState, path: &str) -> DvResponse {
    let url = format!("{}{path}", state.dv.api_base_url());
    DvResponse::no_content().with_header("OData-EntityId", url)
}

/// The main opportunity form of a new environment (`systemforms`, `type` 2 Main), as the form
/// editor saves it: tabs, columns, sections, rows of cells holding controls.
pub const OPPORTUNITY_FORM_XML: &str = r#"<form><tabs><tab name="Summary" id="{2e8f3a71-0c55-4d2b-9d8e-5a4b1c7d9e01}" expanded="true" showlabel="true"><labels><label description="Summary" languagecode="1033" /></labels><columns><column width="100%"><sections><section name="opportunity_information" id="{7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f}" showlabel="true" columns="1"><labels><label description="Opportunity Information" languagecode="1033" /></labels><rows><row><cell id="{0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d}"><labels><label description="Topic" languagecode="1033" /></labels><control id="name" classid="{4273EDBD-AC1D-40d3-9FB2-095C621B552D}" datafieldname="name" /></cell></row></rows></section></sections></column></columns></tab></tabs></form>"#;

/// Seeds the main opportunity form, when the environment has opportunities.
pub fn seed_forms(config: &DvConfig, store: &mut Store) {
    if config.set_of_logical("opportunity").is_none() {
        return;
    }
    let id = super::ids::stable_id("systemform:opportunity:main");
    let mut row = Map::new();
    row.insert("formid".into(), Value::String(id.to_string()));
    row.insert("name".into(), "Opportunity".into());
    row.insert("objecttypecode".into(), "opportunity".into());
    row.insert("type".into(), 2.into());
    row.insert("formxml".into(), OPPORTUNITY_FORM_XML.into());
    store.put("systemforms", id, row);
}
