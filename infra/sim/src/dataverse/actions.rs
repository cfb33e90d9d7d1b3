//! Unbound actions: `WinOpportunity` and `LoseOpportunity`. Both take
//! `{"Status": n, "OpportunityClose": {"subject": …, "opportunityid@odata.bind": "/opportunities(<id>)"}}`,
//! close the opportunity (statecode 1 Won / statuscode 3; statecode 2 Lost / statuscode 4
//! Canceled or 5 Out-Sold), record an `opportunityclose` row, and answer 204. A closed
//! opportunity answers 400. `PublishXml` (`{"ParameterXml": "<importexportxml>…"}`) publishes
//! customisations: the simulator applies them at once, so it only checks the parameter.

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::DvError;
use super::request::{Ctx, DvRequest, DvResponse};
use super::rows;
use super::store::Store;

pub const ACTIONS: [&str; 3] = ["WinOpportunity", "LoseOpportunity", "PublishXml"];

pub fn run(
    ctx: &Ctx,
    store: &mut Store,
    name: &str,
    request: &DvRequest,
) -> Result<DvResponse, DvError> {
    let body = request.json_object()?;
    if name == "PublishXml" {
        return publish(&body);
    }
    let (state, allowed): (i64, &[i64]) = match name {
        "WinOpportunity" => (1, &[3]),
        _ => (2, &[4, 5]),
    };
    let status = body
        .get("Status")
        .and_then(Value::as_i64)
        .ok_or_else(|| DvError::bad_request(format!("{name} needs a 'Status' parameter.")))?;
    if !allowed.contains(&status) {
        return Err(DvError::invalid(format!(
            "{status} is not a valid status code for state code OpportunityState.{} on opportunity.",
            if state == 1 { "Won" } else { "Lost" }
        )));
    }
    let Some(Value::Object(close)) = body.get("OpportunityClose") else {
        return Err(DvError::bad_request(format!(
            "{name} needs an 'OpportunityClose' parameter."
        )));
    };
    let reference = close
        .get("opportunityid@odata.bind")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            DvError::bad_request("OpportunityClose needs 'opportunityid@odata.bind'.")
        })?;
    let (set, id) = rows::resolve_reference(ctx, store, reference)?;
    if ctx.config.table(&set).logical_name(&set) != "opportunity" {
        return Err(DvError::bad_request(
            "'opportunityid@odata.bind' must point to an opportunity.",
        ));
    }
    let opportunity = store
        .get(&set, &id)
        .expect("resolved row exists")
        .data
        .clone();
    if opportunity
        .get("statecode")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        != 0
    {
        return Err(DvError::invalid(
            "The opportunity is already closed: only an open opportunity can be won or lost.",
        ));
    }

    // The opportunityclose activity, as the real action creates it.
    let mut close_row = rows::write_columns(ctx, store, "opportunitycloses", close, false)?;
    let close_id = Uuid::new_v4();
    close_row.insert("opportunitycloseid".into(), close_id.to_string().into());
    close_row.insert("createdon".into(), rows::now().into());
    store.put("opportunitycloses", close_id, close_row.clone());

    let mut data: Map<String, Value> = opportunity;
    data.insert("statecode".into(), state.into());
    data.insert("statuscode".into(), status.into());
    let today = rows::now()[..10].to_owned();
    data.insert("actualclosedate".into(), today.into());
    if let Some(revenue) = close_row.get("actualrevenue") {
        data.insert("actualvalue".into(), revenue.clone());
    }
    data.insert("modifiedon".into(), rows::now().into());
    store.put(&set, id, data);
    Ok(DvResponse {
        status: StatusCode::NO_CONTENT,
        headers: Vec::new(),
        body: super::request::Body::Empty,
    })
}

/// `PublishXml`: 204 for an `<importexportxml>` parameter, 400 otherwise.
fn publish(body: &Map<String, Value>) -> Result<DvResponse, DvError> {
    match body.get("ParameterXml").and_then(Value::as_str) {
        Some(xml) if xml.trim_start().starts_with("<importexportxml>") => {
            Ok(DvResponse::no_content())
        }
        _ => Err(DvError::bad_request(
            "PublishXml needs a 'ParameterXml' parameter: <importexportxml>…</importexportxml>.",
        )),
    }
}
