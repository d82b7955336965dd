//! Expression evaluation with SQL semantics: NULL propagation and
//! three-valued logic, checked integer arithmetic (22003), division by
//! zero (22012), subqueries (run once unless correlated), LIKE, CAST and
//! the scalar functions.

use std::cmp::Ordering;

use crate::error::{Result, SqlError};
use crate::plan::{BExpr, BinOp, Func, Row, Subquery};
use crate::value::{DataType, Value};

use super::{Env, query};

/// Evaluates `e`.
pub fn eval(e: &BExpr, env: &Env) -> Result<Value> {
    match e {
        BExpr::Const(v) => Ok(v.clone()),
        BExpr::Param(i) => Err(SqlError::internal(format!(
            "parameter ${} was not given a value before the plan ran",
            i + 1
        ))),
        BExpr::Column(i) => env
            .row
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::internal(format!("column position {i} out of range"))),
        BExpr::Outer { depth, index } => env
            .outer
            .len()
            .checked_sub(*depth)
            .and_then(|d| env.outer[d].get(*index))
            .cloned()
            .ok_or_else(|| SqlError::internal("outer column out of range")),
        BExpr::Output(i) => env
            .output
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::internal("output column out of range")),
        BExpr::Not(a) => Ok(match eval(a, env)?.truth()? {
            None => Value::Null,
            Some(b) => Value::Bool(!b),
        }),
        BExpr::Neg(a) => match eval(a, env)? {
            Value::Null => Ok(Value::Null),
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range")),
            Value::Float(x) => Ok(Value::Float(-x)),
            Value::Numeric(n) => Ok(Value::Numeric(crate::numeric::Numeric(-n.0))),
            Value::Interval(iv) => Ok(Value::Interval(iv.checked_neg()?)),
            v => Err(SqlError::undefined_function(format!(
                "operator does not exist: - {}",
                type_name(&v)
            ))),
        },
        BExpr::Binary(l, op, r) => {
            let lv = eval(l, env)?;
            // Short-circuit where the answer is known (and skip errors of
            // the other side, as PostgreSQL may).
            match (op, lv.truth()) {
                (BinOp::And, Ok(Some(false))) => return Ok(Value::Bool(false)),
                (BinOp::Or, Ok(Some(true))) => return Ok(Value::Bool(true)),
                _ => {}
            }
            binary(lv, *op, eval(r, env)?)
        }
        BExpr::IsNull(a, negated) => Ok(Value::Bool((eval(a, env)? == Value::Null) != *negated)),
        BExpr::IsBool(a, want, negated) => {
            let t = eval(a, env)?.truth()?;
            Ok(Value::Bool((t == Some(*want)) != *negated))
        }
        BExpr::IsDistinct(a, b, negated) => {
            let (x, y) = (eval(a, env)?, eval(b, env)?);
            let distinct = match (&x, &y) {
                (Value::Null, Value::Null) => false,
                (Value::Null, _) | (_, Value::Null) => true,
                _ => x.compare(&y)? != Some(Ordering::Equal),
            };
            Ok(Value::Bool(distinct != *negated))
        }
        BExpr::InList(a, list, negated) => {
            let v = eval(a, env)?;
            let mut items = Vec::with_capacity(list.len());
            for item in list {
                items.push(eval(item, env)?);
            }
            in_values(&v, items.iter(), *negated)
        }
        BExpr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let subject = operand.as_ref().map(|o| eval(o, env)).transpose()?;
            for (w, t) in whens {
                let hit = match &subject {
                    Some(s) => s.compare(&eval(w, env)?)? == Some(Ordering::Equal),
                    None => eval(w, env)?.truth()? == Some(true),
                };
                if hit {
                    return eval(t, env);
                }
            }
            match otherwise {
                Some(o) => eval(o, env),
                None => Ok(Value::Null),
            }
        }
        BExpr::Cast(a, ty) => cast(eval(a, env)?, *ty),
        BExpr::Enum(a, t) => t.cast(eval(a, env)?),
        BExpr::Func(f, args) => {
            let values = args
                .iter()
                .map(|a| eval(a, env))
                .collect::<Result<Vec<_>>>()?;
            function(*f, values)
        }
        BExpr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => match (eval(expr, env)?, eval(pattern, env)?) {
            (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
            (Value::Text(s), Value::Text(p)) => {
                let hit = if *case_insensitive {
                    like(&s.to_lowercase(), &p.to_lowercase())
                } else {
                    like(&s, &p)
                };
                Ok(Value::Bool(hit != *negated))
            }
            (a, b) => Err(SqlError::undefined_function(format!(
                "operator does not exist: {} LIKE {}",
                type_name(&a),
                type_name(&b)
            ))),
        },
        BExpr::Subquery(s) => {
            let rows = subquery_rows(s, env)?;
            match &*rows {
                [] => Ok(Value::Null),
                [row] => Ok(row.first().cloned().unwrap_or(Value::Null)),
                _ => Err(SqlError::cardinality_violation(
                    "more than one row returned by a subquery used as an expression",
                )),
            }
        }
        BExpr::Exists(s, negated) => {
            let rows = subquery_rows(s, env)?;
            Ok(Value::Bool(rows.is_empty() == *negated))
        }
        BExpr::InSubquery(a, s, negated) => {
            let v = eval(a, env)?;
            let rows = subquery_rows(s, env)?;
            in_values(
                &v,
                rows.iter().map(|r| r.first().unwrap_or(&Value::Null)),
                *negated,
            )
        }
    }
}

