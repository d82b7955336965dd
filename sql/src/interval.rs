//! INTERVAL and TIME as PostgreSQL keeps them. An interval is months,
//! days and microseconds kept apart (a month is no fixed number of days),
//! compared by its span with a month of 30 days and a day of 24 hours, so
//! `'1 day' = '24 hours'`; a time of day is microseconds after midnight
//! (`24:00:00` included).

use std::fmt;

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};

/// Microseconds in a second, a minute, an hour and a day.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a minute.
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
/// Microseconds in an hour.
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// An INTERVAL: months, days and microseconds, each with its own sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Months (a year is 12).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

fn out_of_range() -> SqlError {
    SqlError::datetime_field_overflow("interval out of range")
}

fn bad_interval(s: &str) -> SqlError {
    SqlError::invalid_datetime(format!("invalid input syntax for type interval: \"{s}\""))
}

fn field_out_of_range(s: &str) -> SqlError {
    SqlError::interval_field_overflow(format!("interval field value out of range: \"{s}\""))
}

/// The units an interval is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds.
    Microsecond,
    /// Milliseconds.
    Millisecond,
    /// Seconds.
    Second,
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks (7 days).
    Week,
    /// Months.
    Month,
    /// Years (12 months).
    Year,
    /// Decades.
    Decade,
    /// Centuries.
    Century,
    /// Millennia.
    Millennium,
}

impl Unit {
    /// The unit a word names, as PostgreSQL reads them in intervals
    /// (`'3 hrs'`, `'1 mon'`, `'5 min'`).
    pub fn named(word: &str) -> Option<Unit> {
        Some(match word {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => {
                Unit::Microsecond
            }
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => {
                Unit::Millisecond
            }
            "second" | "seconds" | "s" | "sec" | "secs" => Unit::Second,
            "minute" | "minutes" | "m" | "min" | "mins" => Unit::Minute,
            "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Hour,
            "day" | "days" | "d" => Unit::Day,
            "week" | "weeks" | "w" => Unit::Week,
            "month" | "months" | "mon" | "mons" => Unit::Month,
            "year" | "years" | "y" | "yr" | "yrs" => Unit::Year,
            "decade" | "decades" | "dec" | "decs" => Unit::Decade,
            "century" | "centuries" | "c" | "cent" => Unit::Century,
            "millennium" | "millennia" | "mil" | "mils" => Unit::Millennium,
            _ => return None,
        })
    }
}

/// An interval being read: whole fields, with fractions cascaded down as
/// PostgreSQL does (`'1.5 months'` is 1 month 15 days).
#[derive(Default)]
struct Fields {
    months: i128,
    days: i128,
    micros: f64,
    whole_micros: i128,
}

impl Fields {
    fn add(&mut self, value: f64, unit: Unit) {
        let whole = value.trunc();
        let frac = value - whole;
        match unit {
            Unit::Microsecond => self.micros += value,
            Unit::Millisecond => self.micros += value * 1_000.0,
            Unit::Second => self.micros += value * 1e6,
            Unit::Minute => self.micros += value * 6e7,
            Unit::Hour => self.micros += value * 3.6e9,
            Unit::Day => {
                self.days += whole as i128;
                self.micros += frac * MICROS_PER_DAY as f64;
            }
            Unit::Week => {
                let days = value * 7.0;
                self.days += days.trunc() as i128;
                self.micros += days.fract() * MICROS_PER_DAY as f64;
            }
            Unit::Month => {
                self.months += whole as i128;
                let days = frac * 30.0;
                self.days += days.trunc() as i128;
                self.micros += days.fract() * MICROS_PER_DAY as f64;
            }
            Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                let years = match unit {
                    Unit::Year => 1.0,
                    Unit::Decade => 10.0,
                    Unit::Century => 100.0,
                    _ => 1000.0,
                };
                let months = value * years * 12.0;
                self.months += months.round() as i128;
            }
        }
        // Keep the float part small so whole units stay exact.
        let carry = self.micros.trunc();
        self.whole_micros += carry as i128;
        self.micros -= carry;
    }

    fn finish(self, negate: bool, text: &str) -> Result<Interval> {
        let sign = if negate { -1 } else { 1 };
        let micros = self.whole_micros + self.micros.round() as i128;
        Ok(Interval {
            months: i32::try_from(sign * self.months).map_err(|_| field_out_of_range(text))?,
            days: i32::try_from(sign * self.days).map_err(|_| field_out_of_range(text))?,
            micros: i64::try_from(sign * micros).map_err(|_| field_out_of_range(text))?,
        })
    }
}

