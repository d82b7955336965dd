//! PostgreSQL type OIDs for Spanlite's types, and value encodings in both
//! formats (0 text, 1 binary).
//!
//! | Spanlite    | PostgreSQL  | OID  | text                     | binary                       |
//! |-------------|-------------|------|--------------------------|------------------------------|
//! | `Bool`      | `bool`      | 16   | `t` / `f`                | 1 byte                       |
//! | `Int`       | `int8`      | 20   | decimal                  | 8 bytes, big-endian          |
//! | `Float`     | `float8`    | 701  | shortest round-trip      | IEEE 754, big-endian         |
//! | `Text`      | `text`      | 25   | as is                    | UTF-8                        |
//! | `Bytes`     | `bytea`     | 17   | `\x` and hex             | as is                        |
//! | `Timestamp` | `timestamp` | 1114 | `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) | µs since 2000-01-01 |
//! | `TimestampTz` | `timestamptz` | 1184 | the same, then `+00` | µs since 2000-01-01 |
//! | `Date`      | `date`      | 1082 | `YYYY-MM-DD`             | days since 2000-01-01 (4 bytes) |
//! | `Numeric`   | `numeric`   | 1700 | decimal, with its scale  | base-10000 digits            |
//! | `Uuid`      | `uuid`      | 2950 | 8-4-4-4-12 lower-case hex | 16 bytes                    |
//! | `Jsonb`     | `jsonb`     | 3802 | jsonb's text             | 1, then the text             |
//! | `Time`      | `time`      | 1083 | `HH:MM:SS[.ffffff]`      | µs since midnight (8 bytes)  |
//! | `Interval`  | `interval`  | 1186 | `1 year 2 mons 3 days 04:05:06` | µs (8), days (4), months (4) |
//!
//! A column whose type is unknown (e.g. `SELECT NULL`) is described as
//! `text`.
//!
//! NB: a timestamp goes out at microsecond precision (PostgreSQL's), so
//! nanoseconds are truncated on the way to the client.

use spanlite_sql::{DataType, SqlError, Value, Width};
use spanlite_truetime::Timestamp;

/// `bool`.
pub const BOOL: u32 = 16;
/// `bytea`.
pub const BYTEA: u32 = 17;
/// `int8`.
pub const INT8: u32 = 20;
/// `int2`.
pub const INT2: u32 = 21;
/// `int4`.
pub const INT4: u32 = 23;
/// `text`.
pub const TEXT: u32 = 25;
/// `float4`.
pub const FLOAT4: u32 = 700;
/// `float8`.
pub const FLOAT8: u32 = 701;
/// `varchar`.
pub const VARCHAR: u32 = 1043;
/// `date`.
pub const DATE: u32 = 1082;
/// `time`.
pub const TIME: u32 = 1083;
/// `timestamp`.
pub const TIMESTAMP: u32 = 1114;
/// `timestamptz`.
pub const TIMESTAMPTZ: u32 = 1184;
/// `interval`.
pub const INTERVAL: u32 = 1186;
/// `numeric`.
pub const NUMERIC: u32 = 1700;
/// `uuid`.
pub const UUID: u32 = 2950;
/// `json`.
pub const JSON: u32 = 114;
/// `jsonb`.
pub const JSONB: u32 = 3802;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i32 = 10_957;

/// The OID and size of a column of type `ty`.
pub fn oid_of(ty: Option<DataType>) -> (u32, i16) {
    match ty {
        Some(DataType::Bool) => (BOOL, 1),
        Some(DataType::Int) => (INT8, 8),
        Some(DataType::Float) => (FLOAT8, 8),
        Some(DataType::Bytes) => (BYTEA, -1),
        Some(DataType::Timestamp) => (TIMESTAMP, 8),
        Some(DataType::TimestampTz) => (TIMESTAMPTZ, 8),
        Some(DataType::Date) => (DATE, 4),
        Some(DataType::Numeric) => (NUMERIC, -1),
        Some(DataType::Uuid) => (UUID, 16),
        Some(DataType::Jsonb) => (JSONB, -1),
        Some(DataType::Time) => (TIME, 8),
        Some(DataType::Interval) => (INTERVAL, 16),
        Some(DataType::Enum(oid)) => (oid, 4),
        Some(DataType::Array(e)) => (array_oid(e.ty()), -1),
        Some(DataType::Text) | None => (TEXT, -1),
    }
}

/// `bpchar` (CHAR(n)).
pub const BPCHAR: u32 = 1042;

