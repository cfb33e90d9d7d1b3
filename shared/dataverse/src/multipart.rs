//! Just enough MIME for `$batch` answers (RFC 2046 `multipart/mixed`, parts of
//! `application/http`): split on the boundary, split a part's headers from its content, and
//! read the HTTP answer inside with `httparse`.

/// The `boundary` parameter of a `multipart/mixed` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
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

/// The parts between delimiter lines, without the line break that belongs to the delimiter;
/// `None` without a closing delimiter. CRLF and bare LF are both accepted.
pub(crate) fn split<'a>(body: &'a str, boundary: &str) -> Option<Vec<&'a str>> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
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
            if text == closing {
                return Some(parts);
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    None
}

/// A part's header lines (names lower-cased) and its content.
pub(crate) fn split_head(entity: &str) -> (Vec<(String, String)>, &str) {
    let crlf = entity.find("\r\n\r\n").map(|at| (at, 4));
    let lf = entity.find("\n\n").map(|at| (at, 2));
    let cut = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    let (head, rest) = match cut {
        Some((at, len)) => (&entity[..at], &entity[at + len..]),
        None => (entity, ""),
    };
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, rest)
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An HTTP answer inside a part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InnerResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub(crate) fn parse_response(content: &str) -> Option<InnerResponse> {
    let mut text = content.trim_start().to_owned();
    if !text.contains("\r\n\r\n") && !text.contains("\n\n") {
        text.push_str("\r\n\r\n");
    }
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut raw);
    let httparse::Status::Complete(end) = response.parse(text.as_bytes()).ok()? else {
        return None;
    };
    let headers = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    Some(InnerResponse {
        status: response.code?,
        headers,
        body: text[end..].trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_documented_change_set_answer() {
        let body = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n\
--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: https://x/api/data/v9.2/tasks(e73ffc82-e292-ed11-aad1-000d3a9933c9)\r\n\r\n\r\n\
--changesetresponse_2--\r\n--batchresponse_1--\r\n";
        assert_eq!(
            boundary("multipart/mixed; boundary=\"batchresponse_1\"").as_deref(),
            Some("batchresponse_1")
        );
        let outer = split(body, "batchresponse_1").unwrap();
        assert_eq!(outer.len(), 1);
        let (headers, content) = split_head(outer[0]);
        let inner = split(
            content,
            &boundary(header(&headers, "content-type").unwrap()).unwrap(),
        )
        .unwrap();
        let (headers, content) = split_head(inner[0]);
        assert_eq!(header(&headers, "content-id"), Some("1"));
        let response = parse_response(content).unwrap();
        assert_eq!(response.status, 204);
        assert!(
            header(&response.headers, "odata-entityid")
                .unwrap()
                .ends_with("9933c9)")
        );
        assert!(response.body.is_empty());
        assert!(split("--b\r\nx", "b").is_none());
    }
}
