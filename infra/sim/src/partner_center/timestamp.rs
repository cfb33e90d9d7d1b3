//! Partner Center writes dates as RFC 3339 UTC with 7 fractional digits (.NET ticks):
//! `2024-05-01T10:20:30.1234567Z` in referrals, `…+00:00` in webhook envelopes.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `2024-05-01T10:20:30.1234567Z`.
pub fn referral(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("a UTC date formats")
}

/// `2018-02-17T00:05:39.5485487+00:00`, as in the webhook envelope's `ResourceChangeUtcDate`.
pub fn envelope(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]+00:00"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("a UTC date formats")
}

/// Reads an RFC 3339 date, any number of fractional digits.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn writes_seven_fractional_digits() {
        let at = datetime!(2018-02-17 00:05:39.548548712 UTC);
        assert_eq!(referral(at), "2018-02-17T00:05:39.5485487Z");
        assert_eq!(envelope(at), "2018-02-17T00:05:39.5485487+00:00");
        assert_eq!(
            parse(&referral(at)).unwrap().unix_timestamp(),
            at.unix_timestamp()
        );
    }
}
