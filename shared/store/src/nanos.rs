//! Times as whole nanoseconds since the Unix epoch, the one form both adapters compare and sort
//! by, so "due", "expired" and "older than the TTL" mean the same instant in DynamoDB and SQLite.
//!
//! Values are clamped to the `i64` range (years 1677–2262): a TTL too long to represent means
//! "never expires", which is what a caller asking for it wants.

use std::time::Duration;

use time::OffsetDateTime;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `t` as nanoseconds since the epoch.
pub(crate) fn of(t: OffsetDateTime) -> i64 {
    clamp(t.unix_timestamp_nanos())
}

/// The instant `ttl` after `now`: an item written at `now` is live while the clock reads less
/// than this, and expired from this instant on.
pub(crate) fn expiry(now: OffsetDateTime, ttl: Duration) -> i64 {
    let ttl = i128::try_from(ttl.as_nanos()).unwrap_or(i128::MAX);
    clamp(now.unix_timestamp_nanos().saturating_add(ttl))
}

/// Epoch seconds rounded up, for DynamoDB's TTL attribute: the sweeper may delete an item only
/// once it has really expired, never a fraction of a second early.
pub(crate) fn ceil_seconds(nanos: i64) -> i64 {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    if nanos.rem_euclid(NANOS_PER_SECOND) == 0 {
        seconds
    } else {
        seconds + 1
    }
}

/// The instant `nanos` names (the epoch's own range always fits `OffsetDateTime`).
pub(crate) fn to_time(nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn clamp(nanos: i128) -> i64 {
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn expiry_adds_the_ttl_and_saturates() {
        let now = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            expiry(now, Duration::from_secs(2)),
            of(now) + 2 * NANOS_PER_SECOND
        );
        assert_eq!(expiry(now, Duration::MAX), i64::MAX);
    }

    #[test]
    fn ttl_seconds_round_up() {
        assert_eq!(ceil_seconds(5 * NANOS_PER_SECOND), 5);
        assert_eq!(ceil_seconds(5 * NANOS_PER_SECOND + 1), 6);
        assert_eq!(ceil_seconds(-1), 0);
    }
}
