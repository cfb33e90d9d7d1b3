//! One referral field ↔ one CRM column: a JSON pointer into the referral, a direction, and a
//! value map for choice columns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ConfigError;

/// The table a field mapping writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    #[default]
    Opportunity,
    Lead,
}

impl Table {
    pub fn logical_name(self) -> &'static str {
        match self {
            Self::Opportunity => "opportunity",
            Self::Lead => "lead",
        }
    }
}

/// Which way a mapped field goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Partner Center → CRM.
    #[default]
    In,
    /// CRM → Partner Center.
    Out,
    Both,
}

impl Flow {
    pub fn comes_in(self) -> bool {
        matches!(self, Self::In | Self::Both)
    }

    pub fn goes_out(self) -> bool {
        matches!(self, Self::Out | Self::Both)
    }
}

/// The referral fields an update can send. Partner Center's connector definition allows PATCH on
/// these paths only (partner-center contract §8, from Microsoft's published connector definition);
/// the rest of its list (`/details/dealValue`, `/status`, …) are fields cosell keeps itself.
pub const SENDABLE: &[&str] = &["/salesStage", "/campaignId", "/referralProgram"];

/// Referral fields cosell maps itself: a mapping may copy them in, never send them.
const BUILT_IN: &[&str] = &[
    "/id",
    "/name",
    "/status",
    "/substatus",
    "/statusReason",
    "/externalReferenceId",
    "/details/dealValue",
    "/details/currency",
    "/details/closingDateTime",
    "/details/notes",
    "/consent/consentToShareReferralWithMicrosoftSellers",
];

/// The referral's members (partner-center contract §4), two levels deep where they are objects:
/// a pointer must start with one, so a typo is an error, not a column that stays empty.
const MEMBERS: &[(&str, &[&str])] = &[
    ("id", &[]),
    ("engagementId", &[]),
    ("organizationId", &[]),
    ("organizationName", &[]),
    ("name", &[]),
    ("externalReferenceId", &[]),
    ("createdDateTime", &[]),
    ("updatedDateTime", &[]),
    ("expirationDateTime", &[]),
    ("acceptedDateTime", &[]),
    ("closedDateTime", &[]),
    ("status", &[]),
    ("substatus", &[]),
    ("statusReason", &[]),
    ("type", &[]),
    ("qualification", &[]),
    ("direction", &[]),
    ("target", &[]),
    ("salesStage", &[]),
    ("campaignId", &[]),
    ("referralProgram", &[]),
    ("dealSensitivity", &[]),
    ("referralSource", &[]),
    ("tags", &[]),
    ("team", &[]),
    (
        "customerProfile",
        &["name", "size", "address", "team", "ids"],
    ),
    (
        "consent",
        &[
            "consentToToShareInfoWithOthers",
            "consentToContact",
            "consentToMicrosoftToContactSpecificPartners",
            "consentToShareReferralWithMicrosoftSellers",
        ],
    ),
    (
        "details",
        &[
            "notes",
            "dealValue",
            "currency",
            "closingDateTime",
            "requirements",
        ],
    ),
    (
        "inviteContext",
        &[
            "notes",
            "invitedBy",
            "assistanceRequestCode",
            "invitedMpnId",
        ],
    ),
    ("trackingInfo", &["microsoftMsxId"]),
];

/// `referral` (a JSON pointer) ↔ `column` of `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// RFC 6901 pointer into the referral, e.g. `/details/requirements/industries/0/id`.
    pub referral: String,
    #[serde(default)]
    pub table: Table,
    pub column: String,
    #[serde(default, rename = "direction")]
    pub flow: Flow,
    /// Referral text → option value, for a choice column. Empty: the value is copied as it is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, i64>,
}

/// Mapped columns and their canonical values (what a sync writes and compares).
pub type MappedValues = BTreeMap<String, Value>;

