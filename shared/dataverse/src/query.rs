//! Typed queries: `$select`, `$filter`, `$top`, `$orderby`, `$expand` (with nested options),
//! `Prefer: odata.maxpagesize`, and the pages they come back in.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::DataverseError;
use crate::filter::{Filter, check_column};
use crate::types::Record;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
}

impl OrderBy {
    pub fn asc(column: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            descending: false,
        }
    }

    pub fn desc(column: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            descending: true,
        }
    }

    fn render(&self) -> Result<String, DataverseError> {
        check_column(&self.column)?;
        Ok(if self.descending {
            format!("{} desc", self.column)
        } else {
            format!("{} asc", self.column)
        })
    }
}

/// `$expand=<relationship>($select=…;$filter=…;$top=…;$orderby=…)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expand {
    pub relationship: String,
    pub select: Vec<String>,
    pub filter: Option<Filter>,
    pub top: Option<u32>,
    pub orderby: Vec<OrderBy>,
}

impl Expand {
    pub fn new(relationship: impl Into<String>) -> Self {
        Self {
            relationship: relationship.into(),
            ..Self::default()
        }
    }

    pub fn select<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.select = columns.into_iter().map(Into::into).collect();
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.orderby.push(order);
        self
    }

    fn render(&self) -> Result<String, DataverseError> {
        check_column(&self.relationship)?;
        let mut options = Vec::new();
        if !self.select.is_empty() {
            options.push(format!("$select={}", columns(&self.select)?));
        }
        if let Some(filter) = &self.filter {
            options.push(format!("$filter={}", filter.to_odata()?));
        }
        if let Some(top) = self.top {
            options.push(format!("$top={top}"));
        }
        if !self.orderby.is_empty() {
            options.push(format!("$orderby={}", order(&self.orderby)?));
        }
        Ok(if options.is_empty() {
            self.relationship.clone()
        } else {
            format!("{}({})", self.relationship, options.join(";"))
        })
    }
}

/// A query on one entity set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub select: Vec<String>,
    pub filter: Option<Filter>,
    pub top: Option<u32>,
    pub orderby: Vec<OrderBy>,
    pub expand: Vec<Expand>,
    /// `Prefer: odata.maxpagesize=N`; `None` takes the service's 5,000.
    pub max_page_size: Option<u32>,
    /// `Prefer: odata.include-annotations="…"`, e.g. `"Microsoft.Dynamics.CRM.lookuplogicalname"`
    /// to learn which table a polymorphic lookup points to.
    pub include_annotations: Option<String>,
}

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn select<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.select = columns.into_iter().map(Into::into).collect();
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.orderby.push(order);
        self
    }

    pub fn expand(mut self, expand: Expand) -> Self {
        self.expand.push(expand);
        self
    }

    pub fn max_page_size(mut self, size: u32) -> Self {
        self.max_page_size = Some(size);
        self
    }

    pub fn include_annotations(mut self, annotations: impl Into<String>) -> Self {
        self.include_annotations = Some(annotations.into());
        self
    }

    /// The encoded query string (without `?`).
    pub(crate) fn query_string(&self) -> Result<String, DataverseError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if !self.select.is_empty() {
            params.push(("$select", columns(&self.select)?));
        }
        if let Some(filter) = &self.filter {
            params.push(("$filter", filter.to_odata()?));
        }
        if let Some(top) = self.top {
            params.push(("$top", top.to_string()));
        }
        if !self.orderby.is_empty() {
            params.push(("$orderby", order(&self.orderby)?));
        }
        if !self.expand.is_empty() {
            let expands = self
                .expand
                .iter()
                .map(Expand::render)
                .collect::<Result<Vec<_>, _>>()?;
            params.push(("$expand", expands.join(",")));
        }
        Ok(encode_params(&params))
    }

    pub(crate) fn prefer(&self) -> Option<String> {
        prefer(
            self.max_page_size,
            self.include_annotations.as_deref(),
            false,
        )
    }
}

/// The `Prefer` header value for paging, annotations and change tracking.
pub(crate) fn prefer(
    max_page_size: Option<u32>,
    annotations: Option<&str>,
    track_changes: bool,
) -> Option<String> {
    let mut items = Vec::new();
    if track_changes {
        items.push("odata.track-changes".to_owned());
    }
    if let Some(size) = max_page_size {
        items.push(format!("odata.maxpagesize={size}"));
    }
    if let Some(annotations) = annotations {
        items.push(format!("odata.include-annotations=\"{annotations}\""));
    }
    (!items.is_empty()).then(|| items.join(","))
}

/// Query values are percent-encoded in full (spaces as `%20`, not `+`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn encode_params(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn columns(columns: &[impl AsRef<str>]) -> Result<String, DataverseError> {
    for c in columns {
        check_column(c.as_ref())?;
    }
    Ok(columns
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(","))
}

fn order(orderby: &[OrderBy]) -> Result<String, DataverseError> {
    Ok(orderby
        .iter()
        .map(OrderBy::render)
        .collect::<Result<Vec<_>, _>>()?
        .join(","))
}

/// Where the next page is: the service's `@odata.nextLink`, with the preferences to resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextLink {
    pub url: String,
    pub(crate) prefer: Option<String>,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next: Option<NextLink>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_option() {
        let q = Query::new()
            .select(["name", "accountid"])
            .filter(Filter::eq("name", "O'Bryan & Co"))
            .top(5)
            .order_by(OrderBy::desc("name"))
            .expand(
                Expand::new("contact_customer_accounts")
                    .select(["lastname"])
                    .filter(Filter::eq("lastname", "a;b"))
                    .top(2),
            )
            .max_page_size(10);
        let qs = q.query_string().unwrap();
        assert!(qs.starts_with("$select=name%2Caccountid&$filter=name%20eq%20%27O%27%27Bryan%20%26%20Co%27&$top=5&$orderby=name%20desc&$expand="));
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(qs.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            decoded[4].1,
            "contact_customer_accounts($select=lastname;$filter=lastname eq 'a;b';$top=2)"
        );
        assert_eq!(q.prefer().as_deref(), Some("odata.maxpagesize=10"));
        assert!(Query::new().select(["a,b"]).query_string().is_err());
    }
}
