//! The list query: `$filter`, `$orderby`, `$top` and the opaque `$skiptoken`.
//!
//! `$filter` takes `<field> <op> <literal>` clauses joined by `and`: ops `eq ne gt ge lt le`,
//! string literals in single quotes (`''` is a quote), RFC 3339 dates, numbers, `true`, `false`,
//! `null`. Fields: the contract's (`engagementId`, `status`, `substatus`, `qualification`,
//! `direction`, `customerProfile/address/country`, `updatedDateTime`) plus `id`, `name`,
//! `externalReferenceId`, `type` and `createdDateTime`. Dates compare as instants.
//!
//! `$top` caps the whole result (OData); pages hold at most `page_size`. The next link's
//! `$skiptoken` carries the whole query, so the link works alone and must be followed as given.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::config::Honour;
use super::http::PcError;
use super::timestamp;

const FIELDS: &[&str] = &[
    "id",
    "engagementId",
    "name",
    "externalReferenceId",
    "status",
    "substatus",
    "qualification",
    "direction",
    "type",
    "customerProfile/address/country",
    "createdDateTime",
    "updatedDateTime",
];

/// One list request, as sent or as recovered from a `$skiptoken`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "f", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(rename = "o", skip_serializing_if = "Option::is_none")]
    pub orderby: Option<String>,
    #[serde(rename = "t", skip_serializing_if = "Option::is_none")]
    pub top: Option<usize>,
    /// How many results earlier pages returned.
    #[serde(rename = "s")]
    pub skip: usize,
}

impl ListQuery {
    /// From the request's query parameters; a `$skiptoken` stands for the whole query.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, PcError> {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if let Some(token) = param("$skiptoken") {
            return Self::from_token(&token);
        }
        let top = param("$top")
            .map(|t| {
                t.parse::<usize>()
                    .map_err(|_| PcError::invalid(format!("$top '{t}' is not a number")))
            })
            .transpose()?;
        Ok(Self {
            filter: param("$filter").filter(|f| !f.trim().is_empty()),
            orderby: param("$orderby").filter(|o| !o.trim().is_empty()),
            top,
            skip: 0,
        })
    }

    fn from_token(token: &str) -> Result<Self, PcError> {
        let invalid = || PcError::invalid("the $skiptoken is not valid");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }

    /// The `$skiptoken` of the page after one that ended at `skip`.
    pub fn token_for(&self, skip: usize) -> String {
        let next = Self {
            skip,
            ..self.clone()
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&next).expect("a query serializes"))
    }
}

