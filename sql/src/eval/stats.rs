//! The statistical aggregates: `var_samp` (`variance`), `var_pop`,
//! `stddev_samp` (`stddev`), `stddev_pop`, computed as PostgreSQL does;
//! and the ordered-set aggregates `percentile_cont`, `percentile_disc`,
//! `mode`.
//!
//! Of floats, in floats by the Youngs–Cramer recurrence (PostgreSQL's
//! `float8_accum`, so the results agree to the last bit); of integers
//! and numerics, exactly as a numeric: `(n·Σx² − (Σx)²) / (n·(n−1))` (or
//! `/ n²`) at the scale of a numeric division, its square root at that
//! scale (PostgreSQL's `numeric_stddev_internal`).

use std::cmp::Ordering;

use super::Taken;
use super::expr::arithmetic;
use super::functions::float_of;
use crate::error::{Result, SqlError};
use crate::numeric::Numeric;
use crate::plan::{AggFunc, BinOp};
use crate::value::Value;

/// `func` (one of the four) over `values` (NULLs already left out): NULL
/// for no rows, and for one row when it is a sample's.
pub(super) fn statistic(func: AggFunc, values: &[Value]) -> Result<Value> {
    let sample = matches!(func, AggFunc::VarSamp | AggFunc::StddevSamp);
    let root = matches!(func, AggFunc::StddevSamp | AggFunc::StddevPop);
    let n = values.len();
    if n == 0 || (sample && n == 1) {
        return Ok(Value::Null);
    }
    if values.iter().any(|v| matches!(v, Value::Float(_))) {
        let mut xs = Vec::with_capacity(n);
        for v in values {
            xs.push(float_of(v).ok_or_else(|| wrong_type(func, v))?);
        }
        return Ok(Value::Float(float_statistic(&xs, sample, root)));
    }
    let mut sum = Numeric::from_int(0);
    let mut squares = Numeric::from_int(0);
    for v in values {
        let x = match v {
            Value::Int(i) => Numeric::from_int(*i),
            Value::Numeric(d) => *d,
            other => return Err(wrong_type(func, other)),
        };
        sum = sum.arith('+', x)?;
        squares = squares.arith('+', x.arith('*', x)?)?;
    }
    let count = Numeric::from_int(i64::try_from(n).unwrap_or(i64::MAX));
    let numerator = count
        .arith('*', squares)?
        .arith('-', sum.arith('*', sum)?)?;
    // Rounding cannot make it negative here (exact sums), but a zero
    // spread is PostgreSQL's plain 0.
    if numerator.0.is_sign_negative() || numerator.0.is_zero() {
        return Ok(Value::Numeric(Numeric::from_int(0)));
    }
    let denominator = if sample {
        count.arith('*', count.arith('-', Numeric::from_int(1))?)?
    } else {
        count.arith('*', count)?
    };
    let variance = numerator.arith('/', denominator)?;
    Ok(Value::Numeric(if root {
        variance.sqrt_at(variance.0.scale())?
    } else {
        variance
    }))
}

/// The float statistic of `xs` by the Youngs–Cramer recurrence.
fn float_statistic(xs: &[f64], sample: bool, root: bool) -> f64 {
    let (mut n, mut sx, mut sxx) = (0.0_f64, 0.0_f64, 0.0_f64);
    for &x in xs {
        n += 1.0;
        sx += x;
        if n > 1.0 {
            let t = x * n - sx;
            sxx += t * t / (n * (n - 1.0));
        }
    }
    let variance = sxx / if sample { n - 1.0 } else { n };
    if root { variance.sqrt() } else { variance }
}

fn wrong_type(func: AggFunc, v: &Value) -> SqlError {
    let name = match func {
        AggFunc::VarSamp => "var_samp",
        AggFunc::VarPop => "var_pop",
        AggFunc::StddevSamp => "stddev_samp",
        _ => "stddev_pop",
    };
    SqlError::undefined_function(format!(
        "function {name}({}) does not exist",
        v.data_type()
            .map_or("unknown".to_string(), |t| t.to_string())
    ))
}

/// An ordered-set aggregate over `taken` (sorted by its WITHIN GROUP key,
/// NULLs left out; each carries the fraction as its delimiter): NULL for
/// no rows; for an array of fractions, an array of results.
pub(super) fn ordered_set(func: AggFunc, taken: &[Taken]) -> Result<Value> {
    let Some(first) = taken.first() else {
        return Ok(Value::Null);
    };
    let values: Vec<&Value> = taken.iter().map(|t| &t.value).collect();
    if func == AggFunc::Mode {
        return Ok(mode(&values)?.clone());
    }
    match &first.delimiter {
        Value::Array(fractions) => Ok(Value::Array(
            fractions
                .iter()
                .map(|f| percentile(func, &values, f))
                .collect::<Result<_>>()?,
        )),
        f => percentile(func, &values, f),
    }
}

/// The most frequent of `values` (sorted): the first such run.
fn mode<'a>(values: &[&'a Value]) -> Result<&'a Value> {
    let mut best = (values[0], 0);
    let mut run = (values[0], 0);
    for &v in values {
        if v.compare(run.0)? == Some(Ordering::Equal) {
            run.1 += 1;
        } else {
            run = (v, 1);
        }
        if run.1 > best.1 {
            best = run;
        }
    }
    Ok(best.0)
}

/// `percentile_cont` or `percentile_disc` at fraction `f` of `values`
/// (sorted, at least one), as PostgreSQL computes them.
fn percentile(func: AggFunc, values: &[&Value], f: &Value) -> Result<Value> {
    if *f == Value::Null {
        return Ok(Value::Null);
    }
    let fraction = float_of(f).ok_or_else(|| {
        SqlError::datatype_mismatch(format!("a percentile is a number between 0 and 1, not {f}"))
    })?;
    if !(0.0..=1.0).contains(&fraction) {
        return Err(SqlError::numeric_out_of_range(format!(
            "percentile value {f} is not between 0 and 1"
        )));
    }
    let n = values.len();
    if func == AggFunc::PercentileDisc {
        // The first row whose cumulative share reaches the fraction.
        let row = (fraction * n as f64).ceil() as usize;
        return Ok(values[row.clamp(1, n) - 1].clone());
    }
    let at = fraction * (n - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    let low = continuous(values[lo])?;
    if lo == hi {
        return Ok(low);
    }
    let high = continuous(values[hi])?;
    // low + (high - low) * (at - lo)
    let step = arithmetic(high, BinOp::Minus, low.clone())?;
    let part = arithmetic(step, BinOp::Multiply, Value::Float(at - lo as f64))?;
    arithmetic(low, BinOp::Plus, part)
}

/// A value `percentile_cont` interpolates: a number as a float, or an
/// interval.
fn continuous(v: &Value) -> Result<Value> {
    if let Value::Interval(_) = v {
        return Ok(v.clone());
    }
    float_of(v).map(Value::Float).ok_or_else(|| {
        SqlError::undefined_function(format!(
            "function percentile_cont({}) does not exist",
            v.data_type()
                .map_or("unknown".to_string(), |t| t.to_string())
        ))
    })
}
