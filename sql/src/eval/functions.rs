//! The mathematical, string, time and JSON functions beyond the first
//! set (`power`, `lpad`, `split_part`, `md5`, `to_timestamp`,
//! `jsonb_typeof`, …): called by `expr::function` for arguments none of
//! which is NULL.

use super::expr::check_text_len;
use crate::error::{Result, SqlError};
use crate::plan::Func;
use crate::value::Value;

/// A number as a float (integers, floats, numerics).
pub(super) fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) => Some(*x),
        Value::Numeric(n) => Some(n.to_float()),
        _ => None,
    }
}

/// A float result, 22003 when it is not finite.
fn finite(x: f64) -> Result<Value> {
    if x.is_finite() {
        Ok(Value::Float(x))
    } else {
        Err(SqlError::numeric_out_of_range(
            "value out of range: overflow",
        ))
    }
}

/// The logarithm's argument: 2201E for zero and negative numbers.
fn log_argument(x: f64) -> Result<f64> {
    if x == 0.0 {
        Err(SqlError::invalid_argument_for_log(
            "cannot take logarithm of zero",
        ))
    } else if x < 0.0 {
        Err(SqlError::invalid_argument_for_log(
            "cannot take logarithm of a negative number",
        ))
    } else {
        Ok(x)
    }
}

/// `n` characters of text (or, negative, all but the last or first −n).
fn char_count(s: &str, n: i64, from_left: bool) -> String {
    let len = s.chars().count() as i64;
    let take = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    let take = usize::try_from(take).unwrap_or(0);
    if from_left {
        s.chars().take(take).collect()
    } else {
        let skip = usize::try_from(len).unwrap_or(0) - take;
        s.chars().skip(skip).collect()
    }
}

/// A regular expression function's optional flags argument.
fn text_flags(rest: &[Value]) -> Option<&str> {
    match rest {
        [] => Some(""),
        [Value::Text(flags)] => Some(flags),
        _ => None,
    }
}

/// Text pieces as a text array (NULL pieces as NULL elements).
fn array_text(items: Vec<Option<String>>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|i| i.map_or(Value::Null, Value::Text))
            .collect(),
    )
}

/// Two numbers, when the arguments are two numbers.
fn two(numbers: Option<&[f64]>) -> Option<[f64; 2]> {
    numbers.and_then(|n| <[f64; 2]>::try_from(n).ok())
}