/// The OID and size of a column of type `ty` declared as `declared`
/// (SMALLINT is `int2`, VARCHAR(n) `varchar`, …).
pub fn oid_of_declared(ty: Option<DataType>, declared: Option<Width>) -> (u32, i16) {
    match (ty, declared) {
        (Some(DataType::Int), Some(Width::Int2)) => (INT2, 2),
        (Some(DataType::Int), Some(Width::Int4)) => (INT4, 4),
        (Some(DataType::Text), Some(Width::Varchar(_))) => (VARCHAR, -1),
        (Some(DataType::Text), Some(Width::Char(_))) => (BPCHAR, -1),
        // An array column's width is its elements'.
        (Some(DataType::Array(e)), w) => (
            super::arrays::array_of(oid_of_declared(Some(e.ty()), w).0),
            -1,
        ),
        _ => oid_of(ty),
    }
}

/// [`encode`] for a column declared as `declared`: `int2`/`int4` in their
/// binary sizes, CHAR(n) blank-padded to n characters as `bpchar` shows.
pub fn encode_declared(v: &Value, format: i16, declared: Option<Width>) -> Option<Vec<u8>> {
    match (v, declared) {
        // Writes keep a SMALLINT/INTEGER column in range (22003); a value
        // that were not would go as int8, for the client to refuse, never
        // as NULL.
        (Value::Int(i), Some(Width::Int2)) if format == 1 => Some(
            i16::try_from(*i)
                .map_or_else(|_| i.to_be_bytes().to_vec(), |x| x.to_be_bytes().to_vec()),
        ),
        (Value::Int(i), Some(Width::Int4)) if format == 1 => Some(
            i32::try_from(*i)
                .map_or_else(|_| i.to_be_bytes().to_vec(), |x| x.to_be_bytes().to_vec()),
        ),
        (Value::Array(items), w) if format == 1 => Some(super::arrays::encode(items, w)),
        (Value::Text(s), Some(Width::Char(n))) => {
            let len = s.chars().count() as u64;
            let pad = usize::try_from(n.saturating_sub(len)).unwrap_or(0);
            Some(format!("{s}{}", " ".repeat(pad)).into_bytes())
        }
        _ => encode(v, format),
    }
}

/// The OID of the array type of `elem`.
pub fn array_oid(elem: DataType) -> u32 {
    super::arrays::array_of(oid_of(Some(elem)).0)
}

/// `v` in format `format` (1 binary, anything else text); `None` for NULL.
pub fn encode(v: &Value, format: i16) -> Option<Vec<u8>> {
    let binary = format == 1;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) if binary => vec![u8::from(*b)],
        Value::Int(i) if binary => i.to_be_bytes().to_vec(),
        Value::Float(x) if binary => x.to_be_bytes().to_vec(),
        Value::Bytes(b) if binary => b.clone(),
        Value::Timestamp(t) | Value::TimestampTz(t) if binary => {
            pg_micros(*t).to_be_bytes().to_vec()
        }
        Value::Date(d) if binary => (d - PG_EPOCH_DAYS).to_be_bytes().to_vec(),
        Value::Numeric(n) if binary => n.to_pg_binary(),
        Value::Uuid(u) if binary => u.to_vec(),
        Value::Jsonb(j) if binary => [&[1u8][..], j.as_bytes()].concat(),
        Value::Time(t) if binary => t.to_be_bytes().to_vec(),
        Value::Interval(iv) if binary => iv.to_pg_binary(),
        Value::Array(items) if binary => super::arrays::encode(items, None),
        Value::Float(x) => float_text(*x).into_bytes(),
        Value::Timestamp(t) => timestamp_text(*t).into_bytes(),
        Value::TimestampTz(t) => spanlite_sql::datetime::timestamp_text(*t, true).into_bytes(),
        Value::Text(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    })
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        x.to_string()
    }
}

fn pg_micros(t: Timestamp) -> i64 {
    (t.as_nanos() / 1_000) as i64 - PG_EPOCH_MICROS
}

/// `2024-05-01 12:00:00.123456`, from RFC 3339 `2024-05-01T12:00:00.123456789Z`.
fn timestamp_text(t: Timestamp) -> String {
    let rfc = t.to_string();
    let rfc = rfc.trim_end_matches('Z').replacen('T', " ", 1);
    match rfc.split_once('.') {
        Some((secs, frac)) => {
            let micros = frac.get(..6).unwrap_or(frac).trim_end_matches('0');
            if micros.is_empty() {
                secs.to_string()
            } else {
                format!("{secs}.{micros}")
            }
        }
        None => rfc,
    }
}

