//! `$batch`: one atomic change set ([`ChangeSet`], run with [`DataverseClient::execute`]: each
//! request gets a `Content-ID`, and a later request can bind to an earlier created row through its
//! [`Reference`]; either every request is applied, or none is and the error names the failing
//! part), or a [`Batch`] of queries and change sets sent as one request
//! ([`DataverseClient::send_batch`]), each answered on its own: one change set failing leaves the
//! others applied.
//!
//! Content-IDs are numbered across the whole batch: Microsoft documents them unique within a
//! change set and says nothing of a batch of several, so the client keeps the reading that
//! works under both (and renumbers each change set's `$n` references to match).

use cosell_transport::read_text;
use serde_json::Value;
use uuid::Uuid;

use crate::actions::OpportunityClose;
use crate::client::{Collection, DataverseClient, call, id_of_entity_url};
use crate::error::DataverseError;
use crate::filter::check_column;
use crate::multipart::{self, InnerResponse};
use crate::query::{Page, Query};
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

    /// The change set as one entity of the batch `batch`, its Content-IDs (and `$n`
    /// references) moved up by `offset` so that they are unique across the batch.
    fn render(
        &self,
        out: &mut String,
        base: &str,
        batch: &str,
        offset: u32,
    ) -> Result<(), DataverseError> {
        let changeset = format!("changeset_{}", Uuid::new_v4());
        out.push_str(&format!(
            "--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        ));
        for (index, part) in (1..).zip(&self.parts) {
            let url = match &part.target {
                Target::Set(set) => {
                    check_column(set)?;
                    format!("{base}{set}")
                }
                Target::Row(set, key) => {
                    check_column(set)?;
                    format!("{base}{set}{}", key.segment()?)
                }
                Target::Reference(reference) => format!("${}", reference.0 + offset),
                Target::Action(name) => format!("{base}{name}"),
            };
            out.push_str(&format!(
                "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{} {url} HTTP/1.1\r\n",
                index + offset,
                part.method
            ));
            if let Some((name, value)) = part.precondition.header() {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            match &part.body {
                Some(body) => {
                    out.push_str("Content-Type: application/json; type=entry\r\n\r\n");
                    out.push_str(&renumbered(body, offset, self.parts.len()).to_string());
                    out.push_str("\r\n");
                }
                None => out.push_str("\r\n"),
            }
        }
        out.push_str(&format!("--{changeset}--\r\n"));
        Ok(())
    }
}

/// `body` with each `…@odata.bind` naming `$n` of this change set moved to `$(n + offset)`; the
/// only place Dataverse reads a `$n` in a body.
fn renumbered(body: &Value, offset: u32, parts: usize) -> std::borrow::Cow<'_, Value> {
    let Some(row) = body.as_object().filter(|_| offset > 0) else {
        return std::borrow::Cow::Borrowed(body);
    };
    let mut row = row.clone();
    for (name, value) in row.iter_mut() {
        let reference = value
            .as_str()
            .and_then(|v| v.strip_prefix('$'))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=parts as u32).contains(n));
        if let (true, Some(n)) = (name.ends_with("@odata.bind"), reference) {
            *value = Value::String(format!("${}", n + offset));
        }
    }
    std::borrow::Cow::Owned(Value::Object(row))
}

/// One entry of a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Query { set: String, query: Query },
    Changes(ChangeSet),
}

/// Queries and change sets sent as one `$batch` — one request toward the service protection
/// limit on requests, its operations' time counted in full toward the one on execution time —
/// and answered each on its own ([`DataverseClient::send_batch`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    items: Vec<Item>,
}

/// The answer to one entry of a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A query's first page.
    Page(Page),
    /// A change set applied: one outcome per request, Content-IDs as the change set numbers them.
    Applied(Vec<PartOutcome>),
}

/// What a [`Batch`] came back with.
#[derive(Debug)]
pub struct BatchAnswer {
    /// One per entry, in order: a failed change set was rolled back alone.
    pub answers: Vec<Result<Answer, DataverseError>>,
    /// The service's `x-ms-dop-hint`: "a recommended degree of parallelism for the environment".
    pub dop_hint: Option<u32>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a query (a `GET` part; its first page is the answer).
    pub fn query(&mut self, set: &str, query: Query) {
        self.items.push(Item::Query {
            set: set.to_owned(),
            query,
        });
    }

