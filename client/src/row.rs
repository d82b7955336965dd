//! Results: [`QueryResult`] holds the [`Row`]s of one statement; a row reads
//! typed values with [`Row::get`], by position or by column name.
//!
//! The column list is shared (`Arc<[Column]>`) by every row of a result, so
//! a row is its values plus one pointer.
//!
//! | Rust type (`FromValue`) | reads                   | `NULL` gives               |
//! |-------------------------|-------------------------|----------------------------|
//! | `bool`                  | `BOOL`                  | [`Error::UnexpectedNull`]  |
//! | `i64`                   | `INT`                   | [`Error::UnexpectedNull`]  |
//! | `f64`                   | `FLOAT`                 | [`Error::UnexpectedNull`]  |
//! | `String`                | `TEXT`                  | [`Error::UnexpectedNull`]  |
//! | `Vec<u8>`               | `BYTEA`                 | [`Error::UnexpectedNull`]  |
//! | [`Timestamp`]           | `TIMESTAMP`             | [`Error::UnexpectedNull`]  |
//! | `Option<T>`             | what `T` reads          | `None`                     |
//! | [`Value`]               | anything                | `Value::Null`              |
//!
//! Any other pairing is an [`Error::Type`]; nothing converts implicitly (an
//! `INT` does not read as `f64`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::value::{SqlType, Timestamp, Value};

/// A result column: its name and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    name: String,
    sql_type: SqlType,
}

impl Column {
    /// A column named `name` of type `sql_type`.
    pub fn new(name: impl Into<String>, sql_type: SqlType) -> Self {
        Self {
            name: name.into(),
            sql_type,
        }
    }

    /// The name as it appears in the result (`AS` alias, or the column's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The type the server declared.
    pub fn sql_type(&self) -> SqlType {
        self.sql_type
    }
}

/// A Rust type a [`Value`] can be read as, for [`Row::get`].
///
/// Implement it for your own types to read them straight out of rows:
///
/// ```
/// use spanlite_client::{FromValue, Value};
///
/// /// An account status stored as TEXT.
/// #[derive(Debug, PartialEq)]
/// enum Status { Open, Closed }
///
/// impl FromValue for Status {
///     const EXPECTED: &'static str = "TEXT ('open' or 'closed')";
///     fn from_value(value: &Value) -> Option<Self> {
///         match value {
///             Value::Text(s) if s == "open" => Some(Status::Open),
///             Value::Text(s) if s == "closed" => Some(Status::Closed),
///             _ => None,
///         }
///     }
/// }
///
/// assert_eq!(Status::from_value(&Value::from("open")), Some(Status::Open));
/// ```
pub trait FromValue: Sized {
    /// What this type reads, for error messages: a SQL type name.
    const EXPECTED: &'static str;

    /// `value` as `Self`, or `None` when it is not of a type `Self` reads.
    /// `None` for `NULL` becomes [`Error::UnexpectedNull`], any other `None`
    /// an [`Error::Type`].
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for bool {
    const EXPECTED: &'static str = "BOOL";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "INT";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    const EXPECTED: &'static str = "FLOAT";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "TEXT";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const EXPECTED: &'static str = "BYTEA";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bytes(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl FromValue for Timestamp {
    const EXPECTED: &'static str = "TIMESTAMP";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        }
    }
}

impl FromValue for Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// What picks a column of a row: a position (`usize`, from 0) or a name
/// (`&str`, matched exactly; the first column of that name wins).
pub trait ColumnIndex {
    /// The position of this column in `columns`, or [`Error::Column`].
    fn position(&self, columns: &[Column]) -> Result<usize>;
}

fn no_column(column: String, columns: &[Column]) -> Error {
    Error::Column {
        column,
        columns: columns.iter().map(|c| c.name.clone()).collect(),
    }
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[Column]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(no_column(format!("#{self}"), columns))
        }
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[Column]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c.name == *self)
            .ok_or_else(|| no_column(format!("{self:?}"), columns))
    }
}

