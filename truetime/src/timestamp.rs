//! `Timestamp`: nanoseconds since the Unix epoch, and `TimeSpec`, the
//! absolute-or-relative time a user writes (`AS OF SYSTEM TIME`).
//!
//! A `u64` of nanoseconds covers 1970 to 2554. Arithmetic is checked or
//! saturating, never wrapping. `Display` is RFC 3339 in UTC with nine
//! fractional digits, so printed timestamps sort like the values.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::TimestampError;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in time: nanoseconds since 1970-01-01T00:00:00Z.
///
/// INVARIANT: ordering of `Timestamp`s is ordering of the instants they name.
/// Serialises as its nanosecond count (serde `transparent`).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch; below every timestamp.
    pub const MIN: Timestamp = Timestamp(0);
    /// Year 2554; above every timestamp.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` past `MAX`.
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(d).map(Timestamp)
    }

    /// `self - d`, or `None` before `MIN`.
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_sub(d).map(Timestamp)
    }

    pub fn saturating_add(self, d: Duration) -> Timestamp {
        self.checked_add(d).unwrap_or(Timestamp::MAX)
    }

    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        self.checked_sub(d).unwrap_or(Timestamp::MIN)
    }

    /// `self + nanos` for a signed amount, or `None` outside `[MIN, MAX]`.
    pub fn checked_add_signed(self, nanos: i128) -> Option<Timestamp> {
        let sum = i128::from(self.0).checked_add(nanos)?;
        u64::try_from(sum).ok().map(Timestamp)
    }

    /// `self - earlier`, or `None` if `earlier` is later than `self`.
    pub fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// `self - earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }

    /// The next representable timestamp (one nanosecond later).
    pub fn next(self) -> Option<Timestamp> {
        self.0.checked_add(1).map(Timestamp)
    }

    /// The previous representable timestamp (one nanosecond earlier).
    pub fn prev(self) -> Option<Timestamp> {
        self.0.checked_sub(1).map(Timestamp)
    }

    /// The same instant as a chrono `DateTime<Utc>`.
    pub fn to_datetime(self) -> DateTime<Utc> {
        let secs = (self.0 / NANOS_PER_SEC) as i64;
        let nanos = (self.0 % NANOS_PER_SEC) as u32;
        // NB: every u64 of nanoseconds is inside chrono's range (±262,000
        // years), so the fallback is never taken.
        DateTime::from_timestamp(secs, nanos).unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The instant a `DateTime` names, if it lies in 1970..=2554.
    pub fn from_datetime(dt: DateTime<Utc>) -> Option<Timestamp> {
        let secs = u64::try_from(dt.timestamp()).ok()?;
        let nanos = u64::from(dt.timestamp_subsec_nanos());
        secs.checked_mul(NANOS_PER_SEC)?
            .checked_add(nanos)
            .map(Timestamp)
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-22T10:00:00.5Z` or
    /// `2026-11-22T11:00:00+01:00`.
    pub fn parse_rfc3339(input: &str) -> Result<Timestamp, TimestampError> {
        let dt =
            DateTime::parse_from_rfc3339(input.trim()).map_err(|e| TimestampError::Invalid {
                input: input.to_string(),
                reason: format!("not RFC 3339 ({e})"),
            })?;
        Timestamp::from_datetime(dt.with_timezone(&Utc)).ok_or_else(|| TimestampError::OutOfRange {
            input: input.to_string(),
        })
    }

    /// Parses what a user may write for a point in time, relative forms
    /// resolved against `now`: see [`TimeSpec`].
    pub fn parse(input: &str, now: Timestamp) -> Result<Timestamp, TimestampError> {
        input.parse::<TimeSpec>()?.resolve(now)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Nanos, true),
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Absolute forms only (RFC 3339); relative forms need a `now`, see
    /// [`Timestamp::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(s)
    }
}

