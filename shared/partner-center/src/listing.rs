//! Referrals read one at a time. A listing page is read entry by entry, so one referral cosell
//! cannot read (a `dealValue` of `"1,000"`, a close date of `2026-02-30`) is set apart as
//! [`Unreadable`] — with the field and value that failed — and the others go on; a referral
//! read by id that cannot be read is the same [`Unreadable`], as an error.

use cosell_mapping::{Referral, timestamp};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

/// A referral Partner Center sent that does not fit the documented shape. Retrying cannot help:
/// the data is Microsoft's, and a later edit there brings a new event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Partner Center's referral cannot be read: {problem}")]
pub struct Unreadable {
    /// The entry's `id`, when that much could be read.
    pub id: Option<String>,
    /// Its `updatedDateTime`, when readable: the sweep's watermark moves past it.
    pub updated: Option<OffsetDateTime>,
    /// Its `createdDateTime`, when readable: a create's recovery pages by it.
    pub created: Option<OffsetDateTime>,
    /// The field, the value it had, and why it does not fit: `details.dealValue = "1,000": …`.
    pub problem: String,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every entry is readable: a box would add an allocation per referral and save nothing"
)]
pub enum Listed {
    Readable(Referral),
    Unreadable(Unreadable),
}

impl Listed {
    pub fn id(&self) -> Option<&str> {
        match self {
            Listed::Readable(referral) => referral.id.as_deref(),
            Listed::Unreadable(entry) => entry.id.as_deref(),
        }
    }

    pub fn updated(&self) -> Option<OffsetDateTime> {
        match self {
            Listed::Readable(referral) => referral.updated_date_time,
            Listed::Unreadable(entry) => entry.updated,
        }
    }

    pub fn created(&self) -> Option<OffsetDateTime> {
        match self {
            Listed::Readable(referral) => referral.created_date_time,
            Listed::Unreadable(entry) => entry.created,
        }
    }

    pub fn readable(self) -> Option<Referral> {
        match self {
            Listed::Readable(referral) => Some(referral),
            Listed::Unreadable(_) => None,
        }
    }
}

/// One page of a listing, each entry read on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPage {
    /// `@odata.count`, when the service sent it.
    pub count: Option<u64>,
    pub entries: Vec<Listed>,
    pub next_link: Option<String>,
}

/// The page as sent: its entries left as JSON until each is read.
#[derive(Deserialize)]
pub(crate) struct RawPage {
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
    #[serde(default)]
    value: Option<Vec<Value>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

impl RawPage {
    pub(crate) fn read(self) -> ListedPage {
        let entries = self.value.unwrap_or_default().into_iter().map(|raw| match read(raw) {
            Ok(referral) => Listed::Readable(referral),
            Err(unreadable) => {
                tracing::warn!(referral = ?unreadable.id, problem = %unreadable.problem, "listed referral cannot be read");
                Listed::Unreadable(unreadable)
            }
        });
        ListedPage {
            count: self.count,
            entries: entries.collect(),
            next_link: self.next_link,
        }
    }
}

/// Reads one referral, naming the field and value that do not fit when it cannot.
pub fn read(raw: Value) -> Result<Referral, Unreadable> {
    let text = |field: &str| raw.get(field).and_then(Value::as_str);
    let id = text("id").map(str::to_owned);
    let date = |field: &str| text(field).and_then(|at| timestamp::parse(at).ok());
    let (updated, created) = (date("updatedDateTime"), date("createdDateTime"));
    serde_path_to_error::deserialize(&raw).map_err(|error| {
        let path = error.path().to_string();
        let pointer = pointer(error.path());
        let problem = match raw.pointer(&pointer) {
            Some(value) if !pointer.is_empty() => {
                format!("{path} = {}: {}", shortened(value), error.inner())
            }
            _ => format!("{path}: {}", error.inner()),
        };
        Unreadable {
            id,
            updated,
            created,
            problem,
        }
    })
}

/// The JSON pointer of a serde path (`details.dealValue` → `/details/dealValue`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .fold(String::new(), |pointer, part| format!("{pointer}/{part}"))
}

/// A value as JSON, its first 80 characters and "…" when longer: a reason names it, it does not
/// carry a 10 KB note.
fn shortened(value: &Value) -> String {
    let text = value.to_string();
    cosell_mapping::limits::cut(&text, 81).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(details: Value) -> Value {
        json!({
            "id": "r-1",
            "name": "Contoso",
            "updatedDateTime": "2026-11-01T10:00:00Z",
            "details": details,
        })
    }

    #[test]
    fn a_value_that_never_parses_is_named_with_its_field() {
        for (details, named) in [
            (
                json!({"dealValue": "1,000"}),
                r#"details.dealValue = "1,000""#,
            ),
            (json!({"dealValue": "NaN"}), r#"details.dealValue = "NaN""#),
            (json!({"dealValue": 1e308}), "details.dealValue = 1e+308"),
            (
                json!({"closingDateTime": "2026-02-30T00:00:00Z"}),
                r#"details.closingDateTime = "2026-02-30T00:00:00Z""#,
            ),
            (
                json!({"closingDateTime": "2026-03-01"}),
                r#"details.closingDateTime = "2026-03-01""#,
            ),
        ] {
            let unreadable = read(entry(details)).unwrap_err();
            assert!(unreadable.problem.starts_with(named), "{unreadable:?}");
            assert_eq!(unreadable.id.as_deref(), Some("r-1"));
            assert_eq!(
                unreadable.updated,
                Some(time::macros::datetime!(2026-11-01 10:00 UTC))
            );
        }
    }

    #[test]
    fn a_page_keeps_every_readable_entry() {
        let page: RawPage = serde_json::from_value(json!({
            "value": [entry(json!({"dealValue": 10})), {"name": 5}, entry(json!({"dealValue": "x"}))],
            "@odata.nextLink": "next",
        }))
        .unwrap();
        let page = page.read();
        assert_eq!(page.entries.len(), 3);
        assert!(matches!(&page.entries[0], Listed::Readable(r) if r.id.as_deref() == Some("r-1")));
        assert!(matches!(&page.entries[1], Listed::Unreadable(u) if u.id.is_none()));
        assert!(
            matches!(&page.entries[2], Listed::Unreadable(u) if u.id.as_deref() == Some("r-1"))
        );
        assert_eq!(page.next_link.as_deref(), Some("next"));
    }
}