/// One result row.
///
/// ```
/// use spanlite_client::{Column, Row, SqlType, Value};
///
/// let row = Row::new(
///     vec![Column::new("id", SqlType::Int), Column::new("name", SqlType::Text)].into(),
///     vec![Value::Int(1), Value::Null],
/// );
/// let id: i64 = row.get(0)?;
/// let name: Option<String> = row.get("name")?;
/// assert_eq!((id, name), (1, None));
/// assert!(row.get::<String>("name").is_err()); // NULL needs Option
/// # Ok::<(), spanlite_client::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    columns: Arc<[Column]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` under `columns` (the driver builds rows; this is
    /// for tests and fakes). Extra values have no column to be read by.
    pub fn new(columns: Arc<[Column]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The value of column `index` (a position or a name) as a `T`.
    ///
    /// Errors: [`Error::Column`] when there is no such column,
    /// [`Error::UnexpectedNull`] when it is `NULL` and `T` is not an
    /// `Option`, [`Error::Type`] when its type is not one `T` reads.
    pub fn get<T: FromValue>(&self, index: impl ColumnIndex) -> Result<T> {
        let i = index.position(&self.columns)?;
        let column = || self.columns[i].name.clone();
        let value = self
            .values
            .get(i)
            .ok_or_else(|| no_column(format!("#{i}"), &self.columns))?;
        T::from_value(value).ok_or_else(|| match value {
            Value::Null => Error::UnexpectedNull { column: column() },
            v => Error::Type {
                column: column(),
                expected: T::EXPECTED,
                found: v.type_name(),
            },
        })
    }

    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, taken out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for a row without values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What one statement returned.
///
/// For a `SELECT`: its columns and rows, tag `SELECT n`. For `INSERT`,
/// `UPDATE`, `DELETE`: no columns (unless `RETURNING`), `rows_affected`, tag
/// like `INSERT 0 3`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// The result columns (empty for statements that return no rows).
    pub columns: Arc<[Column]>,
    /// The rows, in result order.
    pub rows: Vec<Row>,
    /// The PostgreSQL-style command tag: `SELECT 2`, `INSERT 0 3`, `CREATE TABLE`.
    pub tag: String,
    /// Rows inserted, updated, deleted or returned.
    pub rows_affected: u64,
}

impl IntoIterator for QueryResult {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let columns: Arc<[Column]> = vec![
            Column::new("id", SqlType::Int),
            Column::new("name", SqlType::Text),
            Column::new("score", SqlType::Float),
            Column::new("note", SqlType::Text),
        ]
        .into();
        Row::new(
            columns,
            vec![
                Value::Int(7),
                Value::Text("ada".into()),
                Value::Float(0.5),
                Value::Null,
            ],
        )
    }

    #[test]
    fn reads_by_position_and_by_name() {
        let r = row();
        assert_eq!(r.get::<i64>(0).unwrap(), 7);
        assert_eq!(r.get::<String>("name").unwrap(), "ada");
        assert_eq!(r.get::<f64>("score").unwrap(), 0.5);
        assert_eq!(r.get::<Option<i64>>("id").unwrap(), Some(7));
        assert_eq!(r.get::<Option<String>>("note").unwrap(), None);
        assert_eq!(r.get::<Value>("note").unwrap(), Value::Null);
        assert_eq!(r.len(), 4);
        assert_eq!(r.columns()[1].sql_type(), SqlType::Text);
    }

    #[test]
    fn type_mismatch_names_column_and_both_types() {
        let e = row().get::<i64>("name").unwrap_err();
        assert!(
            matches!(&e, Error::Type { column, expected: "INT", found: "TEXT" } if column == "name"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "column name: cannot read TEXT as INT");
        // Nothing converts implicitly, not even INT to FLOAT.
        assert!(matches!(row().get::<f64>(0), Err(Error::Type { .. })));
        // Option<T> reads what T reads, and nothing else.
        assert!(matches!(
            row().get::<Option<bool>>(0),
            Err(Error::Type {
                expected: "BOOL",
                ..
            })
        ));
    }

    #[test]
    fn null_into_non_option_says_to_use_option() {
        let e = row().get::<String>("note").unwrap_err();
        assert!(matches!(&e, Error::UnexpectedNull { column } if column == "note"));
        assert_eq!(
            e.to_string(),
            "column note is NULL: read it as Option<_> or Value"
        );
    }

    #[test]
    fn missing_columns_list_the_ones_there_are() {
        let e = row().get::<i64>("nope").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no column \"nope\" in this result (columns: id, name, score, note)"
        );
        assert!(matches!(row().get::<i64>(4), Err(Error::Column { column, .. }) if column == "#4"));
    }

    #[test]
    fn a_result_iterates_over_its_rows() {
        let result = QueryResult {
            rows: vec![row(), row()],
            ..QueryResult::default()
        };
        assert_eq!(result.into_iter().count(), 2);
    }
}
