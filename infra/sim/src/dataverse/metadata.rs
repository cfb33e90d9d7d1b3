//! `EntityDefinitions`: enough table metadata for a preflight and for discovery — which tables
//! have change tracking on (`?$select=LogicalName&$filter=ChangeTrackingEnabled eq true`), which
//! columns a table has (`EntityDefinitions(LogicalName='opportunity')/Attributes`), a choice
//! column's options (`…/Attributes(LogicalName='c')/Microsoft.Dynamics.CRM.
//! PicklistAttributeMetadata?$expand=OptionSet`) and a table's relationships
//! (`…/OneToManyRelationships`, `…/ManyToManyRelationships`), from the configured tables — and
//! the one table update cosell makes, switching change tracking on: `PUT` of the whole
//! definition, as "Create and update table definitions using the Web API" documents (a
//! definition is only ever replaced whole; a `PUT` leaving out a property is refused here rather
//! than resetting it).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sha2::Digest;

use super::error::{DvError, code};
use super::odata::{MetadataPart, QueryOptions};
use super::request::{Ctx, DvRequest, DvResponse};
use super::store::Store;

/// A column's logical name, `AttributeType` and `RequiredLevel`.
type Attribute = (String, Value, Value);

pub fn get(
    ctx: &Ctx,
    store: &Store,
    logical_name: Option<&str>,
    part: &MetadataPart,
    options: &QueryOptions,
) -> Result<DvResponse, DvError> {
    let tables: Vec<(String, Map<String, Value>, Vec<Attribute>)> = ctx
        .config
        .tables
        .iter()
        .map(|(set, table)| {
            let logical = table.logical_name(set);
            let row = json!({
                "MetadataId": metadata_id(&logical),
                "LogicalName": logical,
                "SchemaName": logical,
                "EntitySetName": set,
                "PrimaryIdAttribute": table.primary_key(set),
                "ChangeTrackingEnabled": table.change_tracking
                    || store.change_tracking_on.contains(&logical),
                "IsCustomEntity": logical.starts_with("msft_"),
            });
            let mut names = table.attributes.clone();
            if !names.contains(&table.primary_key(set)) {
                names.insert(0, table.primary_key(set));
            }
            let attributes = names
                .into_iter()
                .map(|name| {
                    let kind = json!(table.attribute_type(&name));
                    let level = json!({"Value": table.required_level(&name), "CanBeChanged": true});
                    (name, kind, level)
                })
                .collect();
            (
                logical,
                row.as_object().cloned().unwrap_or_default(),
                attributes,
            )
        })
        .collect();

    let Some(name) = logical_name else {
        let value = filter_select(tables.into_iter().map(|(_, row, _)| row), options);
        return Ok(collection(ctx, "EntityDefinitions", options, value));
    };
    let Some((logical, mut row, columns)) = tables.into_iter().find(|(l, _, _)| l == name) else {
        return Err(DvError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("Could not find an entity with name {name}"),
        ));
    };
    let attribute_rows = columns.iter().map(|(column, kind, level)| {
        json!({
            "MetadataId": metadata_id(&format!("{logical}.{column}")),
            "LogicalName": column,
            "EntityLogicalName": logical,
            "AttributeType": kind,
            "RequiredLevel": level,
            // A column a solution or `cosell setup` added carries its publisher's prefix.
            "IsCustomAttribute": is_custom(column),
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    });
    match part {
        MetadataPart::Table => {}
        MetadataPart::Attributes => {}
        MetadataPart::Picklist(column) => {
            let names: Vec<String> = columns.iter().map(|(name, _, _)| name.clone()).collect();
            return picklist(ctx, &logical, &names, column, options);
        }
        MetadataPart::AttributesOfType(kind) => {
            let typed = attribute_rows
                .filter(|row| row["AttributeType"] == *kind)
                .map(|mut row| {
                    let column = row["LogicalName"].as_str().unwrap_or_default().to_owned();
                    if *kind != "Picklist" {
                        row.insert(
                            "MaxLength".into(),
                            max_length(&logical, &column, kind).into(),
                        );
                    }
                    row
                });
            let value = filter_select(typed, options);
            let context = format!(
                "EntityDefinitions('{logical}')/Attributes/Microsoft.Dynamics.CRM.{kind}AttributeMetadata"
            );
            return Ok(collection(ctx, &context, options, value));
        }
        MetadataPart::OneToMany => {
            let value = filter_select(one_to_many(ctx, &logical), options);
            let context = format!("EntityDefinitions('{logical}')/OneToManyRelationships");
            return Ok(collection(ctx, &context, options, value));
        }
        MetadataPart::ManyToMany => {
            let value = filter_select(many_to_many(ctx, &logical), options);
            let context = format!("EntityDefinitions('{logical}')/ManyToManyRelationships");
            return Ok(collection(ctx, &context, options, value));
        }
    }
    if *part == MetadataPart::Attributes {
        let value = filter_select(attribute_rows, options);
        let context = format!("EntityDefinitions('{logical}')/Attributes");
        return Ok(collection(ctx, &context, options, value));
    }
    let mut body = select(row.clone(), options.select.as_deref());
    if let Some(expand) = options.expand.iter().find(|e| e.navigation == "Attributes") {
        let attribute_options = QueryOptions {
            select: expand.select.clone(),
            filter: expand.filter.clone(),
            ..QueryOptions::default()
        };
        body.insert(
            "Attributes".into(),
            Value::Array(filter_select(attribute_rows, &attribute_options)),
        );
    }
    row.clear();
    row.insert(
        "@odata.context".into(),
        Value::String(format!("{}/$metadata#EntityDefinitions/$entity", ctx.api)),
    );
    row.extend(body);
    Ok(DvResponse::json(StatusCode::OK, Value::Object(row)))
}

/// A column's `MaxLength`: the published one ([`super::values::max_length`]), else Dataverse's
/// defaults for a new column (100 for text, 2,000 for multiline text).
fn max_length(logical: &str, column: &str, kind: &str) -> usize {
    super::values::max_length(logical, column).unwrap_or(if kind == "Memo" { 2000 } else { 100 })
}

/// `PUT EntityDefinitions(LogicalName='…')`: replaces the table's definition. Only
/// `ChangeTrackingEnabled` is kept by the simulator; every property the definition has must be in
/// the body (a missing one would be reset to its default on the real service), `LogicalName`
/// must match, and change tracking once on stays on. Answers 204.
pub fn put(
    ctx: &Ctx,
    store: &mut Store,
    logical_name: &str,
    request: &DvRequest,
) -> Result<DvResponse, DvError> {
    let current = get(
        ctx,
        store,
        Some(logical_name),
        &MetadataPart::Table,
        &QueryOptions::default(),
    )?;
    let current = match current.body {
        super::request::Body::Json(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let body = request.json_object()?;
    if let Some(missing) = current
        .keys()
        .find(|k| !k.starts_with('@') && !body.contains_key(*k))
    {
        return Err(DvError::bad_request(format!(
            "The definition of {logical_name} is replaced whole by PUT: '{missing}' is missing \
             and would be reset. Read the definition, change it, and send it back whole."
        )));
    }
    if body.get("LogicalName").and_then(Value::as_str) != Some(logical_name) {
        return Err(DvError::bad_request(format!(
            "LogicalName in the body does not match {logical_name}."
        )));
    }
    let on = match body.get("ChangeTrackingEnabled") {
        Some(Value::Bool(on)) => *on,
        _ => {
            return Err(DvError::bad_request(
                "ChangeTrackingEnabled must be true or false.",
            ));
        }
    };
    let was_on = current.get("ChangeTrackingEnabled") == Some(&Value::Bool(true));
    if was_on && !on {
        return Err(DvError::bad_request(format!(
            "Change tracking cannot be disabled on {logical_name} once it is enabled."
        )));
    }
    if on {
        store.change_tracking_on.insert(logical_name.to_owned());
    }
    Ok(DvResponse::no_content())
}

/// `PicklistAttributeMetadata` of one column: its `OptionSet` when `$expand`ed (a local choice;
/// `GlobalOptionSet` is null), 404 for a column the table lacks, 400 for one that is no choice.
fn picklist(
    ctx: &Ctx,
    logical: &str,
    columns: &[String],
    column: &str,
    options: &QueryOptions,
) -> Result<DvResponse, DvError> {
    if !columns.iter().any(|c| c == column) {
        return Err(DvError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("Could not find attribute {column} on entity {logical}"),
        ));
    }
    let choices = ctx
        .config
        .set_of_logical(logical)
        .and_then(|set| ctx.config.table(&set).choices.get(column).cloned());
    let Some(choices) = choices else {
        return Err(DvError::bad_request(format!(
            "The attribute {column} is not a PicklistAttributeMetadata."
        )));
    };
    let label = |text: &str, language: u32| json!({"Label": text, "LanguageCode": language});
    let option_set = json!({
        "MetadataId": metadata_id(&format!("{logical}.{column}.options")),
        "Options": choices.iter().map(|choice| {
            let english = label(&choice.label, 1033);
            let (localized, user) = match &choice.user_label {
                Some(german) => (vec![english, label(german, 1031)], label(german, 1031)),
                None => (vec![english.clone()], english),
            };
            json!({
                "Value": choice.value,
                "Label": {"LocalizedLabels": localized, "UserLocalizedLabel": user},
            })
        }).collect::<Vec<_>>(),
    });
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#EntityDefinitions('{logical}')/Attributes/\
             Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName)/$entity",
            ctx.api
        )),
    );
    body.insert(
        "MetadataId".into(),
        json!(metadata_id(&format!("{logical}.{column}"))),
    );
    body.insert("LogicalName".into(), json!(column));
    for expand in &options.expand {
        match expand.navigation.as_str() {
            "OptionSet" => body.insert("OptionSet".into(), option_set.clone()),
            "GlobalOptionSet" => body.insert("GlobalOptionSet".into(), Value::Null),
            other => {
                return Err(DvError::bad_request(format!(
                    "Could not find a property named '{other}' on type \
                     'Microsoft.Dynamics.CRM.PicklistAttributeMetadata'."
                )));
            }
        };
    }
    Ok(DvResponse::json(StatusCode::OK, Value::Object(body)))
}