/// A bound parameter: `raw` (`None`: NULL) in `format` with declared type
/// `oid` (0: unspecified).
///
/// NB: an unspecified type in text format (what `psql` and `pgbench`
/// send) becomes an `Int` if it reads as one and `Text` otherwise; the
/// engine casts text to the column's type on assignment.
pub fn decode_param(raw: Option<&[u8]>, format: i16, oid: u32) -> Result<Value, SqlError> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    if format == 1 {
        return decode_binary(raw, oid);
    }
    let s = std::str::from_utf8(raw)
        .map_err(|_| SqlError::invalid_text("a text parameter that is not UTF-8"))?;
    let bad = |ty: &str| SqlError::invalid_text(format!("invalid input for type {ty}: {s:?}"));
    Ok(match oid {
        BOOL => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" => Value::Bool(true),
            "f" | "false" | "no" | "off" | "0" => Value::Bool(false),
            _ => return Err(bad("bool")),
        },
        INT2 | INT4 | INT8 => Value::Int(s.trim().parse().map_err(|_| bad("int8"))?),
        FLOAT4 | FLOAT8 => Value::Float(s.trim().parse().map_err(|_| bad("float8"))?),
        NUMERIC => Value::Numeric(spanlite_sql::numeric::Numeric::parse(s)?),
        UUID => Value::Uuid(spanlite_sql::parse_uuid(s)?),
        JSON | JSONB => Value::Jsonb(spanlite_sql::json::normalize(s)?),
        BYTEA => Value::Bytes(decode_hex_bytea(s).ok_or_else(|| bad("bytea"))?),
        DATE => Value::Date(spanlite_sql::datetime::parse_date(s)?),
        TIMESTAMP => Value::Timestamp(spanlite_sql::datetime::parse_timestamp(s)?),
        TIMESTAMPTZ => Value::TimestampTz(spanlite_sql::datetime::parse_timestamp(s)?),
        TIME => Value::Time(spanlite_sql::interval::parse_time(s)?),
        INTERVAL => Value::Interval(spanlite_sql::interval::Interval::parse(s)?),
        0 => match s.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Text(s.to_string()),
        },
        _ => Value::Text(s.to_string()),
    })
}

pub(crate) fn decode_binary(raw: &[u8], oid: u32) -> Result<Value, SqlError> {
    let bad = |ty: &str| {
        SqlError::invalid_text(format!("a binary {ty} parameter of {} bytes", raw.len()))
    };
    Ok(match oid {
        BOOL => match raw {
            [b] => Value::Bool(*b != 0),
            _ => return Err(bad("bool")),
        },
        INT2 => Value::Int(i64::from(i16::from_be_bytes(
            raw.try_into().map_err(|_| bad("int2"))?,
        ))),
        INT4 => Value::Int(i64::from(i32::from_be_bytes(
            raw.try_into().map_err(|_| bad("int4"))?,
        ))),
        INT8 => Value::Int(i64::from_be_bytes(raw.try_into().map_err(|_| bad("int8"))?)),
        FLOAT4 => Value::Float(f64::from(f32::from_be_bytes(
            raw.try_into().map_err(|_| bad("float4"))?,
        ))),
        FLOAT8 => Value::Float(f64::from_be_bytes(
            raw.try_into().map_err(|_| bad("float8"))?,
        )),
        BYTEA => Value::Bytes(raw.to_vec()),
        TIMESTAMP | TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(raw.try_into().map_err(|_| bad("timestamp"))?);
            let unix = micros
                .checked_add(PG_EPOCH_MICROS)
                .and_then(|m| u64::try_from(m).ok())
                .and_then(|m| m.checked_mul(1_000))
                .ok_or_else(|| bad("timestamp before 1970 or out of range:"))?;
            let t = Timestamp::from_nanos(unix);
            if oid == TIMESTAMPTZ {
                Value::TimestampTz(t)
            } else {
                Value::Timestamp(t)
            }
        }
        UUID => Value::Uuid(raw.try_into().map_err(|_| bad("uuid"))?),
        JSONB | JSON => {
            // jsonb's binary form is a version byte (1), then the text.
            let text = if oid == JSONB {
                match raw.split_first() {
                    Some((1, rest)) => rest,
                    _ => return Err(bad("jsonb")),
                }
            } else {
                raw
            };
            let text = std::str::from_utf8(text).map_err(|_| bad("json (not UTF-8)"))?;
            Value::Jsonb(spanlite_sql::json::normalize(text)?)
        }
        DATE => {
            let days = i32::from_be_bytes(raw.try_into().map_err(|_| bad("date"))?);
            Value::Date(days.checked_add(PG_EPOCH_DAYS).ok_or_else(|| bad("date"))?)
        }
        TIME => {
            let micros = i64::from_be_bytes(raw.try_into().map_err(|_| bad("time"))?);
            if !(0..=spanlite_sql::interval::MICROS_PER_DAY).contains(&micros) {
                return Err(bad("time out of range:"));
            }
            Value::Time(micros)
        }
        INTERVAL => Value::Interval(
            spanlite_sql::interval::Interval::from_pg_binary(raw).ok_or_else(|| bad("interval"))?,
        ),
        NUMERIC => Value::Numeric(
            spanlite_sql::numeric::Numeric::from_pg_binary(raw)
                .ok_or_else(|| bad("numeric (NaN, infinite, beyond 28 digits or malformed)"))?,
        ),
        TEXT | VARCHAR | 0 => {
            Value::Text(String::from_utf8(raw.to_vec()).map_err(|_| bad("text (not UTF-8)"))?)
        }
        o if super::arrays::element_of(o).is_some() => super::arrays::decode(raw, o)?,
        // A type of the user's own: an enum type, whose binary form is its
        // label's text (cast to the type where it is used).
        o if i64::from(o) >= spanlite_sql::compat::FIRST_USER_OID => {
            Value::Text(String::from_utf8(raw.to_vec()).map_err(|_| bad("enum (not UTF-8)"))?)
        }
        other => {
            return Err(SqlError::invalid_text(format!(
                "binary parameters of type OID {other} are not supported"
            )));
        }
    })
}