    /// Adds a change set, applied or rolled back on its own.
    pub fn changes(&mut self, changes: ChangeSet) {
        self.items.push(Item::Changes(changes));
    }

    /// Entries (queries and change sets).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Requests inside (a change set counts each of its requests): at most [`MAX_REQUESTS`].
    pub fn requests(&self) -> usize {
        self.items
            .iter()
            .map(|item| match item {
                Item::Query { .. } => 1,
                Item::Changes(changes) => changes.len(),
            })
            .sum()
    }

    /// Whether the batch may be sent again when its answer was lost: every query is, and every
    /// change set that [`ChangeSet::is_repeatable`].
    pub fn is_repeatable(&self) -> bool {
        self.items.iter().all(|item| match item {
            Item::Query { .. } => true,
            Item::Changes(changes) => changes.is_repeatable(),
        })
    }

    fn render(&self, base: &str, batch: &str) -> Result<String, DataverseError> {
        let mut out = String::new();
        let mut offset = 0;
        for item in &self.items {
            match item {
                Item::Query { set, query } => {
                    check_column(set)?;
                    let qs = query.query_string()?;
                    let url = match qs.is_empty() {
                        true => format!("{base}{set}"),
                        false => format!("{base}{set}?{qs}"),
                    };
                    out.push_str(&format!(
                        "--{batch}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {url} HTTP/1.1\r\n"
                    ));
                    if let Some(prefer) = query.prefer() {
                        out.push_str(&format!("Prefer: {prefer}\r\n"));
                    }
                    out.push_str("\r\n\r\n");
                }
                Item::Changes(changes) => {
                    changes.render(&mut out, base, batch, offset)?;
                    offset += u32::try_from(changes.len()).unwrap_or(u32::MAX);
                }
            }
        }
        out.push_str(&format!("--{batch}--\r\n"));
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
        let mut batch = Batch::new();
        batch.changes(changes.clone());
        let answered = self.send_batch(&batch).await?.answers.pop();
        match answered {
            Some(Ok(Answer::Applied(outcomes))) => Ok(outcomes),
            Some(Err(error)) => Err(error),
            _ => Err(DataverseError::protocol(
                "batch",
                "no answer to the change set",
            )),
        }
    }

