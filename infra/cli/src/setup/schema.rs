//! Setup's schema step: Microsoft's co-sell columns where its solution is installed; cosell's
//! own where it is not — an unmanaged solution `cosell` of the publisher `cosell` (prefix
//! `cosell_`) holding the opportunity's co-sell columns, a solutions table related to
//! opportunity, and three system views — then published. Which one is in use is recorded in
//! the sync state, where every process reads it at start. A half-installed Microsoft solution is
//! named, and nothing is created under its prefix.

use cosell_dataverse::customize::definitions as def;
use cosell_dataverse::pipeline::Apply;
use cosell_dataverse::{DataverseClient, DataverseError, Filter, Row, bind};
use cosell_mapping::CrmConfig;
use cosell_mapping::schema::{PREFIX, Schema, names};
use cosell_runtime::Runtime;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::check::Check;

const NAME: &str = "co-sell schema";
/// The unmanaged solution holding what cosell creates.
pub const SOLUTION: &str = "cosell";
/// The publisher's option value prefix (10000–99999): the help choice keeps Microsoft's values.
const OPTION_PREFIX: i64 = 10524;

/// The views cosell adds to opportunity: name, filter conditions, the column shown beside the name.
const VIEWS: [(&str, &str, &str); 3] = [
    (
        "Co-sell: waiting for an answer",
        r#"<condition attribute="cosell_expires" operator="not-null" /><condition attribute="statecode" operator="eq" value="0" />"#,
        names::EXPIRES,
    ),
    (
        "Co-sell: not synced",
        r#"<condition attribute="cosell_sync" operator="eq" value="1" /><condition attribute="cosell_referralid" operator="null" />"#,
        names::AUDIT,
    ),
    (
        "Co-sell: shared with Microsoft",
        r#"<condition attribute="cosell_visible" operator="eq" value="1" />"#,
        names::REFERRAL_ID,
    ),
];

/// Fix for a refused metadata write.
const CUSTOMIZER_FIX: &str = "creating columns, tables and views needs the System Customizer \
     (or System Administrator) role: run cosell setup as a user who holds it";

/// What the step found or made, and the schema to run with (`None`: undecided, ✖).
pub async fn step(
    runtime: &Runtime,
    configured: &CrmConfig,
    apply: Apply,
) -> (Check, Option<Schema>) {
    match ensure(runtime, configured, apply).await {
        Ok(Ensured::Microsoft) => (
            Check::pass(
                NAME,
                "Microsoft's co-sell columns on opportunity (unchanged)",
            ),
            Some(Schema::Microsoft),
        ),
        Ok(Ensured::Cosell(made)) if made.is_empty() => (
            Check::pass(NAME, "cosell's own columns on opportunity (unchanged)"),
            Some(Schema::Cosell),
        ),
        Ok(Ensured::Cosell(made)) if apply == Apply::Plan => (
            Check::pass(
                NAME,
                format!("cosell's own would be made: {}", made.join(", ")),
            ),
            Some(Schema::Cosell),
        ),
        Ok(Ensured::Cosell(made)) => (
            Check::pass(
                NAME,
                format!("cosell's own: created {}; published", made.join(", ")),
            ),
            Some(Schema::Cosell),
        ),
        Ok(Ensured::HalfInstalled(missing)) => (
            Check::fail(
                NAME,
                format!(
                    "Microsoft's co-sell solution is half-installed: opportunity has no {}; \
                     nothing was created under its prefix",
                    missing.join(", ")
                ),
                "repair or reinstall Microsoft's co-sell solution, or set each named setting to \
                 the column's logical name",
            ),
            None,
        ),
        Err(error) if error.is_privilege_denied() => (
            Check::fail(NAME, format!("stopped: {error}"), CUSTOMIZER_FIX),
            None,
        ),
        Err(error) => (
            Check::fail(
                NAME,
                format!("stopped: {error}"),
                "run cosell setup again; it continues where it stopped",
            ),
            None,
        ),
    }
}

