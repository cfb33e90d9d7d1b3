//! The mapping document against the environment's metadata: every default and mapped column
//! exists and its value fits, option values exist, nothing maps onto a column cosell writes
//! itself, and every required column of opportunity and lead is filled on create.
//!
//! | check | passes when |
//! |---|---|
//! | mapping defaults | each default's column exists on its table, the constant fits its `AttributeType`, an option value is one of the column's, and cosell does not write the column itself |
//! | mapping fields | each field's column exists, a value map targets a choice column whose options hold every value, and cosell does not write the column itself; the line says which way each field goes, and which come in only because Partner Center's update does not take them |
//! | required columns | every `ApplicationRequired` or `SystemRequired` column of opportunity (and lead, unless leads are left out) is written by cosell, a default or a mapped field — or filled by the platform |
//! | account rules | each rule can run: an external id's column exists on account; `name_country` needs a text country column |

use std::collections::{BTreeMap, BTreeSet};

use cosell_dataverse::{Attribute, DataverseClient};
use cosell_mapping::CrmConfig;
use cosell_mapping::custom::{AccountRule, Constant, Country, Flow, Table, field::SENDABLE};

use super::Check;

/// Columns the platform fills on create whatever their required level.
const PLATFORM_FILLED: &[&str] = &[
    "ownerid",
    "owninguser",
    "owningteam",
    "owningbusinessunit",
    "statecode",
    "statuscode",
    "createdon",
    "createdby",
    "modifiedon",
    "modifiedby",
    "versionnumber",
    "transactioncurrencyid",
    "exchangerate",
];

const TABLES: [&str; 4] = ["opportunity", "lead", "account", "contact"];

pub(super) async fn checks(dataverse: &DataverseClient, config: &CrmConfig) -> Vec<Check> {
    let mut tables = BTreeMap::new();
    for table in TABLES {
        match dataverse.attributes(table).await {
            Ok(attributes) => {
                let by_name: BTreeMap<String, Attribute> = attributes
                    .into_iter()
                    .map(|a| (a.logical_name.clone(), a))
                    .collect();
                tables.insert(table, by_name);
            }
            Err(error) => {
                return vec![Check::fail(
                    "mapping",
                    format!("reading the columns of {table} failed: {error}"),
                    "the application user needs read access to table metadata",
                )];
            }
        }
    }
    let mut options = Options::new(dataverse);
    vec![
        defaults(&tables, config, &mut options).await,
        fields(&tables, config, &mut options).await,
        required(&tables, config),
        account_rules(&tables, config),
    ]
}

/// Option values of choice columns, read once each.
struct Options<'a> {
    dataverse: &'a DataverseClient,
    read: BTreeMap<(String, String), Result<BTreeSet<i64>, String>>,
}

impl<'a> Options<'a> {
    fn new(dataverse: &'a DataverseClient) -> Self {
        Self {
            dataverse,
            read: BTreeMap::new(),
        }
    }

    async fn of(&mut self, table: &str, column: &str) -> Result<BTreeSet<i64>, String> {
        let key = (table.to_owned(), column.to_owned());
        if !self.read.contains_key(&key) {
            let found = self
                .dataverse
                .option_values(table, column)
                .await
                .map(|options| options.into_iter().map(|o| o.value).collect())
                .map_err(|e| e.to_string());
            self.read.insert(key.clone(), found);
        }
        self.read[&key].clone()
    }
}

type Tables = BTreeMap<&'static str, BTreeMap<String, Attribute>>;

async fn defaults(tables: &Tables, config: &CrmConfig, options: &mut Options<'_>) -> Check {
    const NAME: &str = "mapping defaults";
    let mut problems = Vec::new();
    let mut count = 0;
    for (table, defaults) in config.mapping.defaults.tables() {
        let own = config.written_columns(table);
        for (column, constant) in defaults {
            count += 1;
            let key = format!("mapping.defaults.{table}.{column}");
            let name = column.to_ascii_lowercase();
            let Some(attribute) = tables[table].get(&name) else {
                problems.push(format!("{key}: {table} has no column '{column}'"));
                continue;
            };
            if own.contains(&name) {
                problems.push(format!("{key}: cosell writes '{column}' itself"));
            }
            let kind = attribute.attribute_type.as_deref().unwrap_or_default();
            if !kind.is_empty() && !constant.fits().contains(&kind) {
                problems.push(format!(
                    "{key}: the column is {kind}; {} does not fit it",
                    serde_json::to_string(constant).unwrap_or_default()
                ));
            } else if let Constant::Option(option) = constant
                && kind == "Picklist"
            {
                match options.of(table, &name).await {
                    Ok(values) if values.contains(&option.option) => {}
                    Ok(values) => problems.push(format!(
                        "{key}: option {} is not one of {values:?}",
                        option.option
                    )),
                    Err(error) => problems.push(format!("{key}: options not read: {error}")),
                }
            }
        }
    }
    match problems.is_empty() {
        true => Check::pass(NAME, format!("{count} default(s), each fits its column")),
        false => Check::fail(
            NAME,
            problems.join("; "),
            "fix the [mapping.defaults…] entries named (cosell preview shows the result)",
        ),
    }
}