    /// Sends the batch as one request with `Prefer: odata.continue-on-error`, so each entry is
    /// answered on its own. Retried whole after a lost answer only when
    /// [`Batch::is_repeatable`]; a `429` is always waited out and sent again (the service
    /// refused it before running any of it). An error here is the whole batch's.
    pub async fn send_batch(&self, batch: &Batch) -> Result<BatchAnswer, DataverseError> {
        if batch.is_empty() {
            return Err(DataverseError::InvalidInput("an empty batch".into()));
        }
        if batch.requests() > MAX_REQUESTS {
            return Err(DataverseError::InvalidInput(format!(
                "a batch of {} requests; at most {MAX_REQUESTS} fit in one $batch",
                batch.requests()
            )));
        }
        let boundary = format!("batch_{}", Uuid::new_v4());
        let body = batch.render(&self.base, &boundary)?;
        let url = format!("{}$batch", self.base);
        let content_type = format!("multipart/mixed; boundary={boundary}");
        let call = call("batch", batch.is_repeatable());
        let response = self
            .send(call, |c| {
                c.post(&url)
                    .header("Content-Type", &content_type)
                    // A failed change set then comes back as a 200 whose part says why.
                    .header("Prefer", "odata.continue-on-error")
                    .body(body.clone())
            })
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let dop_hint = header("x-ms-dop-hint").and_then(|v| v.trim().parse().ok());
        let text = read_text(call, response).await?;
        let entities = read_entities(&content_type, &text)?;
        Ok(BatchAnswer {
            answers: answers(&batch.items, entities),
            dop_hint,
        })
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

/// One top-level answer of a `$batch`: a single HTTP answer (a query's, or a failed change
/// set's), or a change set's answers, each with its `Content-ID`.
enum Entity {
    Single(Option<u32>, InnerResponse),
    ChangeSet(Vec<(Option<u32>, InnerResponse)>),
}

/// The top-level answers in order, from a `$batch` answer body.
fn read_entities(content_type: &str, text: &str) -> Result<Vec<Entity>, DataverseError> {
    let bad = |detail: &str| DataverseError::protocol("batch", detail.to_owned());
    let boundary = multipart::boundary(content_type)
        .ok_or_else(|| bad("the answer is not multipart/mixed"))?;
    let mut entities = Vec::new();
    for entity in multipart::split(text, &boundary)
        .ok_or_else(|| bad("the multipart answer is not closed"))?
    {
        let (headers, content) = multipart::split_head(entity);
        match multipart::header(&headers, "content-type").and_then(multipart::boundary) {
            Some(inner) => {
                let parts = multipart::split(content, &inner)
                    .ok_or_else(|| bad("a change set answer is not closed"))?;
                let parts = parts.into_iter().map(read_part).collect::<Result<_, _>>()?;
                entities.push(Entity::ChangeSet(parts));
            }
            None => {
                let (content_id, answer) = read_part(entity)?;
                entities.push(Entity::Single(content_id, answer));
            }
        }
    }
    Ok(entities)
}

/// Each item's answer from the entities, in order. A lone change set takes every entity (the
/// service may answer its failure in more than one part); otherwise entities and items pair
/// one to one, and any other count leaves every item unanswered rather than misread.
fn answers(items: &[Item], entities: Vec<Entity>) -> Vec<Result<Answer, DataverseError>> {
    if let [Item::Changes(changes)] = items {
        let parts = entities
            .into_iter()
            .flat_map(|entity| match entity {
                Entity::Single(id, answer) => vec![(id, answer)],
                Entity::ChangeSet(parts) => parts,
            })
            .collect();
        return vec![applied(changes, 0, parts)];
    }
    if entities.len() != items.len() {
        let detail = format!("{} answers for {} entries", entities.len(), items.len());
        return items
            .iter()
            .map(|_| Err(DataverseError::protocol("batch", detail.clone())))
            .collect();
    }
    let mut offset = 0;
    items
        .iter()
        .zip(entities)
        .map(|(item, entity)| match (item, entity) {
            (Item::Query { query, .. }, Entity::Single(_, answer)) => page(answer, query.prefer()),
            (Item::Query { .. }, Entity::ChangeSet(_)) => Err(DataverseError::protocol(
                "batch",
                "a query answered as a change set",
            )),
            (Item::Changes(changes), entity) => {
                let parts = match entity {
                    Entity::Single(id, answer) => vec![(id, answer)],
                    Entity::ChangeSet(parts) => parts,
                };
                let answer = applied(changes, offset, parts);
                offset += u32::try_from(changes.len()).unwrap_or(u32::MAX);
                answer
            }
        })
        .collect()
}

/// A query's answer: its first page, or why not.
fn page(answer: InnerResponse, prefer: Option<String>) -> Result<Answer, DataverseError> {
    if answer.status >= 400 {
        let (code, message) = error_fields(&answer.body);
        return Err(DataverseError::BatchQueryFailed {
            status: answer.status,
            code,
            message,
        });
    }
    let page: Collection = serde_json::from_str(&answer.body)
        .map_err(|e| DataverseError::protocol("batch", format!("a query's answer: {e}")))?;
    Ok(Answer::Page(page.into_page(prefer)))
}

/// A change set's answer from its parts (Content-IDs numbered from `offset`): its outcomes, or
/// the failure that rolled it back.
fn applied(
    changes: &ChangeSet,
    offset: u32,
    parts: Vec<(Option<u32>, InnerResponse)>,
) -> Result<Answer, DataverseError> {
    let own = |id: Option<u32>| id.map(|id| id.saturating_sub(offset));
    let mut outcomes = Vec::with_capacity(parts.len());
    for (index, (content_id, answer)) in parts.into_iter().enumerate() {
        if answer.status >= 400 {
            // Without a Content-ID the answer is the change set's: no part is to blame.
            let (code, message) = error_fields(&answer.body);
            return Err(DataverseError::BatchFailed {
                part: own(content_id),
                status: answer.status,
                code,
                message,
            });
        }
        let content_id = own(content_id).unwrap_or(u32::try_from(index + 1).unwrap_or(u32::MAX));
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
    Ok(Answer::Applied(outcomes))
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
