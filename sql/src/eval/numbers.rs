//! Number functions: `gcd`, `lcm`, `width_bucket`, `scale`, `min_scale`,
//! `trim_scale`, with PostgreSQL's results and errors.

use super::functions::float_of;
use crate::error::{Result, SqlError};
use crate::numeric::Numeric;
use crate::plan::Func;
use crate::value::Value;

/// `f` of `values` (no NULLs) when it is one of these functions over
/// arguments it takes; `None` otherwise.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    Ok(Some(match (f, values) {
        (Func::Gcd | Func::Lcm, [Value::Int(a), Value::Int(b)]) => {
            let range = || SqlError::numeric_out_of_range("bigint out of range");
            let g = gcd(*a, *b).ok_or_else(range)?;
            if f == Func::Gcd {
                Value::Int(g)
            } else if g == 0 {
                Value::Int(0)
            } else {
                Value::Int(
                    (a / g)
                        .checked_mul(*b)
                        .and_then(i64::checked_abs)
                        .ok_or_else(range)?,
                )
            }
        }
        (Func::WidthBucket, [operand, low, high, Value::Int(count)]) => {
            let (Some(x), Some(lo), Some(hi)) = (float_of(operand), float_of(low), float_of(high))
            else {
                return Ok(None);
            };
            Value::Int(width_bucket(x, lo, hi, *count)?)
        }
        (Func::Scale, [Value::Numeric(n)]) => Value::Int(i64::from(n.0.scale())),
        (Func::MinScale, [Value::Numeric(n)]) => Value::Int(i64::from(n.0.normalize().scale())),
        (Func::TrimScale, [Value::Numeric(n)]) => Value::Numeric(Numeric(n.0.normalize())),
        (Func::Scale | Func::MinScale, [Value::Int(_)]) => Value::Int(0),
        (Func::TrimScale, [Value::Int(i)]) => Value::Numeric(Numeric::from_int(*i)),
        _ => return Ok(None),
    }))
}

/// The greatest common divisor, never negative; `None` when it does not
/// fit (`gcd(i64::MIN, 0)`).
fn gcd(a: i64, b: i64) -> Option<i64> {
    let (mut x, mut y) = (a.unsigned_abs(), b.unsigned_abs());
    while y != 0 {
        (x, y) = (y, x % y);
    }
    i64::try_from(x).ok()
}

/// Which of `count` equal buckets between `low` and `high` holds `x`: 0
/// below the range, `count + 1` past it (a range given high to low counts
/// downwards).
fn width_bucket(x: f64, low: f64, high: f64, count: i64) -> Result<i64> {
    if count <= 0 {
        return Err(SqlError::invalid_argument_for_width_bucket(
            "count must be greater than zero",
        ));
    }
    if low == high {
        return Err(SqlError::invalid_argument_for_width_bucket(
            "lower bound cannot equal upper bound",
        ));
    }
    if !(x.is_finite() && low.is_finite() && high.is_finite()) {
        return Err(SqlError::invalid_argument_for_width_bucket(
            "operand, lower bound, and upper bound cannot be NaN or infinite",
        ));
    }
    let n = count as f64;
    let bucket = if low < high {
        if x < low {
            0.0
        } else if x >= high {
            n + 1.0
        } else {
            ((x - low) / (high - low) * n).floor() + 1.0
        }
    } else if x > low {
        0.0
    } else if x <= high {
        n + 1.0
    } else {
        ((low - x) / (low - high) * n).floor() + 1.0
    };
    Ok(bucket as i64)
}
