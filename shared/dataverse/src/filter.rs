//! `$filter` expressions built from typed values. This is the only place a value becomes query
//! text: strings are quoted with every `'` doubled (`'O''Bryan'`), numbers, booleans, guids and
//! dates are written in their OData literal forms, and column names must be plain identifiers.
//!
//! ```
//! use cosell_dataverse::Filter;
//! let f = Filter::eq("lastname", "O'Bryan").and(Filter::eq("statecode", 0));
//! assert_eq!(f.to_odata().unwrap(), "(lastname eq 'O''Bryan' and statecode eq 0)");
//! ```

use std::fmt;

use uuid::Uuid;

use crate::error::DataverseError;

/// A value inside a filter or a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    /// A decimal written as given (e.g. from a decimal type's `to_string()`), checked to be a
    /// plain number.
    Decimal(String),
    Float(f64),
    Text(String),
    Guid(Uuid),
    /// Date only: `2024-05-01`.
    Date(time::Date),
    /// Date and time, written in UTC: `2024-05-01T10:00:00Z`.
    DateTime(time::OffsetDateTime),
}

impl Literal {
    /// The OData literal.
    pub fn render(&self) -> Result<String, DataverseError> {
        Ok(match self {
            Literal::Null => "null".into(),
            Literal::Bool(b) => b.to_string(),
            Literal::Int(n) => n.to_string(),
            Literal::Decimal(d) => {
                let digits = d.strip_prefix('-').unwrap_or(d);
                let valid = !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && digits.chars().filter(|c| *c == '.').count() <= 1
                    && digits.chars().any(|c| c.is_ascii_digit());
                if !valid {
                    return Err(DataverseError::InvalidInput(format!(
                        "'{d}' is not a decimal number"
                    )));
                }
                d.clone()
            }
            Literal::Float(f) if f.is_finite() => f.to_string(),
            Literal::Float(f) => {
                return Err(DataverseError::InvalidInput(format!(
                    "{f} cannot be sent to Dataverse"
                )));
            }
            Literal::Text(s) => quote(s),
            Literal::Guid(id) => id.hyphenated().to_string(),
            Literal::Date(date) => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                date.format(&format)
                    .map_err(|e| DataverseError::InvalidInput(e.to_string()))?
            }
            Literal::DateTime(at) => {
                let utc = at.to_offset(time::UtcOffset::UTC);
                let utc = utc.replace_nanosecond(0).unwrap_or(utc);
                utc.format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| DataverseError::InvalidInput(e.to_string()))?
            }
        })
    }
}

/// `'…'` with every quote doubled.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Text(s.to_owned())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::Text(s)
    }
}