/// `[-]H:M[:S[.f]]` as microseconds.
fn clock(token: &str) -> Option<i128> {
    let (negative, body) = match token.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    };
    let mut parts = body.split(':');
    let hours: i128 = parts.next()?.parse().ok()?;
    let minutes: i128 = parts.next()?.parse().ok()?;
    let seconds: f64 = match parts.next() {
        Some(s) if !s.is_empty() && !s.starts_with(['+', '-']) => s.parse().ok()?,
        Some(_) => return None,
        None => 0.0,
    };
    if parts.next().is_some() || minutes > 59 || !(0.0..60.0).contains(&seconds) {
        return None;
    }
    let micros =
        (hours * 60 + minutes) * i128::from(MICROS_PER_MINUTE) + (seconds * 1e6).round() as i128;
    Some(if negative { -micros } else { micros })
}

fn is_number(token: &str) -> bool {
    let t = token.strip_prefix(['+', '-']).unwrap_or(token);
    !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.chars().filter(|c| *c == '.').count() <= 1
        && t != "."
}

/// Splits `1day` and `3hours` into a number and a word.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let split = word
            .char_indices()
            .find(|(i, c)| *i > 0 && c.is_ascii_alphabetic())
            .map(|(i, _)| i)
            .filter(|i| is_number(&word[..*i]));
        match split {
            Some(i) => {
                out.push(word[..i].to_string());
                out.push(word[i..].to_string());
            }
            None => out.push(word.to_string()),
        }
    }
    out
}

impl Interval {
    /// A span of microseconds with whole days taken out of it
    /// (PostgreSQL's `justify_hours`, what `timestamp - timestamp` gives).
    pub fn justify_hours(micros: i64) -> Interval {
        let days = micros / MICROS_PER_DAY;
        Interval {
            months: 0,
            days: days as i32,
            micros: micros - days * MICROS_PER_DAY,
        }
    }

    /// The span the interval is compared by: a month of 30 days, a day of
    /// 24 hours.
    pub fn span(self) -> i128 {
        (i128::from(self.months) * 30 + i128::from(self.days)) * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }

    /// The sum of two intervals, field by field.
    pub fn checked_add(self, other: Interval) -> Result<Interval> {
        Ok(Interval {
            months: self
                .months
                .checked_add(other.months)
                .ok_or_else(out_of_range)?,
            days: self.days.checked_add(other.days).ok_or_else(out_of_range)?,
            micros: self
                .micros
                .checked_add(other.micros)
                .ok_or_else(out_of_range)?,
        })
    }

    /// The interval negated.
    pub fn checked_neg(self) -> Result<Interval> {
        Ok(Interval {
            months: self.months.checked_neg().ok_or_else(out_of_range)?,
            days: self.days.checked_neg().ok_or_else(out_of_range)?,
            micros: self.micros.checked_neg().ok_or_else(out_of_range)?,
        })
    }

    /// The interval times `factor`, fractions of months and days cascaded
    /// down as PostgreSQL's `interval_mul` does (`'1 month' * 1.5` is
    /// `1 mon 15 days`).
    pub fn times(self, factor: f64) -> Result<Interval> {
        self.scale(|x| x * factor)
    }

    /// The interval divided by `divisor` (22012 for zero).
    pub fn divided_by(self, divisor: f64) -> Result<Interval> {
        if divisor == 0.0 {
            return Err(SqlError::division_by_zero("division by zero"));
        }
        self.scale(|x| x / divisor)
    }