/// The rows of a subquery seen from `env` (computed once if uncorrelated).
fn subquery_rows<'a>(s: &'a Subquery, env: &Env) -> Result<std::borrow::Cow<'a, [Row]>> {
    let run = || {
        let mut outer: Vec<&[Value]> = env.outer.to_vec();
        outer.push(env.row);
        query(&s.query, &outer)
    };
    if s.correlated {
        return Ok(std::borrow::Cow::Owned(run()?));
    }
    if let Some(rows) = s.cache.0.get() {
        return Ok(std::borrow::Cow::Borrowed(rows));
    }
    let rows = run()?;
    Ok(std::borrow::Cow::Borrowed(s.cache.0.get_or_init(|| rows)))
}

/// `v [NOT] IN (items)` with three-valued logic.
fn in_values<'a>(
    v: &Value,
    items: impl Iterator<Item = &'a Value>,
    negated: bool,
) -> Result<Value> {
    let mut items = items.peekable();
    if items.peek().is_none() {
        // Nothing to be in: false (NOT IN: true), even for NULL.
        return Ok(Value::Bool(negated));
    }
    if *v == Value::Null {
        return Ok(Value::Null);
    }
    let mut saw_null = false;
    for item in items {
        match v.compare(item)? {
            Some(Ordering::Equal) => return Ok(Value::Bool(!negated)),
            None => saw_null = true,
            Some(_) => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(negated)
    })
}

/// The largest text value a string function or `||` makes (PostgreSQL's
/// limit is 1 GB; a node serving many sessions cannot give one query that):
/// beyond it the statement fails with 54000 before allocating.
pub const MAX_TEXT_BYTES: usize = 64 << 20;

/// 54000 unless a text of `len` bytes fits under [`MAX_TEXT_BYTES`].
pub(super) fn check_text_len(len: usize, what: &str) -> Result<()> {
    if len > MAX_TEXT_BYTES {
        return Err(SqlError::program_limit_exceeded(format!(
            "{what} would make a string of {len} bytes; the limit is {MAX_TEXT_BYTES}"
        )));
    }
    Ok(())
}

/// SQL LIKE: `%` any run, `_` any one character, `\` escapes.
fn like(s: &str, p: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    // Iterative matching with backtracking to the last `%`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && p[j] == '\\' && j + 1 < p.len() {
            if s[i] == p[j + 1] {
                i += 1;
                j += 2;
                continue;
            }
        } else if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == s[i])) {
            i += 1;
            j += 1;
            continue;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
            continue;
        }
        match star {
            Some((sj, si)) => {
                j = sj + 1;
                i = si + 1;
                star = Some((sj, si + 1));
            }
            None => return false,
        }
    }
    while j < p.len() && p[j] == '%' {
        j += 1;
    }
    j == p.len()
}

pub(super) fn type_name(v: &Value) -> String {
    v.data_type()
        .map_or("unknown".to_string(), |t| t.to_string())
}

