//! Reading and writing single Web API columns, with the column named in every error.

use rust_decimal::Decimal;
use serde_json::Value;
use time::Date;
use time::macros::format_description;
use uuid::Uuid;

use super::{Account, Contact, CrmRow, Customer, Row};
use crate::decimal;
use crate::error::MappingError;

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

/// The `$select` name of a lookup column: `_<name>_value`.
pub(crate) fn lookup_column(name: &str) -> String {
    format!("_{name}_value")
}

/// Reads typed columns from a row.
pub(crate) struct Reader<'a>(pub(crate) &'a Row);

impl<'a> Reader<'a> {
    fn get(&self, column: &str) -> Option<&'a Value> {
        self.0.get(column).filter(|value| !value.is_null())
    }

    fn read<T>(
        &self,
        column: &str,
        expected: &'static str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, MappingError> {
        let Some(value) = self.get(column) else {
            return Ok(None);
        };
        convert(value)
            .map(Some)
            .ok_or_else(|| MappingError::InvalidColumn {
                column: column.to_owned(),
                expected,
                value: value.clone(),
            })
    }

    pub(crate) fn text(&self, column: &str) -> Result<Option<String>, MappingError> {
        self.read(column, "text", |v| v.as_str().map(str::to_owned))
    }

    /// A text column the settings may leave unnamed: unnamed, blank or absent reads as `None`.
    pub(crate) fn optional_text(
        &self,
        column: Option<&str>,
    ) -> Result<Option<String>, MappingError> {
        let Some(column) = column else {
            return Ok(None);
        };
        Ok(self
            .text(column)?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()))
    }

    /// A Services co-sell column the settings may leave unnamed: text as it is (trimmed), or a
    /// choice's label by its value — labels come from metadata (`choices`), never from the row,
    /// whose formatted value is in the reader's language.
    pub(crate) fn text_or_choice(
        &self,
        column: Option<&str>,
        choices: &std::collections::BTreeMap<String, std::collections::BTreeMap<i64, String>>,
    ) -> Result<Option<String>, MappingError> {
        let Some(column) = column else {
            return Ok(None);
        };
        let Some(value) = self.get(column).and_then(Value::as_i64) else {
            return self.optional_text(Some(column));
        };
        match choices.get(column).and_then(|options| options.get(&value)) {
            Some(label) => Ok(Some(label.trim().to_owned()).filter(|l| !l.is_empty())),
            None => Err(MappingError::UnknownChoice {
                column: column.to_owned(),
                value,
            }),
        }
    }

    pub(crate) fn flag(&self, column: &str) -> Result<Option<bool>, MappingError> {
        self.read(column, "true or false", Value::as_bool)
    }

    pub(crate) fn int(&self, column: &str) -> Result<Option<i64>, MappingError> {
        self.read(column, "a whole number", Value::as_i64)
    }

    pub(crate) fn decimal(&self, column: &str) -> Result<Option<Decimal>, MappingError> {
        self.read(column, "a decimal amount", decimal::from_value)
    }

    /// A date-only column (`2024-05-31`). A column whose behaviour is "user local" answers with a
    /// date-time instead; its date part is taken as written.
    pub(crate) fn date(&self, column: &str) -> Result<Option<Date>, MappingError> {
        self.read(column, "a date (YYYY-MM-DD)", |v| {
            let text = v.as_str()?;
            Date::parse(text.get(..10)?, DATE).ok()
        })
    }

    pub(crate) fn guid(&self, column: &str) -> Result<Option<Uuid>, MappingError> {
        self.read(column, "a GUID", |v| v.as_str()?.parse().ok())
    }

    /// A lookup, read from `_<name>_value`.
    pub(crate) fn lookup(&self, name: &str) -> Result<Option<Uuid>, MappingError> {
        self.guid(&lookup_column(name))
    }

    /// A polymorphic customer lookup; see [`Customer`].
    pub(crate) fn customer(&self, name: &str) -> Result<Option<Customer>, MappingError> {
        let column = lookup_column(name);
        let Some(id) = self.guid(&column)? else {
            return Ok(None);
        };
        let table = self.text(&format!(
            "{column}@Microsoft.Dynamics.CRM.lookuplogicalname"
        ))?;
        Ok(Some(match table.as_deref() {
            Some("contact") => Customer::Contact(id),
            _ => Customer::Account(id),
        }))
    }

    /// `@odata.etag`.
    pub(crate) fn etag(&self) -> Result<Option<String>, MappingError> {
        self.text("@odata.etag")
    }
}

/// Builds a row from the fields that are `Some`.
#[derive(Default)]
pub(crate) struct Writer(Row);

impl Writer {
    pub(crate) fn put(&mut self, column: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.0.insert(column.to_owned(), value.into());
        }
    }

    pub(crate) fn decimal(&mut self, column: &str, value: Option<Decimal>) {
        self.put(column, value.map(decimal::to_value));
    }

    pub(crate) fn date(&mut self, column: &str, value: Option<Date>) {
        // Formatting a valid `Date` with a numeric description cannot fail.
        self.put(column, value.and_then(|date| date.format(DATE).ok()));
    }

    /// A lookup: `"<name>@odata.bind": "/<entity set>(<guid>)"`.
    pub(crate) fn bind(&mut self, name: &str, entity_set: &str, id: Option<Uuid>) {
        self.put(
            &format!("{name}@odata.bind"),
            id.map(|id| format!("/{entity_set}({id})")),
        );
    }

    /// A polymorphic customer lookup: `<name>_account@odata.bind` or `<name>_contact@odata.bind`.
    pub(crate) fn customer(&mut self, name: &str, customer: Option<Customer>) {
        match customer {
            Some(Customer::Account(id)) => {
                self.bind(&format!("{name}_account"), Account::ENTITY_SET, Some(id))
            }
            Some(Customer::Contact(id)) => {
                self.bind(&format!("{name}_contact"), Contact::ENTITY_SET, Some(id))
            }
            None => {}
        }
    }

    /// Mapped columns, each as it is.
    pub(crate) fn mapped(&mut self, values: &crate::custom::MappedValues) {
        for (column, value) in values {
            self.0.insert(column.clone(), value.clone());
        }
    }

    pub(crate) fn finish(self) -> Row {
        self.0
    }
}
