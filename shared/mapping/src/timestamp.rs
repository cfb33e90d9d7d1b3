//! RFC 3339 timestamps as Partner Center sends them.
//!
//! Partner Center writes up to 7 fractional digits (`2024-03-01T10:15:30.1234567Z`), webhook
//! bodies use `+00:00`, and some older payloads carry no offset at all. All of these are read;
//! every timestamp is written back as RFC 3339 in UTC (`Z`), so a stored value compares equal
//! however it arrived.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::MappingError;

/// Reads an RFC 3339 timestamp with any number of fractional digits (up to nanoseconds are kept)
/// and `Z` or a numeric offset. A timestamp with no offset is read as UTC.
///
/// A timestamp whose UTC date falls outside the years 0–9999 (`9999-12-31T23:00:00-01:00`) is
/// refused: it could be neither converted to UTC nor written back as RFC 3339.
pub fn parse(value: &str) -> Result<OffsetDateTime, MappingError> {
    let trimmed = value.trim();
    OffsetDateTime::parse(trimmed, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{trimmed}Z"), &Rfc3339))
        .ok()
        .filter(|at| {
            at.checked_to_offset(UtcOffset::UTC)
                .is_some_and(|utc| (0..=9999).contains(&utc.year()))
        })
        .ok_or_else(|| MappingError::InvalidTimestamp {
            value: value.to_owned(),
        })
}

/// Writes `value` as RFC 3339 in UTC, e.g. `2024-03-01T10:15:30.1234567Z`.
pub fn format(value: OffsetDateTime) -> String {
    value
        .to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        // Only years outside 0..=9999 fail to format, and no referral carries one.
        .unwrap_or_else(|_| value.to_string())
}

/// Serde helpers for `Option<OffsetDateTime>` fields: null or absent is `None`.
/// Use with `#[serde(default, with = "cosell_mapping::timestamp::option")]`.
pub mod option {
    use super::*;

    /// Writes `Some` as RFC 3339 UTC and `None` as null.
    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&format(*value)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a timestamp string, or null as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn reads_seven_and_nine_fractional_digits_and_offsets() {
        assert_eq!(
            parse("2024-03-01T10:15:30.1234567Z").unwrap(),
            datetime!(2024-03-01 10:15:30.1234567 UTC)
        );
        assert_eq!(
            parse("2024-03-01T10:15:30.123456789Z").unwrap(),
            datetime!(2024-03-01 10:15:30.123456789 UTC)
        );
        assert_eq!(
            parse("2018-02-17T00:05:39.5485487+00:00").unwrap(),
            datetime!(2018-02-17 00:05:39.5485487 UTC)
        );
        assert_eq!(
            parse("2024-03-01T12:15:30+02:00").unwrap(),
            datetime!(2024-03-01 10:15:30 UTC)
        );
        assert_eq!(
            parse("2024-03-01T10:15:30.5").unwrap(),
            datetime!(2024-03-01 10:15:30.5 UTC)
        );
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        let error = parse("next tuesday").unwrap_err();
        assert_eq!(
            error.to_string(),
            "'next tuesday' is not an RFC 3339 timestamp"
        );
    }

    #[test]
    fn writes_utc_with_z() {
        let value = parse("2024-03-01T12:15:30.1234567+02:00").unwrap();
        assert_eq!(format(value), "2024-03-01T10:15:30.1234567Z");
    }
}
