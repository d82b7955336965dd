//! The values of `generate_series(start, stop [, step])`: of integers, or
//! of timestamps with an interval step — as a FROM's VALUES list
//! (`statement::rewrite`) and as a select list's array
//! ([`crate::plan::Func::SeriesArray`]).

use crate::error::{Result, SqlError};
use crate::value::Value;

/// The most values `generate_series` gives.
pub const MAX_SERIES: i64 = 100_000;

/// The type of the values of `generate_series(args)`: timestamps for a
/// `timestamp` start, timestamptz for a `timestamptz` or `date` start (or
/// text with an interval step, as PostgreSQL resolves it), else integers.
pub(crate) fn series_type(args: &[Value]) -> crate::value::DataType {
    use crate::value::DataType;
    match args.first() {
        Some(Value::Timestamp(_)) => DataType::Timestamp,
        Some(Value::TimestampTz(_) | Value::Date(_)) => DataType::TimestampTz,
        Some(Value::Text(_)) if matches!(args.get(2), Some(Value::Interval(_))) => {
            DataType::TimestampTz
        }
        _ => DataType::Int,
    }
}

/// The values of `generate_series(args)` (at most [`MAX_SERIES`]), of
/// [`series_type`]: in a FROM (a VALUES list of them) and in a select list
/// (an array of them, unnested).
pub(crate) fn series_values(args: &[Value]) -> Result<Vec<Value>> {
    match series_type(args) {
        crate::value::DataType::Int => Ok(int_series(args)?.into_iter().map(Value::Int).collect()),
        ty => time_series(args, ty),
    }
}

/// The values of `generate_series` of integers.
fn int_series(args: &[Value]) -> Result<Vec<i64>> {
    let values = args
        .iter()
        .map(|v| match v.clone().cast_to(crate::value::DataType::Int)? {
            Value::Int(v) => Ok(v),
            _ => Err(SqlError::invalid_parameter(
                "generate_series takes integers, not NULL",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let (start, stop, step) = match values.as_slice() {
        [a, b] => (*a, *b, 1),
        [a, b, c] => (*a, *b, *c),
        _ => {
            return Err(SqlError::undefined_function(format!(
                "function generate_series with {} arguments does not exist",
                values.len()
            )));
        }
    };
    if step == 0 {
        return Err(SqlError::invalid_parameter("step size cannot equal zero"));
    }
    let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
        0
    } else {
        (i128::from(stop) - i128::from(start)) / i128::from(step) + 1
    };
    if count > i128::from(MAX_SERIES) {
        return Err(SqlError::program_limit_exceeded(format!(
            "generate_series gives at most {MAX_SERIES} rows here ({count} asked)"
        )));
    }
    // Within i64: every value lies between start and stop.
    Ok((0..count)
        .map(|i| (i128::from(start) + i * i128::from(step)) as i64)
        .collect())
}

/// The values of `generate_series(start, stop, step)` of timestamps, of
/// type `ty`, each the one before plus `step` (so `'2024-01-31'` by
/// `'1 month'` is 02-29, 03-29, …).
fn time_series(args: &[Value], ty: crate::value::DataType) -> Result<Vec<Value>> {
    use crate::value::DataType;
    let [start, stop, step] = args else {
        return Err(SqlError::undefined_function(format!(
            "function generate_series of timestamps with {} arguments does not exist (start, stop, interval)",
            args.len()
        )));
    };
    let null = || SqlError::invalid_parameter("generate_series of NULL");
    let start = start.clone().cast_to(ty)?;
    let stop = stop.clone().cast_to(ty)?;
    let step = match step.clone().cast_to(DataType::Interval)? {
        Value::Interval(iv) => Value::Interval(iv),
        _ => return Err(null()),
    };
    if start == Value::Null || stop == Value::Null {
        return Err(null());
    }
    let next =
        |v: &Value| crate::eval::arithmetic(v.clone(), crate::plan::BinOp::Plus, step.clone());
    let up = match next(&start)?.compare(&start)? {
        Some(std::cmp::Ordering::Greater) => true,
        Some(std::cmp::Ordering::Less) => false,
        _ => return Err(SqlError::invalid_parameter("step size cannot equal zero")),
    };
    let mut rows = Vec::new();
    let mut at = start;
    loop {
        let past = match at.compare(&stop)? {
            Some(std::cmp::Ordering::Greater) => up,
            Some(std::cmp::Ordering::Less) => !up,
            _ => false,
        };
        if past {
            break;
        }
        if rows.len() >= MAX_SERIES as usize {
            return Err(SqlError::program_limit_exceeded(format!(
                "generate_series gives at most {MAX_SERIES} rows here"
            )));
        }
        let following = next(&at)?;
        rows.push(at);
        at = following;
    }
    Ok(rows)
}
