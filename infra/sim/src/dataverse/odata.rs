//! The OData request surface: resource paths (`opportunities`, `opportunities(<guid>)`,
//! `accounts(accountnumber='A-1')`, `EntityDefinitions(LogicalName='opportunity')/Attributes`),
//! system query options (`$select $filter $top $orderby $expand $skiptoken $deltatoken`) and the
//! `Prefer` header.

use axum::http::HeaderMap;
use serde_json::Value;

use super::error::DvError;
use super::filter::{self, Expr};

/// The resource a request names, relative to `/api/data/v9.2/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Batch,
    /// `EntityDefinitions`, `EntityDefinitions(LogicalName='x')` and the parts below it.
    EntityDefinitions {
        logical_name: Option<String>,
        part: MetadataPart,
    },
    /// A set, or an unbound action name (`WinOpportunity`) — the same shape in a URL.
    Collection(String),
    Entity(String, EntityKey),
}

/// What below `EntityDefinitions(LogicalName='x')` a request names.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataPart {
    /// The table's own definition (or the list of tables).
    Table,
    /// `/Attributes`.
    Attributes,
    /// `/Attributes(LogicalName='c')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`.
    Picklist(String),
    /// `/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata` (or `Memo…`): the table's
    /// columns of that `AttributeType`, with their `MaxLength`.
    AttributesOfType(&'static str),
    /// `/OneToManyRelationships`.
    OneToMany,
    /// `/ManyToManyRelationships`.
    ManyToMany,
}

/// How a single row is addressed.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityKey {
    Id(uuid::Uuid),
    /// `(<column>='value', …)` — an alternate key.
    Alternate(Vec<(String, Value)>),
}

impl std::fmt::Display for EntityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityKey::Id(id) => write!(f, "{id}"),
            EntityKey::Alternate(parts) => {
                let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{}", parts.join(","))
            }
        }
    }
}

/// Parses a decoded path relative to the service root.
pub fn parse_path(path: &str) -> Result<Resource, DvError> {
    let path = path.trim_matches('/');
    if path == "$batch" {
        return Ok(Resource::Batch);
    }
    let (head, rest) = match path.find('(') {
        Some(open) => {
            let close = matching_paren(path, open).ok_or_else(|| {
                DvError::bad_request(format!("Bad Request - Error in query syntax: '{path}'."))
            })?;
            (
                &path[..open],
                Some((&path[open + 1..close], &path[close + 1..])),
            )
        }
        None => match path.split_once('/') {
            Some((head, tail)) => {
                return Err(DvError::bad_request(format!(
                    "Resource not found for the segment '{tail}' after '{head}'."
                )));
            }
            None => (path, None),
        },
    };
    if head.is_empty() || !head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DvError::bad_request(format!(
            "Resource not found for the segment '{path}'."
        )));
    }
    if head == "EntityDefinitions" {
        let (logical_name, tail) = match rest {
            None => (None, ""),
            Some((inner, tail)) => {
                let key = parse_key(inner)?;
                let name = match key {
                    EntityKey::Alternate(parts)
                        if parts.len() == 1 && parts[0].0 == "LogicalName" =>
                    {
                        parts[0].1.as_str().map(str::to_owned)
                    }
                    _ => None,
                };
                let name = name.ok_or_else(|| {
                    DvError::bad_request("EntityDefinitions is addressed by LogicalName='…'.")
                })?;
                (Some(name), tail)
            }
        };
        const PICKLIST: &str = "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata";
        let part = match tail {
            "" => MetadataPart::Table,
            "/Attributes" => MetadataPart::Attributes,
            "/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata" => {
                MetadataPart::AttributesOfType("String")
            }
            "/Attributes/Microsoft.Dynamics.CRM.MemoAttributeMetadata" => {
                MetadataPart::AttributesOfType("Memo")
            }
            "/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata" => {
                MetadataPart::AttributesOfType("Picklist")
            }
            "/OneToManyRelationships" => MetadataPart::OneToMany,
            "/ManyToManyRelationships" => MetadataPart::ManyToMany,
            other => match other
                .strip_prefix("/Attributes(")
                .and_then(|t| t.strip_suffix(PICKLIST))
                .and_then(|t| t.strip_suffix(')'))
                .map(parse_key)
            {
                Some(Ok(EntityKey::Alternate(parts)))
                    if parts.len() == 1 && parts[0].0 == "LogicalName" =>
                {
                    let column = parts[0].1.as_str().unwrap_or_default().to_owned();
                    MetadataPart::Picklist(column)
                }
                _ => {
                    return Err(DvError::bad_request(format!(
                        "Resource not found for the segment '{other}'."
                    )));
                }
            },
        };
        return Ok(Resource::EntityDefinitions { logical_name, part });
    }
    match rest {
        None => Ok(Resource::Collection(head.to_owned())),
        Some((inner, "")) => Ok(Resource::Entity(head.to_owned(), parse_key(inner)?)),
        Some((_, tail)) => Err(DvError::bad_request(format!(
            "Resource not found for the segment '{}'.",
            tail.trim_start_matches('/')
        ))),
    }
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut in_string = false;
    let bytes = s.as_bytes();
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if in_string && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' => in_string = !in_string,
            b'(' if !in_string => depth += 1,
            b')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `<guid>` or `col='v',col2=12`.