/// A point in time as a user writes it.
///
/// | form                          | meaning                                   |
/// |-------------------------------|-------------------------------------------|
/// | `2026-11-22T10:00:00Z`        | that instant (RFC 3339, any offset)        |
/// | `1795352400000000000`         | that many nanoseconds since the epoch      |
/// | `-10s`, `-1m30s`, `-250ms`    | that long before `now`                     |
/// | `+2s`                         | that long after `now`                      |
///
/// Relative units: `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`; each number may
/// have a decimal fraction (`-1.5s`). Whether a future time is acceptable is the
/// caller's decision (SQL rejects it for `AS OF SYSTEM TIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// An absolute instant.
    At(Timestamp),
    /// Signed nanoseconds relative to "now".
    Relative(i128),
}

impl TimeSpec {
    /// The instant this specification names, relative forms taken from `now`.
    pub fn resolve(self, now: Timestamp) -> Result<Timestamp, TimestampError> {
        match self {
            TimeSpec::At(ts) => Ok(ts),
            TimeSpec::Relative(nanos) => {
                now.checked_add_signed(nanos)
                    .ok_or_else(|| TimestampError::OutOfRange {
                        input: format!("{nanos}ns relative to {now}"),
                    })
            }
        }
    }
}

impl FromStr for TimeSpec {
    type Err = TimestampError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let invalid = |reason: &str| TimestampError::Invalid {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(invalid("empty"));
        }
        if let Some(rest) = s.strip_prefix('-') {
            return parse_duration_nanos(rest)
                .map(|n| TimeSpec::Relative(-n))
                .map_err(|reason| invalid(&reason));
        }
        if let Some(rest) = s.strip_prefix('+') {
            return parse_duration_nanos(rest)
                .map(TimeSpec::Relative)
                .map_err(|reason| invalid(&reason));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<u64>()
                .map(|n| TimeSpec::At(Timestamp(n)))
                .map_err(|_| TimestampError::OutOfRange {
                    input: input.to_string(),
                });
        }
        Timestamp::parse_rfc3339(s).map(TimeSpec::At)
    }
}

/// Parses `1m30s`, `1.5s`, `250ms` … into nanoseconds (no sign).
fn parse_duration_nanos(s: &str) -> Result<i128, String> {
    if s.is_empty() {
        return Err("a duration needs a number and a unit, e.g. -10s".into());
    }
    let mut total: i128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{rest:?} has no unit (use h, m, s, ms, us or ns)"))?;
        let (number, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_nanos: i128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            "" => {
                return Err(format!(
                    "{number:?} has no unit (use h, m, s, ms, us or ns)"
                ));
            }
            other => {
                return Err(format!(
                    "unknown unit {other:?} (use h, m, s, ms, us or ns)"
                ));
            }
        };
        total = total
            .checked_add(scale_decimal(number, unit_nanos)?)
            .ok_or("duration too large")?;
        rest = next;
    }
    Ok(total)
}

