//! Typed ids, ETags, row addresses and preconditions; rows themselves stay JSON.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::DataverseError;
use crate::filter::{Literal, check_column};

/// A row as Dataverse sends and takes it: column → value, lookups as `_x_value`, writes of
/// lookups as `x@odata.bind` (see [`bind`]).
pub type Row = serde_json::Map<String, Value>;

/// A row's primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(pub Uuid);

impl Id {
    pub fn new_random() -> Self {
        Id(Uuid::new_v4())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for Id {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s.trim()).map(Id)
    }
}

impl From<Uuid> for Id {
    fn from(id: Uuid) -> Self {
        Id(id)
    }
}

/// A row version as sent in `@odata.etag`, e.g. `W/"1000123"`; given back in `If-Match`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(pub String);

impl ETag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How one row is addressed: by primary key, or by an alternate key defined on the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Id(Id),
    Alternate(Vec<(String, Literal)>),
}

impl Key {
    /// `<set>(<column>='value')`, the value escaped.
    pub fn alternate(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Key::Alternate(vec![(column.into(), value.into())])
    }

    /// `(<guid>)` or `(col='v',col2=1)`, escaped and percent-encoded for a URL path.
    pub(crate) fn segment(&self) -> Result<String, DataverseError> {
        let inner = match self {
            Key::Id(id) => id.to_string(),
            Key::Alternate(parts) => {
                if parts.is_empty() {
                    return Err(DataverseError::InvalidInput(
                        "an alternate key needs a column".into(),
                    ));
                }
                let mut rendered = Vec::with_capacity(parts.len());
                for (column, value) in parts {
                    check_column(column)?;
                    rendered.push(format!("{column}={}", value.render()?));
                }
                rendered.join(",")
            }
        };
        Ok(format!("({})", utf8_percent_encode(&inner, PATH_VALUE)))
    }
}

impl From<Id> for Key {
    fn from(id: Id) -> Self {
        Key::Id(id)
    }
}

impl From<Uuid> for Key {
    fn from(id: Uuid) -> Self {
        Key::Id(Id(id))
    }
}

/// Characters percent-encoded in a key inside a URL path; quotes, `=` and `,` stay readable.
const PATH_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'+')
    .add(b'&');

/// `/accounts(<id>)`, the value of a `…@odata.bind` property.
pub fn bind(set: &str, id: Id) -> Value {
    Value::String(format!("/{set}({id})"))
}

/// `/accounts(accountnumber='A-1')`: a lookup bound through an alternate key.
pub fn bind_key(set: &str, key: &Key) -> Result<Value, DataverseError> {
    check_column(set)?;
    Ok(Value::String(format!("/{set}{}", key.segment()?)))
}

/// What a write requires of the row's current state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// PATCH updates, or creates a missing row (upsert).
    #[default]
    None,
    /// Only if the row is still at this version; else 412.
    IfMatch(ETag),
    /// `If-Match: *` — only if the row exists (no upsert); else 404.
    MustExist,
    /// `If-None-Match: *` — only if the row does not exist (create); else 412.
    MustNotExist,
}

impl Precondition {
    pub(crate) fn header(&self) -> Option<(&'static str, String)> {
        match self {
            Precondition::None => None,
            Precondition::IfMatch(etag) => Some(("If-Match", etag.0.clone())),
            Precondition::MustExist => Some(("If-Match", "*".into())),
            Precondition::MustNotExist => Some(("If-None-Match", "*".into())),
        }
    }
}

/// A row read back, with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub etag: Option<ETag>,
    pub row: Row,
}

impl Record {
    /// Splits `@odata.etag` (and `@odata.context`) off a row as the service sent it.
    pub(crate) fn from_row(mut row: Row) -> Self {
        row.remove("@odata.context");
        let etag = match row.remove("@odata.etag") {
            Some(Value::String(tag)) => Some(ETag(tag)),
            _ => None,
        };
        Record { etag, row }
    }

    /// The id in a key column, e.g. `record.id("opportunityid")`.
    pub fn id(&self, key_column: &str) -> Option<Id> {
        self.row.get(key_column)?.as_str()?.parse().ok()
    }

    pub fn get(&self, column: &str) -> Option<&Value> {
        self.row.get(column)
    }

    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.row.get(column)?.as_str()
    }
}

/// An id in a filter: `Filter::eq("accountid", Id(…))`.
impl From<Id> for Literal {
    fn from(id: Id) -> Self {
        Literal::Guid(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_are_escaped_and_encoded() {
        let key = Key::alternate("accountnumber", "O'Bryan & Sons/1");
        assert_eq!(
            key.segment().unwrap(),
            "(accountnumber='O''Bryan%20%26%20Sons%2F1')"
        );
        assert!(Key::alternate("bad column", "x").segment().is_err());
        let id: Id = "0F8FAD5B-D9CB-469F-A165-70867728950E".parse().unwrap();
        assert_eq!(
            Key::Id(id).segment().unwrap(),
            "(0f8fad5b-d9cb-469f-a165-70867728950e)"
        );
        assert_eq!(
            bind("accounts", id),
            Value::String(format!("/accounts({id})"))
        );
    }
}
