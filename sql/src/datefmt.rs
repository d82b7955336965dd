//! `extract`/`date_part`, `date_trunc` and `to_char`, with PostgreSQL's
//! fields, results and errors; a timestamp with time zone is taken apart,
//! cut and written as its wall-clock time in the session's time zone.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use rust_decimal::Decimal;

use crate::error::{Result, SqlError};
use crate::interval::{
    Interval, IntervalParts, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND,
    Unit,
};
use crate::numeric::Numeric;
use crate::value::Value;

/// The fields `extract` and `date_trunc` know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    Dow,
    Isodow,
    Doy,
    Epoch,
    Isoyear,
    Julian,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

impl Field {
    fn named(name: &str) -> Option<Field> {
        // The units an interval is written in, by the same names.
        if let Some(unit) = Unit::named(name) {
            return Some(match unit {
                Unit::Microsecond => Field::Microseconds,
                Unit::Millisecond => Field::Milliseconds,
                Unit::Second => Field::Second,
                Unit::Minute => Field::Minute,
                Unit::Hour => Field::Hour,
                Unit::Day => Field::Day,
                Unit::Week => Field::Week,
                Unit::Month => Field::Month,
                Unit::Year => Field::Year,
                Unit::Decade => Field::Decade,
                Unit::Century => Field::Century,
                Unit::Millennium => Field::Millennium,
            });
        }
        Some(match name {
            "quarter" | "qtr" => Field::Quarter,
            "millenium" => Field::Millennium,
            "dow" => Field::Dow,
            "isodow" => Field::Isodow,
            "doy" => Field::Doy,
            "epoch" => Field::Epoch,
            "isoyear" => Field::Isoyear,
            "julian" | "j" => Field::Julian,
            "timezone" => Field::Timezone,
            "timezone_h" | "timezone_hour" => Field::TimezoneHour,
            "timezone_m" | "timezone_minute" => Field::TimezoneMinute,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::Microseconds => "microseconds",
            Field::Milliseconds => "milliseconds",
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::Day => "day",
            Field::Week => "week",
            Field::Month => "month",
            Field::Quarter => "quarter",
            Field::Year => "year",
            Field::Decade => "decade",
            Field::Century => "century",
            Field::Millennium => "millennium",
            Field::Dow => "dow",
            Field::Isodow => "isodow",
            Field::Doy => "doy",
            Field::Epoch => "epoch",
            Field::Isoyear => "isoyear",
            Field::Julian => "julian",
            Field::Timezone => "timezone",
            Field::TimezoneHour => "timezone_hour",
            Field::TimezoneMinute => "timezone_minute",
        }
    }
}

/// PostgreSQL's name of `v`'s type, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Timestamp(_) => "timestamp without time zone",
        Value::TimestampTz(_) => "timestamp with time zone",
        Value::Date(_) => "date",
        Value::Time(_) => "time without time zone",
        Value::Interval(_) => "interval",
        _ => "this type",
    }
}

fn field_of(name: &str, v: &Value) -> Result<Field> {
    Field::named(&name.trim().to_ascii_lowercase()).ok_or_else(|| {
        SqlError::invalid_parameter(format!(
            "unit \"{}\" not recognized for type {}",
            name.trim().to_ascii_lowercase(),
            type_name(v)
        ))
    })
}

fn unsupported(f: Field, v: &Value) -> SqlError {
    SqlError::not_supported(format!(
        "unit \"{}\" not supported for type {}",
        f.name(),
        type_name(v)
    ))
}

/// A decimal `mantissa / 10^scale`.
fn scaled(mantissa: i128, scale: u32) -> Result<Numeric> {
    Decimal::try_from_i128_with_scale(mantissa, scale)
        .map(Numeric)
        .map_err(|_| SqlError::numeric_out_of_range("value overflows numeric format"))
}

fn whole(n: i64) -> Result<Numeric> {
    scaled(i128::from(n), 0)
}

fn naive(t: spanlite_truetime::Timestamp) -> NaiveDateTime {
    t.to_datetime().naive_utc()
}

/// The instant `t` as the wall-clock time it is in the session's time
/// zone (a timestamp without time zone), and that zone's offset east then.
fn local_timestamp(t: spanlite_truetime::Timestamp) -> Result<(spanlite_truetime::Timestamp, i32)> {
    let zone = crate::zone::current();
    let east = zone.offset_at(naive(t));
    Ok((
        crate::interval::add_micros(t, i64::from(east) * MICROS_PER_SECOND)?,
        east,
    ))
}

