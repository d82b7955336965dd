//! SQL types and values, with NULL and three-valued logic.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};
use crate::numeric::Numeric;

/// A column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataType {
    /// BOOL / BOOLEAN.
    Bool,
    /// INT / INTEGER / BIGINT / SMALLINT (64-bit).
    Int,
    /// FLOAT / DOUBLE PRECISION / REAL (64-bit).
    Float,
    /// TEXT / VARCHAR / CHAR.
    Text,
    /// BYTEA / BYTES.
    Bytes,
    /// TIMESTAMP (UTC, nanoseconds).
    Timestamp,
    /// DATE.
    Date,
    /// TIMESTAMP WITH TIME ZONE / TIMESTAMPTZ (a point in time; shown in
    /// the session's time zone).
    TimestampTz,
    /// NUMERIC / DECIMAL: exact decimals.
    Numeric,
    /// UUID.
    Uuid,
    /// JSONB (and JSON, kept the same way).
    Jsonb,
    /// TIME (without time zone): a time of day.
    Time,
    /// INTERVAL.
    Interval,
    /// A type made by `CREATE TYPE … AS ENUM`, by its oid (its labels are
    /// in the enum type's definition, which columns and casts carry).
    Enum(u32),
    /// A one-dimensional array of the element type (`INT[]`, `TEXT[]`).
    Array(Elem),
}

/// The element type of an array type: any type but an array or an enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elem(Scalar);

/// What an [`Elem`] may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Scalar {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
    Timestamp,
    Date,
    TimestampTz,
    Numeric,
    Uuid,
    Jsonb,
    Time,
    Interval,
}

impl Elem {
    /// The element type.
    pub fn ty(self) -> DataType {
        match self.0 {
            Scalar::Bool => DataType::Bool,
            Scalar::Int => DataType::Int,
            Scalar::Float => DataType::Float,
            Scalar::Text => DataType::Text,
            Scalar::Bytes => DataType::Bytes,
            Scalar::Timestamp => DataType::Timestamp,
            Scalar::Date => DataType::Date,
            Scalar::TimestampTz => DataType::TimestampTz,
            Scalar::Numeric => DataType::Numeric,
            Scalar::Uuid => DataType::Uuid,
            Scalar::Jsonb => DataType::Jsonb,
            Scalar::Time => DataType::Time,
            Scalar::Interval => DataType::Interval,
        }
    }
}

impl DataType {
    /// The array type of elements of this type: 0A000 for arrays (of
    /// more than one dimension); an enum type's values make a text array
    /// (`array_agg(m)`, `ARRAY[m]`: their labels, in the order given).
    pub fn array(self) -> Result<DataType> {
        Ok(DataType::Array(Elem(match self {
            DataType::Bool => Scalar::Bool,
            DataType::Int => Scalar::Int,
            DataType::Float => Scalar::Float,
            DataType::Text => Scalar::Text,
            DataType::Bytes => Scalar::Bytes,
            DataType::Timestamp => Scalar::Timestamp,
            DataType::Date => Scalar::Date,
            DataType::TimestampTz => Scalar::TimestampTz,
            DataType::Numeric => Scalar::Numeric,
            DataType::Uuid => Scalar::Uuid,
            DataType::Jsonb => Scalar::Jsonb,
            DataType::Time => Scalar::Time,
            DataType::Interval => Scalar::Interval,
            DataType::Enum(_) => Scalar::Text,
            DataType::Array(_) => {
                return Err(SqlError::not_supported("arrays of more than one dimension"));
            }
        })))
    }