async fn fields(tables: &Tables, config: &CrmConfig, options: &mut Options<'_>) -> Check {
    const NAME: &str = "mapping fields";
    let mut problems = Vec::new();
    let mut described = Vec::new();
    for (index, field) in config.mapping.fields.iter().enumerate() {
        let key = format!("mapping.fields[{index}]");
        let table = field.table.logical_name();
        let column = &field.column;
        let Some(attribute) = tables[table].get(column) else {
            problems.push(format!("{key}: {table} has no column '{column}'"));
            continue;
        };
        if config.written_columns(table).contains(column) {
            problems.push(format!("{key}: cosell writes '{column}' itself"));
        }
        let kind = attribute.attribute_type.as_deref().unwrap_or_default();
        if field.values.is_empty() {
            if matches!(kind, "Lookup" | "Customer" | "Owner" | "Picklist") {
                problems.push(format!(
                    "{key}: '{column}' is {kind}; a referral's value is copied as it is, so give `values` for a choice and map lookups with defaults"
                ));
            }
        } else if kind != "Picklist" {
            problems.push(format!(
                "{key}: `values` needs a choice column, and '{column}' is {kind}"
            ));
        } else {
            match options.of(table, column).await {
                Ok(known) => {
                    let unknown: Vec<String> = field
                        .values
                        .iter()
                        .filter(|(_, v)| !known.contains(v))
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect();
                    if !unknown.is_empty() {
                        problems.push(format!(
                            "{key}: '{column}' has no option {}",
                            unknown.join(", ")
                        ));
                    }
                }
                Err(error) => problems.push(format!("{key}: options not read: {error}")),
            }
        }
        let how = match (field.flow, SENDABLE.contains(&field.referral.as_str())) {
            (Flow::In, false) => "in only: Partner Center's update does not take it",
            (Flow::In, true) => "in only",
            (Flow::Out, _) => "out only",
            (Flow::Both, _) => "both ways",
        };
        described.push(format!("{} → {table}.{column} ({how})", field.referral));
    }
    match (problems.is_empty(), described.is_empty()) {
        (true, true) => Check::pass(NAME, "none mapped"),
        (true, false) => Check::pass(NAME, described.join("; ")),
        (false, _) => Check::fail(
            NAME,
            problems.join("; "),
            "fix the [[mapping.fields]] entries named",
        ),
    }
}

fn required(tables: &Tables, config: &CrmConfig) -> Check {
    const NAME: &str = "required columns";
    let mapping = &config.mapping;
    let mut missing = Vec::new();
    let mut covered = 0;
    let checked: &[(&str, Table)] = if mapping.leads {
        &[("opportunity", Table::Opportunity), ("lead", Table::Lead)]
    } else {
        &[("opportunity", Table::Opportunity)]
    };
    for (table, kind) in checked {
        let own = config.written_columns(table);
        let defaults: BTreeSet<String> = match kind {
            Table::Opportunity => &mapping.defaults.opportunity,
            Table::Lead => &mapping.defaults.lead,
        }
        .keys()
        .map(|c| c.to_ascii_lowercase())
        .collect();
        let mapped: BTreeSet<&str> = mapping.inbound(*kind).map(|f| f.column.as_str()).collect();
        for attribute in tables[table].values() {
            let level = attribute.required_level.as_deref().unwrap_or_default();
            if !matches!(level, "ApplicationRequired" | "SystemRequired") {
                continue;
            }
            let name = attribute.logical_name.as_str();
            let primary_key = format!("{table}id");
            if PLATFORM_FILLED.contains(&name) || name == primary_key {
                continue;
            }
            if own.contains(name) || defaults.contains(name) || mapped.contains(name) {
                covered += 1;
            } else {
                missing.push(format!("{table}.{name} ({level})"));
            }
        }
    }
    if missing.is_empty() {
        Check::pass(
            NAME,
            format!("{covered} required column(s), each filled on create"),
        )
    } else {
        Check::fail(
            NAME,
            format!("nothing fills {}", missing.join(", ")),
            "give each a default under [mapping.defaults.<table>] (or map a referral field to it): Dataverse's API does not enforce them, but forms and plug-ins do",
        )
    }
}

fn account_rules(tables: &Tables, config: &CrmConfig) -> Check {
    const NAME: &str = "account rules";
    let mut problems = Vec::new();
    for (index, rule) in config.mapping.accounts.iter().enumerate() {
        let key = format!("mapping.accounts[{index}]");
        match rule {
            AccountRule::ExternalId { column, .. } if !tables["account"].contains_key(column) => {
                problems.push(format!("{key}: account has no column '{column}'"));
            }
            AccountRule::NameCountry if matches!(config.country(), Country::Lookup(_)) => {
                problems.push(format!(
                    "{key}: name_country needs a text country column; the country is a lookup"
                ));
            }
            _ => {}
        }
    }
    if let Country::Lookup(lookup) = config.country() {
        let column = lookup.lookup.to_ascii_lowercase();
        if !tables["account"].contains_key(&column) {
            problems.push(format!(
                "mapping.country.lookup: account has no column '{column}'"
            ));
        }
    }
    let rules: Vec<String> = config
        .mapping
        .accounts
        .iter()
        .map(AccountRule::describe)
        .collect();
    match problems.is_empty() {
        true => Check::pass(
            NAME,
            format!("{} (one query each, in order)", rules.join(", then ")),
        ),
        false => Check::fail(NAME, problems.join("; "), "fix the rules named"),
    }
}