fn parse_key(inner: &str) -> Result<EntityKey, DvError> {
    let inner = inner.trim();
    if let Ok(id) = uuid::Uuid::try_parse(inner) {
        return Ok(EntityKey::Id(id));
    }
    let bad = || {
        DvError::bad_request(format!(
            "Bad Request - Error in query syntax: key '({inner})'."
        ))
    };
    let mut parts = Vec::new();
    for piece in split_top_level(inner, ',') {
        let (name, value) = piece.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        let value = value.trim();
        let value =
            if let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Value::String(quoted.replace("''", "'"))
            } else if let Ok(n) = value.parse::<i64>() {
                Value::from(n)
            } else if let Ok(id) = uuid::Uuid::try_parse(value) {
                Value::String(id.to_string())
            } else {
                return Err(bad());
            };
        parts.push((name.to_owned(), value));
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(EntityKey::Alternate(parts))
}

/// Splits on `sep` outside quotes and parentheses.
pub fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_string = !in_string, // '' toggles twice: still balanced
            '(' if !in_string => depth += 1,
            ')' if !in_string => depth -= 1,
            c if c == sep && !in_string && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if start < s.len() || !parts.is_empty() {
        parts.push(&s[start..]);
    }
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// `$orderby` terms: column and descending?
pub type OrderBy = Vec<(String, bool)>;

/// `$expand=nav($select=…;$filter=…;$top=…;$orderby=…)`.
#[derive(Debug, Clone, Default)]
pub struct Expand {
    pub navigation: String,
    pub select: Option<Vec<String>>,
    pub filter: Option<Expr>,
    pub top: Option<usize>,
    pub orderby: OrderBy,
}

/// The system query options of one request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub select: Option<Vec<String>>,
    pub filter: Option<Expr>,
    pub top: Option<usize>,
    pub orderby: OrderBy,
    pub expand: Vec<Expand>,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    /// The options as given, for building next links.
    pub raw: Vec<(String, String)>,
}

impl QueryOptions {
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, DvError> {
        let mut options = QueryOptions::default();
        for (name, value) in &pairs {
            match name.as_str() {
                "$select" => options.select = Some(parse_select(value)),
                "$filter" => options.filter = Some(parse_filter(value)?),
                "$top" => options.top = Some(parse_top(value)?),
                "$orderby" => options.orderby = parse_orderby(value)?,
                "$expand" => options.expand = parse_expand(value)?,
                "$skiptoken" => options.skiptoken = Some(value.clone()),
                "$deltatoken" => options.deltatoken = Some(value.clone()),
                other if other.starts_with('$') => {
                    return Err(DvError::bad_request(format!(
                        "The query parameter '{other}' is not supported."
                    )));
                }
                _ => {} // parameter aliases and unknown custom options are ignored
            }
        }
        options.raw = pairs;
        Ok(options)
    }
}

fn parse_select(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_filter(value: &str) -> Result<Expr, DvError> {
    filter::parse(value).map_err(DvError::bad_request)
}

fn parse_top(value: &str) -> Result<usize, DvError> {
    value
        .trim()
        .parse()
        .map_err(|_| DvError::bad_request(format!("Invalid value '{value}' for $top.")))
}

fn parse_orderby(value: &str) -> Result<OrderBy, DvError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|term| {
            let mut words = term.split_whitespace();
            let column = words.next().unwrap_or_default().to_owned();
            let desc = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(DvError::bad_request(format!(
                        "Invalid $orderby direction '{other}'."
                    )));
                }
            };
            if words.next().is_some() || !is_identifier(&column) {
                return Err(DvError::bad_request(format!(
                    "Invalid $orderby term '{term}'."
                )));
            }
            Ok((column, desc))
        })
        .collect()
}