    /// The element type, for an array type.
    pub fn element(self) -> Option<DataType> {
        match self {
            DataType::Array(e) => Some(e.ty()),
            _ => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let DataType::Array(e) = self {
            return write!(f, "{}[]", e.ty());
        }
        f.write_str(match self {
            DataType::Bool => "BOOL",
            DataType::Int => "INT",
            DataType::Float => "FLOAT",
            DataType::Text => "TEXT",
            DataType::Bytes => "BYTEA",
            DataType::Timestamp => "TIMESTAMP",
            DataType::Date => "DATE",
            DataType::TimestampTz => "TIMESTAMPTZ",
            DataType::Numeric => "NUMERIC",
            DataType::Uuid => "UUID",
            DataType::Jsonb => "JSONB",
            DataType::Time => "TIME",
            DataType::Interval => "INTERVAL",
            DataType::Enum(_) => "ENUM",
            DataType::Array(_) => "ARRAY",
        })
    }
}

impl DataType {
    /// The type named in SQL, or 0A000.
    pub fn from_sql(t: &sqlparser::ast::DataType) -> Result<Self> {
        use sqlparser::ast::DataType as D;
        Ok(match t {
            D::Bool | D::Boolean => DataType::Bool,
            D::Int(_)
            | D::Integer(_)
            | D::BigInt(_)
            | D::SmallInt(_)
            | D::Int2(_)
            | D::Int4(_)
            | D::Int8(_)
            | D::Int64 => DataType::Int,
            D::Float(_)
            | D::Double(_)
            | D::DoublePrecision
            | D::Real
            | D::Float4
            | D::Float8
            | D::Float64 => DataType::Float,
            D::Text | D::Varchar(_) | D::Char(_) | D::CharVarying(_) | D::String(_) => {
                DataType::Text
            }
            D::Bytea | D::Bytes(_) => DataType::Bytes,
            D::Timestamp(
                _,
                sqlparser::ast::TimezoneInfo::WithTimeZone | sqlparser::ast::TimezoneInfo::Tz,
            ) => DataType::TimestampTz,
            D::Timestamp(_, _) => DataType::Timestamp,
            D::Date => DataType::Date,
            D::Numeric(_) | D::Decimal(_) | D::Dec(_) => DataType::Numeric,
            D::Uuid => DataType::Uuid,
            D::JSONB | D::JSON => DataType::Jsonb,
            D::Time(
                _,
                sqlparser::ast::TimezoneInfo::None | sqlparser::ast::TimezoneInfo::WithoutTimeZone,
            ) => DataType::Time,
            D::Interval { .. } => DataType::Interval,
            D::Array(
                sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _)
                | sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)
                | sqlparser::ast::ArrayElemTypeDef::Parenthesis(inner),
            ) => DataType::from_sql(inner)?.array()?,
            other => return Err(SqlError::not_supported(format!("type {other}"))),
        })
    }
}

/// A value of an enum type (see `enums`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    /// The type's oid.
    pub type_oid: u32,
    /// The label's sort order within its type.
    pub sort: f32,
    /// The label.
    pub label: String,
}

/// A SQL value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A timestamp.
    Timestamp(Timestamp),
    /// A date: days after 1970-01-01.
    Date(i32),
    /// A timestamp with time zone.
    TimestampTz(Timestamp),
    /// An exact decimal.
    Numeric(crate::numeric::Numeric),
    /// A UUID.
    Uuid([u8; 16]),
    /// A JSON document, as jsonb text (see [`crate::json`]).
    Jsonb(String),
    /// A time of day: microseconds after midnight.
    Time(i64),
    /// An interval.
    Interval(crate::interval::Interval),
    /// A label of an enum type (stored with its type and sort order, so it
    /// compares without the catalog).
    Enum(EnumValue),
    /// A one-dimensional array (its elements' type is the expression's or
    /// column's, [`DataType::Array`]); NULL elements as [`Value::Null`].
    Array(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => f.write_str(if *b { "t" } else { "f" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
            Value::Timestamp(t) => f.write_str(&crate::datetime::timestamp_text(*t, false)),
            Value::Date(d) => f.write_str(&crate::datetime::date_text(*d)),
            Value::TimestampTz(t) => f.write_str(&crate::datetime::timestamp_text(*t, true)),
            Value::Numeric(n) => write!(f, "{n}"),
            Value::Uuid(u) => f.write_str(&uuid_text(u)),
            Value::Jsonb(j) => f.write_str(j),
            Value::Time(t) => f.write_str(&crate::interval::time_text(*t)),
            Value::Interval(iv) => write!(f, "{iv}"),
            Value::Enum(e) => f.write_str(&e.label),
            Value::Array(items) => {
                f.write_str("{")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match v {
                        Value::Null => f.write_str("NULL")?,
                        v => f.write_str(&crate::array::quote(&v.to_string()))?,
                    }
                }
                f.write_str("}")
            }
        }
    }
}