/// Refuses a query outside what Microsoft documents (`published.toml`): `$filter` clauses other
/// than `eq` on a documented field, `$orderby` on another key. `400`, as the service may answer.
pub fn check_documented(query: &ListQuery) -> Result<(), PcError> {
    let facts = super::published::Published::get();
    if let Some(text) = &query.filter {
        for condition in parse_filter(text)? {
            let field = condition.path.join("/");
            if !facts.filterable(&field, condition.op.as_str()) {
                return Err(PcError::invalid(format!(
                    "$filter '{field} {} …' is not supported: only {} on {}",
                    condition.op.as_str(),
                    facts.list.filter_operators.join(", "),
                    facts.list.filter_fields.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `filter` without its clauses on `field` (clauses joined by `and`, as the client writes them);
/// `None` when nothing is left.
pub fn without_field(filter: &str, field: &str) -> Option<String> {
    let kept: Vec<&str> = filter
        .split(" and ")
        .filter(|clause| clause.split_whitespace().next() != Some(field))
        .collect();
    (!kept.is_empty()).then(|| kept.join(" and "))
}

/// One page of matches (clones), the total count and whether more follow.
pub struct Page {
    pub items: Vec<Value>,
    pub count: usize,
    /// Where the next page starts, if there is one.
    pub next_skip: Option<usize>,
}

/// How each sortable date's `$orderby` is taken ([`Honour`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Orders {
    pub updated: Honour,
    pub created: Honour,
}

pub fn run(
    referrals: &[Value],
    query: &ListQuery,
    page_size: usize,
    orders: Orders,
) -> Result<Page, PcError> {
    let filter = match &query.filter {
        Some(text) => parse_filter(text)?,
        None => Vec::new(),
    };
    let mut matches: Vec<&Value> = referrals
        .iter()
        .filter(|r| filter.iter().all(|c| c.matches(r)))
        .collect();
    if let Some(orderby) = &query.orderby {
        let (field, descending) = parse_orderby(orderby)?;
        let honour = match field {
            "updatedDateTime" => orders.updated,
            _ => orders.created,
        };
        match honour {
            Honour::Honoured => matches.sort_by(|a, b| {
                let order = compare_dates(&a[field], &b[field]);
                if descending { order.reverse() } else { order }
            }),
            Honour::Ignored => {}
            Honour::Refused => {
                return Err(PcError::invalid(format!(
                    "$orderby '{orderby}' is not supported"
                )));
            }
        }
    }
    let count = query
        .top
        .map_or(matches.len(), |top| top.min(matches.len()));
    let end = count.min(query.skip + page_size.max(1));
    let items = matches
        .get(query.skip.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|r| (*r).clone())
        .collect();
    Ok(Page {
        items,
        count,
        next_skip: (end < count).then_some(end),
    })
}

fn parse_orderby(text: &str) -> Result<(&'static str, bool), PcError> {
    let mut words = text.split_whitespace();
    let field = match words.next() {
        Some(f) if f.eq_ignore_ascii_case("createdDateTime") => "createdDateTime",
        Some(f) if f.eq_ignore_ascii_case("updatedDateTime") => "updatedDateTime",
        _ => {
            return Err(PcError::invalid(format!(
                "$orderby '{text}' is not supported; use createdDateTime or updatedDateTime"
            )));
        }
    };
    let descending = match words.next() {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("asc") => false,
        Some(d) if d.eq_ignore_ascii_case("desc") => true,
        Some(d) => {
            return Err(PcError::invalid(format!(
                "$orderby direction '{d}' is not asc or desc"
            )));
        }
    };
    Ok((field, descending))
}

fn compare_dates(a: &Value, b: &Value) -> Ordering {
    let date = |v: &Value| v.as_str().and_then(timestamp::parse);
    date(a).cmp(&date(b))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }

    fn holds(self, order: Option<Ordering>) -> bool {
        let Some(order) = order else {
            return self == Op::Ne; // not comparable (missing, null, other type): only `ne` holds
        };
        match self {
            Op::Eq => order == Ordering::Equal,
            Op::Ne => order != Ordering::Equal,
            Op::Gt => order == Ordering::Greater,
            Op::Ge => order != Ordering::Less,
            Op::Lt => order == Ordering::Less,
            Op::Le => order != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Date(OffsetDateTime),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Debug)]
struct Condition {
    path: Vec<&'static str>,
    op: Op,
    literal: Literal,
}

impl Condition {
    fn matches(&self, referral: &Value) -> bool {
        let field = self
            .path
            .iter()
            .try_fold(referral, |node, key| node.get(key))
            .unwrap_or(&Value::Null);
        if self.literal == Literal::Null {
            return match self.op {
                Op::Eq => field.is_null(),
                Op::Ne => !field.is_null(),
                _ => false,
            };
        }
        self.op.holds(compare(field, &self.literal))
    }
}

/// `field` compared to `literal`; dates compare as instants, also against a quoted date.
fn compare(field: &Value, literal: &Literal) -> Option<Ordering> {
    match (field, literal) {
        (Value::String(text), Literal::Date(date)) => timestamp::parse(text).map(|d| d.cmp(date)),
        (Value::String(text), Literal::Text(lit)) => {
            match (timestamp::parse(text), timestamp::parse(lit)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => Some(text.as_str().cmp(lit.as_str())),
            }
        }
        (Value::Number(n), Literal::Number(lit)) => n.as_f64()?.partial_cmp(lit),
        (Value::Bool(b), Literal::Bool(lit)) => Some(b.cmp(lit)),
        _ => None,
    }
}

fn parse_filter(text: &str) -> Result<Vec<Condition>, PcError> {
    let tokens = tokenize(text)?;
    let mut conditions = Vec::new();
    let mut rest = tokens.as_slice();
    loop {
        let [Token::Word(field), Token::Word(op), literal, tail @ ..] = rest else {
            return Err(PcError::invalid(format!(
                "$filter '{text}' is not '<field> <op> <value> [and …]'"
            )));
        };
        conditions.push(condition(field, op, literal)?);
        match tail {
            [] => return Ok(conditions),
            [Token::Word(and), more @ ..] if and.eq_ignore_ascii_case("and") => rest = more,
            [Token::Word(word), ..] if word.eq_ignore_ascii_case("or") => {
                return Err(PcError::invalid("$filter supports only 'and'"));
            }
            _ => {
                return Err(PcError::invalid(format!(
                    "$filter '{text}': expected 'and' after a clause"
                )));
            }
        }
    }
}

fn condition(field: &str, op: &str, literal: &Token) -> Result<Condition, PcError> {
    let path = FIELDS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(field))
        .ok_or_else(|| PcError::invalid(format!("$filter on '{field}' is not supported")))?;
    let op = Op::parse(op)
        .ok_or_else(|| PcError::invalid(format!("operator '{op}' is not supported")))?;
    let literal = match literal {
        Token::Quoted(text) => Literal::Text(text.clone()),
        Token::Word(word) => bare_literal(word)?,
    };
    Ok(Condition {
        path: path.split('/').collect(),
        op,
        literal,
    })
}

fn bare_literal(word: &str) -> Result<Literal, PcError> {
    Ok(match word {
        "null" => Literal::Null,
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        _ => {
            if let Some(date) = timestamp::parse(word) {
                Literal::Date(date)
            } else if let Ok(number) = word.parse::<f64>() {
                Literal::Number(number)
            } else {
                return Err(PcError::invalid(format!(
                    "'{word}' is not a literal; quote strings with '"
                )));
            }
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, PcError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut literal = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push('\'');
                    }
                    Some('\'') => break,
                    Some(c) => literal.push(c),
                    None => return Err(PcError::invalid("$filter has an unterminated string")),
                }
            }
            tokens.push(Token::Quoted(literal));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '\'' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn referrals() -> Vec<Value> {
        vec![
            json!({"id": "1", "name": "O'Bryan", "status": "New", "qualification": "SalesQualified",
                   "customerProfile": {"address": {"country": "US"}}, "direction": "Incoming",
                   "createdDateTime": "2024-01-01T00:00:00.0000000Z", "updatedDateTime": "2024-03-01T00:00:00.1234567Z"}),
            json!({"id": "2", "name": "Plain", "status": "Active", "qualification": null,
                   "customerProfile": {"address": {"country": "DE"}}, "direction": "Outgoing",
                   "createdDateTime": "2024-01-02T00:00:00Z", "updatedDateTime": "2024-02-01T00:00:00Z"}),
        ]
    }

    fn ids(filter: &str) -> Vec<String> {
        let query = ListQuery {
            filter: Some(filter.into()),
            ..Default::default()
        };
        run(&referrals(), &query, 100, Orders::default())
            .unwrap()
            .items
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn filters_the_contract_examples() {
        assert_eq!(
            ids("status eq 'New' and qualification eq 'SalesQualified'"),
            ["1"]
        );
        assert_eq!(
            ids("customerProfile/address/country eq 'DE' and direction eq 'Outgoing'"),
            ["2"]
        );
        assert_eq!(ids("updatedDateTime gt 2024-02-15T00:00:00Z"), ["1"]);
        assert_eq!(
            ids("updatedDateTime le 2024-02-01T00:00:00.0000000Z"),
            ["2"]
        );
        assert_eq!(ids("name eq 'O''Bryan'"), ["1"]);
        assert_eq!(ids("qualification eq null"), ["2"]);
        assert_eq!(ids("status ne 'New'"), ["2"]);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "notes eq 'x'",
            "status eq New",
            "status eq 'New' or status eq 'Active'",
            "name eq 'open",
            "status",
        ] {
            let query = ListQuery {
                filter: Some(bad.into()),
                ..Default::default()
            };
            assert!(
                run(&referrals(), &query, 100, Orders::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn orders_pages_and_tokens_round_trip() {
        let query = ListQuery {
            orderby: Some("updatedDateTime desc".into()),
            top: Some(2),
            ..Default::default()
        };
        let page = run(&referrals(), &query, 1, Orders::default()).unwrap();
        assert_eq!(page.items[0]["id"], "1");
        assert_eq!((page.count, page.next_skip), (2, Some(1)));
        let token = query.token_for(1);
        let params = [("$skiptoken".to_owned(), token)];
        let next = ListQuery::from_params(&params).unwrap();
        let page = run(&referrals(), &next, 1, Orders::default()).unwrap();
        assert_eq!(page.items[0]["id"], "2");
        assert_eq!(page.next_skip, None);
    }

    #[test]
    fn an_order_can_be_ignored_or_refused() {
        let query = ListQuery {
            orderby: Some("updatedDateTime desc".into()),
            ..Default::default()
        };
        let ignored = Orders {
            updated: Honour::Ignored,
            ..Orders::default()
        };
        let page = run(&referrals(), &query, 100, ignored).unwrap();
        // Kept in stored order, though "2" was updated first.
        assert_eq!(page.items[0]["id"], "1");
        let reversed = ListQuery {
            orderby: Some("updatedDateTime asc".into()),
            ..query.clone()
        };
        assert_eq!(
            run(&referrals(), &reversed, 100, ignored).unwrap().items[0]["id"],
            "1"
        );
        let refused = Orders {
            updated: Honour::Refused,
            ..Orders::default()
        };
        assert!(run(&referrals(), &query, 100, refused).is_err());
        let created = ListQuery {
            orderby: Some("createdDateTime desc".into()),
            ..Default::default()
        };
        assert_eq!(
            run(&referrals(), &created, 100, refused).unwrap().items[0]["id"],
            "2"
        );
    }
}