/// Microseconds past the epoch of a timestamp (PostgreSQL's precision).
fn epoch_micros(t: spanlite_truetime::Timestamp) -> i64 {
    (t.as_nanos() / 1_000) as i64
}

/// The day fields every date-bearing type has.
fn date_field(f: Field, d: NaiveDate) -> Option<i64> {
    let year = i64::from(d.year());
    Some(match f {
        Field::Day => i64::from(d.day()),
        Field::Month => i64::from(d.month()),
        Field::Quarter => i64::from((d.month() - 1) / 3 + 1),
        Field::Year => year,
        Field::Decade => year.div_euclid(10),
        Field::Century => (year + 99).div_euclid(100),
        Field::Millennium => (year + 999).div_euclid(1000),
        Field::Week => i64::from(d.iso_week().week()),
        Field::Isoyear => i64::from(d.iso_week().year()),
        Field::Dow => i64::from(d.weekday().num_days_from_sunday()),
        Field::Isodow => i64::from(d.weekday().number_from_monday()),
        Field::Doy => i64::from(d.ordinal()),
        Field::Julian => i64::from(d.num_days_from_ce()) + 1_721_425,
        _ => return None,
    })
}

/// `extract(field FROM v)`: a numeric, as PostgreSQL 14 and later give.
pub fn extract(field: &str, v: &Value) -> Result<Value> {
    if *v == Value::Null {
        return Ok(Value::Null);
    }
    let f = field_of(field, v)?;
    let seconds_fields = |micros_of_minute: i64| -> Option<Result<Numeric>> {
        Some(match f {
            Field::Microseconds => whole(micros_of_minute),
            Field::Milliseconds => scaled(i128::from(micros_of_minute), 3),
            Field::Second => scaled(i128::from(micros_of_minute), 6),
            _ => return None,
        })
    };
    let n = match v {
        Value::Timestamp(_) | Value::TimestampTz(_) => {
            // Fields of a timestamp with time zone are those of its
            // wall-clock time in the session's zone; its epoch is its own.
            let (t, east) = match v {
                Value::TimestampTz(t) => {
                    let (local, east) = local_timestamp(*t)?;
                    (local, Some((*t, east)))
                }
                Value::Timestamp(t) => (*t, None),
                _ => return Err(unsupported(f, v)),
            };
            let dt = naive(t);
            let micros = epoch_micros(t);
            let of_minute = micros.rem_euclid(MICROS_PER_MINUTE);
            if let Some(n) = seconds_fields(of_minute) {
                n?
            } else {
                match f {
                    Field::Minute => whole(i64::from(dt.minute()))?,
                    Field::Hour => whole(i64::from(dt.hour()))?,
                    Field::Epoch => scaled(
                        i128::from(east.map_or(micros, |(instant, _)| epoch_micros(instant))),
                        6,
                    )?,
                    Field::Julian => {
                        let day = date_field(f, dt.date()).unwrap_or_default();
                        let of_day = micros.rem_euclid(MICROS_PER_DAY);
                        Numeric(
                            Decimal::from(day)
                                + (Decimal::from(of_day) / Decimal::from(MICROS_PER_DAY))
                                    .round_dp(20),
                        )
                    }
                    Field::Timezone | Field::TimezoneHour | Field::TimezoneMinute => {
                        let Some((_, east)) = east else {
                            return Err(unsupported(f, v));
                        };
                        whole(i64::from(match f {
                            Field::Timezone => east,
                            Field::TimezoneHour => east / 3600,
                            _ => east / 60 % 60,
                        }))?
                    }
                    _ => whole(date_field(f, dt.date()).ok_or_else(|| unsupported(f, v))?)?,
                }
            }
        }
        Value::Date(days) => {
            let d = crate::datetime::date_of(*days)
                .ok_or_else(|| SqlError::datetime_field_overflow("date out of range"))?;
            match f {
                Field::Epoch => whole(i64::from(*days) * 86_400)?,
                _ => whole(date_field(f, d).ok_or_else(|| unsupported(f, v))?)?,
            }
        }
        Value::Time(micros) => {
            if let Some(n) = seconds_fields(micros % MICROS_PER_MINUTE) {
                n?
            } else {
                match f {
                    Field::Minute => whole(micros % MICROS_PER_HOUR / MICROS_PER_MINUTE)?,
                    Field::Hour => whole(micros / MICROS_PER_HOUR)?,
                    Field::Epoch => scaled(i128::from(*micros), 6)?,
                    _ => return Err(unsupported(f, v)),
                }
            }
        }
        Value::Interval(iv) => {
            let p = iv.parts();
            let of_minute = p.seconds * MICROS_PER_SECOND + p.micros;
            if let Some(n) = seconds_fields(of_minute) {
                n?
            } else {
                match f {
                    Field::Minute => whole(p.minutes)?,
                    Field::Hour => whole(p.hours)?,
                    Field::Day => whole(i64::from(p.days))?,
                    Field::Month => whole(i64::from(p.months))?,
                    Field::Quarter => whole(i64::from(p.months / 3 + 1))?,
                    Field::Year => whole(i64::from(p.years))?,
                    Field::Decade => whole(i64::from(p.years / 10))?,
                    Field::Century => whole(i64::from(p.years / 100))?,
                    Field::Millennium => whole(i64::from(p.years / 1000))?,
                    Field::Epoch => {
                        // A year of 365.25 days, a month of 30.
                        let quarter_days = 1461 * i128::from(iv.months / 12)
                            + 120 * i128::from(iv.months % 12)
                            + 4 * i128::from(iv.days);
                        let micros = quarter_days * 21_600 * i128::from(MICROS_PER_SECOND)
                            + i128::from(iv.micros);
                        scaled(micros, 6)?
                    }
                    _ => return Err(unsupported(f, v)),
                }
            }
        }
        other => {
            return Err(SqlError::undefined_function(format!(
                "function extract(unknown, {}) does not exist",
                other
                    .data_type()
                    .map_or("unknown".into(), |t| t.to_string())
            )));
        }
    };
    Ok(Value::Numeric(n))
}

