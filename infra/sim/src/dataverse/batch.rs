//! `POST $batch`: a `multipart/mixed` body of requests and change sets (`changeset_…`, atomic),
//! with `Content-ID: n` and `$n` references to rows written earlier in the same change set; at
//! most 1000 requests. The answer is a `multipart/mixed` body in the documented form
//! (`batchresponse_…`, `changesetresponse_…`).
//!
//! On a failure without `Prefer: odata.continue-on-error` processing stops: the batch answers
//! with the failing request's status, and its body holds the answers so far and then the failing
//! part's error. A failed change set is rolled back and answered by one error without a
//! `Content-ID` (the lenient `failed_change_set_names_part` adds the failing part's). With
//! `odata.continue-on-error` the batch answers 200 and goes on.
//!
//! `$n` names a row *created* earlier in the change set (Microsoft: "a variable that contains
//! the Uri for any entity created in that operation"): a `$n` naming another kind of part is
//! refused as one that does not exist.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use bytes::Bytes;
use uuid::Uuid;

use super::error::DvError;
use super::odata::Prefer;
use super::request::{Body, DvRequest, DvResponse};
use super::rows;
use super::store::Store;

pub const MAX_REQUESTS: usize = 1000;

/// One request inside the batch.
#[derive(Debug, Clone)]
pub struct Part {
    pub content_id: Option<String>,
    pub method: Method,
    /// The URL as written: absolute, `/api/data/v9.2/…`, relative, or `$n…`.
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub enum Item {
    Single(Part),
    ChangeSet(Vec<Part>),
}

/// Runs one part: given the store, the part as a request and the change set's references,
/// returns the answer and the row it wrote (for `Content-ID`).
pub type RunPart<'a> = dyn FnMut(
        &mut Store,
        &DvRequest,
        &HashMap<String, (String, Uuid)>,
    ) -> Result<(DvResponse, Option<(String, Uuid)>), DvError>
    + 'a;

pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Splits a multipart body into its parts (RFC 2046): the text between delimiter lines, without
/// the line break that belongs to the next delimiter. CRLF and bare LF are both accepted.
pub fn split_multipart<'a>(body: &'a str, boundary: &str) -> Result<Vec<&'a str>, DvError> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end();
        if text == delimiter || text == closing {
            if let Some(s) = start {
                let content = &body[s..offset];
                let content = content
                    .strip_suffix("\r\n")
                    .or_else(|| content.strip_suffix('\n'))
                    .unwrap_or(content);
                parts.push(content);
            }
            start = Some(offset + line.len());
            if text == closing {
                closed = true;
                break;
            }
        }
        offset += line.len();
    }
    if !closed {
        return Err(DvError::bad_request(format!(
            "The multipart body does not end with the closing delimiter '{closing}'."
        )));
    }
    Ok(parts)
}

/// Splits a MIME entity into header lines and the content after the blank line.
pub fn split_head(entity: &str) -> (Vec<(String, String)>, &str) {
    let (head, rest) = match (entity.find("\r\n\r\n"), entity.find("\n\n")) {
        (Some(a), Some(b)) if b < a => (&entity[..b], &entity[b + 2..]),
        (Some(a), _) => (&entity[..a], &entity[a + 4..]),
        (None, Some(b)) => (&entity[..b], &entity[b + 2..]),
        (None, None) => (entity, ""),
    };
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, rest)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses the batch body into requests and change sets.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Item>, DvError> {
    let boundary = boundary(content_type).ok_or_else(|| {
        DvError::bad_request("A $batch request needs Content-Type: multipart/mixed; boundary=…")
    })?;
    let body = std::str::from_utf8(body)
        .map_err(|_| DvError::bad_request("The $batch body is not UTF-8."))?;
    let mut items = Vec::new();
    for entity in split_multipart(body, &boundary)? {
        let (headers, content) = split_head(entity);
        let kind = header(&headers, "content-type").unwrap_or("");
        if let Some(inner) = boundary_of_changeset(kind) {
            let mut parts = Vec::new();
            for entity in split_multipart(content, &inner)? {
                let (headers, content) = split_head(entity);
                let part = parse_part(&headers, content)?;
                if part.method == Method::GET {
                    return Err(DvError::bad_request(
                        "GET requests are not allowed inside a change set.",
                    ));
                }
                parts.push(part);
            }
            items.push(Item::ChangeSet(parts));
        } else {
            items.push(Item::Single(parse_part(&headers, content)?));
        }
    }
    let count: usize = items
        .iter()
        .map(|i| match i {
            Item::Single(_) => 1,
            Item::ChangeSet(parts) => parts.len(),
        })
        .sum();
    // Microsoft documents a Content-ID as unique within its change set and says nothing of a
    // batch of several; OData's strictest reading holds it unique within the batch.
    let mut seen = std::collections::HashSet::new();
    for part in items.iter().flat_map(|item| match item {
        Item::Single(part) => std::slice::from_ref(part),
        Item::ChangeSet(parts) => parts.as_slice(),
    }) {
        if let Some(id) = &part.content_id
            && !seen.insert(id.as_str())
        {
            return Err(DvError::bad_request(format!(
                "Content-ID '{id}' is used more than once in the batch."
            )));
        }
    }
    if count > MAX_REQUESTS {
        return Err(DvError::invalid(format!(
            "The number of requests in a batch ({count}) exceeds the limit of {MAX_REQUESTS}."
        )));
    }
    Ok(items)
}

