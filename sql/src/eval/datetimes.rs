//! Date and time constructors and binning: `make_interval`,
//! `make_timestamp`, `make_timestamptz`, `make_time`, `date_bin`,
//! `isfinite` — PostgreSQL's results and errors.

use spanlite_truetime::Timestamp;

use super::functions::float_of;
use crate::error::{Result, SqlError};
use crate::interval::{Interval, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, add_micros};
use crate::plan::Func;
use crate::value::Value;
use crate::zone::Zone;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// `f` of `values` (no NULLs) when it is one of these functions over
/// arguments it takes; `None` otherwise.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    Ok(Some(match (f, values) {
        (
            Func::IsFinite,
            [Value::Date(_) | Value::Timestamp(_) | Value::TimestampTz(_) | Value::Interval(_)],
        ) => Value::Bool(true),
        (Func::MakeInterval, [y, mo, w, d, h, mi, s]) => {
            let (Some(y), Some(mo), Some(w), Some(d), Some(h), Some(mi)) =
                (int(y), int(mo), int(w), int(d), int(h), int(mi))
            else {
                return Ok(None);
            };
            let Some(s) = seconds(s) else {
                return Ok(None);
            };
            let range = || SqlError::datetime_field_overflow("interval out of range");
            let months = y
                .checked_mul(12)
                .and_then(|m| m.checked_add(mo))
                .and_then(|m| i32::try_from(m).ok())
                .ok_or_else(range)?;
            let days = w
                .checked_mul(7)
                .and_then(|x| x.checked_add(d))
                .and_then(|x| i32::try_from(x).ok())
                .ok_or_else(range)?;
            let micros = h
                .checked_mul(MICROS_PER_HOUR)
                .and_then(|x| x.checked_add(mi.checked_mul(MICROS_PER_MINUTE)?))
                .and_then(|x| x.checked_add(s))
                .ok_or_else(range)?;
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        (Func::MakeTime, [h, mi, s]) => {
            let (Some(h), Some(mi), Some(s)) = (int(h), int(mi), seconds(s)) else {
                return Ok(None);
            };
            Value::Time(time_of_day(h, mi, s)?)
        }
        (Func::MakeTimestamp | Func::MakeTimestampTz, [y, mo, d, h, mi, s, zone @ ..]) => {
            let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
                (int(y), int(mo), int(d), int(h), int(mi), seconds(s))
            else {
                return Ok(None);
            };
            // Without a zone, a timestamptz is read in the session's.
            let zone = match (f, zone) {
                (Func::MakeTimestamp, []) => Zone::UTC,
                (Func::MakeTimestampTz, []) => crate::zone::current(),
                (Func::MakeTimestampTz, [Value::Text(name)]) => Zone::named(name)?,
                _ => return Ok(None),
            };
            let date = i32::try_from(y)
                .ok()
                .zip(u32::try_from(mo).ok().zip(u32::try_from(d).ok()))
                .and_then(|(y, (m, d))| chrono::NaiveDate::from_ymd_opt(y, m, d))
                .ok_or_else(|| {
                    SqlError::datetime_field_overflow(format!(
                        "date field value out of range: {y}-{mo:02}-{d:02}"
                    ))
                })?;
            let midnight = date
                .and_hms_opt(0, 0, 0)
                .and_then(|dt| Timestamp::from_datetime(dt.and_utc()))
                .ok_or_else(|| SqlError::datetime_field_overflow("timestamp out of range"))?;
            let local = add_micros(midnight, time_of_day(h, mi, s)?)?;
            if f == Func::MakeTimestamp {
                Value::Timestamp(local)
            } else {
                let utc = zone.utc(local.to_datetime().naive_utc());
                Value::TimestampTz(crate::datetime::timestamp_of_local(utc)?)
            }
        }
        // An untyped stride is read as an interval.
        (Func::DateBin, [Value::Text(stride), source, origin]) => {
            let stride = Value::Interval(Interval::parse(stride)?);
            return function(f, &[stride, source.clone(), origin.clone()]);
        }
        (Func::DateBin, [Value::Interval(stride), source, origin]) => {
            let (Some((source, tz)), Some((origin, _))) = (instant(source), instant(origin)) else {
                return Ok(None);
            };
            if stride.months != 0 {
                return Err(SqlError::not_supported(
                    "timestamps cannot be binned into intervals containing months or years",
                ));
            }
            let step =
                i128::from(stride.days) * i128::from(MICROS_PER_DAY) + i128::from(stride.micros);
            if step <= 0 {
                return Err(SqlError::datetime_field_overflow(
                    "stride must be greater than zero",
                ));
            }
            let micros = |t: Timestamp| i128::from(t.as_nanos() / 1_000);
            let diff = micros(source) - micros(origin);
            // Down to the bin's start, before the origin too.
            let back = diff.rem_euclid(step);
            let binned = i64::try_from(diff - back)
                .map_err(|_| SqlError::datetime_field_overflow("timestamp out of range"))?;
            let t = add_micros(origin, binned)?;
            if tz {
                Value::TimestampTz(t)
            } else {
                Value::Timestamp(t)
            }
        }
        _ => return Ok(None),
    }))
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// Seconds as microseconds (rounded), from an integer, float or numeric.
fn seconds(v: &Value) -> Option<i64> {
    let s = float_of(v)?;
    let micros = (s * MICROS_PER_SECOND as f64).round();
    (micros.is_finite() && micros.abs() < 9.0e18).then_some(micros as i64)
}

/// A time of day in microseconds; 22008 outside 00:00:00–24:00:00.
fn time_of_day(h: i64, mi: i64, s: i64) -> Result<i64> {
    let ok = (0..=24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60 * MICROS_PER_SECOND).contains(&s)
        && (h < 24 || (mi == 0 && s == 0));
    if !ok {
        let whole = s / MICROS_PER_SECOND;
        let frac = s % MICROS_PER_SECOND;
        let shown = if frac == 0 {
            format!("{whole:02}")
        } else {
            format!("{}", s as f64 / MICROS_PER_SECOND as f64)
        };
        return Err(SqlError::datetime_field_overflow(format!(
            "time field value out of range: {h}:{mi:02}:{shown}"
        )));
    }
    Ok(h * MICROS_PER_HOUR + mi * MICROS_PER_MINUTE + s)
}

/// A timestamp (false) or timestamptz (true) as its instant.
fn instant(v: &Value) -> Option<(Timestamp, bool)> {
    match v {
        Value::Timestamp(t) => Some((*t, false)),
        Value::TimestampTz(t) => Some((*t, true)),
        _ => None,
    }
}
