//! The event pipeline's registration tables, as a new environment has them: every `sdkmessage`
//! (`Create`, `Update`, `Delete`, `Associate`, `Disassociate`) and an `sdkmessagefilter` per
//! configured table and row message, seeded at start with stable ids. `serviceendpoints` and
//! `sdkmessageprocessingsteps` are ordinary rows written through the Web API. Shapes from
//! Microsoft's entity references (powerapps-docs `reference/entities/serviceendpoint.md`,
//! `sdkmessageprocessingstep.md`, `sdkmessage.md`, `sdkmessagefilter.md`): a filter names its
//! table by logical name in `primaryobjecttypecode` and its message by the `sdkmessageid` lookup;
//! a service endpoint's `authvalue` is write-only (`IsValidForRead` false), never answered.

use serde_json::{Map, Value, json};

use super::config::DvConfig;
use super::ids::{filter_id, message_id};
use super::store::Store;

/// The messages a step may be registered on.
pub const MESSAGES: [&str; 5] = ["Create", "Update", "Delete", "Associate", "Disassociate"];
/// The messages with a filter per table.
const ROW_MESSAGES: [&str; 3] = ["Create", "Update", "Delete"];

/// Columns a read never answers: (entity set, column).
const WRITE_ONLY: [(&str, &str); 1] = [("serviceendpoints", "authvalue")];

/// Whether `column` of `set` is write-only.
pub fn write_only(set: &str, column: &str) -> bool {
    WRITE_ONLY.iter().any(|(s, c)| *s == set && *c == column)
}

/// Writes the messages and filters into a new store.
pub fn seed(config: &DvConfig, store: &mut Store) {
    for message in MESSAGES {
        store.put(
            "sdkmessages",
            message_id(message),
            object(json!({"sdkmessageid": message_id(message).to_string(), "name": message})),
        );
    }
    for (set, table) in &config.tables {
        seed_filters(store, &table.logical_name(set));
    }
}

/// The row messages' filters for a table (Dataverse makes them with the table).
pub fn seed_filters(store: &mut Store, logical: &str) {
    for message in ROW_MESSAGES {
        let id = filter_id(message, logical);
        store.put(
            "sdkmessagefilters",
            id,
            object(json!({
                "sdkmessagefilterid": id.to_string(),
                "name": format!("{message} of {logical}"),
                "primaryobjecttypecode": logical,
                "_sdkmessageid_value": message_id(message).to_string(),
                "_sdkmessageid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "sdkmessage",
                "iscustomprocessingstepallowed": true,
            })),
        );
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