/// An explicit CAST: like an assignment cast, plus anything to text and
/// floats to integers with rounding.
fn cast(v: Value, ty: DataType) -> Result<Value> {
    match (v, ty) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Text(s), DataType::Text) => Ok(Value::Text(s)),
        (v, DataType::Text) => Ok(Value::Text(v.to_string())),
        (Value::Float(x), DataType::Int) => {
            let r = x.round();
            if r.is_finite() && r.abs() < 9.2e18 {
                Ok(Value::Int(r as i64))
            } else {
                Err(SqlError::numeric_out_of_range("integer out of range"))
            }
        }
        (Value::Bool(b), DataType::Int) => Ok(Value::Int(i64::from(b))),
        (Value::Int(i), DataType::Bool) => Ok(Value::Bool(i != 0)),
        (Value::Array(items), DataType::Array(e)) => Ok(Value::Array(
            items
                .into_iter()
                .map(|v| cast(v, e.ty()))
                .collect::<Result<_>>()?,
        )),
        (v, ty) => v.cast_to(ty),
    }
}

fn function(f: Func, values: Vec<Value>) -> Result<Value> {
    let arity = |n: std::ops::RangeInclusive<usize>| -> Result<()> {
        if n.contains(&values.len()) {
            Ok(())
        } else {
            Err(SqlError::undefined_function(format!(
                "function {f:?}() takes {} arguments, not {}",
                if n.start() == n.end() {
                    n.start().to_string()
                } else {
                    format!("{} to {}", n.start(), n.end())
                },
                values.len()
            )))
        }
    };
    match f {
        Func::NumNulls | Func::NumNonnulls => {
            arity(1..=usize::MAX)?;
            let nulls = values.iter().filter(|v| **v == Value::Null).count();
            return Ok(Value::Int(if f == Func::NumNulls {
                nulls
            } else {
                values.len() - nulls
            } as i64));
        }
        Func::Coalesce => {
            return Ok(values
                .into_iter()
                .find(|v| *v != Value::Null)
                .unwrap_or(Value::Null));
        }
        Func::NullIf => {
            arity(2..=2)?;
            let equal = values[0].compare(&values[1])? == Some(Ordering::Equal);
            return Ok(if equal {
                Value::Null
            } else {
                values[0].clone()
            });
        }
        Func::Greatest | Func::Least => {
            let mut best: Option<Value> = None;
            for v in values.into_iter().filter(|v| *v != Value::Null) {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.compare(&b)?.unwrap_or(Ordering::Equal);
                        if (f == Func::Greatest && o.is_gt()) || (f == Func::Least && o.is_lt()) {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            return Ok(best.unwrap_or(Value::Null));
        }
        Func::Concat => {
            let parts: Vec<String> = values
                .iter()
                .filter(|v| **v != Value::Null)
                .map(ToString::to_string)
                .collect();
            check_text_len(parts.iter().map(String::len).sum(), "concat()")?;
            return Ok(Value::Text(parts.concat()));
        }
        Func::GenRandomUuid => {
            arity(0..=0)?;
            return Ok(Value::Uuid(crate::value::random_uuid()));
        }
        Func::Random => {
            arity(0..=0)?;
            return Ok(Value::Float(rand::random::<f64>()));
        }
        Func::Pi => {
            arity(0..=0)?;
            return Ok(Value::Float(std::f64::consts::PI));
        }
        Func::ConcatWs => {
            let Some((separator, parts)) = values.split_first() else {
                return Err(SqlError::undefined_function(
                    "function concat_ws() takes a separator and values",
                ));
            };
            if *separator == Value::Null {
                return Ok(Value::Null);
            }
            let parts: Vec<String> = parts
                .iter()
                .filter(|v| **v != Value::Null)
                .map(ToString::to_string)
                .collect();
            let separator = separator.to_string();
            let len = parts.iter().map(String::len).sum::<usize>()
                + separator.len() * parts.len().saturating_sub(1);
            check_text_len(len, "concat_ws()")?;
            return Ok(Value::Text(parts.join(&separator)));
        }
        Func::Now | Func::CurrentDate | Func::LocalTimestamp | Func::LocalTime => {
            arity(0..=0)?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let now = spanlite_truetime::Timestamp::from_nanos(nanos);
            // All but now() itself in the session's time zone.
            return Ok(match f {
                Func::CurrentDate => Value::Date(crate::datetime::date_of_timestamptz(now)?),
                Func::LocalTimestamp => Value::TimestampTz(now).cast_to(DataType::Timestamp)?,
                Func::LocalTime => Value::TimestampTz(now).cast_to(DataType::Time)?,
                _ => Value::TimestampTz(now),
            });
        }
        _ => {}
    }
    match f {
        Func::JsonBuildObject => return Ok(Value::Jsonb(json_build_object(&values)?)),
        Func::JsonBuildArray => {
            let items = values
                .iter()
                .map(super::functions::json_of)
                .collect::<Result<Vec<_>>>()?;
            return Ok(Value::Jsonb(crate::json::render(
                &serde_json::Value::Array(items),
            )));
        }
        Func::Format => return super::functions::format(&values),
        Func::QuoteNullable => {
            arity(1..=1)?;
            return Ok(Value::Text(match &values[0] {
                Value::Null => "NULL".to_string(),
                v => crate::compat::quote_literal(&v.to_string()),
            }));
        }
        _ => {}
    }
    if let Some(v) = super::arrays::function(f, &values)? {
        return Ok(v);
    }
    // format_type(oid, NULL): the type without modifiers.
    if let (Func::FormatType, [Value::Int(oid), typmod]) = (f, values.as_slice()) {
        let typmod = match typmod {
            Value::Int(m) => Some(*m),
            _ => None,
        };
        return Ok(Value::Text(crate::compat::format_type(*oid, typmod)));
    }
    if values.contains(&Value::Null) {
        return Ok(Value::Null);
    }
    let bad = |values: &[Value]| {
        SqlError::undefined_function(format!(
            "function {}({}) does not exist",
            format!("{f:?}").to_lowercase(),
            values.iter().map(type_name).collect::<Vec<_>>().join(", ")
        ))
    };
    Ok(match (f, values.as_slice()) {
        (Func::Extract | Func::DatePart | Func::DateTrunc, [Value::Text(field), v]) => {
            // Text written as a value is read as a timestamp.
            let v = match v {
                Value::Text(s) => Value::Timestamp(crate::datetime::parse_timestamp(s)?),
                v => v.clone(),
            };
            match f {
                Func::Extract => crate::datefmt::extract(field, &v)?,
                Func::DatePart => crate::datefmt::date_part(field, &v)?,
                _ => crate::datefmt::date_trunc(field, &v)?,
            }
        }
        (Func::ToChar, [v, Value::Text(template)]) => crate::datefmt::to_char(v, template)?,
        (Func::QuoteIdent, [Value::Text(s)]) => Value::Text(crate::compat::quote_ident(s)),
        (Func::SizePretty, [Value::Int(n)]) => Value::Text(crate::compat::size_pretty(*n)),
        (Func::RegexMatch, [Value::Text(s), Value::Text(p), Value::Text(flags)]) => {
            Value::Bool(crate::compat::regex_match(s, p, flags == "i")?)
        }
        (Func::JustifyDays, [Value::Interval(iv)]) => {
            let months = iv.days / 30;
            Value::Interval(crate::interval::Interval {
                months: iv
                    .months
                    .checked_add(months)
                    .ok_or_else(|| SqlError::datetime_field_overflow("interval out of range"))?,
                days: iv.days - months * 30,
                micros: iv.micros,
            })
        }
        (Func::JustifyHours, [Value::Interval(iv)]) => {
            let j = crate::interval::Interval::justify_hours(iv.micros);
            Value::Interval(crate::interval::Interval {
                months: iv.months,
                days: iv
                    .days
                    .checked_add(j.days)
                    .ok_or_else(|| SqlError::datetime_field_overflow("interval out of range"))?,
                micros: j.micros,
            })
        }
        (Func::Abs, [Value::Int(i)]) => Value::Int(
            i.checked_abs()
                .ok_or_else(|| SqlError::numeric_out_of_range("integer out of range"))?,
        ),
        (Func::Abs, [Value::Float(x)]) => Value::Float(x.abs()),
        (Func::Abs, [Value::Numeric(n)]) => Value::Numeric(crate::numeric::Numeric(n.0.abs())),
        (Func::Round, [Value::Numeric(n)]) => Value::Numeric(n.round(0)),
        (Func::Round, [Value::Numeric(n), Value::Int(d)]) => Value::Numeric(n.round(*d)),
        (Func::Ceil, [Value::Numeric(n)]) => Value::Numeric(crate::numeric::Numeric(n.0.ceil())),
        (Func::Floor, [Value::Numeric(n)]) => Value::Numeric(crate::numeric::Numeric(n.0.floor())),
        (Func::Lower, [Value::Text(s)]) => {
            // Case mapping can grow a string, at most threefold in UTF-8.
            check_text_len(s.len().saturating_mul(3), "lower()")?;
            Value::Text(s.to_lowercase())
        }
        (Func::Upper, [Value::Text(s)]) => {
            check_text_len(s.len().saturating_mul(3), "upper()")?;
            Value::Text(s.to_uppercase())
        }
        (Func::BitNot, [Value::Int(i)]) => Value::Int(!i),
        (Func::Length, [Value::Text(s)]) => Value::Int(s.chars().count() as i64),
        (Func::Length, [Value::Bytes(b)]) => Value::Int(b.len() as i64),
        (
            Func::Substr,
            [
                Value::Text(_) | Value::Bytes(_),
                Value::Int(start),
                rest @ ..,
            ],
        ) => {
            // 1-based; a start before 1 eats into the length.
            let len = match rest {
                [] => None,
                [Value::Int(n)] if *n >= 0 => Some(*n),
                [Value::Int(_)] => {
                    return Err(SqlError::substring_error(
                        "negative substring length not allowed",
                    ));
                }
                _ => return Err(bad(&values)),
            };
            let from = (*start).max(1);
            let to = len.map(|n| start.saturating_add(n));
            let inside = |i: usize| {
                let pos = i as i64 + 1;
                pos >= from && to.is_none_or(|t| pos < t)
            };
            match &values[0] {
                Value::Bytes(b) => Value::Bytes(
                    b.iter()
                        .enumerate()
                        .filter(|(i, _)| inside(*i))
                        .map(|(_, b)| *b)
                        .collect(),
                ),
                Value::Text(s) => Value::Text(
                    s.chars()
                        .enumerate()
                        .filter(|(i, _)| inside(*i))
                        .map(|(_, c)| c)
                        .collect(),
                ),
                _ => return Err(bad(&values)),
            }
        }
        // substring(s FROM pattern): by a POSIX regular expression.
        (Func::Substr, [Value::Text(s), Value::Text(pattern)]) => {
            crate::regexp::substring(s, pattern)?.map_or(Value::Null, Value::Text)
        }
        (Func::Trim | Func::Ltrim | Func::Rtrim, [Value::Text(s), rest @ ..]) => {
            let set: Vec<char> = match rest {
                [] => vec![' '],
                [Value::Text(chars)] => chars.chars().collect(),
                _ => return Err(bad(&values)),
            };
            let t: &str = match f {
                Func::Ltrim => s.trim_start_matches(set.as_slice()),
                Func::Rtrim => s.trim_end_matches(set.as_slice()),
                _ => s.trim_matches(set.as_slice()),
            };
            Value::Text(t.to_string())
        }
        (Func::Replace, [Value::Text(s), Value::Text(from), Value::Text(to)]) => {
            if from.is_empty() {
                Value::Text(s.clone())
            } else {
                // The output's size, known before it is made.
                let n = s.matches(from.as_str()).count();
                let len = (s.len() - n * from.len()).saturating_add(n.saturating_mul(to.len()));
                check_text_len(len, "replace()")?;
                Value::Text(s.replace(from.as_str(), to))
            }
        }
        (Func::Round, [Value::Int(i)]) => Value::Int(*i),
        (Func::Round, [Value::Float(x)]) => Value::Float(x.round()),
        (Func::Round, [Value::Float(x), Value::Int(d)]) => {
            let p = 10f64.powi((*d).clamp(-300, 300) as i32);
            Value::Float((x * p).round() / p)
        }
        (Func::Round, [Value::Int(i), Value::Int(_)]) => Value::Int(*i),
        (Func::Ceil, [Value::Float(x)]) => Value::Float(x.ceil()),
        (Func::Floor, [Value::Float(x)]) => Value::Float(x.floor()),
        (Func::Ceil | Func::Floor, [Value::Int(i)]) => Value::Int(*i),
        (Func::Position, [Value::Text(s), Value::Text(sub)]) => Value::Int(
            s.find(sub.as_str())
                .map_or(0, |byte| s[..byte].chars().count() as i64 + 1),
        ),
        _ => {
            return super::functions::more_functions(f, &values)
                .transpose()
                .unwrap_or_else(|| Err(bad(&values)));
        }
    })
}

/// `l op r` with SQL semantics.
pub fn binary(l: Value, op: BinOp, r: Value) -> Result<Value> {
    let cmp = |want: &dyn Fn(Ordering) -> bool| -> Result<Value> {
        Ok(match l.compare(&r)? {
            None => Value::Null,
            Some(o) => Value::Bool(want(o)),
        })
    };
    if matches!(op, BinOp::Concat | BinOp::JsonContains | BinOp::Overlap)
        && let Some(v) = super::arrays::operator(&l, op, &r)?
    {
        return Ok(v);
    }
    match op {
        BinOp::Overlap => Err(SqlError::undefined_function(format!(
            "operator does not exist: {} && {}",
            type_name(&l),
            type_name(&r)
        ))),
        BinOp::And => Ok(match (l.truth()?, r.truth()?) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Value::Null,
        }),
        BinOp::Or => Ok(match (l.truth()?, r.truth()?) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Value::Null,
        }),
        BinOp::Eq => cmp(&|o| o == Ordering::Equal),
        BinOp::NotEq => cmp(&|o| o != Ordering::Equal),
        BinOp::Lt => cmp(&|o| o == Ordering::Less),
        BinOp::LtEq => cmp(&|o| o != Ordering::Greater),
        BinOp::Gt => cmp(&|o| o == Ordering::Greater),
        BinOp::GtEq => cmp(&|o| o != Ordering::Less),
        BinOp::JsonGet | BinOp::JsonGetText | BinOp::JsonContains | BinOp::JsonHasKey => {
            json_op(l, op, r)
        }
        BinOp::Concat => Ok(match (l, r) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            // jsonb || jsonb (a literal beside a jsonb read as one).
            (Value::Jsonb(a), Value::Jsonb(b) | Value::Text(b))
            | (Value::Text(a), Value::Jsonb(b)) => Value::Jsonb(crate::json::concat(&a, &b)?),
            (a, b) => {
                let (a, b) = (a.to_string(), b.to_string());
                check_text_len(a.len() + b.len(), "||")?;
                Value::Text(a + &b)
            }
        }),
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::ShiftLeft | BinOp::ShiftRight => {
            match (l, r) {
                (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
                (Value::Int(a), Value::Int(b)) => Ok(Value::Int(match op {
                    BinOp::BitAnd => a & b,
                    BinOp::BitOr => a | b,
                    BinOp::BitXor => a ^ b,
                    // As PostgreSQL's int8 shifts: the count taken modulo 64.
                    BinOp::ShiftLeft => a.wrapping_shl(b as u32),
                    _ => a.wrapping_shr(b as u32),
                })),
                (a, b) => Err(SqlError::undefined_function(format!(
                    "operator does not exist: {} {} {}",
                    type_name(&a),
                    match op {
                        BinOp::BitAnd => "&",
                        BinOp::BitOr => "|",
                        BinOp::BitXor => "#",
                        BinOp::ShiftLeft => "<<",
                        _ => ">>",
                    },
                    type_name(&b)
                ))),
            }
        }
        // jsonb - key (text) or index (integer).
        BinOp::Minus if matches!(l, Value::Jsonb(_)) => Ok(match (l, r) {
            (_, Value::Null) => Value::Null,
            (Value::Jsonb(doc), Value::Int(i)) => {
                Value::Jsonb(crate::json::remove(&doc, &crate::json::Key::Index(i))?)
            }
            (Value::Jsonb(doc), Value::Text(k)) => {
                Value::Jsonb(crate::json::remove(&doc, &crate::json::Key::Field(k))?)
            }
            (_, other) => {
                return Err(SqlError::undefined_function(format!(
                    "operator does not exist: jsonb - {}",
                    type_name(&other)
                )));
            }
        }),
        BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide | BinOp::Modulo => {
            arithmetic(l, op, r)
        }
    }
}

