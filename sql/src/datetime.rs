//! Dates and times as PostgreSQL writes and reads them (ISO 8601 with a
//! space or `T`, an optional zone offset or name). A timestamp with time
//! zone is an instant, written and read in the session's time zone
//! ([`crate::zone::current`]).

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};
use crate::zone::Zone;

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

/// A timestamp without time zone written `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]]`;
/// a zone after it is ignored, as PostgreSQL ignores it.
pub fn parse_timestamp(s: &str) -> Result<Timestamp> {
    let (naive, _) = parse_parts(s, "timestamp")?;
    timestamp_of_naive(naive, s)
}

/// A timestamp with time zone: as [`parse_timestamp`], with a zone
/// offset (`Z`, `+HH`, `+HH:MM`, `-HHMM`) or name (`Europe/Paris`, `EST`)
/// after it; in the session's zone when none is given.
pub fn parse_timestamptz(s: &str) -> Result<Timestamp> {
    let (naive, zone) = parse_parts(s, "timestamp with time zone")?;
    let utc = match zone {
        Some(Zone::Fixed(east)) => naive - chrono::Duration::seconds(i64::from(east)),
        Some(zone) => zone.utc(naive),
        None => crate::zone::current().utc(naive),
    };
    timestamp_of_naive(utc, s)
}

/// The date and time of `s`, and the zone written after them.
fn parse_parts(s: &str, what: &str) -> Result<(NaiveDateTime, Option<Zone>)> {
    let t = s.trim();
    // A zone name after the time (`… 12:00 America/New_York`).
    let (t, named) = match t.rsplit_once(' ') {
        Some((body, name))
            if body.len() >= 10
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && !name.eq_ignore_ascii_case("z") =>
        {
            (
                body.trim_end(),
                Some(Zone::named(name).map_err(|_| bad(what, s))?),
            )
        }
        _ => (t, None),
    };
    let (body, offset) = split_zone(t).ok_or_else(|| bad(what, s))?;
    let naive = if body.len() <= 10 {
        NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .map_err(|_| bad(what, s))?
            .and_time(NaiveTime::MIN)
    } else {
        let normalized = body.replacen(['T', 't'], " ", 1);
        NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M"))
            .map_err(|_| bad(what, s))?
    };
    Ok((naive, named.or(offset.map(Zone::Fixed))))
}

/// The timestamp of the UTC time `utc` (22008 before 1970), read from `s`.
fn timestamp_of_naive(utc: NaiveDateTime, s: &str) -> Result<Timestamp> {
    Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(utc, Utc)).ok_or_else(
        || SqlError::numeric_out_of_range(format!("timestamp out of range (before 1970): \"{s}\"")),
    )
}

/// The wall-clock time of the instant `t` in the session's time zone.
pub fn local_of(t: Timestamp) -> NaiveDateTime {
    crate::zone::current().local(t.to_datetime().naive_utc())
}

/// The instant of the wall-clock time `local` in the session's time
/// zone (22008 out of range).
pub fn instant_of(local: NaiveDateTime) -> Result<Timestamp> {
    timestamp_of_local(crate::zone::current().utc(local))
}

/// The timestamp without time zone that shows `local` (22008 out of
/// range); also the instant of a UTC time.
pub fn timestamp_of_local(local: NaiveDateTime) -> Result<Timestamp> {
    Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(local, Utc))
        .ok_or_else(|| SqlError::datetime_field_overflow("timestamp out of range"))
}

/// `t` without its zone, and the zone's offset east of UTC in seconds
/// (`None` when it has none).
fn split_zone(t: &str) -> Option<(&str, Option<i32>)> {
    if let Some(body) = t.strip_suffix(['Z', 'z']) {
        return Some((body.trim_end(), Some(0)));
    }
    // A sign after the date part (not the date's own dashes).
    let tail_start = 10.min(t.len());
    let Some(pos) = t[tail_start..].rfind(['+', '-']).map(|p| p + tail_start) else {
        return Some((t, None));
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
    Some((body.trim_end(), Some(sign * (h * 3600 + m * 60))))
}

/// The date of the timestamp without time zone `t`.
pub fn date_of_timestamp(t: Timestamp) -> Result<i32> {
    days_of(t.to_datetime().date_naive())
}

/// The date of the instant `t` in the session's time zone.
pub fn date_of_timestamptz(t: Timestamp) -> Result<i32> {
    days_of(local_of(t).date())
}

/// Midnight of the date `days`, as a timestamp without time zone.
pub fn timestamp_of_date(days: i32) -> Result<Timestamp> {
    let d = date_of(days).ok_or_else(|| SqlError::numeric_out_of_range("date out of range"))?;
    Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(
        d.and_time(NaiveTime::MIN),
        Utc,
    ))
    .ok_or_else(|| SqlError::numeric_out_of_range("timestamp out of range (before 1970)"))
}

/// The instant of midnight of the date `days` in the session's time zone.
pub fn timestamptz_of_date(days: i32) -> Result<Timestamp> {
    let d = date_of(days).ok_or_else(|| SqlError::numeric_out_of_range("date out of range"))?;
    instant_of(d.and_time(NaiveTime::MIN))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (microseconds, PostgreSQL's output);
/// a timestamp with time zone is written in the session's zone, its
/// offset after it (`+00`, `-04`, `+05:30`).
pub fn timestamp_text(t: Timestamp, with_zone: bool) -> String {
    let utc = t.to_datetime().naive_utc();
    if !with_zone {
        return naive_text(utc);
    }
    let east = crate::zone::current().offset_at(utc);
    let mut s = naive_text(utc + chrono::Duration::seconds(i64::from(east)));
    s.push_str(&crate::zone::offset_text(east));
    s
}

/// A wall-clock time as PostgreSQL writes it.
fn naive_text(dt: NaiveDateTime) -> String {
    let micros = dt.and_utc().timestamp_subsec_micros();
    let mut s = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    if micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
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
        let t = |s: &str| timestamp_text(parse_timestamptz(s).unwrap(), true);
        assert_eq!(t("2024-01-02 03:04:05"), "2024-01-02 03:04:05+00");
        assert_eq!(t("2024-01-02T03:04:05.25Z"), "2024-01-02 03:04:05.25+00");
        assert_eq!(t("2024-01-02 03:04:05+02"), "2024-01-02 01:04:05+00");
        assert_eq!(t("2024-01-02 03:04:05-01:30"), "2024-01-02 04:34:05+00");
        assert_eq!(t("2024-01-02"), "2024-01-02 00:00:00+00");
        assert_eq!(t("2024-01-02 03:04"), "2024-01-02 03:04:00+00");
        assert_eq!(t("2024-01-02 03:04 Asia/Kolkata"), "2024-01-01 21:34:00+00");
        // A timestamp without time zone ignores a zone written after it.
        let naive = |s: &str| timestamp_text(parse_timestamp(s).unwrap(), false);
        assert_eq!(naive("2024-01-02 03:04:05+02"), "2024-01-02 03:04:05");
        assert_eq!(
            naive("2024-01-02 03:04 Asia/Kolkata"),
            "2024-01-02 03:04:00"
        );
        assert!(parse_timestamp("2024-01-02 25:00:00").is_err());
        assert!(parse_timestamptz("2024-01-02 03:04 Mars/Base").is_err());
        assert!(parse_timestamp("1969-12-31 00:00:00").is_err());
    }
}