enum Ensured {
    Microsoft,
    /// cosell's own, with what this run created.
    Cosell(Vec<String>),
    /// Some of Microsoft's columns, not all: these are missing (with their settings).
    HalfInstalled(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
enum SchemaError {
    #[error(transparent)]
    Dataverse(#[from] DataverseError),
    #[error("the schema could not be recorded in the sync state: {0}")]
    Store(#[from] cosell_store::StoreError),
}

impl SchemaError {
    fn is_privilege_denied(&self) -> bool {
        matches!(self, SchemaError::Dataverse(e) if e.is_privilege_denied())
    }
}

async fn ensure(
    runtime: &Runtime,
    configured: &CrmConfig,
    apply: Apply,
) -> Result<Ensured, SchemaError> {
    let dataverse = &runtime.dataverse;
    let present = dataverse.attribute_names("opportunity").await?;
    let has = |column: &str| present.iter().any(|p| p.eq_ignore_ascii_case(column));
    let microsoft = configured.cosell_columns();
    let missing: Vec<String> = microsoft
        .iter()
        .filter(|(column, _)| !has(column))
        .map(|(column, key)| format!("{column} ({key})"))
        .collect();
    let ensured = if missing.is_empty() {
        Ensured::Microsoft
    } else if missing.len() < microsoft.len() {
        return Ok(Ensured::HalfInstalled(missing));
    } else {
        Ensured::Cosell(create(dataverse, &present, apply).await?)
    };
    if apply == Apply::Plan {
        return Ok(ensured);
    }
    let schema = match ensured {
        Ensured::Microsoft => Schema::Microsoft,
        _ => Schema::Cosell,
    };
    cosell_sync::schema::record(runtime.store.as_ref(), schema, OffsetDateTime::now_utc()).await?;
    Ok(ensured)
}

/// cosell's schema, each part created when missing; what was created.
async fn create(
    dataverse: &DataverseClient,
    present: &[String],
    apply: Apply,
) -> Result<Vec<String>, DataverseError> {
    let write = apply == Apply::Write;
    let mut made = Vec::new();
    ensure_solution(dataverse, &mut made, apply).await?;
    let help: Vec<(i64, &str)> = vec![
        (100000000, "Workload-specific value proposition"),
        (100000001, "Customer technical architecture"),
        (100000002, "Proof of concept or demo"),
        (100000003, "Quotes or licensing"),
        (100000004, "Post-sales customer success"),
        (100000005, "General or other"),
    ];
    let columns = [
        (
            names::SYNC,
            def::yes_no("cosell_sync", "Sync with Partner Center"),
        ),
        (
            names::REFERRAL_ID,
            def::text("cosell_referralid", "Referral Identifier", 100, "Text"),
        ),
        (
            names::REFERRAL_LINK,
            def::text("cosell_referrallink", "Referral Link", 500, "Url"),
        ),
        (
            names::HELP,
            def::choice("cosell_help", "How can Microsoft help?", &help),
        ),
        (
            names::VISIBILITY,
            def::yes_no("cosell_visible", "Referral Visibility"),
        ),
        (
            names::MSX_ID,
            def::text("cosell_msxid", "Microsoft CRM Identifier", 100, "Text"),
        ),
        (
            names::AUDIT,
            def::memo("cosell_audit", "Partner Center sync audit", 10_000),
        ),
        (
            names::EXPIRES,
            def::date_time("cosell_expires", "Answer by"),
        ),
    ];
    let has = |column: &str| present.iter().any(|p| p.eq_ignore_ascii_case(column));
    let mut created_columns = 0;
    for (column, definition) in &columns {
        if !has(column) {
            if write {
                dataverse
                    .create_column("opportunity", definition, SOLUTION)
                    .await?;
            }
            created_columns += 1;
        }
    }
    if created_columns > 0 {
        made.push(format!("{created_columns} opportunity columns"));
    }
    let solutions = match dataverse.attribute_names(names::SOLUTIONS_TABLE).await {
        Ok(columns) => columns,
        Err(error) if error.is_not_found() => {
            let table = def::table(
                "cosell_solution",
                "Partner Center solution",
                "Partner Center solutions",
                def::text("cosell_name", "Name", 200, "Text"),
            );
            if write {
                dataverse.create_table(&table, SOLUTION).await?;
            }
            made.push("the solutions table".into());
            vec![names::SOLUTION_NAME.to_owned()]
        }
        Err(error) => return Err(error),
    };
    if !solutions.iter().any(|c| c == names::SOLUTION_ID) {
        let id = def::text("cosell_partnercenterid", "Solution ID", 100, "Text");
        if write {
            dataverse
                .create_column(names::SOLUTIONS_TABLE, &id, SOLUTION)
                .await?;
        }
        made.push("the solution id column".into());
    }
    if dataverse
        .relationship("opportunity", names::SOLUTIONS_RELATIONSHIP)
        .await?
        .is_none()
    {
        let relationship = def::one_to_many(
            names::SOLUTIONS_RELATIONSHIP,
            "opportunity",
            names::SOLUTIONS_TABLE,
            names::SOLUTION_OPPORTUNITY,
            "Opportunity",
        );
        if write {
            dataverse
                .create_relationship(&relationship, SOLUTION)
                .await?;
        }
        made.push("its relationship to opportunity".into());
    }
    let views = ensure_views(dataverse, apply).await?;
    if views > 0 {
        made.push(format!("{views} views"));
    }
    if write && !made.is_empty() {
        dataverse
            .publish(&["opportunity", names::SOLUTIONS_TABLE])
            .await?;
    }
    Ok(made)
}

/// The publisher `cosell` and its unmanaged solution `cosell`.
async fn ensure_solution(
    dataverse: &DataverseClient,
    made: &mut Vec<String>,
    apply: Apply,
) -> Result<(), DataverseError> {
    let publisher = match first_id(
        dataverse,
        "publishers",
        "publisherid",
        Filter::eq("uniquename", PREFIX),
    )
    .await?
    {
        Some(id) => id,
        None if apply == Apply::Plan => {
            made.push("the publisher cosell".into());
            uuid::Uuid::nil()
        }
        None => {
            let row = object(json!({
                "uniquename": PREFIX,
                "friendlyname": "cosell",
                "customizationprefix": PREFIX,
                "customizationoptionvalueprefix": OPTION_PREFIX,
            }));
            made.push("the publisher cosell".into());
            dataverse.create("publishers", &row).await?.0
        }
    };
    if first_id(
        dataverse,
        "solutions",
        "solutionid",
        Filter::eq("uniquename", SOLUTION),
    )
    .await?
    .is_none()
    {
        let mut row = object(json!({
            "uniquename": SOLUTION,
            "friendlyname": "cosell co-sell sync",
            "version": "1.0.0.0",
        }));
        row.insert(
            "publisherid@odata.bind".into(),
            bind("publishers", publisher.into()),
        );
        if apply == Apply::Write {
            dataverse.create("solutions", &row).await?;
        }
        made.push("the solution cosell".into());
    }
    Ok(())
}

/// The views on opportunity, each created when no view of its name exists; how many were.
async fn ensure_views(dataverse: &DataverseClient, apply: Apply) -> Result<usize, DataverseError> {
    let mut created = 0;
    for (name, conditions, column) in VIEWS {
        let view = Filter::eq("name", name).and(Filter::eq("returnedtypecode", "opportunity"));
        if first_id(dataverse, "savedqueries", "savedqueryid", view)
            .await?
            .is_some()
        {
            continue;
        }
        let fetch = format!(
            r#"<fetch version="1.0" mapping="logical"><entity name="opportunity"><attribute name="opportunityid" /><attribute name="name" /><attribute name="{column}" /><order attribute="name" descending="false" /><filter type="and">{conditions}</filter></entity></fetch>"#
        );
        // Opportunity's object type code is 3.
        let layout = format!(
            r#"<grid name="resultset" object="3" jump="name" select="1" icon="1" preview="1"><row name="result" id="opportunityid"><cell name="name" width="300" /><cell name="{column}" width="200" /></row></grid>"#
        );
        let row = object(json!({
            "name": name,
            "returnedtypecode": "opportunity",
            "querytype": 0,
            "fetchxml": fetch,
            "layoutxml": layout,
            "isdefault": false,
        }));
        if apply == Apply::Write {
            dataverse.create("savedqueries", &row).await?;
        }
        created += 1;
    }
    Ok(created)
}

/// The id of `set`'s first row matching `filter`, if any.
async fn first_id(
    dataverse: &DataverseClient,
    set: &str,
    key: &str,
    filter: Filter,
) -> Result<Option<uuid::Uuid>, DataverseError> {
    let ids = dataverse.ids(set, key, filter).await?;
    Ok(ids.first().map(|id| id.0))
}

fn object(value: Value) -> Row {
    match value {
        Value::Object(map) => map,
        _ => Row::new(),
    }
}
