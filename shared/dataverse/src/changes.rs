//! Change tracking, the outbound cursor: a baseline (`Prefer: odata.track-changes`) gives every
//! row and a delta link; the delta link gives the rows created or updated since, the ids of rows
//! deleted since, and the next delta link. Store the whole link, and replace it only once every
//! change before it has been processed. An expired link is [`DataverseError::DeltaLinkExpired`]:
//! take a fresh baseline.

use cosell_transport::read_json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{DataverseClient, call};
use crate::error::{DataverseError, EXPIRED_VERSION_STAMP};
use crate::query::{columns, encode_params, prefer};
use crate::types::{Id, Record, Row};

/// The whole `@odata.deltaLink`, as the service gave it: what the sync keeps as its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaLink(pub String);

impl DeltaLink {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every row of a table at the start of tracking, and where to ask for changes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub records: Vec<Record>,
    pub delta_link: DeltaLink,
}

/// What changed since a delta link.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Rows created or updated (their current state), in the order the service listed them.
    pub upserted: Vec<Record>,
    pub deleted: Vec<Id>,
    pub delta_link: DeltaLink,
}

/// One page of a baseline or of changes: either another page follows (`next_link`) or this is
/// the last one (`delta_link`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesPage {
    pub upserted: Vec<Record>,
    pub deleted: Vec<Id>,
    pub next_link: Option<String>,
    pub delta_link: Option<DeltaLink>,
}

/// A `4xx` that is not about who is asking (401, 403) or how often (429).
fn refuses_link(error: &cosell_transport::ApiError) -> bool {
    error
        .status()
        .is_some_and(|s| (400..500).contains(&s) && !matches!(s, 401 | 403 | 429))
}

#[derive(Deserialize)]
struct Answer {
    /// Absent when nothing changed: the change-tracking page says an empty JSON answer may come.
    value: Option<Vec<Value>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

impl DataverseClient {
    /// The first page of a baseline of `set` with the given columns (no filter: change tracking
    /// does not allow one; filter on our side).
    pub async fn track_changes_page(
        &self,
        set: &str,
        select: &[&str],
    ) -> Result<ChangesPage, DataverseError> {
        let mut url = self.set_url(set)?;
        if !select.is_empty() {
            url = format!("{url}?{}", encode_params(&[("$select", columns(select)?)]));
        }
        self.changes_request(&url, false).await
    }

    /// The page behind a next link or a delta link. A link the service refuses with a `4xx`
    /// other than 401, 403 and 429 is [`DataverseError::DeltaLinkExpired`]: no error code is
    /// published for an expired Web API delta link (`0x80044352` is documented for metadata
    /// change tracking only), and a fresh baseline is the answer to any of them.
    /// A link this client will not follow (not a URL, another host) is refused without a
    /// request ([`DataverseError::is_refused_link`]).
    pub async fn changes_page(&self, link: &str) -> Result<ChangesPage, DataverseError> {
        self.check_link("changes", link)?;
        self.changes_request(link, true).await
    }

    /// A full baseline, every page read.
    pub async fn track_changes(
        &self,
        set: &str,
        select: &[&str],
    ) -> Result<Baseline, DataverseError> {
        let mut page = self.track_changes_page(set, select).await?;
        let mut records = Vec::new();
        loop {
            records.append(&mut page.upserted);
            match (page.next_link.take(), page.delta_link.take()) {
                (Some(next), _) => page = self.changes_page(&next).await?,
                (None, Some(delta_link)) => {
                    return Ok(Baseline {
                        records,
                        delta_link,
                    });
                }
                (None, None) => {
                    return Err(DataverseError::protocol(
                        "changes",
                        "the last page has no @odata.deltaLink",
                    ));
                }
            }
        }
    }

    /// Everything changed since `link`, every page read, and the next delta link.
    pub async fn changes_since(&self, link: &DeltaLink) -> Result<Changes, DataverseError> {
        let mut page = self.changes_page(link.as_str()).await?;
        let mut upserted = Vec::new();
        let mut deleted = Vec::new();
        loop {
            upserted.append(&mut page.upserted);
            deleted.append(&mut page.deleted);
            match (page.next_link.take(), page.delta_link.take()) {
                (Some(next), _) => page = self.changes_page(&next).await?,
                (None, Some(delta_link)) => {
                    return Ok(Changes {
                        upserted,
                        deleted,
                        delta_link,
                    });
                }
                (None, None) => {
                    return Err(DataverseError::protocol(
                        "changes",
                        "the last page has no @odata.deltaLink",
                    ));
                }
            }
        }
    }

    async fn changes_request(&self, url: &str, link: bool) -> Result<ChangesPage, DataverseError> {
        let call = call("changes", true);
        let prefer = prefer(self.config.change_page_size, None, true).unwrap_or_default();
        let response = match self
            .send(call, |c| c.get(url).header("Prefer", &prefer))
            .await
        {
            Ok(response) => response,
            Err(DataverseError::Api(e))
                if e.code() == Some(EXPIRED_VERSION_STAMP) || (link && refuses_link(&e)) =>
            {
                let message = match &e {
                    cosell_transport::ApiError::Service { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                return Err(DataverseError::DeltaLinkExpired { message });
            }
            Err(e) => return Err(e),
        };
        let answer: Answer = read_json(call, response).await?;
        if link
            && answer.value.is_none()
            && answer.next_link.is_none()
            && answer.delta_link.is_none()
        {
            // An empty answer to a link: nothing changed since it, so it stays the cursor.
            return Ok(ChangesPage {
                upserted: Vec::new(),
                deleted: Vec::new(),
                next_link: None,
                delta_link: Some(DeltaLink(url.to_owned())),
            });
        }
        let mut upserted = Vec::new();
        let mut deleted = Vec::new();
        for item in answer.value.unwrap_or_default() {
            let Value::Object(row) = item else {
                return Err(DataverseError::protocol(
                    "changes",
                    "a change is not a JSON object",
                ));
            };
            if is_deleted(&row) {
                let id = row
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        DataverseError::protocol("changes", "a deleted entry without an id")
                    })?;
                deleted.push(id);
            } else {
                upserted.push(Record::from_row(row));
            }
        }
        Ok(ChangesPage {
            upserted,
            deleted,
            next_link: answer.next_link,
            delta_link: answer.delta_link.map(DeltaLink),
        })
    }
}

fn is_deleted(row: &Row) -> bool {
    row.get("@odata.context")
        .and_then(Value::as_str)
        .is_some_and(|c| c.ends_with("$deletedEntity"))
        || (row.len() <= 3
            && row.contains_key("id")
            && row.get("reason").and_then(Value::as_str) == Some("deleted"))
}