/// `date_part('field', v)`: `extract` as a double.
pub fn date_part(field: &str, v: &Value) -> Result<Value> {
    Ok(match extract(field, v)? {
        Value::Numeric(n) => Value::Float(n.to_float()),
        other => other,
    })
}

fn timestamp_of(dt: NaiveDateTime) -> Result<spanlite_truetime::Timestamp> {
    spanlite_truetime::Timestamp::from_datetime(DateTime::<Utc>::from_naive_utc_and_offset(dt, Utc))
        .ok_or_else(|| SqlError::datetime_field_overflow("timestamp out of range"))
}

/// `date_trunc('field', v)`: a timestamp (a date is taken as a timestamp
/// with time zone, as PostgreSQL does) or an interval with every field
/// below `field` zeroed.
pub fn date_trunc(field: &str, v: &Value) -> Result<Value> {
    if *v == Value::Null {
        return Ok(Value::Null);
    }
    let f = field_of(field, v)?;
    match v {
        Value::Timestamp(t) => Ok(Value::Timestamp(trunc_timestamp(f, *t, v)?)),
        // In the session's zone: cut its wall-clock time, then read that
        // in the zone again (units below a day keep the offset they had).
        Value::TimestampTz(t) => {
            let (local, east) = local_timestamp(*t)?;
            let cut = trunc_timestamp(f, local, v)?;
            Ok(Value::TimestampTz(match f {
                Field::Microseconds
                | Field::Milliseconds
                | Field::Second
                | Field::Minute
                | Field::Hour => {
                    crate::interval::add_micros(cut, -i64::from(east) * MICROS_PER_SECOND)?
                }
                _ => crate::datetime::instant_of(naive(cut))?,
            }))
        }
        Value::Date(d) => {
            let as_tz = Value::TimestampTz(crate::datetime::timestamptz_of_date(*d)?);
            date_trunc(field, &as_tz)
        }
        Value::Interval(iv) => {
            let p = iv.parts();
            let zero = IntervalParts {
                years: 0,
                months: 0,
                days: 0,
                hours: 0,
                minutes: 0,
                seconds: 0,
                micros: 0,
            };
            let kept = match f {
                Field::Millennium => IntervalParts {
                    years: p.years / 1000 * 1000,
                    ..zero
                },
                Field::Century => IntervalParts {
                    years: p.years / 100 * 100,
                    ..zero
                },
                Field::Decade => IntervalParts {
                    years: p.years / 10 * 10,
                    ..zero
                },
                Field::Year => IntervalParts {
                    years: p.years,
                    ..zero
                },
                Field::Quarter => IntervalParts {
                    years: p.years,
                    months: p.months / 3 * 3,
                    ..zero
                },
                Field::Month => IntervalParts {
                    years: p.years,
                    months: p.months,
                    ..zero
                },
                Field::Day => IntervalParts {
                    hours: 0,
                    minutes: 0,
                    seconds: 0,
                    micros: 0,
                    ..p
                },
                Field::Hour => IntervalParts {
                    minutes: 0,
                    seconds: 0,
                    micros: 0,
                    ..p
                },
                Field::Minute => IntervalParts {
                    seconds: 0,
                    micros: 0,
                    ..p
                },
                Field::Second => IntervalParts { micros: 0, ..p },
                Field::Milliseconds => IntervalParts {
                    micros: p.micros / 1000 * 1000,
                    ..p
                },
                Field::Microseconds => p,
                Field::Week => {
                    return Err(SqlError::not_supported(
                        "unit \"week\" not supported for type interval (months usually have fractional weeks)",
                    ));
                }
                _ => return Err(unsupported(f, v)),
            };
            Ok(Value::Interval(Interval::from_parts(kept)?))
        }
        other => Err(SqlError::undefined_function(format!(
            "function date_trunc(unknown, {}) does not exist",
            other
                .data_type()
                .map_or("unknown".into(), |t| t.to_string())
        ))),
    }
}