    fn scale(self, f: impl Fn(f64) -> f64) -> Result<Interval> {
        let round_micro = |x: f64| (x * 1e6).round() / 1e6;
        let fits_i32 =
            |x: f64| x.is_finite() && x <= f64::from(i32::MAX) && x >= f64::from(i32::MIN);
        let months = f(f64::from(self.months));
        let days = f(f64::from(self.days));
        if !fits_i32(months) || !fits_i32(days) {
            return Err(out_of_range());
        }
        let (whole_months, mut whole_days) = (months as i32, days as i32);
        let month_remainder_days = round_micro((months - f64::from(whole_months)) * 30.0);
        let mut sec_remainder = round_micro(
            (days - f64::from(whole_days) + month_remainder_days - month_remainder_days.trunc())
                * 86_400.0,
        );
        if sec_remainder.abs() >= 86_400.0 {
            let extra = (sec_remainder / 86_400.0).trunc();
            whole_days = whole_days
                .checked_add(extra as i32)
                .ok_or_else(out_of_range)?;
            sec_remainder -= extra * 86_400.0;
        }
        whole_days = whole_days
            .checked_add(month_remainder_days as i32)
            .ok_or_else(out_of_range)?;
        let micros = (f(self.micros as f64) + sec_remainder * 1e6).round();
        if !micros.is_finite() || micros >= 9.2e18 || micros <= -9.2e18 {
            return Err(out_of_range());
        }
        Ok(Interval {
            months: whole_months,
            days: whole_days,
            micros: micros as i64,
        })
    }

    /// PostgreSQL's binary form: microseconds (int8), days (int4), months
    /// (int4).
    pub fn to_pg_binary(self) -> Vec<u8> {
        let mut out = self.micros.to_be_bytes().to_vec();
        out.extend_from_slice(&self.days.to_be_bytes());
        out.extend_from_slice(&self.months.to_be_bytes());
        out
    }

    /// Reads PostgreSQL's binary form.
    pub fn from_pg_binary(b: &[u8]) -> Option<Interval> {
        if b.len() != 16 {
            return None;
        }
        Some(Interval {
            micros: i64::from_be_bytes(b[..8].try_into().ok()?),
            days: i32::from_be_bytes(b[8..12].try_into().ok()?),
            months: i32::from_be_bytes(b[12..].try_into().ok()?),
        })
    }

    /// Appends an order-preserving encoding of the span (equal spans
    /// encode equally, as they compare).
    pub fn encode_key(self, out: &mut Vec<u8>) {
        let flipped = (self.span() as u128) ^ (1u128 << 127);
        out.extend_from_slice(&flipped.to_be_bytes());
    }

