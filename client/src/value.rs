//! SQL values as the driver hands them over: [`Value`] (one per parameter
//! and per result cell), its column type [`SqlType`], and [`Timestamp`].
//!
//! | SQL type    | [`Value`] variant    | Rust types converted `From`            |
//! |-------------|----------------------|----------------------------------------|
//! | (NULL)      | `Null`               | `None` of any `Option<T>`              |
//! | `BOOL`      | `Bool(bool)`         | `bool`                                 |
//! | `INT`       | `Int(i64)`           | `i64`, `i32`, `i16`, `u32`             |
//! | `FLOAT`     | `Float(f64)`         | `f64`, `f32`                           |
//! | `TEXT`      | `Text(String)`       | `String`, `&str`                       |
//! | `BYTEA`     | `Bytes(Vec<u8>)`     | `Vec<u8>`, `&[u8]`                     |
//! | `TIMESTAMP` | `Timestamp(..)`      | [`Timestamp`]                          |
//!
//! Reading values back out of a row goes through
//! [`FromValue`](crate::FromValue), which is strict: an `INT` column does not
//! read as `f64`, nor `NULL` as anything but `Option<T>` or [`Value`].

use std::fmt;
use std::time::{Duration, SystemTime};

/// A point in time: nanoseconds since 1970-01-01T00:00:00Z, the resolution
/// Spanlite's commit timestamps have.
///
/// ```
/// use spanlite_client::Timestamp;
///
/// let t = Timestamp::from_nanos(1_700_000_000_123_456_789);
/// assert_eq!(t.as_nanos(), 1_700_000_000_123_456_789);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456789Z");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The timestamp `nanos` nanoseconds after the Unix epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(t.0)
    }
}

/// RFC 3339 in UTC with nanoseconds, as the server and the shell print
/// timestamps: `2023-11-14T22:13:20.123456789Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NANOS_PER_SEC: u64 = 1_000_000_000;
        const SECS_PER_DAY: u64 = 86_400;
        let secs = self.0 / NANOS_PER_SEC;
        let nanos = self.0 % NANOS_PER_SEC;
        let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
        let in_day = secs % SECS_PER_DAY;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            in_day / 3600,
            in_day / 60 % 60,
            in_day % 60
        )
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The type of a result column, from the server's row description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// The server did not know the type (e.g. a bare `NULL` literal).
    Unknown,
    /// `BOOL`.
    Bool,
    /// `INT` / `BIGINT`: 64-bit signed.
    Int,
    /// `FLOAT` / `DOUBLE PRECISION`: 64-bit IEEE.
    Float,
    /// `TEXT` / `VARCHAR`: UTF-8.
    Text,
    /// `BYTEA`.
    Bytes,
    /// `TIMESTAMP`: nanoseconds since the Unix epoch, UTC.
    Timestamp,
}

impl SqlType {
    /// The SQL name, as used in error messages (`"INT"`, `"TEXT"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            SqlType::Unknown => "UNKNOWN",
            SqlType::Bool => "BOOL",
            SqlType::Int => "INT",
            SqlType::Float => "FLOAT",
            SqlType::Text => "TEXT",
            SqlType::Bytes => "BYTEA",
            SqlType::Timestamp => "TIMESTAMP",
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One SQL value: a statement parameter (`$1`, `$2`, …) or a result cell.
///
/// ```
/// use spanlite_client::Value;
///
/// let params: [Value; 4] = [42.into(), "Ada".into(), None::<f64>.into(), true.into()];
/// assert_eq!(params[0], Value::Int(42));
/// assert_eq!(params[2], Value::Null);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// `BOOL`.
    Bool(bool),
    /// `INT`.
    Int(i64),
    /// `FLOAT`.
    Float(f64),
    /// `TEXT`.
    Text(String),
    /// `BYTEA`.
    Bytes(Vec<u8>),
    /// `TIMESTAMP`.
    Timestamp(Timestamp),
}

