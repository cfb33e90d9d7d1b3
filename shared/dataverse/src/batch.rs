//! One atomic `$batch` change set: build it with [`ChangeSet`] (each request gets a `Content-ID`,
//! and a later request can bind to an earlier created row through its [`Reference`]), run it with
//! [`DataverseClient::execute`]. Either every request is applied, or none is and the error names
//! the failing part.

use cosell_transport::read_text;
use serde_json::Value;
use uuid::Uuid;

use crate::actions::OpportunityClose;
use crate::client::{DataverseClient, call, id_of_entity_url};
use crate::error::DataverseError;
use crate::filter::check_column;
use crate::multipart::{self, InnerResponse};
use crate::types::{ETag, Id, Key, Precondition, Row};

/// The most requests one `$batch` may carry.
pub const MAX_REQUESTS: usize = 1000;

/// A request of the change set, by its `Content-ID`; `bind()` is its `$n` reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reference(u32);

impl Reference {
    pub fn content_id(self) -> u32 {
        self.0
    }

    /// `"$n"`, the value of a `…@odata.bind` property pointing at the row this request wrote.
    pub fn bind(self) -> Value {
        Value::String(format!("${}", self.0))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Set(String),
    Row(String, Key),
    Reference(Reference),
    Action(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
struct Part {
    method: &'static str,
    target: Target,
    body: Option<Value>,
    precondition: Precondition,
}

/// Requests applied together or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    parts: Vec<Part>,
}

/// The answer to one request of a successful change set.
#[derive(Debug, Clone, PartialEq)]
pub struct PartOutcome {
    pub content_id: u32,
    pub status: u16,
    /// From `OData-EntityId` (creates and updates).
    pub entity_id: Option<Id>,
    pub etag: Option<ETag>,
    pub body: Option<Value>,
}

impl ChangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Whether sending the change set twice leaves the same rows as sending it once, so a
    /// `$batch` whose answer was lost may be sent again: true when every part is an upsert
    /// (`PATCH` without an ETag or "must not exist" condition). Creates and actions are not;
    /// nor is a conditional write, whose second try fails on the version the first one made.
    pub fn is_repeatable(&self) -> bool {
        self.parts.iter().all(|part| {
            part.method == "PATCH"
                && matches!(
                    part.precondition,
                    Precondition::None | Precondition::MustExist
                )
        })
    }

    fn push(&mut self, part: Part) -> Reference {
        self.parts.push(part);
        Reference(u32::try_from(self.parts.len()).unwrap_or(u32::MAX))
    }

    pub fn create(&mut self, set: &str, row: Row) -> Reference {
        self.push(Part {
            method: "POST",
            target: Target::Set(set.to_owned()),
            body: Some(Value::Object(row)),
            precondition: Precondition::None,
        })
    }

    /// `PATCH` (an upsert unless the precondition says otherwise).
    pub fn update(
        &mut self,
        set: &str,
        key: Key,
        row: Row,
        precondition: Precondition,
    ) -> Reference {
        self.push(Part {
            method: "PATCH",
            target: Target::Row(set.to_owned(), key),
            body: Some(Value::Object(row)),
            precondition,
        })
    }

    /// `PATCH $n`: updates the row an earlier request of this change set wrote.
    pub fn update_reference(&mut self, target: Reference, row: Row) -> Reference {
        self.push(Part {
            method: "PATCH",
            target: Target::Reference(target),
            body: Some(Value::Object(row)),
            precondition: Precondition::None,
        })
    }

    pub fn delete(&mut self, set: &str, key: Key, precondition: Precondition) -> Reference {
        self.push(Part {
            method: "DELETE",
            target: Target::Row(set.to_owned(), key),
            body: None,
            precondition,
        })
    }

    pub fn win_opportunity(&mut self, opportunity: Id, close: &OpportunityClose) -> Reference {
        self.push(Part {
            method: "POST",
            target: Target::Action("WinOpportunity"),
            body: Some(close.body(opportunity)),
            precondition: Precondition::None,
        })
    }

    pub fn lose_opportunity(&mut self, opportunity: Id, close: &OpportunityClose) -> Reference {
        self.push(Part {
            method: "POST",
            target: Target::Action("LoseOpportunity"),
            body: Some(close.body(opportunity)),
            precondition: Precondition::None,
        })
    }

    /// The `multipart/mixed` body with one change set.
    fn render(&self, base: &str, batch: &str, changeset: &str) -> Result<String, DataverseError> {
        let mut out =
            format!("--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n");
        for (index, part) in self.parts.iter().enumerate() {
            let url = match &part.target {
                Target::Set(set) => {
                    check_column(set)?;
                    format!("{base}{set}")
                }
                Target::Row(set, key) => {
                    check_column(set)?;
                    format!("{base}{set}{}", key.segment()?)
                }
                Target::Reference(reference) => format!("${}", reference.0),
                Target::Action(name) => format!("{base}{name}"),
            };
            out.push_str(&format!(
                "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{} {url} HTTP/1.1\r\n",
                index + 1,
                part.method
            ));
            if let Some((name, value)) = part.precondition.header() {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            match &part.body {
                Some(body) => {
                    out.push_str("Content-Type: application/json; type=entry\r\n\r\n");
                    out.push_str(&body.to_string());
                    out.push_str("\r\n");
                }
                None => out.push_str("\r\n"),
            }
        }
        out.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
        Ok(out)
    }
}

impl DataverseClient {
    /// Runs the change set as one `$batch`. On success, one outcome per request in order; on a
    /// failure nothing was applied and [`DataverseError::BatchFailed`] names the failing part.
    pub async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError> {
        if changes.is_empty() {
            return Err(DataverseError::InvalidInput("an empty change set".into()));
        }
        if changes.len() > MAX_REQUESTS {
            return Err(DataverseError::InvalidInput(format!(
                "a change set of {} requests; at most {MAX_REQUESTS} fit in one $batch",
                changes.len()
            )));
        }
        let batch = format!("batch_{}", Uuid::new_v4());
        let changeset = format!("changeset_{}", Uuid::new_v4());
        let body = changes.render(&self.base, &batch, &changeset)?;
        let url = format!("{}$batch", self.base);
        let content_type = format!("multipart/mixed; boundary={batch}");
        let call = call("batch", changes.is_repeatable());
        let response = self
            .send(call, |c| {
                c.post(&url)
                    .header("Content-Type", &content_type)
                    // A failed change set then comes back as a 200 whose part says why.
                    .header("Prefer", "odata.continue-on-error")
                    .body(body.clone())
            })
            .await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = read_text(call, response).await?;
        let answers = read_answers(&content_type, &text)?;
        let mut outcomes = Vec::with_capacity(answers.len());
        for (index, (content_id, answer)) in answers.into_iter().enumerate() {
            if answer.status >= 400 {
                // Without a Content-ID the answer is the change set's: no part is to blame.
                let (code, message) = error_fields(&answer.body);
                return Err(DataverseError::BatchFailed {
                    part: content_id,
                    status: answer.status,
                    code,
                    message,
                });
            }
            let content_id = content_id.unwrap_or(u32::try_from(index + 1).unwrap_or(u32::MAX));
            let body = (!answer.body.is_empty())
                .then(|| serde_json::from_str::<Value>(&answer.body).ok())
                .flatten();
            outcomes.push(PartOutcome {
                content_id,
                status: answer.status,
                entity_id: multipart::header(&answer.headers, "odata-entityid")
                    .and_then(id_of_entity_url),
                etag: multipart::header(&answer.headers, "etag").map(|e| ETag(e.to_owned())),
                body,
            });
        }
        if outcomes.len() != changes.len() {
            return Err(DataverseError::protocol(
                "batch",
                format!("{} answers for {} requests", outcomes.len(), changes.len()),
            ));
        }
        Ok(outcomes)
    }

    /// Wins an opportunity: `WinOpportunity` (statecode 1 Won, statuscode from `close`).
    pub async fn win_opportunity(
        &self,
        opportunity: Id,
        close: &OpportunityClose,
    ) -> Result<(), DataverseError> {
        self.close_opportunity("WinOpportunity", opportunity, close)
            .await
    }

    /// Loses an opportunity: `LoseOpportunity` (statecode 2 Lost, statuscode 4 or 5).
    pub async fn lose_opportunity(
        &self,
        opportunity: Id,
        close: &OpportunityClose,
    ) -> Result<(), DataverseError> {
        self.close_opportunity("LoseOpportunity", opportunity, close)
            .await
    }

    async fn close_opportunity(
        &self,
        action: &'static str,
        opportunity: Id,
        close: &OpportunityClose,
    ) -> Result<(), DataverseError> {
        let url = format!("{}{action}", self.base);
        let body = close.body(opportunity);
        let call = call(action, false);
        self.send(call, |c| c.post(&url).json(&body)).await?;
        Ok(())
    }
}

/// The answers in order, each with its `Content-ID`, from a `$batch` answer body.
fn read_answers(
    content_type: &str,
    text: &str,
) -> Result<Vec<(Option<u32>, InnerResponse)>, DataverseError> {
    let bad = |detail: &str| DataverseError::protocol("batch", detail.to_owned());
    let boundary = multipart::boundary(content_type)
        .ok_or_else(|| bad("the answer is not multipart/mixed"))?;
    let mut answers = Vec::new();
    for entity in multipart::split(text, &boundary)
        .ok_or_else(|| bad("the multipart answer is not closed"))?
    {
        let (headers, content) = multipart::split_head(entity);
        match multipart::header(&headers, "content-type").and_then(multipart::boundary) {
            Some(inner) => {
                for entity in multipart::split(content, &inner)
                    .ok_or_else(|| bad("a change set answer is not closed"))?
                {
                    answers.push(read_part(entity)?);
                }
            }
            None => answers.push(read_part(entity)?),
        }
    }
    Ok(answers)
}

fn read_part(entity: &str) -> Result<(Option<u32>, InnerResponse), DataverseError> {
    let (headers, content) = multipart::split_head(entity);
    let content_id = multipart::header(&headers, "content-id").and_then(|v| v.parse().ok());
    let response = multipart::parse_response(content)
        .ok_or_else(|| DataverseError::protocol("batch", "a part is not an HTTP answer"))?;
    Ok((content_id, response))
}

/// `{"error":{"code","message"}}`, or the text itself.
fn error_fields(body: &str) -> (String, String) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &value["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (code, Some(message)) => (code.unwrap_or_default().to_owned(), message.to_owned()),
        _ => (String::new(), body.chars().take(300).collect()),
    }
}