fn trunc_timestamp(
    f: Field,
    t: spanlite_truetime::Timestamp,
    v: &Value,
) -> Result<spanlite_truetime::Timestamp> {
    let micros = epoch_micros(t);
    let by_micros = |unit: i64| {
        let m = micros - micros.rem_euclid(unit);
        Ok(spanlite_truetime::Timestamp::from_nanos((m as u64) * 1_000))
    };
    let dt = naive(t);
    let d = dt.date();
    let first_of_year = |year: i32| NaiveDate::from_ymd_opt(year, 1, 1);
    let day = match f {
        Field::Microseconds => return by_micros(1),
        Field::Milliseconds => return by_micros(1_000),
        Field::Second => return by_micros(MICROS_PER_SECOND),
        Field::Minute => return by_micros(MICROS_PER_MINUTE),
        Field::Hour => return by_micros(MICROS_PER_HOUR),
        Field::Day => Some(d),
        Field::Week => d.checked_sub_days(chrono::Days::new(u64::from(
            d.weekday().num_days_from_monday(),
        ))),
        Field::Month => d.with_day(1),
        Field::Quarter => NaiveDate::from_ymd_opt(d.year(), (d.month() - 1) / 3 * 3 + 1, 1),
        Field::Year => first_of_year(d.year()),
        Field::Decade => first_of_year(d.year() - d.year().rem_euclid(10)),
        Field::Century => first_of_year((d.year() - 1).div_euclid(100) * 100 + 1),
        Field::Millennium => first_of_year((d.year() - 1).div_euclid(1000) * 1000 + 1),
        _ => return Err(unsupported(f, v)),
    };
    let day = day.ok_or_else(|| SqlError::datetime_field_overflow("timestamp out of range"))?;
    timestamp_of(day.and_time(chrono::NaiveTime::MIN))
}

/// The broken-down time `to_char` formats.
struct Tm {
    year: i64,
    month: u32,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
    /// The calendar date, when the value has one (not for intervals).
    date: Option<NaiveDate>,
    /// For a timestamp with time zone: the zone's abbreviation then and
    /// its offset east, in seconds.
    zone: Option<(String, i32)>,
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The template patterns of `to_char` for dates and times, longest first
/// where one is a prefix of another.
const PATTERNS: &[&str] = &[
    "HH24", "HH12", "HH", "MI", "SSSSS", "SSSS", "SS", "MS", "US", "A.M.", "a.m.", "P.M.", "p.m.",
    "AM", "am", "PM", "pm", "IYYY", "IYY", "IY", "YYYY", "YYY", "YY", "Y,YYY", "Y", "MONTH",
    "Month", "month", "MON", "Mon", "mon", "MM", "DAY", "Day", "day", "DY", "Dy", "dy", "DDD",
    "DD", "D", "IDDD", "ID", "IW", "WW", "W", "Q", "CC", "J", "TZ", "tz", "OF", "I",
];

fn ordinal_suffix(n: i64, upper: bool) -> &'static str {
    let s = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

/// A name cased as its pattern is (`MONTH`, `Month`, `month`), padded to
/// nine characters unless in fill mode.
fn cased(name: &str, pattern: &str, fill: bool, pad: usize) -> String {
    let s = if pattern.chars().all(|c| c.is_ascii_uppercase()) {
        name.to_uppercase()
    } else if pattern.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.to_string()
    } else {
        name.to_lowercase()
    };
    if fill { s } else { format!("{s:<pad$}") }
}

fn number(n: i64, width: usize, fill: bool) -> String {
    if fill {
        n.to_string()
    } else if n < 0 {
        format!("-{:0width$}", n.unsigned_abs())
    } else {
        format!("{n:0width$}")
    }
}

