//! Dates and times as PostgreSQL writes and reads them (ISO 8601 with a
//! space or `T`, an optional zone offset; the session's time zone is
//! UTC).

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};

/// 1970-01-01, day 0 of [`crate::Value::Date`].
fn epoch() -> NaiveDate {
    NaiveDate::default()
}

/// The date `days` after 1970-01-01 (`YYYY-MM-DD`).
pub fn date_text(days: i32) -> String {
    match date_of(days) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => format!("day {days}"),
    }
}

/// The date `days` after 1970-01-01.
pub fn date_of(days: i32) -> Option<NaiveDate> {
    if days >= 0 {
        epoch().checked_add_days(Days::new(days as u64))
    } else {
        epoch().checked_sub_days(Days::new(days.unsigned_abs() as u64))
    }
}

/// Days from 1970-01-01 to `d`.
pub fn days_of(d: NaiveDate) -> Result<i32> {
    i32::try_from((d - epoch()).num_days())
        .map_err(|_| SqlError::numeric_out_of_range("date out of range"))
}

/// 22008 when `s` is shaped as a date (`dddd-dd-dd`) whose fields are
/// out of range, else 22007.
fn bad(what: &str, s: &str) -> SqlError {
    let t = s.trim().as_bytes();
    let shaped = t.len() >= 10
        && t[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if shaped {
        SqlError::datetime_field_overflow(format!("date/time field value out of range: \"{s}\""))
    } else {
        SqlError::invalid_datetime(format!("invalid input syntax for type {what}: \"{s}\""))
    }
}

/// A date written `YYYY-MM-DD` (a time after it is ignored, as
/// PostgreSQL does for `'… 10:00'::date`).
pub fn parse_date(s: &str) -> Result<i32> {
    let t = s.trim();
    let day = t.get(..10).unwrap_or(t);
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad("date", s))?;
    if t.len() > 10 && !matches!(t.as_bytes()[10], b' ' | b'T' | b't') {
        return Err(bad("date", s));
    }
    days_of(d)
}

/// A point in time written `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]]`
/// with an optional zone (`Z`, `+HH`, `+HH:MM`, `-HHMM`): UTC when none
/// is given.
pub fn parse_timestamp(s: &str) -> Result<Timestamp> {
    let t = s.trim();
    let (body, offset) = split_zone(t).ok_or_else(|| bad("timestamp", s))?;
    let naive = if body.len() <= 10 {
        NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .map_err(|_| bad("timestamp", s))?
            .and_time(NaiveTime::MIN)
    } else {
        let normalized = body.replacen(['T', 't'], " ", 1);
        NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M"))
            .map_err(|_| bad("timestamp", s))?
    };
    let utc = naive - chrono::Duration::seconds(i64::from(offset));
    Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(utc, Utc)).ok_or_else(
        || SqlError::numeric_out_of_range(format!("timestamp out of range (before 1970): \"{s}\"")),
    )
}

/// `t` without its zone, and the zone's offset east of UTC in seconds.
fn split_zone(t: &str) -> Option<(&str, i32)> {
    if let Some(body) = t.strip_suffix(['Z', 'z']) {
        return Some((body, 0));
    }
    // A sign after the date part (not the date's own dashes).
    let tail_start = 10.min(t.len());
    let Some(pos) = t[tail_start..].rfind(['+', '-']).map(|p| p + tail_start) else {
        return Some((t, 0));
    };
    let (body, zone) = t.split_at(pos);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let (h, m) = digits.split_at(digits.len() - 2);
        (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
    };
    Some((body.trim_end(), sign * (h * 3600 + m * 60)))
}

/// The date of `t` (UTC).
pub fn date_of_timestamp(t: Timestamp) -> Result<i32> {
    days_of(t.to_datetime().date_naive())
}

/// Midnight UTC of the date `days`.
pub fn timestamp_of_date(days: i32) -> Result<Timestamp> {
    let d = date_of(days).ok_or_else(|| SqlError::numeric_out_of_range("date out of range"))?;
    Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(
        d.and_time(NaiveTime::MIN),
        Utc,
    ))
    .ok_or_else(|| SqlError::numeric_out_of_range("timestamp out of range (before 1970)"))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (microseconds, PostgreSQL's output),
/// then `+00` for a timestamp with time zone.
pub fn timestamp_text(t: Timestamp, with_zone: bool) -> String {
    let dt = t.to_datetime();
    let micros = dt.timestamp_subsec_micros();
    let mut s = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    if micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    if with_zone {
        s.push_str("+00");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_read_as_postgresql_writes_them() {
        assert_eq!(parse_date("1970-01-02").unwrap(), 1);
        assert_eq!(parse_date("1969-12-31").unwrap(), -1);
        assert_eq!(date_text(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert_eq!(
            date_text(parse_date("2024-02-29 10:00").unwrap()),
            "2024-02-29"
        );
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-01-01x").is_err());
        let t = |s: &str| timestamp_text(parse_timestamp(s).unwrap(), true);
        assert_eq!(t("2024-01-02 03:04:05"), "2024-01-02 03:04:05+00");
        assert_eq!(t("2024-01-02T03:04:05.25Z"), "2024-01-02 03:04:05.25+00");
        assert_eq!(t("2024-01-02 03:04:05+02"), "2024-01-02 01:04:05+00");
        assert_eq!(t("2024-01-02 03:04:05-01:30"), "2024-01-02 04:34:05+00");
        assert_eq!(t("2024-01-02"), "2024-01-02 00:00:00+00");
        assert_eq!(t("2024-01-02 03:04"), "2024-01-02 03:04:00+00");
        assert!(parse_timestamp("2024-01-02 25:00:00").is_err());
        assert!(parse_timestamp("1969-12-31 00:00:00").is_err());
    }
}
