//! The catalog and the key layout of SQL data. Both are ordinary
//! transactional data in the key-value space (DESIGN.md §7): DDL commits
//! or aborts with its transaction.
//!
//! ```text
//!   0x02 'c' <table name>                 → TableDef (postcard)
//!   0x02 'n'                              → next table id (u32, big-endian)
//!   0x03 <table id u32 BE> <primary key>  → row: every column's value (postcard)
//! ```
//!
//! The primary key is order-preserving (keycode), so a range of keys is a
//! range of rows in key order. A table without a primary key gets a hidden
//! unique row id.

use serde::{Deserialize, Serialize};
use spanlite_storage::keycode;

use crate::error::{Result, SqlError};
use crate::value::{DataType, Value};

const CATALOG: &[u8] = &[0x02, b'c'];
const NEXT_TABLE_ID: &[u8] = &[0x02, b'n'];
const TABLES: u8 = 0x03;

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Its name (lower case unless quoted).
    pub name: String,
    /// Its type.
    pub ty: DataType,
    /// NULL allowed.
    pub nullable: bool,
    /// The value an INSERT that leaves the column out stores.
    pub default: Option<Value>,
}

/// A table's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    /// Cluster-unique id (keys of its rows start with it).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// The primary-key column, or `None` for a hidden row id.
    pub primary_key: Option<usize>,
}

impl TableDef {
    /// The index of column `name`, or 42703.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                SqlError::undefined_column(format!(
                    "column \"{name}\" of table \"{}\" does not exist",
                    self.name
                ))
            })
    }

    /// First and past-the-end keys of the table's rows.
    pub fn key_range(&self) -> (Vec<u8>, Vec<u8>) {
        let mut start = vec![TABLES];
        start.extend_from_slice(&self.id.to_be_bytes());
        let end = match self.id.checked_add(1) {
            Some(next) => [&[TABLES][..], &next.to_be_bytes()].concat(),
            // The last possible table: up to the next prefix.
            None => vec![TABLES + 1],
        };
        (start, end)
    }

    /// The key of the row whose primary key (or row id) is `pk`.
    pub fn row_key(&self, pk: &Value) -> Result<Vec<u8>> {
        let (mut key, _) = self.key_range();
        encode_key_value(&mut key, pk)?;
        Ok(key)
    }
}

/// Appends the order-preserving encoding of a key value.
fn encode_key_value(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    let encoded = match v {
        Value::Null => {
            return Err(SqlError::not_null_violation("a primary key cannot be NULL"));
        }
        Value::Bool(b) => keycode::serialize(b),
        Value::Int(i) => keycode::serialize(i),
        Value::Float(x) => keycode::serialize(x),
        Value::Timestamp(t) => keycode::serialize(&t.as_nanos()),
        Value::Text(s) => {
            keycode::encode_bytes(out, s.as_bytes());
            return Ok(());
        }
        Value::Bytes(b) => {
            keycode::encode_bytes(out, b);
            return Ok(());
        }
    };
    out.extend(encoded.map_err(|e| SqlError::internal(format!("key encoding: {e}")))?);
    Ok(())
}

/// The catalog key of table `name`.
pub fn table_key(name: &str) -> Vec<u8> {
    let mut k = CATALOG.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// The catalog's key range (every table definition).
pub fn catalog_range() -> (Vec<u8>, Vec<u8>) {
    let mut end = CATALOG.to_vec();
    end.push(0xff);
    (CATALOG.to_vec(), end)
}

/// The key holding the next table id.
pub fn next_table_id_key() -> &'static [u8] {
    NEXT_TABLE_ID
}

/// Encodes a stored value (a table definition, a row).
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| SqlError::internal(format!("encoding: {e}")))
}

/// Decodes [`encode`]'s output; `what` names it in the error.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| SqlError::internal(format!("corrupt {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(id: u32) -> TableDef {
        TableDef {
            id,
            name: "t".into(),
            columns: vec![],
            primary_key: None,
        }
    }

    #[test]
    fn row_keys_sort_like_their_primary_keys_and_stay_in_the_table_range() {
        let t = table(7);
        let (start, end) = t.key_range();
        let mut keys: Vec<Vec<u8>> = [-5i64, 3, -100, 0, 42]
            .iter()
            .map(|i| t.row_key(&Value::Int(*i)).unwrap())
            .collect();
        keys.sort();
        let back: Vec<Vec<u8>> = [-100i64, -5, 0, 3, 42]
            .iter()
            .map(|i| t.row_key(&Value::Int(*i)).unwrap())
            .collect();
        assert_eq!(keys, back);
        assert!(keys.iter().all(|k| *k >= start && *k < end));
        let a = t.row_key(&Value::Text("ab".into())).unwrap();
        let b = t.row_key(&Value::Text("abc".into())).unwrap();
        assert!(a < b);
        assert!(t.row_key(&Value::Null).is_err());
        // Tables do not overlap.
        let (s8, _) = table(8).key_range();
        assert_eq!(end, s8);
    }
}