pub(crate) fn arithmetic(l: Value, op: BinOp, r: Value) -> Result<Value> {
    let overflow = || SqlError::numeric_out_of_range("integer out of range");
    Ok(match (l, r) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Int(a), Value::Int(b)) => Value::Int(match op {
            BinOp::Plus => a.checked_add(b).ok_or_else(overflow)?,
            BinOp::Minus => a.checked_sub(b).ok_or_else(overflow)?,
            BinOp::Multiply => a.checked_mul(b).ok_or_else(overflow)?,
            BinOp::Divide | BinOp::Modulo if b == 0 => {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            BinOp::Divide => a.checked_div(b).ok_or_else(overflow)?,
            _ => a.checked_rem(b).unwrap_or(0),
        }),
        (a @ (Value::Int(_) | Value::Float(_)), b @ (Value::Int(_) | Value::Float(_))) => {
            let (Value::Float(x), Value::Float(y)) =
                (a.cast_to(DataType::Float)?, b.cast_to(DataType::Float)?)
            else {
                return Err(SqlError::internal("numeric cast"));
            };
            if matches!(op, BinOp::Divide | BinOp::Modulo) && y == 0.0 {
                return Err(SqlError::division_by_zero("division by zero"));
            }
            let z = match op {
                BinOp::Plus => x + y,
                BinOp::Minus => x - y,
                BinOp::Multiply => x * y,
                BinOp::Divide => x / y,
                _ => x % y,
            };
            if !z.is_finite() {
                return Err(SqlError::numeric_out_of_range(
                    "value out of range: overflow",
                ));
            }
            Value::Float(z)
        }
        // Exact with exact (integers taken exactly); inexact with floats.
        (a @ (Value::Numeric(_) | Value::Int(_)), b @ (Value::Numeric(_) | Value::Int(_))) => {
            let (Value::Numeric(x), Value::Numeric(y)) =
                (a.cast_to(DataType::Numeric)?, b.cast_to(DataType::Numeric)?)
            else {
                return Err(SqlError::internal("numeric cast"));
            };
            let sym = match op {
                BinOp::Plus => '+',
                BinOp::Minus => '-',
                BinOp::Multiply => '*',
                BinOp::Divide => '/',
                _ => '%',
            };
            Value::Numeric(x.arith(sym, y)?)
        }
        (a @ Value::Numeric(_), b @ Value::Float(_))
        | (a @ Value::Float(_), b @ Value::Numeric(_)) => {
            return arithmetic(a.cast_to(DataType::Float)?, op, b.cast_to(DataType::Float)?);
        }
        (l @ (Value::Interval(_) | Value::Time(_)), r)
        | (l, r @ (Value::Interval(_) | Value::Time(_))) => {
            return datetime_arithmetic(l, op, r);
        }
        (
            Value::Timestamp(a) | Value::TimestampTz(a),
            Value::Timestamp(b) | Value::TimestampTz(b),
        ) if op == BinOp::Minus => Value::Interval(crate::interval::timestamp_difference(a, b)?),
        // Dates: a number of days added or taken away; the days between two.
        (Value::Date(d), Value::Int(n)) if matches!(op, BinOp::Plus | BinOp::Minus) => {
            let n = if op == BinOp::Plus {
                Some(n)
            } else {
                n.checked_neg()
            };
            Value::Date(
                n.and_then(|n| i64::from(d).checked_add(n))
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or_else(|| SqlError::numeric_out_of_range("date out of range"))?,
            )
        }
        (Value::Int(n), Value::Date(d)) if op == BinOp::Plus => {
            return arithmetic(Value::Date(d), op, Value::Int(n));
        }
        (Value::Date(a), Value::Date(b)) if op == BinOp::Minus => {
            Value::Int(i64::from(a) - i64::from(b))
        }
        (a, b) => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {} {op:?} {}",
                type_name(&a),
                type_name(&b)
            )));
        }
    })
}

