//! The limits Dataverse puts on the values a write sends, enforced as the real service does:
//! text longer than its column's `MaxLength`, money outside its column's range, a date before
//! 1753. Each refusal is a 400 with Dataverse's error shape, code and wording.
//!
//! Lengths and ranges are Microsoft's published table reference (`MaxLength`, `MinValue`,
//! `MaxValue` of each attribute): `MicrosoftDocs/dynamics-365-customer-engagement`
//! `ce/developer/entities/opportunity.md` and `lead.md`, `MicrosoftDocs/powerapps-docs`
//! `powerapps-docs/developer/data-platform/reference/entities/account.md` and `contact.md`. The
//! error wording is what the service answers (quoted in public issue reports: "A validation error
//! occurred.  The length of the 'x' attribute of the 'y' entity exceeded the maximum allowed
//! length of 'n'.", `0x80044331`; "DateTime is less than minumum value supported by
//! CrmDateTime", `0x80040239`); Microsoft's error list names `0x80040317` MoneySizeExceeded.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::error::DvError;

/// `MaxLength` by `table.column`.
pub const MAX_LENGTHS: &[(&str, usize)] = &[
    ("opportunity.name", 300),
    ("opportunity.description", 2000),
    ("account.name", 160),
    ("account.address1_line1", 250),
    ("account.address1_city", 80),
    ("account.address1_stateorprovince", 50),
    ("account.address1_postalcode", 20),
    ("account.address1_country", 80),
    ("contact.firstname", 50),
    ("contact.lastname", 50),
    ("contact.emailaddress1", 100),
    ("contact.telephone1", 50),
    ("lead.subject", 300),
    ("lead.firstname", 50),
    ("lead.lastname", 50),
    ("lead.companyname", 100),
    ("lead.emailaddress1", 100),
    ("lead.telephone1", 50),
    ("lead.address1_line1", 250),
    ("lead.address1_city", 80),
    ("lead.address1_stateorprovince", 50),
    ("lead.address1_postalcode", 20),
    ("lead.address1_country", 80),
    ("lead.description", 2000),
];

/// `MinValue`, `MaxValue` by `table.column`.
pub const MONEY_RANGES: &[(&str, f64, f64)] = &[
    ("opportunity.estimatedvalue", -1e12, 1e12),
    ("lead.estimatedamount", 0.0, 1e12),
];

/// Columns holding dates (`DateTime` attributes): nothing before 1753-01-01 is stored.
pub const DATE_COLUMNS: &[&str] = &[
    "opportunity.estimatedclosedate",
    "opportunity.actualclosedate",
    "lead.estimatedclosedate",
    "task.scheduledend",
];

pub const STRING_TOO_LONG: &str = "0x80044331";
pub const MONEY_SIZE_EXCEEDED: &str = "0x80040317";
pub const INVALID_DATE_TIME: &str = "0x80040239";

/// The published `MaxLength` of `logical`'s `column`, when [`MAX_LENGTHS`] has it.
pub fn max_length(logical: &str, column: &str) -> Option<usize> {
    let key = format!("{logical}.{column}");
    MAX_LENGTHS
        .iter()
        .find(|(c, _)| *c == key)
        .map(|(_, max)| *max)
}

/// Refuses the first value in `changes` that `logical`'s columns cannot hold.
pub fn check(logical: &str, changes: &Map<String, Value>) -> Result<(), DvError> {
    for (column, value) in changes {
        let key = format!("{logical}.{column}");
        if let (Some(text), Some(max)) = (value.as_str(), max_length(logical, column))
            && text.chars().count() > max
        {
            return Err(DvError::new(
                StatusCode::BAD_REQUEST,
                STRING_TOO_LONG,
                format!(
                    "A validation error occurred.  The length of the '{column}' attribute of the '{logical}' entity exceeded the maximum allowed length of '{max}'."
                ),
            ));
        }
        if let (Some(amount), Some((_, min, max))) = (
            value.as_f64(),
            MONEY_RANGES.iter().find(|(c, _, _)| *c == key),
        ) && (amount < *min || amount > *max)
        {
            return Err(DvError::new(
                StatusCode::BAD_REQUEST,
                MONEY_SIZE_EXCEEDED,
                format!(
                    "Supplied value exceeded the MIN/MAX value of Money Type field. {column}: {amount} is outside {min} to {max}."
                ),
            ));
        }
        if let Some(text) = value.as_str()
            && DATE_COLUMNS.contains(&key.as_str())
            && text
                .get(..4)
                .and_then(|y| y.parse::<i32>().ok())
                .is_some_and(|year| year < 1753)
        {
            return Err(DvError::new(
                StatusCode::BAD_REQUEST,
                INVALID_DATE_TIME,
                format!(
                    "DateTime is less than minumum value supported by CrmDateTime. Actual value: {text}, Minimum value supported: 01/01/1753 00:00:00"
                ),
            ));
        }
    }
    Ok(())
}