fn parse_expand(value: &str) -> Result<Vec<Expand>, DvError> {
    let mut expands = Vec::new();
    for item in split_top_level(value, ',') {
        let item = item.trim();
        let (navigation, inner) = match item.find('(') {
            Some(open) if item.ends_with(')') => {
                (&item[..open], Some(&item[open + 1..item.len() - 1]))
            }
            Some(_) => return Err(DvError::bad_request(format!("Invalid $expand '{item}'."))),
            None => (item, None),
        };
        if !is_identifier(navigation) {
            return Err(DvError::bad_request(format!("Invalid $expand '{item}'.")));
        }
        let mut expand = Expand {
            navigation: navigation.to_owned(),
            ..Expand::default()
        };
        for option in inner.map(|s| split_top_level(s, ';')).unwrap_or_default() {
            let (name, value) = option.split_once('=').ok_or_else(|| {
                DvError::bad_request(format!("Invalid $expand option '{option}'."))
            })?;
            match name.trim() {
                "$select" => expand.select = Some(parse_select(value)),
                "$filter" => expand.filter = Some(parse_filter(value)?),
                "$top" => expand.top = Some(parse_top(value)?),
                "$orderby" => expand.orderby = parse_orderby(value)?,
                other => {
                    return Err(DvError::bad_request(format!(
                        "The query option '{other}' is not supported in $expand."
                    )));
                }
            }
        }
        expands.push(expand);
    }
    Ok(expands)
}

pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `Prefer` header preferences Dataverse honours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefer {
    pub max_page_size: Option<usize>,
    pub track_changes: bool,
    pub return_representation: bool,
    pub continue_on_error: bool,
    /// `odata.include-annotations="…"`: `*` or a list; lookup annotations are shown when it matches.
    pub include_annotations: Option<String>,
}

impl Prefer {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut prefer = Prefer::default();
        for value in headers.get_all("prefer") {
            let Ok(value) = value.to_str() else { continue };
            for item in split_outside_double_quotes(value) {
                let item = item.trim();
                let (name, arg) = match item.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (item, None),
                };
                match (name, arg) {
                    ("odata.maxpagesize", Some(n)) => prefer.max_page_size = n.parse().ok(),
                    ("odata.track-changes", _) => prefer.track_changes = true,
                    ("return", Some("representation")) => prefer.return_representation = true,
                    ("odata.continue-on-error", _) => prefer.continue_on_error = true,
                    ("odata.include-annotations", Some(a)) => {
                        prefer.include_annotations = Some(a.to_owned());
                    }
                    _ => {}
                }
            }
        }
        prefer
    }

    /// Whether an annotation like `Microsoft.Dynamics.CRM.lookuplogicalname` is to be shown.
    pub fn shows_annotation(&self, name: &str) -> bool {
        self.include_annotations.as_deref().is_some_and(|a| {
            a.split(',').any(|p| {
                let p = p.trim();
                p == "*"
                    || p == name
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| name.starts_with(prefix))
            })
        })
    }
}

/// Splits a header value on commas outside double quotes.
fn split_outside_double_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(parse_path("$batch").unwrap(), Resource::Batch);
        assert_eq!(
            parse_path("accounts").unwrap(),
            Resource::Collection("accounts".into())
        );
        assert_eq!(
            parse_path(&format!("accounts({id})")).unwrap(),
            Resource::Entity("accounts".into(), EntityKey::Id(id))
        );
        assert_eq!(
            parse_path("accounts(accountnumber='O''Bryan (1)')").unwrap(),
            Resource::Entity(
                "accounts".into(),
                EntityKey::Alternate(vec![("accountnumber".into(), "O'Bryan (1)".into())])
            )
        );
        assert_eq!(
            parse_path("EntityDefinitions(LogicalName='opportunity')/Attributes").unwrap(),
            Resource::EntityDefinitions {
                logical_name: Some("opportunity".into()),
                part: MetadataPart::Attributes
            }
        );
        assert_eq!(
            parse_path(
                "EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='x_help')/\
                 Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
            )
            .unwrap(),
            Resource::EntityDefinitions {
                logical_name: Some("opportunity".into()),
                part: MetadataPart::Picklist("x_help".into())
            }
        );
        assert!(
            parse_path("EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='x')")
                .is_err()
        );
        assert!(parse_path("accounts(nope)").is_err());
        assert!(parse_path("accounts/x").is_err());
    }

    #[test]
    fn expand_options() {
        let options = QueryOptions::parse(vec![(
            "$expand".into(),
            "contact_customer_accounts($select=firstname,lastname;$filter=lastname eq 'a;b';$top=2)".into(),
        )])
        .unwrap();
        let e = &options.expand[0];
        assert_eq!(e.navigation, "contact_customer_accounts");
        assert_eq!(e.select.as_ref().unwrap().len(), 2);
        assert_eq!(e.top, Some(2));
        assert!(e.filter.is_some());
    }

    #[test]
    fn prefer_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            "prefer",
            "odata.maxpagesize=3, odata.track-changes".parse().unwrap(),
        );
        headers.append(
            "prefer",
            "odata.include-annotations=\"Microsoft.Dynamics.CRM.*\""
                .parse()
                .unwrap(),
        );
        let p = Prefer::from_headers(&headers);
        assert_eq!(p.max_page_size, Some(3));
        assert!(p.track_changes);
        assert!(p.shows_annotation("Microsoft.Dynamics.CRM.lookuplogicalname"));
        assert!(!p.shows_annotation("OData.Community.Display.V1.FormattedValue"));
    }
}
