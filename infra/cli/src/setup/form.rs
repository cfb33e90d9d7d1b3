//! Setup's form step (`--form`): a "Microsoft Partner Center" section holding the solutions
//! sub-grid, added to each main opportunity form (`systemforms`, `type` 2) that has none, then
//! published. A form already showing the solutions relationship is left alone. The form XML is
//! edited as text at one place: the section goes first in the first tab's first column.

use cosell_dataverse::pipeline::Apply;
use cosell_dataverse::{DataverseClient, DataverseError, Filter, Key, Precondition, Query, Row};
use cosell_mapping::CrmConfig;
use serde_json::Value;

use crate::check::Check;

const NAME: &str = "opportunity form";
/// The section's name: how a rerun recognises it.
pub const SECTION: &str = "cosell_partnercenter";
/// The sub-grid control's class id (the form XML schema's `Subgrid`).
const SUBGRID: &str = "{E7A81278-8635-4D9E-8D4D-59480B391C5B}";
/// `systemform.type`: 2 Main.
const MAIN: i64 = 2;

/// `form_xml` with the section added after the first `<sections>`; `None` when it already shows
/// the relationship or has no section to put it beside.
pub fn with_section(form_xml: &str, crm: &CrmConfig) -> Option<String> {
    let relationship = &crm.solutions.relationship;
    if form_xml.contains(&format!(
        "<RelationshipName>{relationship}</RelationshipName>"
    )) || form_xml.contains(&format!("name=\"{SECTION}\""))
    {
        return None;
    }
    let at = form_xml.find("<sections>")? + "<sections>".len();
    let section = format!(
        r#"<section name="{SECTION}" id="{{{id}}}" showlabel="true" showbar="true" columns="1"><labels><label description="Microsoft Partner Center" languagecode="1033" /></labels><rows><row><cell id="{{{cell}}}" showlabel="true" colspan="1" rowspan="4"><labels><label description="Partner Center solutions" languagecode="1033" /></labels><control id="cosell_solutions" classid="{SUBGRID}" indicationOfSubgrid="true"><parameters><RecordsPerPage>4</RecordsPerPage><AutoExpand>Fixed</AutoExpand><EnableQuickFind>false</EnableQuickFind><EnableViewPicker>false</EnableViewPicker><EnableJumpBar>false</EnableJumpBar><ChartGridMode>Grid</ChartGridMode><RelationshipName>{relationship}</RelationshipName><TargetEntityType>{table}</TargetEntityType></parameters></control></cell></row></rows></section>"#,
        id = uuid::Uuid::new_v4(),
        cell = uuid::Uuid::new_v4(),
        table = crm.solutions_table,
    );
    let mut edited = form_xml.to_owned();
    edited.insert_str(at, &section);
    Some(edited)
}

/// Adds the section to every main opportunity form without it.
pub async fn step(dataverse: &DataverseClient, crm: &CrmConfig, apply: Apply) -> Check {
    match ensure(dataverse, crm, apply).await {
        Ok((0, kept)) => Check::pass(
            NAME,
            format!("{kept} main form(s) already show the solutions (unchanged)"),
        ),
        Ok((added, _)) if apply == Apply::Plan => Check::pass(
            NAME,
            format!("\"Microsoft Partner Center\" section would be added to {added} main form(s)"),
        ),
        Ok((added, _)) => Check::pass(
            NAME,
            format!(
                "\"Microsoft Partner Center\" section with the solutions added to {added} main form(s); published"
            ),
        ),
        Err(error) if error.is_privilege_denied() => Check::fail(
            NAME,
            format!("not changed: {error}"),
            "editing forms needs the System Customizer role",
        ),
        Err(error) => Check::fail(
            NAME,
            format!("not changed: {error}"),
            "run cosell setup --form again",
        ),
    }
}

async fn ensure(
    dataverse: &DataverseClient,
    crm: &CrmConfig,
    apply: Apply,
) -> Result<(usize, usize), DataverseError> {
    let forms = dataverse
        .query_all(
            "systemforms",
            &Query::new()
                .select(["formid", "formxml"])
                .filter(Filter::eq("objecttypecode", "opportunity").and(Filter::eq("type", MAIN))),
        )
        .await?;
    let (mut added, mut kept) = (0, 0);
    for form in forms {
        let text = |column: &str| {
            form.row
                .get(column)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let Some(edited) = with_section(text("formxml"), crm) else {
            kept += 1;
            continue;
        };
        added += 1;
        if apply == Apply::Plan {
            continue;
        }
        let id: cosell_dataverse::Id = text("formid")
            .parse()
            .map_err(|_| DataverseError::InvalidInput("a form without its formid".into()))?;
        let mut row = Row::new();
        row.insert("formxml".into(), edited.into());
        dataverse
            .update("systemforms", &Key::from(id), &row, Precondition::MustExist)
            .await?;
    }
    if added > 0 && apply == Apply::Write {
        dataverse.publish(&["opportunity"]).await?;
    }
    Ok((added, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = r#"<form><tabs><tab name="Summary"><columns><column width="100%"><sections><section name="info"><rows /></section></sections></column></columns></tab></tabs></form>"#;

    #[test]
    fn the_section_goes_first_in_the_first_tab_once() {
        let crm = CrmConfig::default();
        let edited = with_section(FORM, &crm).unwrap();
        let section = edited.find(SECTION).unwrap();
        assert!(section < edited.find(r#"name="info""#).unwrap());
        assert!(edited.contains(&format!(
            "<RelationshipName>{}</RelationshipName>",
            crm.solutions.relationship
        )));
        assert_eq!(with_section(&edited, &crm), None, "already there");
    }

    #[test]
    fn a_form_showing_the_solutions_already_is_left_alone() {
        let crm = CrmConfig::default();
        let theirs = FORM.replace(
            "<rows />",
            &format!(
                "<rows><row><cell><control><parameters><RelationshipName>{}</RelationshipName></parameters></control></cell></row></rows>",
                crm.solutions.relationship
            ),
        );
        assert_eq!(with_section(&theirs, &crm), None);
        assert_eq!(with_section("<form />", &crm), None, "nowhere to put it");
    }
}