    /// An interval as PostgreSQL reads one: `1 year 2 mons 3 days
    /// 04:05:06.5`, `-1 day +02:00`, `90 min`, `1.5 weeks`, `3 04:05`,
    /// `2 hours ago`, `@ 1 minute`, ISO 8601's `P1Y2M3DT4H5M6S`; a bare
    /// number counts in `unit` (seconds when none is given, as in
    /// `INTERVAL '3' DAY`).
    pub fn parse_in(s: &str, unit: Option<Unit>) -> Result<Interval> {
        let lower = s.trim().to_ascii_lowercase();
        let body = lower.strip_prefix('@').unwrap_or(&lower).trim();
        if let Some(iso) = body.strip_prefix('p') {
            return Self::parse_iso(iso, s);
        }
        let mut words = tokens(body);
        let negate = words.last().is_some_and(|w| w == "ago");
        if negate {
            words.pop();
        }
        if words.is_empty() {
            return Err(bad_interval(s));
        }
        let mut fields = Fields::default();
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if w.contains(':') {
                let micros = clock(w).ok_or_else(|| bad_interval(s))?;
                fields.whole_micros += micros;
                i += 1;
                continue;
            }
            // `1-2`: years and months (`INTERVAL '1-2' YEAR TO MONTH`).
            if let Some((y, m)) = w.split_once('-').filter(|(y, _)| !y.is_empty())
                && let (Ok(y), Ok(m)) = (y.parse::<i128>(), m.parse::<i128>())
            {
                let sign = if w.starts_with('-') { -1 } else { 1 };
                fields.months += y * 12 + sign * m;
                i += 1;
                continue;
            }
            if !is_number(w) {
                return Err(bad_interval(s));
            }
            let value: f64 = w.parse().map_err(|_| bad_interval(s))?;
            match words.get(i + 1) {
                Some(next) if next.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let unit = Unit::named(next).ok_or_else(|| bad_interval(s))?;
                    fields.add(value, unit);
                    i += 2;
                }
                // A number before a clock counts days (`3 04:05:06`).
                Some(next) if next.contains(':') => {
                    fields.add(value, Unit::Day);
                    i += 1;
                }
                Some(_) => return Err(bad_interval(s)),
                None => {
                    fields.add(value, unit.unwrap_or(Unit::Second));
                    i += 1;
                }
            }
        }
        fields.finish(negate, s)
    }

    /// An interval in PostgreSQL's own text form or any it reads.
    pub fn parse(s: &str) -> Result<Interval> {
        Self::parse_in(s, None)
    }

    /// ISO 8601's `P…` form (after the `P`): `1Y2M3W4DT5H6M7.5S`.
    fn parse_iso(iso: &str, text: &str) -> Result<Interval> {
        let mut fields = Fields::default();
        let mut in_time = false;
        let mut number = String::new();
        let mut any = false;
        for c in iso.chars() {
            match c {
                't' if number.is_empty() && !in_time => in_time = true,
                '0'..='9' | '.' | '-' | '+' => number.push(c),
                'y' | 'm' | 'w' | 'd' | 'h' | 's' => {
                    let value: f64 = number.parse().map_err(|_| bad_interval(text))?;
                    number.clear();
                    let unit = match (c, in_time) {
                        ('y', false) => Unit::Year,
                        ('m', false) => Unit::Month,
                        ('w', false) => Unit::Week,
                        ('d', false) => Unit::Day,
                        ('h', true) => Unit::Hour,
                        ('m', true) => Unit::Minute,
                        ('s', true) => Unit::Second,
                        _ => return Err(bad_interval(text)),
                    };
                    fields.add(value, unit);
                    any = true;
                }
                _ => return Err(bad_interval(text)),
            }
        }
        if !number.is_empty() || !any {
            return Err(bad_interval(text));
        }
        fields.finish(false, text)
    }

    /// Whole years, months, days, hours, minutes, seconds and microseconds
    /// of the interval, each with the sign of its field (PostgreSQL's
    /// `interval2itm`).
    pub fn parts(self) -> IntervalParts {
        let t = self.micros;
        IntervalParts {
            years: self.months / 12,
            months: self.months % 12,
            days: self.days,
            hours: t / MICROS_PER_HOUR,
            minutes: (t % MICROS_PER_HOUR) / MICROS_PER_MINUTE,
            seconds: (t % MICROS_PER_MINUTE) / MICROS_PER_SECOND,
            micros: t % MICROS_PER_SECOND,
        }
    }

    /// The interval rebuilt from its parts.
    pub fn from_parts(p: IntervalParts) -> Result<Interval> {
        let micros = i128::from(p.hours) * i128::from(MICROS_PER_HOUR)
            + i128::from(p.minutes) * i128::from(MICROS_PER_MINUTE)
            + i128::from(p.seconds) * i128::from(MICROS_PER_SECOND)
            + i128::from(p.micros);
        Ok(Interval {
            months: p
                .years
                .checked_mul(12)
                .and_then(|m| m.checked_add(p.months))
                .ok_or_else(out_of_range)?,
            days: p.days,
            micros: i64::try_from(micros).map_err(|_| out_of_range())?,
        })
    }
}