/// `to_char(v, template)` for a timestamp, date, time or interval.
fn format_datetime(tm: &Tm, template: &str) -> Result<String> {
    let mut out = String::new();
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    let need_date = |p: &str| -> Result<NaiveDate> {
        tm.date.ok_or_else(|| {
            SqlError::invalid_datetime(format!("invalid format \"{p}\" for an interval"))
        })
    };
    while i < chars.len() {
        let rest: String = chars[i..].iter().collect();
        if chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        let mut fill = false;
        let mut body = rest.as_str();
        if let Some(b) = body.strip_prefix("FM") {
            fill = true;
            body = b;
        }
        let Some(p) = PATTERNS.iter().copied().find(|p| body.starts_with(p)) else {
            let advance = if fill { 2 } else { 1 };
            if fill {
                // A dangling FM is dropped, as PostgreSQL does.
            } else {
                out.push(chars[i]);
            }
            i += advance;
            continue;
        };
        i += p.chars().count() + if fill { 2 } else { 0 };
        let after: String = chars[i.min(chars.len())..].iter().collect();
        let th = if after.starts_with("TH") {
            Some(true)
        } else if after.starts_with("th") {
            Some(false)
        } else {
            None
        };
        if th.is_some() {
            i += 2;
        }
        let hour12 = {
            let h = tm.hour.rem_euclid(12);
            if h == 0 { 12 } else { h }
        };
        let mut value: Option<i64> = None;
        let text = match p {
            "HH24" => {
                value = Some(tm.hour);
                number(tm.hour, 2, fill)
            }
            "HH12" | "HH" => {
                value = Some(hour12);
                number(hour12, 2, fill)
            }
            "MI" => {
                value = Some(tm.minute);
                number(tm.minute, 2, fill)
            }
            "SS" => {
                value = Some(tm.second);
                number(tm.second, 2, fill)
            }
            "SSSS" | "SSSSS" => {
                let s = tm.hour * 3600 + tm.minute * 60 + tm.second;
                value = Some(s);
                number(s, 1, true)
            }
            "MS" => number(tm.micros / 1000, 3, fill),
            "US" => number(tm.micros, 6, fill),
            "AM" | "PM" => (if tm.hour % 24 >= 12 { "PM" } else { "AM" }).to_string(),
            "am" | "pm" => (if tm.hour % 24 >= 12 { "pm" } else { "am" }).to_string(),
            "A.M." | "P.M." => (if tm.hour % 24 >= 12 { "P.M." } else { "A.M." }).to_string(),
            "a.m." | "p.m." => (if tm.hour % 24 >= 12 { "p.m." } else { "a.m." }).to_string(),
            "YYYY" => {
                value = Some(tm.year);
                number(tm.year, 4, fill)
            }
            "Y,YYY" => format!("{},{:03}", tm.year / 1000, tm.year % 1000),
            "YYY" => number(tm.year % 1000, 3, fill),
            "YY" => number(tm.year % 100, 2, fill),
            "Y" => number(tm.year % 10, 1, fill),
            "IYYY" | "IYY" | "IY" | "I" => {
                let y = i64::from(need_date(p)?.iso_week().year());
                let (m, w) = match p {
                    "IYYY" => (10_000, 4),
                    "IYY" => (1000, 3),
                    "IY" => (100, 2),
                    _ => (10, 1),
                };
                number(y % m, w, fill)
            }
            "MONTH" | "Month" | "month" | "MON" | "Mon" | "mon" => {
                let name = MONTHS
                    .get((tm.month as usize).wrapping_sub(1))
                    .copied()
                    .unwrap_or("");
                if p.len() == 3 {
                    cased(&name[..3.min(name.len())], p, true, 3)
                } else {
                    cased(name, p, fill, 9)
                }
            }
            "MM" => {
                value = Some(i64::from(tm.month));
                number(i64::from(tm.month), 2, fill)
            }
            "DAY" | "Day" | "day" | "DY" | "Dy" | "dy" => {
                let d = need_date(p)?;
                let name = DAYS[d.weekday().num_days_from_sunday() as usize];
                if p.len() == 2 {
                    cased(&name[..3], p, true, 3)
                } else {
                    cased(name, p, fill, 9)
                }
            }
            "DDD" | "IDDD" => {
                let d = need_date(p)?;
                let n = if p == "DDD" {
                    i64::from(d.ordinal())
                } else {
                    i64::from(d.iso_week().week() - 1) * 7
                        + i64::from(d.weekday().number_from_monday())
                };
                value = Some(n);
                number(n, 3, fill)
            }
            "DD" => {
                value = Some(tm.day);
                number(tm.day, 2, fill)
            }
            "D" => {
                let n = i64::from(need_date(p)?.weekday().number_from_sunday());
                value = Some(n);
                n.to_string()
            }
            "ID" => i64::from(need_date(p)?.weekday().number_from_monday()).to_string(),
            "IW" => {
                let n = i64::from(need_date(p)?.iso_week().week());
                value = Some(n);
                number(n, 2, fill)
            }
            "WW" => {
                let n = (i64::from(need_date(p)?.ordinal()) - 1) / 7 + 1;
                value = Some(n);
                number(n, 2, fill)
            }
            "W" => ((tm.day - 1) / 7 + 1).to_string(),
            "Q" => {
                if tm.date.is_none() && tm.month == 0 {
                    String::new()
                } else {
                    ((i64::from(tm.month) - 1) / 3 + 1).to_string()
                }
            }
            "CC" => {
                let c = (tm.year + 99).div_euclid(100);
                value = Some(c);
                number(c, 2, fill)
            }
            "J" => (i64::from(need_date(p)?.num_days_from_ce()) + 1_721_425).to_string(),
            "TZ" => tm.zone.as_ref().map(|z| z.0.clone()).unwrap_or_default(),
            "tz" => tm
                .zone
                .as_ref()
                .map(|z| z.0.to_lowercase())
                .unwrap_or_default(),
            "OF" => tm
                .zone
                .as_ref()
                .map(|z| crate::zone::offset_text(z.1))
                .unwrap_or_default(),
            _ => String::new(),
        };
        out.push_str(&text);
        if let (Some(upper), Some(n)) = (th, value) {
            out.push_str(ordinal_suffix(n, upper));
        }
    }
    Ok(out)
}