/// `\x0aff` → bytes; other text is taken as its own bytes (PostgreSQL's
/// escape format is not supported).
fn decode_hex_bytea(s: &str) -> Option<Vec<u8>> {
    let Some(hex) = s.strip_prefix("\\x") else {
        return Some(s.as_bytes().to_vec());
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_encodings_are_postgres_ones() {
        let text = |v: Value| String::from_utf8(encode(&v, 0).unwrap()).unwrap();
        assert_eq!(text(Value::Bool(true)), "t");
        assert_eq!(text(Value::Int(-7)), "-7");
        assert_eq!(text(Value::Float(f64::INFINITY)), "Infinity");
        assert_eq!(text(Value::Bytes(vec![0, 255])), "\\x00ff");
        assert_eq!(
            text(Value::Timestamp(Timestamp::from_nanos(1_500_000_123_456))),
            "1970-01-01 00:25:00.000123"
        );
        assert_eq!(
            text(Value::Timestamp(Timestamp::from_nanos(0))),
            "1970-01-01 00:00:00"
        );
        assert_eq!(encode(&Value::Null, 0), None);
    }

    #[test]
    fn params_decode_by_declared_type() {
        assert_eq!(decode_param(Some(b"42"), 0, 0).unwrap(), Value::Int(42));
        assert_eq!(
            decode_param(Some(b"x"), 0, 0).unwrap(),
            Value::Text("x".into())
        );
        assert_eq!(
            decode_param(Some(b"42"), 0, TEXT).unwrap(),
            Value::Text("42".into())
        );
        assert_eq!(
            decode_param(Some(&7i32.to_be_bytes()), 1, INT4).unwrap(),
            Value::Int(7)
        );
        assert_eq!(
            decode_param(Some(b"\\x0aff"), 0, BYTEA).unwrap(),
            Value::Bytes(vec![10, 255])
        );
        assert!(decode_param(Some(&[1, 2, 3]), 1, INT8).is_err());
        assert_eq!(decode_param(None, 1, INT8).unwrap(), Value::Null);
        let t = Timestamp::from_nanos(1_700_000_000_000_000_000);
        let raw = encode(&Value::Timestamp(t), 1).unwrap();
        assert_eq!(
            decode_param(Some(&raw), 1, TIMESTAMP).unwrap(),
            Value::Timestamp(t)
        );
        // A numeric in binary (asyncpg and JDBC send them so): 19.99, as
        // PostgreSQL writes it; NaN refused with 22P02.
        let numeric = decode_param(
            Some(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 19, 0x26, 0xac]),
            1,
            NUMERIC,
        );
        assert_eq!(numeric.unwrap().to_string(), "19.99");
        let nan = decode_param(Some(&[0, 0, 0, 0, 0xc0, 0, 0, 0]), 1, NUMERIC);
        assert_eq!(nan.unwrap_err().code, "22P02");
    }
}