impl Value {
    /// The value's type (`None` for NULL).
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => DataType::Bool,
            Value::Int(_) => DataType::Int,
            Value::Float(_) => DataType::Float,
            Value::Text(_) => DataType::Text,
            Value::Bytes(_) => DataType::Bytes,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Date(_) => DataType::Date,
            Value::TimestampTz(_) => DataType::TimestampTz,
            Value::Numeric(_) => DataType::Numeric,
            Value::Uuid(_) => DataType::Uuid,
            Value::Jsonb(_) => DataType::Jsonb,
            Value::Time(_) => DataType::Time,
            Value::Interval(_) => DataType::Interval,
            Value::Enum(e) => DataType::Enum(e.type_oid),
            // Its first element's (an empty array's is text[]).
            Value::Array(items) => items
                .iter()
                .find_map(Value::data_type)
                .unwrap_or(DataType::Text)
                .array()
                .unwrap_or(DataType::Text),
        })
    }

    /// This value as a value of `ty` (assignment cast): integers widen to
    /// floats, text converts to timestamps and bytes; anything else of the
    /// wrong type is 42804.
    pub fn cast_to(self, ty: DataType) -> Result<Value> {
        Ok(match (self, ty) {
            (Value::Null, _) => Value::Null,
            (v, t) if v.data_type() == Some(t) => v,
            (Value::Int(i), DataType::Float) => Value::Float(i as f64),
            (Value::Float(x), DataType::Int) if x.fract() == 0.0 && x.abs() < 9.2e18 => {
                Value::Int(x as i64)
            }
            (Value::Text(s), DataType::Timestamp) => {
                Value::Timestamp(crate::datetime::parse_timestamp(&s)?)
            }
            (Value::Text(s), DataType::TimestampTz) => {
                Value::TimestampTz(crate::datetime::parse_timestamptz(&s)?)
            }
            (Value::Text(s), DataType::Date) => Value::Date(crate::datetime::parse_date(&s)?),
            (Value::Text(s), DataType::Numeric) => Value::Numeric(Numeric::parse(&s)?),
            (Value::Text(s), DataType::Uuid) => Value::Uuid(parse_uuid(&s)?),
            (Value::Text(s), DataType::Jsonb) => Value::Jsonb(crate::json::normalize(&s)?),
            (Value::Int(i), DataType::Numeric) => Value::Numeric(Numeric::from_int(i)),
            (Value::Float(x), DataType::Numeric) => Value::Numeric(Numeric::from_float(x)?),
            (Value::Numeric(n), DataType::Float) => Value::Float(n.to_float()),
            (Value::Numeric(n), DataType::Int) => Value::Int(n.to_int()?),
            // In the session's time zone, as every cast between the two.
            (Value::Timestamp(t), DataType::TimestampTz) => {
                Value::TimestampTz(crate::datetime::instant_of(t.to_datetime().naive_utc())?)
            }
            (Value::TimestampTz(t), DataType::Timestamp) => Value::Timestamp(
                crate::datetime::timestamp_of_local(crate::datetime::local_of(t))?,
            ),
            (Value::Timestamp(t), DataType::Date) => {
                Value::Date(crate::datetime::date_of_timestamp(t)?)
            }
            (Value::TimestampTz(t), DataType::Date) => {
                Value::Date(crate::datetime::date_of_timestamptz(t)?)
            }
            (Value::Date(d), DataType::Timestamp) => {
                Value::Timestamp(crate::datetime::timestamp_of_date(d)?)
            }
            (Value::Date(d), DataType::TimestampTz) => {
                Value::TimestampTz(crate::datetime::timestamptz_of_date(d)?)
            }
            (Value::Text(s), DataType::Time) => Value::Time(crate::interval::parse_time(&s)?),
            (Value::Text(s), DataType::Interval) => {
                Value::Interval(crate::interval::Interval::parse(&s)?)
            }
            (Value::Timestamp(t), DataType::Time) => {
                Value::Time(crate::interval::time_of_timestamp(t))
            }
            (Value::TimestampTz(t), DataType::Time) => {
                Value::Time(crate::interval::time_of_timestamp(
                    crate::datetime::timestamp_of_local(crate::datetime::local_of(t))?,
                ))
            }
            (Value::Time(t), DataType::Interval) => Value::Interval(crate::interval::Interval {
                micros: t,
                ..Default::default()
            }),
            (Value::Text(s), DataType::Bytes) => Value::Bytes(parse_bytea(&s)?),
            (Value::Enum(e), DataType::Text) => Value::Text(e.label),
            (Value::Array(items), DataType::Array(e)) => Value::Array(
                items
                    .into_iter()
                    .map(|v| v.cast_to(e.ty()))
                    .collect::<Result<_>>()?,
            ),
            (Value::Text(s), DataType::Array(e)) => Value::Array(
                crate::array::parse(&s)?
                    .into_iter()
                    .map(|item| item.map_or(Ok(Value::Null), |t| Value::Text(t).cast_to(e.ty())))
                    .collect::<Result<_>>()?,
            ),
            (v @ Value::Array(_), DataType::Text) => Value::Text(v.to_string()),
            (Value::Text(s), DataType::Int) => Value::Int(s.trim().parse().map_err(|_| {
                SqlError::invalid_text(format!("invalid input for type INT: {s:?}"))
            })?),
            (Value::Text(s), DataType::Float) => Value::Float(s.trim().parse().map_err(|_| {
                SqlError::invalid_text(format!("invalid input for type FLOAT: {s:?}"))
            })?),
            (Value::Text(s), DataType::Bool) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "yes" | "on" | "1" => Value::Bool(true),
                "f" | "false" | "no" | "off" | "0" => Value::Bool(false),
                _ => {
                    return Err(SqlError::invalid_text(format!(
                        "invalid input for type BOOL: {s:?}"
                    )));
                }
            },
            (v, t) => {
                return Err(SqlError::datatype_mismatch(format!(
                    "value {v} is not of type {t}"
                )));
            }
        })
    }

    /// SQL comparison: `None` when either side is NULL; 42804 for values
    /// that cannot be compared.
    pub fn compare(&self, other: &Value) -> Result<Option<Ordering>> {
        Ok(Some(match (self, other) {
            (Value::Null, _) | (_, Value::Null) => return Ok(None),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Int(a), Value::Float(b)) => (*a as f64).total_cmp(b),
            (Value::Float(a), Value::Int(b)) => a.total_cmp(&(*b as f64)),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b))
            | (Value::TimestampTz(a), Value::TimestampTz(b)) => a.cmp(b),
            // A timestamp without time zone is read in the session's zone.
            (Value::Timestamp(_), Value::TimestampTz(_)) => {
                return self.clone().cast_to(DataType::TimestampTz)?.compare(other);
            }
            (Value::TimestampTz(_), Value::Timestamp(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::Interval(a), Value::Interval(b)) => a.span().cmp(&b.span()),
            (Value::Enum(a), Value::Enum(b)) if a.type_oid == b.type_oid => {
                a.sort.total_cmp(&b.sort)
            }
            // NB: a label compared with text the binder did not make a label
            // of: only equality means anything (the binder makes labels of
            // literals and parameters compared with enum values, so their
            // order is the type's).
            (Value::Array(a), Value::Array(b)) => return compare_arrays(a, b),
            // `a = '{1,2}'`: the text read as an array of `a`'s type.
            (Value::Array(_), Value::Text(s)) => {
                let ty = self.data_type().unwrap_or(DataType::Text);
                return self.compare(&Value::Text(s.clone()).cast_to(ty)?);
            }
            (Value::Text(_), Value::Array(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (Value::Enum(a), Value::Text(b)) => a.label.as_str().cmp(b.as_str()),
            (Value::Text(a), Value::Enum(b)) => a.as_str().cmp(b.label.as_str()),
            (Value::Time(_) | Value::Interval(_), Value::Text(s)) => {
                let ty = self.data_type().unwrap_or(DataType::Text);
                return self.compare(&Value::Text(s.clone()).cast_to(ty)?);
            }
            (Value::Text(_), Value::Time(_) | Value::Interval(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (Value::Numeric(a), Value::Numeric(b)) => a.cmp(b),
            (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
            (Value::Jsonb(a), Value::Jsonb(b)) => a.cmp(b),
            (Value::Jsonb(_), Value::Text(s)) => {
                return self.compare(&Value::Jsonb(crate::json::normalize(s)?));
            }
            (Value::Text(s), Value::Jsonb(_)) => {
                return Value::Jsonb(crate::json::normalize(s)?).compare(other);
            }
            (Value::Uuid(_), Value::Text(s)) => {
                return self.compare(&Value::Uuid(parse_uuid(s)?));
            }
            (Value::Text(s), Value::Uuid(_)) => {
                return Value::Uuid(parse_uuid(s)?).compare(other);
            }
            (Value::Numeric(a), Value::Int(b)) => a.cmp(&Numeric::from_int(*b)),
            (Value::Int(a), Value::Numeric(b)) => Numeric::from_int(*a).cmp(b),
            (Value::Numeric(a), Value::Float(b)) => a.to_float().total_cmp(b),
            (Value::Float(a), Value::Numeric(b)) => a.total_cmp(&b.to_float()),
            (Value::Numeric(_), Value::Text(s)) => {
                return self.compare(&Value::Text(s.clone()).cast_to(DataType::Numeric)?);
            }
            (Value::Text(_), Value::Numeric(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (Value::Date(_), Value::Timestamp(_) | Value::TimestampTz(_)) => {
                let ty = other.data_type().unwrap_or(DataType::Timestamp);
                return self.clone().cast_to(ty)?.compare(other);
            }
            (Value::Timestamp(_) | Value::TimestampTz(_), Value::Date(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (Value::Timestamp(_) | Value::TimestampTz(_) | Value::Date(_), Value::Text(s)) => {
                let ty = self.data_type().unwrap_or(DataType::Timestamp);
                return self.compare(&Value::Text(s.clone()).cast_to(ty)?);
            }
            (Value::Text(_), Value::Timestamp(_) | Value::TimestampTz(_) | Value::Date(_)) => {
                return Ok(other.compare(self)?.map(Ordering::reverse));
            }
            (a, b) => {
                return Err(SqlError::undefined_function(format!(
                    "cannot compare {a} with {b}"
                )));
            }
        }))
    }

    /// Whether this value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The truth value of a condition: TRUE, FALSE or NULL (`None`).
    pub fn truth(&self) -> Result<Option<bool>> {
        match self {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            v => Err(SqlError::datatype_mismatch(format!(
                "argument of WHERE/AND/OR/NOT must be BOOL, not {v}"
            ))),
        }
    }
}

/// A UUID as PostgreSQL writes it: lower-case hex in 8-4-4-4-12 groups.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A UUID as PostgreSQL reads one: 32 hex digits, upper or lower case,
/// with or without hyphens between groups of four, optionally in braces.
pub fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let bad = || SqlError::invalid_text(format!("invalid input syntax for type uuid: \"{s}\""));
    let t = s.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let digits: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
    if digits.len() != 32 || t.starts_with('-') || t.ends_with('-') || t.contains("--") {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Bytes as PostgreSQL's `bytea` reads text: `\x` and hex digits, or the
/// escape format (`\\` a backslash, `\ooo` an octal byte, anything else
/// its own UTF-8 bytes). 22P02 for anything else.
pub fn parse_bytea(s: &str) -> Result<Vec<u8>> {
    let bad = || SqlError::invalid_text(format!("invalid input syntax for type bytea: \"{s}\""));
    if let Some(hex) = s.strip_prefix("\\x") {
        // As PostgreSQL: 22023 for bad hex digits.
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return Err(SqlError::invalid_parameter(
                "invalid hexadecimal data: odd number of digits",
            ));
        }
        return digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| SqlError::invalid_parameter("invalid hexadecimal digit"))
            })
            .collect();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes
                .get(i + 1..i + 4)
                .filter(|o| o[0] <= b'3' && o.iter().all(|d| (b'0'..=b'7').contains(d)));
            let o = octal.ok_or_else(bad)?;
            out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
            i += 4;
        }
    }
    Ok(out)
}

/// A random (version 4) UUID.
pub fn random_uuid() -> [u8; 16] {
    let mut u: [u8; 16] = rand::random();
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

/// Arrays compared element by element, as PostgreSQL does: a NULL element
/// equals a NULL one and sorts after every other; a prefix sorts first.
fn compare_arrays(a: &[Value], b: &[Value]) -> Result<Option<Ordering>> {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.compare(y)?.unwrap_or(Ordering::Equal),
        };
        if o != Ordering::Equal {
            return Ok(Some(o));
        }
    }
    Ok(Some(a.len().cmp(&b.len())))
}