fn boundary_of_changeset(content_type: &str) -> Option<String> {
    boundary(content_type)
}

/// One `application/http` part: a request line, headers, a blank line and a body.
fn parse_part(mime_headers: &[(String, String)], content: &str) -> Result<Part, DvError> {
    let content_id = header(mime_headers, "content-id").map(str::to_owned);
    // A part without a body may end right after its headers: give it its blank line.
    let mut text = content.trim_start().to_owned();
    if !text.contains("\r\n\r\n") && !text.contains("\n\n") {
        text.push_str("\r\n\r\n");
    }
    let bytes = text.as_bytes();
    let mut raw_headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut raw_headers);
    let status = request.parse(bytes);
    let body_start = match status {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            return Err(DvError::bad_request(format!(
                "A $batch part is not a valid HTTP request: '{}'.",
                content.lines().next().unwrap_or("")
            )));
        }
    };
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| DvError::bad_request("A $batch part has no valid method."))?;
    let url = request.path.unwrap_or("").to_owned();
    let mut headers = HeaderMap::new();
    for h in request.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(name, value);
        }
    }
    let body = Bytes::copy_from_slice(bytes[body_start..].trim_ascii());
    Ok(Part {
        content_id,
        method,
        url,
        headers,
        body,
    })
}

/// Turns a part into a request relative to the service root, resolving a leading `$n`.
fn to_request(part: &Part, refs: &HashMap<String, (String, Uuid)>) -> Result<DvRequest, DvError> {
    let url = if let Some(reference) = part.url.strip_prefix('$') {
        let (name, rest) = match reference.find(['/', '?']) {
            Some(at) => (&reference[..at], &reference[at..]),
            None => (reference, ""),
        };
        let key = format!("${name}");
        let (set, id) = refs.get(&key).ok_or_else(|| {
            DvError::bad_request(format!(
                "Content-ID Reference: '{key}' does not exist in the batch context."
            ))
        })?;
        format!("{set}({id}){rest}")
    } else {
        part.url.clone()
    };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    Ok(DvRequest {
        method: part.method.clone(),
        path: rows::relative_path(path),
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers: part.headers.clone(),
        body: part.body.clone(),
    })
}