/// Arithmetic with intervals and times, as PostgreSQL's operators do it.
fn datetime_arithmetic(l: Value, op: BinOp, r: Value) -> Result<Value> {
    use crate::interval::{Interval, add_to_time, add_to_timestamp, add_to_timestamptz};
    let factor = |v: &Value| -> Option<f64> {
        match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            Value::Numeric(n) => Some(n.to_float()),
            _ => None,
        }
    };
    let signed = |iv: Interval| -> Result<Interval> {
        if op == BinOp::Minus {
            iv.checked_neg()
        } else {
            Ok(iv)
        }
    };
    let add_or_sub = matches!(op, BinOp::Plus | BinOp::Minus);
    Ok(match (&l, &r) {
        (Value::Interval(a), Value::Interval(b)) if add_or_sub => {
            Value::Interval(a.checked_add(signed(*b)?)?)
        }
        (Value::Interval(a), n) if op == BinOp::Multiply && factor(n).is_some() => {
            Value::Interval(a.times(factor(n).unwrap_or_default())?)
        }
        (n, Value::Interval(a)) if op == BinOp::Multiply && factor(n).is_some() => {
            Value::Interval(a.times(factor(n).unwrap_or_default())?)
        }
        (Value::Interval(a), n) if op == BinOp::Divide && factor(n).is_some() => {
            Value::Interval(a.divided_by(factor(n).unwrap_or_default())?)
        }
        (Value::Timestamp(t), Value::Interval(iv)) if add_or_sub => {
            Value::Timestamp(add_to_timestamp(*t, signed(*iv)?)?)
        }
        (Value::TimestampTz(t), Value::Interval(iv)) if add_or_sub => {
            Value::TimestampTz(add_to_timestamptz(*t, signed(*iv)?)?)
        }
        (Value::Interval(iv), Value::Timestamp(t)) if op == BinOp::Plus => {
            Value::Timestamp(add_to_timestamp(*t, *iv)?)
        }
        (Value::Interval(iv), Value::TimestampTz(t)) if op == BinOp::Plus => {
            Value::TimestampTz(add_to_timestamptz(*t, *iv)?)
        }
        (Value::Date(d), Value::Interval(iv)) if add_or_sub => Value::Timestamp(add_to_timestamp(
            crate::datetime::timestamp_of_date(*d)?,
            signed(*iv)?,
        )?),
        (Value::Interval(iv), Value::Date(d)) if op == BinOp::Plus => Value::Timestamp(
            add_to_timestamp(crate::datetime::timestamp_of_date(*d)?, *iv)?,
        ),
        (Value::Date(d), Value::Time(t)) | (Value::Time(t), Value::Date(d))
            if op == BinOp::Plus =>
        {
            let at = Interval {
                micros: *t,
                ..Interval::default()
            };
            Value::Timestamp(add_to_timestamp(
                crate::datetime::timestamp_of_date(*d)?,
                at,
            )?)
        }
        (Value::Time(t), Value::Interval(iv)) if add_or_sub => {
            Value::Time(add_to_time(*t, signed(*iv)?))
        }
        (Value::Interval(iv), Value::Time(t)) if op == BinOp::Plus => {
            Value::Time(add_to_time(*t, *iv))
        }
        (Value::Time(a), Value::Time(b)) if op == BinOp::Minus => Value::Interval(Interval {
            micros: a - b,
            ..Interval::default()
        }),
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        _ => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {} {op:?} {}",
                type_name(&l),
                type_name(&r)
            )));
        }
    })
}