/// The one-to-many relationships where `logical` is the referenced (parent) table.
fn one_to_many(ctx: &Ctx, logical: &str) -> impl Iterator<Item = Map<String, Value>> {
    let logical_of = |set: &str| ctx.config.table(set).logical_name(set);
    ctx.config
        .relationships
        .iter()
        .filter(move |r| logical_of(&r.parent_set) == logical)
        .map(move |r| {
            json!({
                "MetadataId": metadata_id(&r.name),
                "SchemaName": r.name,
                "ReferencedEntity": logical_of(&r.parent_set),
                "ReferencingEntity": logical_of(&r.child_set),
                "ReferencingAttribute": r.child_lookup,
                "ReferencedEntityNavigationPropertyName": r.name,
                "ReferencingEntityNavigationPropertyName": r.child_lookup,
            })
            .as_object()
            .cloned()
            .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .into_iter()
}

/// The many-to-many relationships `logical` takes part in.
fn many_to_many(ctx: &Ctx, logical: &str) -> impl Iterator<Item = Map<String, Value>> {
    let logical_of = |set: &str| ctx.config.table(set).logical_name(set);
    ctx.config
        .many_to_many
        .iter()
        .filter(|r| logical_of(&r.entity1_set) == logical || logical_of(&r.entity2_set) == logical)
        .map(|r| {
            json!({
                "MetadataId": metadata_id(&r.name),
                "SchemaName": r.name,
                "Entity1LogicalName": logical_of(&r.entity1_set),
                "Entity2LogicalName": logical_of(&r.entity2_set),
                "Entity1NavigationPropertyName": r.entity1_navigation,
                "Entity2NavigationPropertyName": r.entity2_navigation,
            })
            .as_object()
            .cloned()
            .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .into_iter()
}

fn collection(ctx: &Ctx, context: &str, options: &QueryOptions, value: Vec<Value>) -> DvResponse {
    let selected = options
        .select
        .as_ref()
        .map_or(String::new(), |s| format!("({})", s.join(",")));
    DvResponse::json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/$metadata#{context}{selected}", ctx.api),
            "value": value,
        }),
    )
}

fn filter_select(
    rows: impl Iterator<Item = Map<String, Value>>,
    options: &QueryOptions,
) -> Vec<Value> {
    rows.filter(|row| options.filter.as_ref().is_none_or(|f| f.matches(row)))
        .map(|row| Value::Object(select(row, options.select.as_deref())))
        .collect()
}

/// Metadata rows always carry their `MetadataId`, like the real ones.
fn select(row: Map<String, Value>, columns: Option<&[String]>) -> Map<String, Value> {
    match columns {
        None => row,
        Some(columns) => row
            .into_iter()
            .filter(|(k, _)| k == "MetadataId" || columns.iter().any(|c| c == k))
            .collect(),
    }
}

/// Whether a column is custom: named with a publisher prefix (`msft_`, `cosell_`, `new_`…) —
/// system columns have none, or one of Dynamics 365's own (`address1_`, `_…_value`).
fn is_custom(column: &str) -> bool {
    const SYSTEM_PREFIXES: [&str; 3] = ["address1", "address2", "msdyn"];
    match column.split_once('_') {
        Some((prefix, rest)) => {
            !prefix.is_empty() && !rest.is_empty() && !SYSTEM_PREFIXES.contains(&prefix)
        }
        None => false,
    }
}

/// A stable id per name, so repeated runs show the same metadata.
fn metadata_id(name: &str) -> String {
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