fn tm_of_timestamp(t: spanlite_truetime::Timestamp, zone: Option<(String, i32)>) -> Tm {
    let dt = naive(t);
    Tm {
        year: i64::from(dt.year()),
        month: dt.month(),
        day: i64::from(dt.day()),
        hour: i64::from(dt.hour()),
        minute: i64::from(dt.minute()),
        second: i64::from(dt.second()),
        micros: epoch_micros(t).rem_euclid(MICROS_PER_SECOND),
        date: Some(dt.date()),
        zone,
    }
}

/// `to_char(v, template)`.
pub fn to_char(v: &Value, template: &str) -> Result<Value> {
    let tm = match v {
        Value::Null => return Ok(Value::Null),
        Value::Timestamp(t) => tm_of_timestamp(*t, None),
        Value::TimestampTz(t) => {
            let (local, east) = local_timestamp(*t)?;
            let abbreviation = crate::zone::current().abbreviation_at(naive(*t));
            tm_of_timestamp(local, Some((abbreviation, east)))
        }
        Value::Date(d) => tm_of_timestamp(crate::datetime::timestamp_of_date(*d)?, None),
        Value::Time(micros) => Tm {
            year: 0,
            month: 0,
            day: 0,
            hour: micros / MICROS_PER_HOUR,
            minute: micros % MICROS_PER_HOUR / MICROS_PER_MINUTE,
            second: micros % MICROS_PER_MINUTE / MICROS_PER_SECOND,
            micros: micros % MICROS_PER_SECOND,
            date: None,
            zone: None,
        },
        Value::Interval(iv) => {
            let p = iv.parts();
            Tm {
                year: i64::from(p.years),
                month: p.months.unsigned_abs(),
                day: i64::from(p.days),
                hour: p.hours,
                minute: p.minutes,
                second: p.seconds,
                micros: p.micros,
                date: None,
                zone: None,
            }
        }
        Value::Int(_) | Value::Float(_) | Value::Numeric(_) => {
            return format_number(v, template).map(Value::Text);
        }
        other => {
            return Err(SqlError::undefined_function(format!(
                "function to_char({}, text) does not exist",
                other
                    .data_type()
                    .map_or("unknown".into(), |t| t.to_string())
            )));
        }
    };
    // At most a few bytes per template byte, so bounded by the template.
    Ok(Value::Text(format_datetime(&tm, template)?))
}

