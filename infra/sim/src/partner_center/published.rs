//! [`Published`]: what Microsoft publishes about the referrals API (`published.toml`, with its
//! sources), parsed once. The simulator enforces it unless a lenient knob says otherwise; the
//! clients' conformance tests check their requests against the same facts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The facts, as `published.toml` states them.
#[derive(Debug, Deserialize)]
pub struct Published {
    pub host: String,
    pub path: String,
    pub next_link: NextLink,
    pub list: List,
    pub referral: ReferralFacts,
    pub patch: Patch,
    /// Operation (`list`, `get`, `create`, `replace`, `patch`) → the status codes it declares.
    pub responses: BTreeMap<String, Vec<u16>>,
    /// Field → its values.
    pub enums: BTreeMap<String, Vec<String>>,
    pub registration: Registration,
}

/// Webhook registration: what `POST` answers when a registration exists.
#[derive(Debug, Deserialize)]
pub struct Registration {
    /// The status codes Create Registration declares.
    pub create: Vec<u16>,
    /// The simulator's status for "registration already exists" (Microsoft gives none).
    pub exists_status: u16,
    pub exists_message: String,
}

#[derive(Debug, Deserialize)]
pub struct NextLink {
    pub scheme: String,
    pub path: String,
    pub parameter: String,
}

#[derive(Debug, Deserialize)]
pub struct List {
    pub parameters: Vec<String>,
    pub filter_operators: Vec<String>,
    pub filter_fields: Vec<String>,
    /// The `$orderby` keys partner-rest documents.
    pub orderby: Vec<String>,
    /// `<field> <op>` forms sent only as a verified reading with a fallback.
    pub tried_filters: Vec<String>,
    /// `$orderby` keys sent only as a verified reading with a fallback.
    pub tried_orderby: Vec<String>,
}

/// The referral resource.
#[derive(Debug, Deserialize)]
pub struct ReferralFacts {
    /// Members the service sets itself: a create or `PUT` carrying one is refused.
    pub read_only: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Patch {
    pub ops: Vec<String>,
    pub paths: Vec<String>,
}

impl Published {
    /// The facts (parsed on first use; the file is part of this crate, so it always parses).
    pub fn get() -> &'static Published {
        static FACTS: OnceLock<Published> = OnceLock::new();
        FACTS.get_or_init(|| {
            toml::from_str(include_str!("published.toml")).expect("published.toml parses")
        })
    }

    /// Whether the connector's PATCH allows `op` on `path`.
    pub fn patchable(&self, op: &str, path: &str) -> bool {
        self.patch.ops.iter().any(|o| o == op) && self.patch.paths.iter().any(|p| p == path)
    }

    /// Whether a `$filter` clause `<field> <op> …` is a documented form.
    pub fn filterable(&self, field: &str, op: &str) -> bool {
        self.list.filter_fields.iter().any(|f| f == field)
            && self
                .list
                .filter_operators
                .iter()
                .any(|o| o.eq_ignore_ascii_case(op))
    }

    /// Whether `status` is among the codes `operation` declares.
    pub fn declares(&self, operation: &str, status: u16) -> bool {
        self.responses
            .get(operation)
            .is_some_and(|codes| codes.contains(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connector_does_not_patch_the_name_or_whole_objects() {
        let facts = Published::get();
        assert!(facts.patchable("replace", "/details/dealValue"));
        assert!(facts.patchable("add", "/details/notes"));
        for path in ["/name", "/details", "/consent", "/customerProfile/name"] {
            assert!(!facts.patchable("replace", path), "{path}");
        }
        assert!(!facts.patchable("remove", "/details/notes"));
    }

    #[test]
    fn registering_over_an_existing_registration_is_refused_with_an_undeclared_status() {
        let facts = &Published::get().registration;
        assert!(
            !facts.create.contains(&facts.exists_status),
            "an 'other' status"
        );
        assert!(facts.exists_message.contains("use PUT"));
    }

    #[test]
    fn only_eq_on_documented_fields_filters() {
        let facts = Published::get();
        assert!(facts.filterable("status", "eq"));
        assert!(!facts.filterable("updatedDateTime", "gt"));
        assert!(!facts.filterable("status", "ne"));
        assert!(!facts.filterable("externalReferenceId", "eq"));
    }
}
