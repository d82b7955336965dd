//! The mathematical, string, time and JSON functions beyond the first
//! set (`power`, `lpad`, `split_part`, `md5`, `to_timestamp`,
//! `jsonb_typeof`, …): called by `expr::function` for arguments none of
//! which is NULL.

use super::expr::check_text_len;
use crate::error::{Result, SqlError};
use crate::plan::Func;
use crate::value::Value;

/// A number as a float (integers, floats, numerics).
fn float_of(v: &Value) -> Option<f64> {
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

/// The functions without NULL arguments not handled in [`function`]:
/// `None` when the arguments do not suit `f`.
pub(super) fn more_functions(f: Func, values: &[Value]) -> Result<Option<Value>> {
    let numbers: Option<Vec<f64>> = values.iter().map(float_of).collect();
    Ok(Some(match (f, values) {
        (Func::Power, [_, _]) => {
            let Some([x, y]) = numbers
                .as_deref()
                .and_then(|n| <[f64; 2]>::try_from(n).ok())
            else {
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
            let Some([b, x]) = numbers
                .as_deref()
                .and_then(|n| <[f64; 2]>::try_from(n).ok())
            else {
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
            let r = if f == Func::Mod {
                a.checked_rem(*b)
            } else {
                a.checked_div(*b)
            };
            Value::Int(r.unwrap_or(0))
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
            finite(if f == Func::Mod {
                x % y
            } else {
                (x / y).trunc()
            })?
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
        _ => return Ok(None),
    }))
}