impl FieldMapping {
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let bad = |problem: String| ConfigError::Mapping {
            key: key.to_owned(),
            problem,
        };
        super::logical_name(&format!("{key}.column"), &self.column)?;
        let pointer = self.referral.as_str();
        let mut segments = pointer.strip_prefix('/').map(|p| p.split('/'));
        let first = segments
            .as_mut()
            .and_then(Iterator::next)
            .unwrap_or_default();
        let second = segments.as_mut().and_then(Iterator::next);
        let known = MEMBERS.iter().find(|(name, _)| *name == first);
        let matches = match (known, second) {
            (None, _) => false,
            (Some((_, [])), _) | (Some(_), None) => true,
            (Some((_, members)), Some(second)) => members.contains(&second),
        };
        if !pointer.starts_with('/') || !matches {
            return Err(bad(format!(
                "referral pointer '{pointer}' names no field of a referral (e.g. /customerProfile/size, /details/requirements/industries/0/id)"
            )));
        }
        if self.flow.goes_out() && !SENDABLE.contains(&pointer) {
            let why = if BUILT_IN.contains(&pointer) {
                "cosell already keeps it in sync".to_owned()
            } else {
                format!(
                    "Partner Center takes updates of {} only",
                    SENDABLE.join(", ")
                )
            };
            return Err(bad(format!(
                "'{pointer}' cannot go out ({why}); use direction = \"in\""
            )));
        }
        Ok(())
    }

    /// The column's value for `referral` (the referral as JSON): the field through the value
    /// map, or as it is. `None` when the referral lacks it, it is not a scalar, or the value map
    /// has no entry for it (see [`Self::holds`] to tell them apart).
    pub fn read_referral(&self, referral: &Value) -> Option<Value> {
        let value = canonical(referral.pointer(&self.referral)?)?;
        if self.values.is_empty() {
            return Some(value);
        }
        let text = match &value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.values
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(&text))
            .map(|(_, option)| Value::from(*option))
    }

    /// Whether the referral holds a value at the pointer (mapped or not).
    pub fn holds(&self, referral: &Value) -> bool {
        referral
            .pointer(&self.referral)
            .and_then(canonical)
            .is_some()
    }

    /// The top-level member a sendable field is (`/salesStage` → `salesStage`).
    pub fn member(&self) -> &str {
        self.referral.trim_start_matches('/')
    }

    /// The referral's value for a column value (the value map read backwards).
    pub fn to_referral(&self, column: &Value) -> Option<Value> {
        let value = canonical(column)?;
        if self.values.is_empty() {
            return Some(value);
        }
        let option = value.as_i64()?;
        self.values
            .iter()
            .find(|(_, v)| **v == option)
            .map(|(key, _)| Value::String(key.clone()))
    }
}

/// A scalar, trimmed; empty text, null, arrays and objects read as absent.
pub fn canonical(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => {
            let text = text.trim();
            (!text.is_empty()).then(|| Value::String(text.to_owned()))
        }
        Value::Number(_) | Value::Bool(_) => Some(value.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn industry() -> FieldMapping {
        FieldMapping {
            referral: "/details/requirements/industries/0/id".into(),
            table: Table::Opportunity,
            column: "new_industry".into(),
            flow: Flow::In,
            values: BTreeMap::from([("Retail".into(), 100_000_001)]),
        }
    }

    #[test]
    fn reads_through_the_value_map_both_ways() {
        let referral = json!({"details": {"requirements": {"industries": [{"id": "retail"}]}}});
        assert_eq!(
            industry().read_referral(&referral),
            Some(json!(100_000_001))
        );
        assert_eq!(
            industry().to_referral(&json!(100_000_001)),
            Some(json!("Retail"))
        );
        let other = json!({"details": {"requirements": {"industries": [{"id": "Mining"}]}}});
        assert_eq!(industry().read_referral(&other), None);
        assert_eq!(industry().read_referral(&json!({})), None);
    }

    #[test]
    fn a_pointer_to_nothing_or_an_unsendable_field_is_refused_by_key() {
        let mut field = industry();
        field.referral = "/details/requirments/industries/0/id".into();
        let error = field.validate("mapping.fields[0]").unwrap_err().to_string();
        assert!(
            error.contains("mapping.fields[0]") && error.contains("names no field"),
            "{error}"
        );
        let mut field = industry();
        field.flow = Flow::Both;
        let error = field.validate("mapping.fields[1]").unwrap_err().to_string();
        assert!(error.contains("cannot go out"), "{error}");
        let mut stage = industry();
        stage.referral = "/salesStage".into();
        stage.flow = Flow::Both;
        stage.validate("k").unwrap();
    }
}