/// The functions without NULL arguments not handled in [`function`]:
/// `None` when the arguments do not suit `f`.
pub(super) fn more_functions(f: Func, values: &[Value]) -> Result<Option<Value>> {
    if let Some(v) = super::bytes::function(f, values)? {
        return Ok(Some(v));
    }
    if let Some(v) = super::crypto::function(f, values)? {
        return Ok(Some(v));
    }
    if let Some(v) = super::zone::function(f, values)? {
        return Ok(Some(v));
    }
    if let Some(v) = super::numbers::function(f, values)? {
        return Ok(Some(v));
    }
    if let Some(v) = super::datetimes::function(f, values)? {
        return Ok(Some(v));
    }
    let numbers: Option<Vec<f64>> = values.iter().map(float_of).collect();
    Ok(Some(match (f, values) {
        (Func::Sqrt, [Value::Numeric(n)]) => Value::Numeric(n.sqrt()?),
        (Func::Power, [_, _]) => {
            let Some([x, y]) = two(numbers.as_deref()) else {
                return Ok(None);
            };
            if x == 0.0 && y < 0.0 {
                return Err(SqlError::invalid_argument_for_power(
                    "zero raised to a negative power is undefined",
                ));
            }
            if x < 0.0 && y.fract() != 0.0 {
                return Err(SqlError::invalid_argument_for_power(
                    "a negative number raised to a non-integer power yields a complex result",
                ));
            }
            finite(x.powf(y))?
        }
        (
            Func::Sqrt | Func::Cbrt | Func::Exp | Func::Ln | Func::Log10 | Func::Log | Func::Sign,
            [v],
        ) => {
            let Some(x) = float_of(v) else {
                return Ok(None);
            };
            match f {
                Func::Sqrt if x < 0.0 => {
                    return Err(SqlError::invalid_argument_for_power(
                        "cannot take square root of a negative number",
                    ));
                }
                Func::Sqrt => finite(x.sqrt())?,
                Func::Cbrt => finite(x.cbrt())?,
                Func::Exp => finite(x.exp())?,
                Func::Ln => finite(log_argument(x)?.ln())?,
                Func::Sign => Value::Float(if x == 0.0 { 0.0 } else { x.signum() }),
                _ => finite(log_argument(x)?.log10())?,
            }
        }
        (Func::Log, [_, _]) => {
            let Some([b, x]) = two(numbers.as_deref()) else {
                return Ok(None);
            };
            let base = log_argument(b)?.ln();
            if base == 0.0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            finite(log_argument(x)?.ln() / base)?
        }
        (Func::Mod | Func::Div, [Value::Int(a), Value::Int(b)]) => {
            if *b == 0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            // i64::MIN by -1 overflows either way.
            if f == Func::Mod {
                Value::Int(a.checked_rem(*b).unwrap_or(0))
            } else {
                // PostgreSQL's div is numeric's only: div(7, 2) is the
                // numeric 3. The quotient of i64::MIN by -1 overflows
                // i64 but not a numeric.
                Value::Numeric(crate::numeric::Numeric(
                    (rust_decimal::Decimal::from(*a) / rust_decimal::Decimal::from(*b)).trunc(),
                ))
            }
        }
        (Func::Mod | Func::Div, [Value::Float(_), _] | [_, Value::Float(_)]) => {
            let Some([x, y]) = numbers
                .as_deref()
                .and_then(|n| <[f64; 2]>::try_from(n).ok())
            else {
                return Ok(None);
            };
            if y == 0.0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            if f == Func::Mod {
                finite(x % y)?
            } else {
                Value::Numeric(crate::numeric::Numeric::from_float((x / y).trunc())?)
            }
        }
        (Func::Mod | Func::Div, [a, b]) => {
            let numeric = |v: &Value| match v {
                Value::Int(i) => Some(crate::numeric::Numeric::from_int(*i)),
                Value::Numeric(n) => Some(*n),
                _ => None,
            };
            let (Some(a), Some(b)) = (numeric(a), numeric(b)) else {
                return Ok(None);
            };
            if b.0.is_zero() {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            if f == Func::Mod {
                Value::Numeric(crate::numeric::Numeric(a.0 % b.0))
            } else {
                Value::Numeric(crate::numeric::Numeric((a.0 / b.0).trunc()))
            }
        }
        (Func::Trunc, [Value::Int(i), ..]) => Value::Int(*i),
        (Func::Trunc, [Value::Float(x)]) => Value::Float(x.trunc()),
        (Func::Trunc, [Value::Float(x), Value::Int(d)]) => {
            let p = 10f64.powi((*d).clamp(-300, 300) as i32);
            Value::Float((x * p).trunc() / p)
        }
        (Func::Trunc, [Value::Numeric(n)]) => Value::Numeric(crate::numeric::Numeric(n.0.trunc())),
        (Func::Trunc, [Value::Numeric(n), Value::Int(d)]) => {
            Value::Numeric(crate::numeric::Numeric(
                n.0.trunc_with_scale(u32::try_from((*d).clamp(0, 28)).unwrap_or(0)),
            ))
        }
        (Func::Lpad | Func::Rpad, [Value::Text(s), Value::Int(n), rest @ ..]) => {
            let fill = match rest {
                [] => " ",
                [Value::Text(fill)] => fill.as_str(),
                _ => return Ok(None),
            };
            let n = usize::try_from(*n).unwrap_or(0);
            check_text_len(n.saturating_mul(4), "lpad()/rpad()")?;
            let len = s.chars().count();
            if len >= n || fill.is_empty() {
                // Longer than asked: cut on the right, as PostgreSQL does.
                Value::Text(s.chars().take(n).collect())
            } else {
                let pad: String = fill.chars().cycle().take(n - len).collect();
                Value::Text(if f == Func::Lpad {
                    pad + s
                } else {
                    s.clone() + &pad
                })
            }
        }
        (Func::Left, [Value::Text(s), Value::Int(n)]) => Value::Text(char_count(s, *n, true)),
        (Func::Right, [Value::Text(s), Value::Int(n)]) => Value::Text(char_count(s, *n, false)),
        (Func::SplitPart, [Value::Text(s), Value::Text(delimiter), Value::Int(n)]) => {
            if *n == 0 {
                return Err(SqlError::invalid_parameter(
                    "field position must not be zero",
                ));
            }
            let parts: Vec<&str> = if delimiter.is_empty() {
                vec![s.as_str()]
            } else {
                s.split(delimiter.as_str()).collect()
            };
            let at = if *n > 0 {
                usize::try_from(n - 1).ok()
            } else {
                usize::try_from(parts.len() as i64 + n).ok()
            };
            Value::Text(
                at.and_then(|i| parts.get(i))
                    .copied()
                    .unwrap_or("")
                    .to_string(),
            )
        }
        (Func::Repeat, [Value::Text(s), Value::Int(n)]) => {
            let n = usize::try_from(*n).unwrap_or(0);
            check_text_len(s.len().saturating_mul(n), "repeat()")?;
            Value::Text(s.repeat(n))
        }
        (Func::Reverse, [Value::Text(s)]) => Value::Text(s.chars().rev().collect()),
        (Func::Initcap, [Value::Text(s)]) => {
            let mut out = String::with_capacity(s.len());
            let mut word = false;
            for c in s.chars() {
                if word {
                    out.extend(c.to_lowercase());
                } else {
                    out.extend(c.to_uppercase());
                }
                word = c.is_alphanumeric();
            }
            Value::Text(out)
        }
        (Func::Md5, [Value::Text(_) | Value::Bytes(_)]) => {
            use md5::Digest;
            let bytes: &[u8] = match &values[0] {
                Value::Text(s) => s.as_bytes(),
                Value::Bytes(b) => b,
                _ => return Ok(None),
            };
            let digest = md5::Md5::digest(bytes);
            Value::Text(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        (Func::Chr, [Value::Int(code)]) => {
            if *code == 0 {
                return Err(SqlError::invalid_parameter("null character not permitted"));
            }
            let c = u32::try_from(*code)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    SqlError::invalid_parameter(format!("requested character not valid: {code}"))
                })?;
            Value::Text(c.to_string())
        }
        (Func::Ascii, [Value::Text(s)]) => {
            Value::Int(s.chars().next().map_or(0, |c| i64::from(u32::from(c))))
        }
        (Func::OctetLength | Func::BitLength, [Value::Text(_) | Value::Bytes(_)]) => {
            let len = match &values[0] {
                Value::Text(s) => s.len(),
                Value::Bytes(b) => b.len(),
                _ => return Ok(None),
            } as i64;
            Value::Int(if f == Func::BitLength { len * 8 } else { len })
        }
        (Func::StartsWith, [Value::Text(s), Value::Text(prefix)]) => {
            Value::Bool(s.starts_with(prefix.as_str()))
        }
        (Func::Translate, [Value::Text(s), Value::Text(from), Value::Text(to)]) => {
            let from: Vec<char> = from.chars().collect();
            let to: Vec<char> = to.chars().collect();
            Value::Text(
                s.chars()
                    .filter_map(|c| match from.iter().position(|f| *f == c) {
                        Some(i) => to.get(i).copied(),
                        None => Some(c),
                    })
                    .collect(),
            )
        }
        (Func::ToTimestamp, [v]) => {
            let Some(seconds) = float_of(v) else {
                return Ok(None);
            };
            let nanos = seconds * 1e9;
            if !nanos.is_finite() || nanos < 0.0 || nanos >= u64::MAX as f64 {
                return Err(SqlError::datetime_field_overflow(format!(
                    "timestamp out of range: {seconds} seconds since 1970 (Spanlite's timestamps begin then)"
                )));
            }
            Value::TimestampTz(spanlite_truetime::Timestamp::from_nanos(
                nanos.round() as u64
            ))
        }
        (
            Func::RegexpReplace,
            [
                Value::Text(text),
                Value::Text(pattern),
                Value::Text(with),
                rest @ ..,
            ],
        ) => {
            let flags = match rest {
                [] => "",
                [Value::Text(flags)] => flags.as_str(),
                _ => return Ok(None),
            };
            let out = crate::compat::regexp_replace(text, pattern, with, flags)?;
            check_text_len(out.len(), "regexp_replace()")?;
            Value::Text(out)
        }
        (Func::JsonbTypeof | Func::JsonbArrayLength, [Value::Jsonb(j) | Value::Text(j)]) => {
            let parsed: serde_json::Value = serde_json::from_str(j).map_err(|e| {
                SqlError::invalid_text(format!("invalid input syntax for type json: {e}"))
            })?;
            match (f, parsed) {
                (Func::JsonbArrayLength, serde_json::Value::Array(a)) => Value::Int(a.len() as i64),
                (Func::JsonbArrayLength, _) => {
                    return Err(SqlError::invalid_parameter(
                        "cannot get array length of a non-array",
                    ));
                }
                (_, parsed) => Value::Text(
                    match parsed {
                        serde_json::Value::Object(_) => "object",
                        serde_json::Value::Array(_) => "array",
                        serde_json::Value::String(_) => "string",
                        serde_json::Value::Number(_) => "number",
                        serde_json::Value::Bool(_) => "boolean",
                        serde_json::Value::Null => "null",
                    }
                    .to_string(),
                ),
            }
        }
        (Func::ToJsonb, [v]) => Value::Jsonb(crate::json::render(&json_of(v)?)),
        (Func::QuoteLiteral, [v]) => Value::Text(crate::compat::quote_literal(&v.to_string())),
        // overlay(s PLACING r FROM start [FOR n]): s's first start - 1
        // characters, r, then s from start + n (n: r's length).
        (Func::Overlay, [Value::Text(s), Value::Text(r), Value::Int(start), rest @ ..]) => {
            let n = match rest {
                [] => r.chars().count() as i64,
                [Value::Int(n)] => *n,
                _ => return Ok(None),
            };
            if *start < 1 || n < 0 {
                return Err(SqlError::substring_error(
                    "negative substring length not allowed",
                ));
            }
            let head = usize::try_from(start - 1).unwrap_or(usize::MAX);
            let tail = usize::try_from(start.saturating_add(n) - 1).unwrap_or(usize::MAX);
            let mut out: String = s.chars().take(head).collect();
            out.push_str(r);
            out.extend(s.chars().skip(tail));
            Value::Text(out)
        }
        (Func::MakeDate, [Value::Int(y), Value::Int(m), Value::Int(d)]) => {
            let date = i32::try_from(*y)
                .ok()
                .filter(|y| *y > 0)
                .zip(u32::try_from(*m).ok().zip(u32::try_from(*d).ok()))
                .and_then(|(y, (m, d))| chrono::NaiveDate::from_ymd_opt(y, m, d));
            let Some(date) = date else {
                return Err(SqlError::datetime_field_overflow(format!(
                    "date field value out of range: {y}-{m:02}-{d:02}"
                )));
            };
            Value::Date(crate::datetime::days_of(date)?)
        }
        (Func::JsonExtractPath | Func::JsonExtractPathText, [doc, keys @ ..]) => {
            let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
            json_at(doc, &keys, f == Func::JsonExtractPathText)?
        }
        (Func::JsonPath | Func::JsonPathText, [doc, path]) => {
            let keys = crate::compat::array_elements(&path.to_string());
            json_at(doc, &keys, f == Func::JsonPathText)?
        }
        (Func::JsonbSet, [doc, path, value, rest @ ..]) => {
            let create = match rest {
                [] => true,
                [Value::Bool(b)] => *b,
                _ => return Ok(None),
            };
            let keys = crate::compat::array_elements(&path.to_string());
            Value::Jsonb(crate::json::set(
                &document(doc)?,
                &keys,
                &document(value)?,
                create,
            )?)
        }
        (Func::JsonbStripNulls, [doc]) => Value::Jsonb(crate::json::strip_nulls(&document(doc)?)?),
        (Func::JsonbPretty, [doc]) => Value::Text(crate::json::pretty(&document(doc)?)?),
        (Func::StringToArray, [Value::Text(s), delimiter, rest @ ..]) => {
            let null = match rest {
                [] => None,
                [v] => Some(v.to_string()),
                _ => return Ok(None),
            };
            let parts: Vec<Value> = if s.is_empty() {
                Vec::new()
            } else {
                let delimiter = delimiter.to_string();
                let pieces: Vec<String> = if delimiter.is_empty() {
                    vec![s.clone()]
                } else {
                    s.split(delimiter.as_str()).map(str::to_string).collect()
                };
                pieces
                    .into_iter()
                    .map(|p| {
                        if null.as_ref() == Some(&p) {
                            Value::Null
                        } else {
                            Value::Text(p)
                        }
                    })
                    .collect()
            };
            Value::Array(parts)
        }
        (Func::RegexpMatch, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let Some(flags) = text_flags(rest) else {
                return Ok(None);
            };
            match crate::regexp::regexp_match(s, p, flags)? {
                None => Value::Null,
                Some(groups) => array_text(groups),
            }
        }
        (Func::RegexpMatchesAll, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let Some(flags) = text_flags(rest) else {
                return Ok(None);
            };
            Value::Array(
                crate::regexp::regexp_matches(s, p, flags)?
                    .into_iter()
                    .map(array_text)
                    .collect(),
            )
        }
        (Func::RegexpLike, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let Some(flags) = text_flags(rest) else {
                return Ok(None);
            };
            Value::Bool(crate::regexp::regexp_like(s, p, flags)?)
        }
        (Func::RegexpCount, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let (start, flags) = match rest {
                [] => (1, ""),
                [Value::Int(start)] => (*start, ""),
                [Value::Int(start), Value::Text(flags)] => (*start, flags.as_str()),
                _ => return Ok(None),
            };
            Value::Int(crate::regexp::regexp_count(s, p, start, flags)?)
        }
        (Func::RegexpSubstr, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let (start, n, flags, subexpr) = match rest {
                [] => (1, 1, "", 0),
                [Value::Int(a)] => (*a, 1, "", 0),
                [Value::Int(a), Value::Int(n)] => (*a, *n, "", 0),
                [Value::Int(a), Value::Int(n), Value::Text(f)] => (*a, *n, f.as_str(), 0),
                [Value::Int(a), Value::Int(n), Value::Text(f), Value::Int(g)] => {
                    (*a, *n, f.as_str(), *g)
                }
                _ => return Ok(None),
            };
            crate::regexp::regexp_substr(s, p, start, n, flags, subexpr)?
                .map_or(Value::Null, Value::Text)
        }
        (Func::RegexpSplitToArray, [Value::Text(s), Value::Text(p), rest @ ..]) => {
            let Some(flags) = text_flags(rest) else {
                return Ok(None);
            };
            array_text(
                crate::regexp::regexp_split(s, p, flags)?
                    .into_iter()
                    .map(Some)
                    .collect(),
            )
        }
        (Func::SimilarToEscape, [Value::Text(p), rest @ ..]) => {
            let escape = match rest {
                [] => None,
                [Value::Text(e)] => Some(e.as_str()),
                _ => return Ok(None),
            };
            Value::Text(crate::regexp::similar_to_escape(p, escape)?)
        }
        (Func::ToNumber, [Value::Text(text), Value::Text(template)]) => {
            Value::Numeric(crate::regexp::to_number(text, template)?)
        }
        (Func::ToTimestamp | Func::ToDate, [Value::Text(text), Value::Text(template)]) => {
            let at = crate::dateparse::parse_with_template(text, template)?;
            if f == Func::ToDate {
                Value::Date(crate::datetime::days_of(at.date())?)
            } else {
                // Read in the session's time zone.
                Value::TimestampTz(crate::datetime::instant_of(at)?)
            }
        }
        (Func::Age, [a, b]) => Value::Interval(age(instant(a)?, instant(b)?)),
        (Func::Age, [a]) => {
            let now = spanlite_truetime::Timestamp::from_datetime(chrono::Utc::now())
                .ok_or_else(|| SqlError::datetime_field_overflow("timestamp out of range"))?;
            let today = crate::datetime::local_of(now)
                .date()
                .and_time(chrono::NaiveTime::MIN);
            Value::Interval(age(today, instant(a)?))
        }
        (Func::CancelBackend | Func::TerminateBackend, [Value::Int(pid), ..]) => {
            Value::Bool(crate::backends::signal(*pid, f == Func::TerminateBackend)?)
        }
        (Func::CancelBackend | Func::TerminateBackend, [Value::Null, ..]) => Value::Null,
        // generate_series is strict: no rows for a NULL argument.
        (Func::SeriesArray, args) if args.contains(&Value::Null) => Value::Null,
        (Func::SeriesArray, args) => Value::Array(super::series::series_values(args)?),
        _ => return Ok(None),
    }))
}

/// A date or time value as the date and time it names (a timestamp with
/// time zone in the session's zone; text read as a timestamp), for `age`.
fn instant(v: &Value) -> Result<chrono::NaiveDateTime> {
    let t = match v {
        Value::Timestamp(t) => *t,
        Value::TimestampTz(t) => return Ok(crate::datetime::local_of(*t)),
        Value::Text(s) => crate::datetime::parse_timestamp(s)?,
        Value::Date(d) => {
            let date = crate::datetime::date_of(*d)
                .ok_or_else(|| SqlError::datetime_field_overflow("date out of range"))?;
            return Ok(date.and_time(chrono::NaiveTime::MIN));
        }
        other => {
            return Err(SqlError::undefined_function(format!(
                "function age({}) does not exist",
                super::expr::type_name(other)
            )));
        }
    };
    Ok(t.to_datetime().naive_utc())
}

/// Days in month `month` (1–12) of `year`.
fn days_in_month(year: i32, month: u32) -> i64 {
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(first), Some(next)) => (next - first).num_days(),
        _ => 30,
    }
}