/// `to_char(number, template)` for the common patterns: `9` and `0`
/// digits, `.`/`D`, `,`/`G`, `FM`, `S`, `MI`, `PR` (PostgreSQL's layout:
/// a leading place for the sign, `#` for a number that does not fit).
fn format_number(v: &Value, template: &str) -> Result<String> {
    let mut fill = false;
    let mut int_slots: Vec<char> = Vec::new(); // '9', '0', ','
    let mut frac_slots: Vec<char> = Vec::new(); // '9', '0'
    let mut point = false;
    let mut sign_lead = false;
    let mut sign_trail = false;
    let mut minus_trail = false;
    let mut angle = false;
    let mut prefix = String::new();
    let mut suffix = String::new();
    let t: Vec<char> = template.chars().collect();
    let mut i = 0;
    let mut seen_digit = false;
    while i < t.len() {
        let rest: String = t[i..].iter().collect();
        let upper = rest.to_ascii_uppercase();
        if upper.starts_with("FM") {
            fill = true;
            i += 2;
        } else if upper.starts_with("MI") {
            minus_trail = true;
            i += 2;
        } else if upper.starts_with("PR") {
            angle = true;
            i += 2;
        } else {
            let c = t[i].to_ascii_uppercase();
            match c {
                '9' | '0' if point => frac_slots.push(c),
                '9' | '0' => {
                    int_slots.push(c);
                    seen_digit = true;
                }
                '.' | 'D' if !point => point = true,
                ',' | 'G' if !point => int_slots.push(','),
                'S' if !seen_digit && !point => sign_lead = true,
                'S' => sign_trail = true,
                other => {
                    if seen_digit || point {
                        suffix.push(other)
                    } else {
                        prefix.push(other)
                    }
                }
            }
            i += 1;
        }
    }
    let value = match v {
        Value::Int(n) => Decimal::from(*n),
        Value::Numeric(n) => n.0,
        Value::Float(x) => Decimal::try_from(*x)
            .map_err(|_| SqlError::numeric_out_of_range("value out of range for to_char"))?,
        _ => return Err(SqlError::internal("to_char of a non-number")),
    };
    let rounded = value.round_dp_with_strategy(
        frac_slots.len() as u32,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    );
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let abs = rounded.abs();
    let text = format!("{abs:.prec$}", prec = frac_slots.len());
    let (int_digits, frac_digits) = text.split_once('.').unwrap_or((&text, ""));
    // A zero integer part shows as nothing before a point (`.50`), as
    // `0` without one.
    let int_digits = if int_digits == "0" && point {
        ""
    } else {
        int_digits
    };
    let digit_slots = int_slots.iter().filter(|c| **c != ',').count();
    let overflow = int_digits.len() > digit_slots;
    // The integer part, right to left.
    let mut body = String::new();
    let mut digits = int_digits.chars().rev();
    let mut printed_all = false;
    let first_zero = int_slots.iter().position(|c| *c == '0');
    let mut placed: Vec<String> = Vec::new();
    for (k, slot) in int_slots.iter().enumerate().rev() {
        let zero_from_here = first_zero.is_some_and(|z| k >= z);
        match slot {
            ',' => placed.push(if printed_all && !zero_from_here {
                if fill { String::new() } else { " ".into() }
            } else {
                ",".into()
            }),
            _ => {
                if overflow {
                    placed.push("#".into());
                    continue;
                }
                match digits.next() {
                    Some(d) => placed.push(d.to_string()),
                    None => {
                        printed_all = true;
                        if zero_from_here {
                            placed.push("0".into());
                        } else if fill {
                            placed.push(String::new());
                        } else {
                            placed.push(" ".into());
                        }
                    }
                }
            }
        }
    }
    placed.reverse();
    // Padding (spaces) first, then the sign, then the digits.
    let mut lead_spaces = 0;
    let mut digits_text = String::new();
    for p in &placed {
        if p == " " && digits_text.is_empty() {
            lead_spaces += 1;
        } else {
            digits_text.push_str(p);
        }
    }
    let mut frac = String::new();
    if point {
        frac.push('.');
        let mut fd: Vec<char> = if overflow {
            vec!['#'; frac_slots.len()]
        } else {
            frac_digits.chars().collect()
        };
        if fill {
            // Trailing zeros in 9 places go in fill mode.
            while fd.len()
                > frac_slots
                    .iter()
                    .rposition(|c| *c == '0')
                    .map_or(0, |p| p + 1)
                && fd.last() == Some(&'0')
            {
                fd.pop();
            }
        }
        frac.extend(fd);
    }
    let sign = if negative { "-" } else { "+" };
    let (before, after) = if angle {
        (
            if negative {
                "<"
            } else if fill {
                ""
            } else {
                " "
            },
            if negative {
                ">"
            } else if fill {
                ""
            } else {
                " "
            },
        )
    } else if sign_lead {
        (sign, "")
    } else if sign_trail {
        ("", sign)
    } else if minus_trail {
        (
            "",
            if negative {
                "-"
            } else if fill {
                ""
            } else {
                " "
            },
        )
    } else {
        (
            if negative {
                "-"
            } else if fill {
                ""
            } else {
                " "
            },
            "",
        )
    };
    if !fill {
        body.push_str(&" ".repeat(lead_spaces));
    }
    body.push_str(before);
    body.push_str(&digits_text);
    body.push_str(&frac);
    body.push_str(after);
    Ok(format!("{prefix}{body}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Value {
        Value::Timestamp(crate::datetime::parse_timestamp(s).unwrap())
    }

    fn text(v: Result<Value>) -> String {
        v.unwrap().to_string()
    }

    #[test]
    fn extract_and_date_part_give_postgresql_values() {
        let t = ts("2024-01-02 03:04:05.5");
        assert_eq!(text(extract("second", &t)), "5.500000");
        assert_eq!(text(extract("epoch", &t)), "1704164645.500000");
        assert_eq!(text(extract("YEAR", &t)), "2024");
        assert_eq!(text(extract("dow", &Value::Date(19849))), "1");
        let iv = Value::Interval(Interval::parse("1 day 2 hours").unwrap());
        assert_eq!(text(extract("epoch", &iv)), "93600.000000");
        let iv = Value::Interval(Interval::parse("1 year 1 mon").unwrap());
        assert_eq!(text(extract("epoch", &iv)), "34149600.000000");
        assert_eq!(
            text(date_part("second", &ts("2024-01-01 00:00:01.25"))),
            "1.25"
        );
        assert_eq!(extract("hour", &Value::Date(0)).unwrap_err().code, "0A000");
        assert_eq!(extract("foo", &t).unwrap_err().code, "22023");
        assert_eq!(
            text(extract("milliseconds", &Value::Time(3_601_500_000))),
            "1500.000"
        );
    }

    #[test]
    fn date_trunc_truncates_as_postgresql_does() {
        assert_eq!(
            text(date_trunc("month", &ts("2024-05-06 07:08:09"))),
            "2024-05-01 00:00:00"
        );
        assert_eq!(
            text(date_trunc("century", &ts("2024-05-01"))),
            "2001-01-01 00:00:00"
        );
        assert_eq!(
            text(date_trunc("week", &Value::Date(19851))),
            "2024-05-06 00:00:00+00"
        );
        let iv = Value::Interval(Interval::parse("1 day 02:33:44").unwrap());
        assert_eq!(text(date_trunc("hour", &iv)), "1 day 02:00:00");
        assert_eq!(date_trunc("week", &iv).unwrap_err().code, "0A000");
    }

    #[test]
    fn to_char_formats_dates_and_numbers() {
        let f = |v: &Value, p: &str| text(to_char(v, p));
        let t = ts("2024-05-06 17:08:09.123456");
        assert_eq!(
            f(&t, "YYYY-MM-DD HH24:MI:SS.US"),
            "2024-05-06 17:08:09.123456"
        );
        assert_eq!(
            f(&t, "Day, DD Month YYYY HH12:MI AM"),
            "Monday   , 06 May       2024 05:08 PM"
        );
        assert_eq!(f(&t, "FMDay, FMDD FMMonth YYYY"), "Monday, 6 May 2024");
        assert_eq!(f(&Value::Date(19849), "DDth Mon YYYY"), "06th May 2024");
        let n = |x: &str| Value::Numeric(Numeric::parse(x).unwrap());
        assert_eq!(f(&n("1234.5"), "9999.99"), " 1234.50");
        assert_eq!(f(&n("1234.5"), "FM9,999.00"), "1,234.50");
        assert_eq!(f(&Value::Int(-12), "999"), " -12");
        assert_eq!(f(&Value::Int(5), "000"), " 005");
        assert_eq!(f(&Value::Int(123456), "999"), " ###");
        assert_eq!(f(&n("0.5"), "0.99"), " 0.50");
        assert_eq!(f(&n("0.5"), "9.99"), "  .50");
        assert_eq!(f(&n("-3.14159"), "FM990.00"), "-3.14");
        assert_eq!(f(&Value::Int(1234567), "9G999G999"), " 1,234,567");
        assert_eq!(f(&Value::Int(12), "S999"), " +12");
        assert_eq!(f(&Value::Int(-5), "999MI"), "  5-");
        assert_eq!(f(&Value::Int(12), "FM999.99"), "12.");
        assert_eq!(f(&Value::Int(-12), "999PR"), " <12>");
        assert_eq!(f(&Value::Int(12), "9G999"), "    12");
        assert_eq!(f(&Value::Int(5), "9,999"), "     5");
        assert_eq!(f(&Value::Int(0), "999"), "   0");
    }
}