impl From<&String> for Literal {
    fn from(s: &String) -> Self {
        Literal::Text(s.clone())
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

impl From<i64> for Literal {
    fn from(n: i64) -> Self {
        Literal::Int(n)
    }
}

impl From<i32> for Literal {
    fn from(n: i32) -> Self {
        Literal::Int(n.into())
    }
}

impl From<u32> for Literal {
    fn from(n: u32) -> Self {
        Literal::Int(n.into())
    }
}

impl From<f64> for Literal {
    fn from(f: f64) -> Self {
        Literal::Float(f)
    }
}

impl From<Uuid> for Literal {
    fn from(id: Uuid) -> Self {
        Literal::Guid(id)
    }
}

impl From<time::Date> for Literal {
    fn from(d: time::Date) -> Self {
        Literal::Date(d)
    }
}

impl From<time::OffsetDateTime> for Literal {
    fn from(at: time::OffsetDateTime) -> Self {
        Literal::DateTime(at)
    }
}

impl<T: Into<Literal>> From<Option<T>> for Literal {
    fn from(value: Option<T>) -> Self {
        value.map_or(Literal::Null, Into::into)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    fn keyword(self) -> &'static str {
        match self {
            Comparison::Eq => "eq",
            Comparison::Ne => "ne",
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFunction {
    Contains,
    StartsWith,
    EndsWith,
}

/// A boolean `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        column: String,
        op: Comparison,
        value: Literal,
    },
    Text {
        function: TextFunction,
        column: String,
        value: String,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

macro_rules! comparisons {
    ($($name:ident => $op:ident),*) => {$(
        #[doc = concat!("`column ", stringify!($name), " value`")]
        pub fn $name(column: impl Into<String>, value: impl Into<Literal>) -> Filter {
            Filter::Compare { column: column.into(), op: Comparison::$op, value: value.into() }
        }
    )*};
}

impl Filter {
    comparisons!(eq => Eq, ne => Ne, gt => Gt, ge => Ge, lt => Lt, le => Le);

    pub fn is_null(column: impl Into<String>) -> Filter {
        Filter::eq(column, Literal::Null)
    }

    pub fn is_not_null(column: impl Into<String>) -> Filter {
        Filter::ne(column, Literal::Null)
    }

    /// `contains(column,'text')` (case-insensitive in Dataverse).
    pub fn contains(column: impl Into<String>, text: impl Into<String>) -> Filter {
        Filter::text(TextFunction::Contains, column, text)
    }

    pub fn starts_with(column: impl Into<String>, text: impl Into<String>) -> Filter {
        Filter::text(TextFunction::StartsWith, column, text)
    }

    pub fn ends_with(column: impl Into<String>, text: impl Into<String>) -> Filter {
        Filter::text(TextFunction::EndsWith, column, text)
    }

    fn text(function: TextFunction, column: impl Into<String>, text: impl Into<String>) -> Filter {
        Filter::Text {
            function,
            column: column.into(),
            value: text.into(),
        }
    }

    /// `column eq v1 or column eq v2 …`
    pub fn any_eq<V: Into<Literal>>(column: &str, values: impl IntoIterator<Item = V>) -> Filter {
        Filter::Or(values.into_iter().map(|v| Filter::eq(column, v)).collect())
    }

    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::And(filters.into_iter().collect())
    }

    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::Or(filters.into_iter().collect())
    }

    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut items) => {
                items.push(other);
                Filter::And(items)
            }
            first => Filter::And(vec![first, other]),
        }
    }

    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut items) => {
                items.push(other);
                Filter::Or(items)
            }
            first => Filter::Or(vec![first, other]),
        }
    }

    #[allow(clippy::should_implement_trait)] // reads as a filter keyword, not an operator
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// The `$filter` text; fails on a column that is not a plain identifier, an empty
    /// `and`/`or`, or a value with no OData form.
    pub fn to_odata(&self) -> Result<String, DataverseError> {
        Ok(match self {
            Filter::Compare { column, op, value } => {
                check_column(column)?;
                format!("{column} {} {}", op.keyword(), value.render()?)
            }
            Filter::Text {
                function,
                column,
                value,
            } => {
                check_column(column)?;
                let name = match function {
                    TextFunction::Contains => "contains",
                    TextFunction::StartsWith => "startswith",
                    TextFunction::EndsWith => "endswith",
                };
                format!("{name}({column},{})", quote(value))
            }
            Filter::And(items) | Filter::Or(items) => {
                if items.is_empty() {
                    return Err(DataverseError::InvalidInput(
                        "an and/or filter needs at least one term".into(),
                    ));
                }
                if items.len() == 1 {
                    return items[0].to_odata();
                }
                let joiner = if matches!(self, Filter::And(_)) {
                    " and "
                } else {
                    " or "
                };
                let parts = items
                    .iter()
                    .map(Filter::to_odata)
                    .collect::<Result<Vec<_>, _>>()?;
                format!("({})", parts.join(joiner))
            }
            Filter::Not(inner) => format!("not ({})", inner.to_odata()?),
        })
    }
}

impl fmt::Display for Filter {
    /// The filter text, or `<invalid filter: …>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_odata() {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<invalid filter: {e}>"),
        }
    }
}

/// Column and set names go into URLs unquoted: only letters, digits and `_`.
pub(crate) fn check_column(name: &str) -> Result<(), DataverseError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(DataverseError::InvalidInput(format!(
            "'{name}' is not a valid column or table name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            Filter::eq("lastname", "O'Bryan").to_odata().unwrap(),
            "lastname eq 'O''Bryan'"
        );
        let injection = "x' or name ne 'y";
        assert_eq!(
            Filter::eq("name", injection).to_odata().unwrap(),
            "name eq 'x'' or name ne ''y'"
        );
        assert_eq!(
            Filter::contains("name", "it's").to_odata().unwrap(),
            "contains(name,'it''s')"
        );
    }

    #[test]
    fn literals_and_composition() {
        let id = Uuid::parse_str("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        let date = time::macros::date!(2024 - 05 - 01);
        let at = time::macros::datetime!(2024-05-01 12:00:00 +02:00);
        let f = Filter::eq("_parentaccountid_value", id)
            .and(Filter::ge("estimatedclosedate", date))
            .and(Filter::lt("modifiedon", at))
            .and(Filter::eq("msft_sync", true).or(Filter::is_null("x")).not())
            .and(Filter::eq(
                "estimatedvalue",
                Literal::Decimal("-12.50".into()),
            ));
        assert_eq!(
            f.to_odata().unwrap(),
            "(_parentaccountid_value eq 0f8fad5b-d9cb-469f-a165-70867728950e and estimatedclosedate ge 2024-05-01 \
and modifiedon lt 2024-05-01T10:00:00Z and not ((msft_sync eq true or x eq null)) and estimatedvalue eq -12.50)"
        );
        assert_eq!(
            Filter::any_eq("statecode", [1, 2]).to_odata().unwrap(),
            "(statecode eq 1 or statecode eq 2)"
        );
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Filter::eq("name eq 'x' or name", "y").to_odata().is_err());
        assert!(Filter::all([]).to_odata().is_err());
        assert!(Filter::eq("v", f64::NAN).to_odata().is_err());
        assert!(
            Filter::eq("v", Literal::Decimal("1 or 1".into()))
                .to_odata()
                .is_err()
        );
    }
}
