//! The statistical aggregates: `var_samp` (`variance`), `var_pop`,
//! `stddev_samp` (`stddev`), `stddev_pop`, computed as PostgreSQL does.
//!
//! Of floats, in floats by the Youngs–Cramer recurrence (PostgreSQL's
//! `float8_accum`, so the results agree to the last bit); of integers
//! and numerics, exactly as a numeric: `(n·Σx² − (Σx)²) / (n·(n−1))` (or
//! `/ n²`) at the scale of a numeric division, its square root at that
//! scale (PostgreSQL's `numeric_stddev_internal`).

use crate::error::{Result, SqlError};
use crate::numeric::Numeric;
use crate::plan::AggFunc;
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
            xs.push(match v {
                Value::Float(x) => *x,
                Value::Int(i) => *i as f64,
                Value::Numeric(d) => d.to_float(),
                other => return Err(wrong_type(func, other)),
            });
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
