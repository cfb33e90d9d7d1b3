//! Typed errors. Each names what it was looking at (column, key, value), because the message
//! ends up in the opportunity's audit column and an operator must be able to act on it.

use serde_json::Value;

use crate::enums::AssistanceRequestCode;

/// A value that cannot be mapped between Partner Center and Dataverse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// A date-time that is not RFC 3339.
    #[error("'{value}' is not an RFC 3339 timestamp")]
    InvalidTimestamp { value: String },

    /// A Dataverse column holds a value of the wrong shape.
    #[error("column '{column}' should hold {expected}, got {value}")]
    InvalidColumn {
        column: String,
        expected: &'static str,
        value: Value,
    },

    /// The help column holds an option value the configured help options do not list.
    #[error(
        "column '{column}' holds option value {value}, which the help options (COSELL_HELP_OPTIONS) do not map"
    )]
    UnknownHelpOption { column: String, value: i64 },

    /// An assistance request code that has no option value in the configured help options.
    #[error(
        "'{code}' has no option value for column '{column}' in the help options (COSELL_HELP_OPTIONS)"
    )]
    UnmappedHelpCode {
        column: String,
        code: AssistanceRequestCode,
    },

    /// A Services choice column holds an option this process has no label for: the metadata
    /// cache (read once a day) does not name it yet. Not final: a later process reads the cache
    /// again.
    #[error(
        "column '{column}' holds choice value {value}, whose label cosell has not read from Dataverse metadata yet (the reconcile job reads it once a day; `cosell check` lists the options)"
    )]
    UnknownChoice { column: String, value: i64 },

    /// A change that cannot be applied to the referral as read (for a `PUT` of the whole one).
    #[error("the referral cannot take '{path}': {problem}")]
    Unappliable { path: String, problem: String },
}

/// A `COSELL_*` setting that cannot be used; see [`crate::config`] for the keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A yes/no setting with another value.
    #[error("{key} must be true or false, got '{value}'")]
    InvalidBool { key: &'static str, value: String },

    /// A column or table setting that is not a Dataverse logical name.
    #[error(
        "{key} must be a Dataverse logical name (lowercase letters, digits and _), got '{value}'"
    )]
    InvalidLogicalName { key: &'static str, value: String },

    /// An entry of the mapping document (`COSELL_MAPPING`) that cannot be used; `key` is its
    /// place in the document, e.g. `mapping.fields[2].column`.
    #[error("{key}: {problem}")]
    Mapping { key: String, problem: String },

    /// An entry of `COSELL_HELP_OPTIONS` that cannot be used.
    #[error("{key} entry '{entry}' {problem}")]
    InvalidHelpOption {
        key: &'static str,
        entry: String,
        problem: String,
    },
}