impl Value {
    /// True for SQL `NULL`.
    pub const fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's type; `None` for `NULL`, which has none of its own.
    pub const fn sql_type(&self) -> Option<SqlType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => SqlType::Bool,
            Value::Int(_) => SqlType::Int,
            Value::Float(_) => SqlType::Float,
            Value::Text(_) => SqlType::Text,
            Value::Bytes(_) => SqlType::Bytes,
            Value::Timestamp(_) => SqlType::Timestamp,
        })
    }

    /// The type's name for messages: `"NULL"` or the SQL type's name.
    pub(crate) const fn type_name(&self) -> &'static str {
        match self.sql_type() {
            None => "NULL",
            Some(t) => t.name(),
        }
    }
}

/// The text form PostgreSQL's `psql` (and Spanlite's shell) print: `NULL`,
/// `t`/`f`, numbers, raw text, `\x`-hex bytes, RFC 3339 timestamps.
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
            Value::Timestamp(t) => write!(f, "{t}"),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}

impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::Int(v.into())
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Self {
        Value::Timestamp(v)
    }
}

/// `None` is `NULL`; `Some(v)` is `v`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_values_convert_to_their_sql_variant() {
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(7i64), Value::Int(7));
        assert_eq!(Value::from(-7i32), Value::Int(-7));
        assert_eq!(Value::from(7i16), Value::Int(7));
        assert_eq!(Value::from(u32::MAX), Value::Int(4_294_967_295));
        assert_eq!(Value::from(0.5f64), Value::Float(0.5));
        assert_eq!(Value::from(0.5f32), Value::Float(0.5));
        assert_eq!(Value::from("a"), Value::Text("a".into()));
        assert_eq!(Value::from("a".to_string()), Value::Text("a".into()));
        assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
        assert_eq!(Value::from(&[3u8][..]), Value::Bytes(vec![3]));
        assert_eq!(
            Value::from(Timestamp::from_nanos(9)),
            Value::Timestamp(Timestamp::from_nanos(9))
        );
        assert_eq!(Value::from(Some(1i64)), Value::Int(1));
        assert_eq!(Value::from(None::<&str>), Value::Null);
    }

    #[test]
    fn values_print_like_psql() {
        let printed: Vec<String> = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-3),
            Value::Float(1.5),
            Value::Text("hi".into()),
            Value::Bytes(vec![0, 0xab]),
            Value::Timestamp(Timestamp::UNIX_EPOCH),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            printed,
            [
                "NULL",
                "t",
                "f",
                "-3",
                "1.5",
                "hi",
                "\\x00ab",
                "1970-01-01T00:00:00.000000000Z"
            ]
        );
    }

    #[test]
    fn timestamps_print_as_rfc3339_across_leap_days_and_centuries() {
        // (nanos, expected): checked against `date -u -d @secs`.
        let cases = [
            (951_782_400, "2000-02-29T00:00:00.000000000Z"),
            (951_868_799, "2000-02-29T23:59:59.000000000Z"),
            (1_709_164_800, "2024-02-29T00:00:00.000000000Z"),
            (4_107_542_400, "2100-03-01T00:00:00.000000000Z"),
        ];
        for (secs, expected) in cases {
            let t = Timestamp::from_nanos(secs * 1_000_000_000 + 7);
            assert_eq!(t.to_string(), expected.replace(".000000000", ".000000007"));
        }
        // The last representable instant.
        assert_eq!(
            Timestamp::from_nanos(u64::MAX).to_string(),
            "2554-07-21T23:34:33.709551615Z"
        );
    }

    #[test]
    fn timestamps_convert_to_system_time() {
        let t = Timestamp::from_nanos(1_500_000_000);
        assert_eq!(
            SystemTime::from(t),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1500)
        );
    }

    #[test]
    fn sql_type_of_each_value() {
        assert_eq!(Value::Null.sql_type(), None);
        assert_eq!(Value::Null.type_name(), "NULL");
        assert_eq!(Value::Int(1).sql_type(), Some(SqlType::Int));
        assert_eq!(Value::Bytes(vec![]).type_name(), "BYTEA");
        assert!(Value::Null.is_null());
        assert!(!Value::Bool(false).is_null());
    }
}