/// `age(a, b)` as PostgreSQL computes it: the difference field by field
/// (years, months, days, time), each negative field borrowing from the
/// next larger one — a month borrowed is as long as the month of the
/// earlier of the two (`age('2024-03-01', '2024-01-31')` is 1 mon 1 day).
fn age(a: chrono::NaiveDateTime, b: chrono::NaiveDateTime) -> crate::interval::Interval {
    use chrono::{Datelike, Timelike};
    let fields = |t: &chrono::NaiveDateTime| {
        [
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
            i64::from(t.minute()),
            i64::from(t.second()),
            i64::from((t.nanosecond() / 1000).min(999_999)),
        ]
    };
    let (x, y) = (fields(&a), fields(&b));
    let negative = a < b;
    let sign = if negative { -1 } else { 1 };
    let mut d: [i64; 7] = std::array::from_fn(|i| sign * (x[i] - y[i]));
    let [year, month, day, hour, minute, second, micros] = &mut d;
    while *micros < 0 {
        *micros += 1_000_000;
        *second -= 1;
    }
    while *second < 0 {
        *second += 60;
        *minute -= 1;
    }
    while *minute < 0 {
        *minute += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *day -= 1;
    }
    // The month borrowed from: the earlier timestamp's.
    let earlier = if negative { &a } else { &b };
    while *day < 0 {
        *day += days_in_month(earlier.year(), earlier.month());
        *month -= 1;
    }
    while *month < 0 {
        *month += 12;
        *year -= 1;
    }
    let micros = ((*hour * 60 + *minute) * 60 + *second) * 1_000_000 + *micros;
    crate::interval::Interval {
        months: i32::try_from(sign * (*year * 12 + *month)).unwrap_or(i32::MAX),
        days: i32::try_from(sign * *day).unwrap_or(i32::MAX),
        micros: sign * micros,
    }
}

