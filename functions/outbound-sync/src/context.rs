//! The part of Dataverse's `RemoteExecutionContext` the webhook uses: which opportunities a
//! change concerns, and who made it. The body is a trigger only; every opportunity is read again.
//!
//! Shape from Microsoft's sample ("Use webhooks", powerapps-docs): `PrimaryEntityName`,
//! `PrimaryEntityId`, `InitiatingUserId`, `MessageName`; `InputParameters`, `PreEntityImages`
//! and `PostEntityImages` as `[{"key", "value"}]` lists whose entities and entity references
//! carry `LogicalName` and `Id`. An opportunity's own change names it as the primary entity; a
//! solution row's names its opportunity through a lookup in the target (create, update) or in
//! the pre-image (update, delete) — found without a read.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct RemoteExecutionContext {
    #[serde(rename = "PrimaryEntityName")]
    pub entity: String,
    #[serde(rename = "PrimaryEntityId")]
    pub id: Uuid,
    #[serde(rename = "MessageName", default)]
    pub message: Option<String>,
    /// The user whose action started the operation: the application user for cosell's own
    /// writes.
    #[serde(rename = "InitiatingUserId", default)]
    pub initiating_user: Option<Uuid>,
    #[serde(rename = "InputParameters", default)]
    input: Value,
    #[serde(rename = "PreEntityImages", default)]
    before: Value,
    #[serde(rename = "PostEntityImages", default)]
    after: Value,
}

impl RemoteExecutionContext {
    /// The opportunities the change concerns, each once, in the order found.
    pub fn opportunities(&self) -> Vec<Uuid> {
        if self.entity.eq_ignore_ascii_case("opportunity") {
            return vec![self.id];
        }
        let mut found = Vec::new();
        for part in [&self.input, &self.before, &self.after] {
            references(part, &mut found);
        }
        found
    }
}

/// Every `{"LogicalName": "opportunity", "Id": …}` object within `value`.
fn references(value: &Value, found: &mut Vec<Uuid>) {
    match value {
        Value::Object(object) => {
            let names_opportunity = object
                .get("LogicalName")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("opportunity"));
            let id = object
                .get("Id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<Uuid>().ok());
            if let (true, Some(id)) = (names_opportunity, id)
                && !found.contains(&id)
            {
                found.push(id);
            }
            object.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPPORTUNITY: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
    const SOLUTION: &str = "9a4c7b2e-1111-4a2b-8c3d-0e5f6a7b8c9d";

    fn reference(id: &str) -> Value {
        json!({"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
               "Id": id, "LogicalName": "opportunity", "Name": null})
    }

    #[test]
    fn an_opportunitys_change_names_itself() {
        let context: RemoteExecutionContext = serde_json::from_value(json!({
            "MessageName": "Update", "PrimaryEntityName": "opportunity",
            "PrimaryEntityId": OPPORTUNITY, "InitiatingUserId": SOLUTION,
        }))
        .unwrap();
        assert_eq!(
            context.opportunities(),
            [OPPORTUNITY.parse::<Uuid>().unwrap()]
        );
        assert_eq!(context.initiating_user, Some(SOLUTION.parse().unwrap()));
    }

    #[test]
    fn a_solution_rows_change_names_its_opportunity_in_the_target_or_the_pre_image() {
        // Moved from one opportunity to another: the target holds the new one, the pre-image
        // the old one; both are synced.
        let other = "11111111-2222-4333-8444-555555555555";
        let context: RemoteExecutionContext = serde_json::from_value(json!({
            "MessageName": "Update", "PrimaryEntityName": "msft_microsoftpartnercentersolutions",
            "PrimaryEntityId": SOLUTION,
            "InputParameters": [{"key": "Target", "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Attributes": [{"key": "msft_opportunityid", "value": reference(other)}],
                "Id": SOLUTION, "LogicalName": "msft_microsoftpartnercentersolutions"}}],
            "PreEntityImages": [{"key": "before", "value": {
                "Attributes": [{"key": "msft_opportunityid", "value": reference(OPPORTUNITY)}],
                "Id": SOLUTION, "LogicalName": "msft_microsoftpartnercentersolutions"}}],
        }))
        .unwrap();
        assert_eq!(
            context.opportunities(),
            [other.parse::<Uuid>().unwrap(), OPPORTUNITY.parse().unwrap()]
        );
    }

    #[test]
    fn a_deleted_solution_names_its_opportunity_through_the_pre_image_alone() {
        let context: RemoteExecutionContext = serde_json::from_value(json!({
            "MessageName": "Delete", "PrimaryEntityName": "msft_microsoftpartnercentersolutions",
            "PrimaryEntityId": SOLUTION,
            "InputParameters": [{"key": "Target", "value": {
                "__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Id": SOLUTION, "LogicalName": "msft_microsoftpartnercentersolutions"}}],
            "PreEntityImages": [{"key": "before", "value": {
                "Attributes": [{"key": "msft_opportunityid", "value": reference(OPPORTUNITY)}]}}],
        }))
        .unwrap();
        assert_eq!(
            context.opportunities(),
            [OPPORTUNITY.parse::<Uuid>().unwrap()]
        );
    }

    #[test]
    fn linking_a_solution_names_the_opportunity_on_either_side() {
        // AssociateRequest's parameters (org-service "Associate and disassociate"): `Target`,
        // `Relationship`, `RelatedEntities`; the opportunity may be the target or related.
        let solution = json!({"Id": SOLUTION, "LogicalName": "new_solution"});
        for (target, related) in [
            (reference(OPPORTUNITY), solution.clone()),
            (solution.clone(), reference(OPPORTUNITY)),
        ] {
            let context: RemoteExecutionContext = serde_json::from_value(json!({
                "MessageName": "Associate", "PrimaryEntityName": target["LogicalName"],
                "PrimaryEntityId": target["Id"],
                "InputParameters": [
                    {"key": "Target", "value": target},
                    {"key": "Relationship", "value": {"SchemaName": "new_opportunity_solution"}},
                    {"key": "RelatedEntities", "value": [related]},
                ],
            }))
            .unwrap();
            assert_eq!(
                context.opportunities(),
                [OPPORTUNITY.parse::<Uuid>().unwrap()]
            );
        }
    }

    #[test]
    fn an_account_change_names_no_opportunity() {
        let context: RemoteExecutionContext = serde_json::from_value(json!({
            "PrimaryEntityName": "account", "PrimaryEntityId": SOLUTION,
        }))
        .unwrap();
        assert!(context.opportunities().is_empty());
    }
}