/// An interval's fields as PostgreSQL shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalParts {
    /// Years (months / 12).
    pub years: i32,
    /// Months (months % 12).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Hours (not limited to 24).
    pub hours: i64,
    /// Minutes.
    pub minutes: i64,
    /// Seconds.
    pub seconds: i64,
    /// Microseconds.
    pub micros: i64,
}

/// `SS[.ffffff]` without trailing zeros in the fraction.
fn seconds_text(seconds: i64, micros: i64) -> String {
    if micros == 0 {
        format!("{seconds:02}")
    } else {
        let frac = format!("{micros:06}");
        format!("{seconds:02}.{}", frac.trim_end_matches('0'))
    }
}

impl fmt::Display for Interval {
    /// PostgreSQL's default output (`IntervalStyle = postgres`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.parts();
        let mut out = String::new();
        let mut before_negative = false;
        let mut zero = true;
        for (value, unit) in [(p.years, "year"), (p.months, "mon"), (p.days, "day")] {
            if value == 0 {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            let plus = if before_negative && value > 0 {
                "+"
            } else {
                ""
            };
            let plural = if value != 1 { "s" } else { "" };
            out.push_str(&format!("{plus}{value} {unit}{plural}"));
            before_negative = value < 0;
            zero = false;
        }
        if zero || self.micros != 0 {
            let sign = if self.micros < 0 {
                "-"
            } else if before_negative {
                "+"
            } else {
                ""
            };
            if !zero {
                out.push(' ');
            }
            out.push_str(&format!(
                "{sign}{:02}:{:02}:{}",
                p.hours.unsigned_abs(),
                p.minutes.unsigned_abs(),
                seconds_text(p.seconds.abs(), p.micros.abs())
            ));
        }
        f.write_str(&out)
    }
}

/// A time of day as PostgreSQL writes it: `HH:MM:SS[.ffffff]`.
pub fn time_text(micros: i64) -> String {
    let (h, rest) = (micros / MICROS_PER_HOUR, micros % MICROS_PER_HOUR);
    let (m, rest) = (rest / MICROS_PER_MINUTE, rest % MICROS_PER_MINUTE);
    format!(
        "{h:02}:{m:02}:{}",
        seconds_text(rest / MICROS_PER_SECOND, rest % MICROS_PER_SECOND)
    )
}

