//! `AT TIME ZONE` and `timezone(zone, ts)` over fixed offsets: UTC and its
//! names, PostgreSQL's fixed time zone abbreviations (`EST`, `CET`, …),
//! POSIX offsets (`UTC+5`, `+05:30`, `Etc/GMT+5`: hours *west* of
//! Greenwich, as PostgreSQL reads them) and intervals (hours east).
//! Named zones with daylight saving rules (`America/New_York`) need a
//! time zone database this build does not carry: 22023, as PostgreSQL
//! answers a zone it does not know.

use crate::error::{Result, SqlError};
use crate::interval::{MICROS_PER_HOUR, MICROS_PER_MINUTE, add_micros};
use crate::plan::Func;
use crate::value::Value;

/// `timezone(zone, ts)` when the arguments suit it.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    let (Func::Timezone, [zone, ts]) = (f, values) else {
        return Ok(None);
    };
    let east = match zone {
        Value::Text(name) => offset_of_name(name)?,
        Value::Interval(iv) => {
            if iv.months != 0 || iv.days != 0 {
                return Err(SqlError::invalid_parameter(format!(
                    "interval time zone \"{zone}\" must not include months or days"
                )));
            }
            iv.micros
        }
        _ => return Ok(None),
    };
    Ok(Some(match ts {
        Value::TimestampTz(t) => Value::Timestamp(add_micros(*t, east)?),
        Value::Timestamp(t) => Value::TimestampTz(add_micros(*t, -east)?),
        // A date is midnight UTC (the session's zone) as a timestamptz.
        Value::Date(_) => match ts.clone().cast_to(crate::value::DataType::TimestampTz)? {
            Value::TimestampTz(t) => Value::Timestamp(add_micros(t, east)?),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    }))
}

/// PostgreSQL's fixed-offset abbreviations (its default set), in hours
/// east of Greenwich (minutes for the half hours: none listed here).
const ABBREVIATIONS: &[(&str, i64)] = &[
    ("est", -5),
    ("edt", -4),
    ("cst", -6),
    ("cdt", -5),
    ("mst", -7),
    ("mdt", -6),
    ("pst", -8),
    ("pdt", -7),
    ("akst", -9),
    ("akdt", -8),
    ("hst", -10),
    ("cet", 1),
    ("cest", 2),
    ("eet", 2),
    ("eest", 3),
    ("bst", 1),
    ("ist", 2),
    ("msk", 3),
    ("sgt", 8),
    ("jst", 9),
    ("kst", 9),
    ("aest", 10),
    ("aedt", 11),
    ("nzst", 12),
    ("nzdt", 13),
];

/// Names of UTC itself.
const UTC_NAMES: &[&str] = &[
    "utc",
    "ut",
    "uct",
    "gmt",
    "z",
    "zulu",
    "universal",
    "greenwich",
    "etc/utc",
    "etc/uct",
    "etc/gmt",
    "etc/universal",
    "etc/zulu",
    "etc/greenwich",
];

/// The offset east of Greenwich, in microseconds, of zone `name`.
pub(super) fn offset_of_name(name: &str) -> Result<i64> {
    let unknown = || SqlError::invalid_parameter(format!("time zone \"{name}\" not recognized"));
    let lower = name.trim().to_ascii_lowercase();
    if UTC_NAMES.contains(&lower.as_str()) {
        return Ok(0);
    }
    if let Some((_, hours)) = ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
        return Ok(hours * MICROS_PER_HOUR);
    }
    // POSIX: an optional name, then [+-]hh[:mm[:ss]] hours west.
    let spec = lower.strip_prefix("etc/").unwrap_or(&lower);
    let digits_at = spec
        .find(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
        .ok_or_else(unknown)?;
    let (abbrev, offset) = spec.split_at(digits_at);
    if !abbrev.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(unknown());
    }
    let (west, hms) = match offset.as_bytes().first() {
        Some(b'-') => (-1, &offset[1..]),
        Some(b'+') => (1, &offset[1..]),
        _ => (1, offset),
    };
    let mut parts = hms.split(':');
    let mut micros = 0i64;
    for (i, unit) in [MICROS_PER_HOUR, MICROS_PER_MINUTE, 1_000_000]
        .iter()
        .enumerate()
    {
        let Some(p) = parts.next() else { break };
        let n: i64 = p.parse().map_err(|_| unknown())?;
        if p.is_empty() || p.len() > 2 || (i > 0 && n > 59) || (i == 0 && n > 15 * 24) {
            return Err(unknown());
        }
        micros += n * unit;
    }
    if parts.next().is_some() {
        return Err(unknown());
    }
    Ok(-west * micros)
}

#[cfg(test)]
mod tests {
    use super::offset_of_name;
    use crate::interval::{MICROS_PER_HOUR, MICROS_PER_MINUTE};

    #[test]
    fn zones_read_as_postgresql_reads_them() {
        let h = MICROS_PER_HOUR;
        for (name, east) in [
            ("UTC", 0),
            ("Etc/UTC", 0),
            ("gmt", 0),
            ("Z", 0),
            ("EST", -5 * h),
            ("CEST", 2 * h),
            ("NZST", 12 * h),
            ("+05:30", -5 * h - 30 * MICROS_PER_MINUTE),
            ("UTC+5", -5 * h),
            ("UTC-03:30", 3 * h + 30 * MICROS_PER_MINUTE),
            ("Etc/GMT+5", -5 * h),
            ("-03", 3 * h),
            ("5", -5 * h),
            ("abc+5", -5 * h),
        ] {
            assert_eq!(offset_of_name(name).unwrap(), east, "{name}");
        }
        for bad in [
            "Mars/Base",
            "America/New_York",
            "",
            "UTC+",
            "+5:99",
            "u2c+5",
            "+1:2:3:4",
        ] {
            assert_eq!(offset_of_name(bad).unwrap_err().code, "22023", "{bad}");
        }
    }
}