/// `format(template, …)` as PostgreSQL's: `%s` (the value's text, NULL
/// as nothing), `%I` (quoted as an identifier when needed), `%L` (quoted
/// as a literal, NULL as `NULL`), `%%`; an argument's position as `%2$s`,
/// a `-` flag and a width (`%-10s`, `%*s`, `%*2$s`). NULL for a NULL
/// template.
pub(super) fn format(values: &[Value]) -> Result<Value> {
    let Some((template, args)) = values.split_first() else {
        return Err(SqlError::undefined_function(
            "function format() does not exist",
        ));
    };
    let template = match template {
        Value::Null => return Ok(Value::Null),
        t => t.to_string(),
    };
    let bad = |m: String| SqlError::invalid_parameter(m);
    let unterminated = || bad("unterminated format() type specifier".to_string());
    // The argument at 1-based position `n`.
    let arg = |n: usize| -> Result<&Value> {
        match n {
            0 => Err(bad(
                "format specifies argument 0, but arguments are numbered from 1".to_string(),
            )),
            n => args
                .get(n - 1)
                .ok_or_else(|| bad("too few arguments for format()".to_string())),
        }
    };
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    // The last argument taken (the next one without a position follows it).
    let mut last = 0usize;
    // Digits, then whether `$` followed them.
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<usize> {
        let mut n: Option<usize> = None;
        while let Some(c) = chars.peek().and_then(|c| c.to_digit(10)) {
            chars.next();
            n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(c as usize));
        }
        n
    };
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // `n$` (a position), or digits that are the width.
        let mut position = None;
        let mut width: Option<i64> = None;
        if let Some(n) = digits(&mut chars) {
            if chars.peek() == Some(&'$') {
                chars.next();
                position = Some(n);
            } else {
                width = Some(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let mut left = false;
        if width.is_none() {
            while chars.peek() == Some(&'-') {
                chars.next();
                left = true;
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = match digits(&mut chars) {
                    Some(n) if chars.peek() == Some(&'$') => {
                        chars.next();
                        n
                    }
                    Some(_) => return Err(unterminated()),
                    None => last + 1,
                };
                last = n;
                width = Some(match arg(n)? {
                    Value::Null => 0,
                    Value::Int(w) => *w,
                    other => other.to_string().trim().parse::<i64>().map_err(|_| {
                        SqlError::invalid_text(format!(
                            "invalid input syntax for type integer: \"{other}\""
                        ))
                    })?,
                });
            } else if let Some(n) = digits(&mut chars) {
                width = Some(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let Some(kind) = chars.next() else {
            return Err(unterminated());
        };
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(bad(format!(
                "unrecognized format() type specifier \"{kind}\""
            )));
        }
        let n = position.unwrap_or(last + 1);
        last = n;
        let value = arg(n)?;
        let text = match (kind, value) {
            ('s', Value::Null) => String::new(),
            ('s', v) => v.to_string(),
            ('I', Value::Null) => {
                return Err(SqlError::null_value_not_allowed(
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            ('I', v) => crate::compat::quote_ident(&v.to_string()),
            (_, Value::Null) => "NULL".to_string(),
            (_, v) => crate::compat::quote_literal(&v.to_string()),
        };
        let width = width.unwrap_or(0);
        let left = left || width < 0;
        let pad = usize::try_from(width.unsigned_abs())
            .unwrap_or(usize::MAX)
            .saturating_sub(text.chars().count());
        check_text_len(out.len() + text.len() + pad, "format()")?;
        if !left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(&text);
        if left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    Ok(Value::Text(out))
}

/// A SQL value as JSON, as PostgreSQL's `to_jsonb` makes it: numbers,
/// booleans and documents as they are, NULL as `null`, date and time
/// values in ISO 8601 (`2024-01-02T03:04:05`), the rest (and the floats
/// JSON has no number for) as their text in a string.
pub(super) fn json_of(v: &Value) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Jsonb(doc) => crate::json::parse_document(doc)?,
        Value::Int(_) | Value::Numeric(_) => crate::json::parse_document(&v.to_string())?,
        Value::Float(x) if x.is_finite() => crate::json::parse_document(&v.to_string())?,
        Value::Timestamp(t) => {
            J::String(crate::datetime::timestamp_text(*t, false).replacen(' ', "T", 1))
        }
        // ISO 8601 in the session's zone, its offset written `+HH:MM`.
        Value::TimestampTz(t) => {
            let text = crate::datetime::timestamp_text(*t, true).replacen(' ', "T", 1);
            let at = text.rfind(['+', '-']).unwrap_or(text.len());
            let (time, offset) = text.split_at(at);
            let offset = if offset.len() == 3 {
                format!("{offset}:00")
            } else {
                offset.to_string()
            };
            J::String(format!("{time}{offset}"))
        }
        // An array is a JSON array of its elements (PostgreSQL's).
        Value::Array(items) => J::Array(items.iter().map(json_of).collect::<Result<_>>()?),
        v => J::String(v.to_string()),
    })
}

/// A jsonb argument's text (text read as JSON, 22P02 if it is not).
fn document(v: &Value) -> Result<String> {
    match v {
        Value::Jsonb(doc) => Ok(doc.clone()),
        other => crate::json::normalize(&other.to_string()),
    }
}

/// The element of `doc` at `path`, as jsonb or (`as_text`) as text — a
/// string unquoted, JSON null as NULL; NULL when there is none.
fn json_at(doc: &Value, path: &[String], as_text: bool) -> Result<Value> {
    let parsed = crate::json::parse_document(&document(doc)?)?;
    Ok(match crate::json::at_path(&parsed, path) {
        None => Value::Null,
        Some(serde_json::Value::Null) if as_text => Value::Null,
        Some(serde_json::Value::String(s)) if as_text => Value::Text(s.clone()),
        Some(v) if as_text => Value::Text(crate::json::render(v)),
        Some(v) => Value::Jsonb(crate::json::render(v)),
    })
}