/// Runs every item and renders the answer: (overall status, multipart body, its content type).
pub fn run(
    store: &mut Store,
    items: &[Item],
    prefer: &Prefer,
    names_failed_part: bool,
    run_part: &mut RunPart,
) -> (StatusCode, Vec<u8>, String) {
    let batch_boundary = format!("batchresponse_{}", Uuid::new_v4());
    let mut out = String::new();
    let mut status = StatusCode::OK;
    let no_refs = HashMap::new();
    for item in items {
        match item {
            Item::Single(part) => {
                let answer = to_request(part, &no_refs)
                    .and_then(|request| run_part(store, &request, &no_refs))
                    .map(|(response, _)| response);
                let failed = answer.as_ref().err().map(|e| e.status);
                write_part(
                    &mut out,
                    &batch_boundary,
                    part.content_id.as_deref(),
                    answer,
                );
                if let Some(failed) = failed
                    && !prefer.continue_on_error
                {
                    status = failed;
                    break;
                }
            }
            Item::ChangeSet(parts) => {
                store.begin();
                let mut refs = HashMap::new();
                let mut answers = Vec::new();
                let mut failure = None;
                for part in parts {
                    let answer = to_request(part, &refs)
                        .and_then(|request| run_part(store, &request, &refs));
                    match answer {
                        Ok((response, written)) => {
                            if let (Some(id), Some(written)) = (&part.content_id, written)
                                && part.method == Method::POST
                            {
                                refs.insert(format!("${id}"), written);
                            }
                            answers.push((part.content_id.clone(), response));
                        }
                        Err(error) => {
                            failure = Some((part.content_id.clone(), error));
                            break;
                        }
                    }
                }
                match failure {
                    None => {
                        store.commit();
                        let inner = format!("changesetresponse_{}", Uuid::new_v4());
                        out.push_str(&format!(
                            "--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n"
                        ));
                        for (content_id, response) in answers {
                            write_part(&mut out, &inner, content_id.as_deref(), Ok(response));
                        }
                        out.push_str(&format!("--{inner}--\r\n"));
                    }
                    Some((content_id, error)) => {
                        store.rollback();
                        let failed = error.status;
                        let named = content_id.as_deref().filter(|_| names_failed_part);
                        write_part(&mut out, &batch_boundary, named, Err(error));
                        if !prefer.continue_on_error {
                            status = failed;
                            break;
                        }
                    }
                }
            }
        }
    }
    out.push_str(&format!("--{batch_boundary}--\r\n"));
    (
        status,
        out.into_bytes(),
        format!("multipart/mixed; boundary={batch_boundary}"),
    )
}

/// One `application/http` answer part.
fn write_part(
    out: &mut String,
    boundary: &str,
    content_id: Option<&str>,
    answer: Result<DvResponse, DvError>,
) {
    let response = answer.unwrap_or_else(|error| DvResponse::json(error.status, error.body()));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    ));
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!(
        "\r\nHTTP/1.1 {} {}\r\nOData-Version: 4.0\r\n",
        response.status.as_u16(),
        response.status.canonical_reason().unwrap_or("")
    ));
    let body = match &response.body {
        Body::Empty => None,
        Body::Json(value) => Some((
            "application/json; odata.metadata=minimal".to_owned(),
            value.to_string(),
        )),
        Body::Raw {
            content_type,
            bytes,
        } => Some((
            content_type.clone(),
            String::from_utf8_lossy(bytes).into_owned(),
        )),
    };
    if let Some((content_type, _)) = &body {
        out.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    if let Some((_, text)) = body {
        out.push_str(&text);
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_change_sets_and_single_parts() {
        let body = "--batch_A\r\nContent-Type: multipart/mixed; boundary=\"changeset_B\"\r\n\r\n\
--changeset_B\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{\"name\":\"A\"}\r\n\
--changeset_B\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"telephone1\":\"1\"}\r\n\
--changeset_B--\r\n\r\n\
--batch_A\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n\
GET accounts?$select=name HTTP/1.1\n\n\n\
--batch_A--\r\n";
        let items =
            parse("multipart/mixed; boundary=\"batch_A\"", body.as_bytes()).expect("parses");
        assert_eq!(items.len(), 2);
        let Item::ChangeSet(parts) = &items[0] else {
            panic!("first is a change set")
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        assert_eq!(&parts[0].body[..], b"{\"name\":\"A\"}");
        assert_eq!(parts[1].url, "$1");
        let Item::Single(get) = &items[1] else {
            panic!("second is a single request")
        };
        assert_eq!(get.method, Method::GET);
        assert!(get.body.is_empty());
    }

    #[test]
    fn refuses_unterminated_bodies_and_gets_in_change_sets() {
        assert!(
            parse(
                "multipart/mixed; boundary=b",
                b"--b\r\n\r\nGET x HTTP/1.1\r\n"
            )
            .is_err()
        );
        let body = "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n--c--\r\n--b--\r\n";
        assert!(parse("multipart/mixed; boundary=b", body.as_bytes()).is_err());
    }
}
