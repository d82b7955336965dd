//! How values are written in sqllogictest results: the conventions of the
//! public corpora (SQLite's, and PostgreSQL-style files), so expected
//! results can be written by hand and compared as text.
//!
//! | value                  | written as                                      |
//! |------------------------|-------------------------------------------------|
//! | NULL                   | `NULL`                                          |
//! | empty text             | `(empty)`                                       |
//! | other text             | the text                                        |
//! | BOOL                   | `t` / `f` (PostgreSQL's text output)            |
//! | INT                    | decimal digits, `-` if negative                 |
//! | FLOAT                  | three decimals, `{:.3}` (SQLite's `R` columns); |
//! |                        | `NaN`, `Infinity`, `-Infinity` as PostgreSQL    |
//! | BYTEA                  | `\x` and lower-case hex (PostgreSQL's output)   |
//! | TIMESTAMP, TIMESTAMPTZ | RFC 3339 in UTC, fraction only if non-zero,     |
//! |                        | without trailing zeros: `2024-01-02T03:04:05Z`  |
//! | DATE                   | `YYYY-MM-DD`                                    |
//! | NUMERIC                | as FLOAT (PostgreSQL-style files compare them)  |
//!
//! NB: the format follows the value, not the column letter of the record
//! (`query IRT`): the letters are not checked, and an integer in an `R`
//! column is written as an integer.

use spanlite_sql::{DataType, Value};
use sqllogictest::DefaultColumnType;

/// `v` as a sqllogictest result value.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        Value::Text(s) if s.is_empty() => "(empty)".to_string(),
        Value::Text(s) => s.clone(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => float(*x),
        Value::Bytes(_) => v.to_string(),
        Value::Timestamp(t) | Value::TimestampTz(t) => timestamp(&t.to_string()),
        Value::Date(_)
        | Value::Uuid(_)
        | Value::Jsonb(_)
        | Value::Time(_)
        | Value::Interval(_)
        | Value::Enum(_)
        | Value::Array(_) => v.to_string(),
        Value::Numeric(n) => float(n.to_float()),
    }
}

fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{x:.3}")
    }
}

/// Drops the trailing zeros of an RFC 3339 timestamp's fraction (and the
/// fraction if nothing is left): `…05.500000000Z` → `…05.5Z`.
fn timestamp(rfc3339: &str) -> String {
    let Some(body) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_string();
    };
    match body.split_once('.') {
        Some((seconds, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                format!("{seconds}Z")
            } else {
                format!("{seconds}.{fraction}Z")
            }
        }
        None => rfc3339.to_string(),
    }
}

/// The sqllogictest column letter of a result column of type `ty`
/// (`None`: only NULLs, or unknown): `I`, `R`, `T`, or `?` for the rest.
pub fn column_type(ty: Option<DataType>) -> DefaultColumnType {
    match ty {
        Some(DataType::Int) => DefaultColumnType::Integer,
        Some(DataType::Float) => DefaultColumnType::FloatingPoint,
        Some(DataType::Text) => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

#[cfg(test)]
mod tests {
    use spanlite_truetime::Timestamp;

    use super::*;

    #[test]
    fn every_kind_of_value_is_written_as_the_corpora_expect() {
        let ts = |s| Value::Timestamp(Timestamp::parse_rfc3339(s).unwrap());
        let cases = [
            (Value::Null, "NULL"),
            (Value::Text(String::new()), "(empty)"),
            (Value::Text("a b".into()), "a b"),
            (Value::Bool(true), "t"),
            (Value::Bool(false), "f"),
            (Value::Int(-42), "-42"),
            (Value::Float(2.5), "2.500"),
            (Value::Float(1.0 / 3.0), "0.333"),
            (Value::Float(-7.0), "-7.000"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Float(f64::INFINITY), "Infinity"),
            (Value::Float(f64::NEG_INFINITY), "-Infinity"),
            (Value::Bytes(vec![0xde, 0xad]), "\\xdead"),
            (ts("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z"),
            (ts("2024-01-02T03:04:05.5+00:00"), "2024-01-02T03:04:05.5Z"),
            (
                ts("2024-01-02T04:04:05.000123+01:00"),
                "2024-01-02T03:04:05.000123Z",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(value(&v), want, "{v:?}");
        }
    }
}
