//! One JSON Patch (RFC 6902) operation, the one type the outbound plan builds and the Partner
//! Center client sends (`cosell_partner_center` re-exports it).

use serde::Serialize;
use serde_json::Value;

/// One operation; Partner Center takes only `replace` and `add`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: PatchOpKind,
    /// A JSON pointer, e.g. `/status` or `/details/notes`.
    pub path: String,
    pub value: Value,
}

/// The two operation kinds Partner Center accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    Replace,
    Add,
}

impl PatchOpKind {
    /// `"replace"` or `"add"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Add => "add",
        }
    }
}

impl PatchOp {
    pub fn replace(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            op: PatchOpKind::Replace,
            path: path.into(),
            value: value.into(),
        }
    }

    pub fn add(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            op: PatchOpKind::Add,
            path: path.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_rfc_6902_object() {
        let op = PatchOp::add("/details/notes", "n");
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            serde_json::json!({"op": "add", "path": "/details/notes", "value": "n"})
        );
    }
}