/// `number × unit` for a decimal `number` like `1.25`, truncated to whole
/// nanoseconds.
fn scale_decimal(number: &str, unit_nanos: i128) -> Result<i128, String> {
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(format!("{number:?} is not a number"));
    }
    let too_large = || "duration too large".to_string();
    let int: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_large())?
    };
    let mut nanos = int.checked_mul(unit_nanos).ok_or_else(too_large)?;
    // Each fractional digit is worth a tenth of the previous one.
    let mut place = unit_nanos;
    for digit in frac_part.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos
            .checked_add(i128::from(digit - b'0') * place)
            .ok_or_else(too_large)?;
    }
    Ok(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_is_rfc3339_with_nanoseconds() {
        assert_eq!(Timestamp::MIN.to_string(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            Timestamp::from_nanos(1_795_352_400_123_456_789).to_string(),
            "2026-11-22T13:00:00.123456789Z"
        );
        assert_eq!(Timestamp::MAX.to_string(), "2554-07-21T23:34:33.709551615Z");
    }

    #[test]
    fn parse_rfc3339_accepts_offsets_and_rejects_garbage() {
        let utc = Timestamp::parse_rfc3339("2026-11-22T10:20:00Z").unwrap();
        let plus_one = Timestamp::parse_rfc3339("2026-11-22T11:20:00+01:00").unwrap();
        assert_eq!(utc, plus_one);
        assert!(matches!(
            Timestamp::parse_rfc3339("yesterday"),
            Err(TimestampError::Invalid { .. })
        ));
        assert!(matches!(
            Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange { .. })
        ));
        assert!(matches!(
            Timestamp::parse_rfc3339("2600-01-01T00:00:00Z"),
            Err(TimestampError::OutOfRange { .. })
        ));
    }

    #[test]
    fn relative_forms_resolve_against_now() {
        let now = Timestamp::from_nanos(100 * NANOS_PER_SEC);
        let at = |s: &str| Timestamp::parse(s, now).unwrap().as_nanos();
        assert_eq!(at("-10s"), 90 * NANOS_PER_SEC);
        assert_eq!(at("-1m30s"), 10 * NANOS_PER_SEC);
        assert_eq!(at("-1.5s"), 98_500_000_000);
        assert_eq!(at("-250ms"), 99_750_000_000);
        assert_eq!(at("-7us"), 99_999_993_000);
        assert_eq!(at("-7µs"), 99_999_993_000);
        assert_eq!(at("+2s"), 102 * NANOS_PER_SEC);
        assert_eq!(at(" -1ns "), 100 * NANOS_PER_SEC - 1);
        assert_eq!(at("42"), 42);
    }

    #[test]
    fn relative_forms_reject_bad_input() {
        let now = Timestamp::from_nanos(100 * NANOS_PER_SEC);
        for bad in [
            "", "-", "-10", "-s", "-10x", "-1..5s", "+", "-10s5", "--1s", "10 s",
        ] {
            assert!(Timestamp::parse(bad, now).is_err(), "{bad:?} parsed");
        }
        assert!(matches!(
            Timestamp::parse("-200s", now),
            Err(TimestampError::OutOfRange { .. })
        ));
        assert!(matches!(
            Timestamp::parse("-99999999999999999999999999999999999999h", now),
            Err(TimestampError::Invalid { .. })
        ));
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        let d = Duration::from_nanos(5);
        assert_eq!(Timestamp::MAX.checked_add(d), None);
        assert_eq!(Timestamp::MIN.checked_sub(d), None);
        assert_eq!(Timestamp::MAX.saturating_add(d), Timestamp::MAX);
        assert_eq!(Timestamp::MIN.saturating_sub(d), Timestamp::MIN);
        assert_eq!(Timestamp::MAX.next(), None);
        assert_eq!(Timestamp::MIN.prev(), None);
        assert_eq!(
            Timestamp::from_nanos(3).checked_duration_since(Timestamp::from_nanos(5)),
            None
        );
        assert_eq!(Timestamp::MAX.checked_add(Duration::MAX), None);
        assert_eq!(Timestamp::from_nanos(7).checked_add_signed(-8), None);
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(n in any::<u64>()) {
            let ts = Timestamp::from_nanos(n);
            prop_assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts);
        }

        #[test]
        fn display_order_is_timestamp_order(a in any::<u64>(), b in any::<u64>()) {
            let (ta, tb) = (Timestamp::from_nanos(a), Timestamp::from_nanos(b));
            prop_assert_eq!(ta.cmp(&tb), ta.to_string().cmp(&tb.to_string()));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = Timestamp::parse(&s, Timestamp::from_nanos(1 << 62));
        }

        #[test]
        fn add_then_sub_is_identity(n in any::<u64>(), d in any::<u64>()) {
            let ts = Timestamp::from_nanos(n);
            let d = Duration::from_nanos(d);
            if let Some(later) = ts.checked_add(d) {
                prop_assert_eq!(later.checked_sub(d), Some(ts));
                prop_assert_eq!(later.checked_duration_since(ts), Some(d));
            }
        }
    }
}