/// A time of day as PostgreSQL reads one: `HH:MM[:SS[.f]]`, with `AM` or
/// `PM`, or the time part of a timestamp (`2024-01-02 10:00`).
pub fn parse_time(s: &str) -> Result<i64> {
    let bad = || SqlError::invalid_datetime(format!("invalid input syntax for type time: \"{s}\""));
    let range = || {
        SqlError::datetime_field_overflow(format!("date/time field value out of range: \"{s}\""))
    };
    let lower = s.trim().to_ascii_lowercase();
    let mut t = lower.as_str();
    // A date before the time is ignored.
    if t.len() > 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes().get(7) == Some(&b'-') {
        t = t[10..].trim_start_matches([' ', 't']);
    }
    let (clock_part, half) = if let Some(c) = t.strip_suffix("am") {
        (c.trim_end(), Some(false))
    } else if let Some(c) = t.strip_suffix("pm") {
        (c.trim_end(), Some(true))
    } else {
        (t, None)
    };
    let mut parts = clock_part.split(':');
    let mut number = |required: bool| -> Result<Option<&str>> {
        match parts.next() {
            Some(p) if !p.is_empty() => Ok(Some(p)),
            Some(_) => Err(bad()),
            None if required => Err(bad()),
            None => Ok(None),
        }
    };
    let digits = |p: &str| -> Result<i64> {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let mut hours = digits(number(true)?.unwrap_or_default())?;
    let minutes = digits(number(true)?.unwrap_or_default())?;
    let micros = match number(false)? {
        None => 0,
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let whole = digits(whole)?;
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let frac: f64 = format!("0.{frac}0").parse().map_err(|_| bad())?;
            whole * MICROS_PER_SECOND + (frac * 1e6).round() as i64
        }
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    match half {
        Some(_) if !(1..=12).contains(&hours) => return Err(range()),
        Some(false) if hours == 12 => hours = 0,
        Some(true) if hours != 12 => hours += 12,
        _ => {}
    }
    let total = hours * MICROS_PER_HOUR + minutes * MICROS_PER_MINUTE + micros;
    if minutes > 59 || micros > 60 * MICROS_PER_SECOND || total > MICROS_PER_DAY {
        return Err(range());
    }
    Ok(total)
}

/// The time of day of `t` (UTC), in microseconds.
pub fn time_of_timestamp(t: Timestamp) -> i64 {
    ((t.as_nanos() / 1_000) % MICROS_PER_DAY as u64) as i64
}

/// `t + iv`: months by the calendar (the day clamped to the month's last),
/// then days, then microseconds.
pub fn add_to_timestamp(t: Timestamp, iv: Interval) -> Result<Timestamp> {
    let range = || SqlError::datetime_field_overflow("timestamp out of range");
    let dt = t.to_datetime();
    let dt = if iv.months >= 0 {
        dt.checked_add_months(Months::new(iv.months.unsigned_abs()))
    } else {
        dt.checked_sub_months(Months::new(iv.months.unsigned_abs()))
    }
    .ok_or_else(range)?;
    let dt: DateTime<Utc> = dt
        .checked_add_signed(Duration::days(i64::from(iv.days)))
        .and_then(|d| d.checked_add_signed(Duration::microseconds(iv.micros)))
        .ok_or_else(range)?;
    Timestamp::from_datetime(dt).ok_or_else(range)
}

/// `t + iv` for a timestamp with time zone: months and days by the
/// calendar in the session's time zone (so a day across a change to or
/// from daylight-saving time is 23 or 25 hours, as PostgreSQL counts
/// it), then microseconds.
pub fn add_to_timestamptz(t: Timestamp, iv: Interval) -> Result<Timestamp> {
    if (iv.months == 0 && iv.days == 0) || crate::zone::current() == crate::zone::Zone::UTC {
        return add_to_timestamp(t, iv);
    }
    let range = || SqlError::datetime_field_overflow("timestamp out of range");
    let local = crate::datetime::local_of(t);
    let local = if iv.months >= 0 {
        local.checked_add_months(Months::new(iv.months.unsigned_abs()))
    } else {
        local.checked_sub_months(Months::new(iv.months.unsigned_abs()))
    }
    .and_then(|d| d.checked_add_signed(Duration::days(i64::from(iv.days))))
    .ok_or_else(range)?;
    add_micros(crate::datetime::instant_of(local)?, iv.micros)
}

/// `t` moved by `micros` microseconds (22008 out of range).
pub fn add_micros(t: Timestamp, micros: i64) -> Result<Timestamp> {
    add_to_timestamp(
        t,
        Interval {
            months: 0,
            days: 0,
            micros,
        },
    )
}

/// `a - b` as an interval of days and microseconds.
pub fn timestamp_difference(a: Timestamp, b: Timestamp) -> Result<Interval> {
    let micros = (i128::from(a.as_nanos()) - i128::from(b.as_nanos())) / 1_000;
    Ok(Interval::justify_hours(
        i64::try_from(micros).map_err(|_| out_of_range())?,
    ))
}

/// `time ± interval`: the interval's microseconds, around the clock.
pub fn add_to_time(time: i64, iv: Interval) -> i64 {
    (time + iv.micros % MICROS_PER_DAY).rem_euclid(MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        Interval::parse(s).unwrap().to_string()
    }

    #[test]
    fn intervals_read_and_print_as_postgresql_does() {
        assert_eq!(
            show("1 year 2 months 3 days 04:05:06.5"),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(show("-1 day 2 hours"), "-1 days +02:00:00");
        assert_eq!(show("36 hours"), "36:00:00");
        assert_eq!(show("1.5 years"), "1 year 6 mons");
        assert_eq!(show("1.5 months"), "1 mon 15 days");
        assert_eq!(show("1.5 days"), "1 day 12:00:00");
        assert_eq!(show("2 weeks"), "14 days");
        assert_eq!(show("3 4:05:06"), "3 days 04:05:06");
        assert_eq!(show("1 day ago"), "-1 days");
        assert_eq!(show("-1:30"), "-01:30:00");
        assert_eq!(show("P1Y2M3DT4H5M6S"), "1 year 2 mons 3 days 04:05:06");
        assert_eq!(show("5"), "00:00:05");
        assert_eq!(show("1 mon -1 day"), "1 mon -1 days");
        assert_eq!(show("-1 mon -1 day -01:00"), "-1 mons -1 days -01:00:00");
        assert_eq!(show("@ 1 minute"), "00:01:00");
        assert_eq!(show("0"), "00:00:00");
        assert_eq!(show("1.5"), "00:00:01.5");
        assert_eq!(show("100 ms"), "00:00:00.1");
        assert_eq!(show("-1 year +2 mons"), "-10 mons");
        assert_eq!(show("1day"), "1 day");
        assert_eq!(
            Interval::parse_in("3", Some(Unit::Day))
                .unwrap()
                .to_string(),
            "3 days"
        );
        assert_eq!(show("1-2"), "1 year 2 mons");
        for bad in ["", "day", "1 fortnight", "1:99", "P", "1 2"] {
            assert!(Interval::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Interval::parse("99999999999 years").unwrap_err().code,
            "22015"
        );
    }

    #[test]
    fn interval_arithmetic_follows_postgresql() {
        let iv = |s: &str| Interval::parse(s).unwrap();
        assert_eq!(
            iv("1 month").times(1.5).unwrap().to_string(),
            "1 mon 15 days"
        );
        assert_eq!(iv("1 day").divided_by(3.0).unwrap().to_string(), "08:00:00");
        assert_eq!(
            iv("1 hour 30 minutes").times(2.0).unwrap().to_string(),
            "03:00:00"
        );
        assert_eq!(iv("1 day").span(), iv("24 hours").span());
        assert!(iv("1 day").divided_by(0.0).is_err());
        let t = crate::datetime::parse_timestamp("2024-01-31 10:00").unwrap();
        let later = add_to_timestamp(t, iv("1 month")).unwrap();
        assert_eq!(
            crate::datetime::timestamp_text(later, false),
            "2024-02-29 10:00:00"
        );
        let a = crate::datetime::parse_timestamp("2024-03-01").unwrap();
        let b = crate::datetime::parse_timestamp("2024-01-01 01:00").unwrap();
        assert_eq!(
            timestamp_difference(a, b).unwrap().to_string(),
            "59 days 23:00:00"
        );
        let ten_thirty = parse_time("10:30").unwrap();
        assert_eq!(
            time_text(add_to_time(ten_thirty, iv("15 hours"))),
            "01:30:00"
        );
        let binary = iv("1 year 2 days 00:00:01").to_pg_binary();
        assert_eq!(
            Interval::from_pg_binary(&binary),
            Some(iv("1 year 2 days 00:00:01"))
        );
    }

    #[test]
    fn times_read_and_print_as_postgresql_does() {
        let t = |s: &str| time_text(parse_time(s).unwrap());
        assert_eq!(t("24:00"), "24:00:00");
        assert_eq!(t("10:30:15.123456"), "10:30:15.123456");
        assert_eq!(t("10:30 PM"), "22:30:00");
        assert_eq!(t("12:00 am"), "00:00:00");
        assert_eq!(t("2024-01-02 03:04:05"), "03:04:05");
        assert_eq!(parse_time("25:00").unwrap_err().code, "22008");
        assert_eq!(parse_time("noon").unwrap_err().code, "22007");
        assert_eq!(parse_time("10:61").unwrap_err().code, "22008");
    }
}