/// The jsonb operators (`->`, `->>`, `@>`, `?`); NULL in, NULL out.
fn json_op(l: Value, op: BinOp, r: Value) -> Result<Value> {
    use crate::json::{self, Key};
    let doc = match l {
        Value::Null => return Ok(Value::Null),
        Value::Jsonb(j) => j,
        Value::Text(t) => json::normalize(&t)?,
        other => {
            return Err(SqlError::undefined_function(format!(
                "operator does not exist: {} {op:?}",
                type_name(&other)
            )));
        }
    };
    if r == Value::Null {
        return Ok(Value::Null);
    }
    let key = || match &r {
        Value::Int(i) => Ok(Key::Index(*i)),
        Value::Text(t) => Ok(Key::Field(t.clone())),
        other => Err(SqlError::undefined_function(format!(
            "operator does not exist: jsonb {op:?} {}",
            type_name(other)
        ))),
    };
    Ok(match op {
        BinOp::JsonGet => json::get(&doc, &key()?)?.map_or(Value::Null, Value::Jsonb),
        BinOp::JsonGetText => json::get_text(&doc, &key()?)?.map_or(Value::Null, Value::Text),
        BinOp::JsonContains => {
            let other = match &r {
                Value::Jsonb(j) | Value::Text(j) => j.clone(),
                other => other.to_string(),
            };
            Value::Bool(json::contains(&doc, &other)?)
        }
        _ => match &r {
            Value::Text(k) => Value::Bool(json::has_key(&doc, k)?),
            other => {
                return Err(SqlError::undefined_function(format!(
                    "operator does not exist: jsonb ? {}",
                    type_name(other)
                )));
            }
        },
    })
}

/// `json_build_object(k1, v1, …)`: an object of the pairs (keys as text;
/// values as JSON: numbers, strings, booleans, null, documents as they
/// are).
fn json_build_object(args: &[Value]) -> Result<String> {
    use serde_json::Value as J;
    if !args.len().is_multiple_of(2) {
        return Err(SqlError::invalid_parameter(
            "argument list must have even number of elements",
        ));
    }
    let mut map = serde_json::Map::new();
    for pair in args.chunks(2) {
        let key = match &pair[0] {
            Value::Null => {
                return Err(SqlError::invalid_parameter(
                    "null value not allowed for object key",
                ));
            }
            k => k.to_string(),
        };
        map.insert(key, super::functions::json_of(&pair[1])?);
    }
    Ok(crate::json::render(&J::Object(map)))
}
