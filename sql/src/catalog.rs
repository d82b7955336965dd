//! The catalog and the key layout of SQL data. Both are ordinary
//! transactional data in the key-value space (DESIGN.md §7): DDL commits
//! or aborts with its transaction.
//!
//! ```text
//!   0x02 'c' <table name>                 → TableDef (postcard)
//!   0x02 'n'                              → next table id (u32, big-endian)
//!   0x02 'v'                              → SchemaVersion (postcard)
//!   0x03 <table id u32 BE> <primary key>  → row: every column's value (postcard)
//!   0x04 <table id u32 BE> <index id u32 BE> <indexed values> [<primary key>]
//!                                         → the row's key
//! ```
//!
//! Keys are order-preserving (keycode), so a range of keys is a range of
//! rows (or index entries) in key order; a composite key is its columns'
//! encodings one after another. A table without a primary key gets a hidden
//! unique row id. An index entry ends with the row's primary key, so equal
//! indexed values do not collide — except in a unique index, whose entries
//! for values without NULLs end without it: a second row with the same
//! values would write the same key, which is how uniqueness is checked.

use serde::{Deserialize, Serialize};
use spanlite_storage::keycode;

use crate::error::{Result, SqlError};
use crate::value::{DataType, Value};

const CATALOG: &[u8] = &[0x02, b'c'];
const NEXT_TABLE_ID: &[u8] = &[0x02, b'n'];
const SCHEMA_VERSION: &[u8] = &[0x02, b'v'];
const TABLES: u8 = 0x03;
const INDEXES: u8 = 0x04;

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
    /// A default that calls a function (`now()`, `gen_random_uuid()`,
    /// …), as SQL text: evaluated for each row an INSERT leaves the
    /// column out of (`default` is then `None`), as PostgreSQL does.
    pub default_expr: Option<String>,
    /// Numbered by a sequence when an INSERT leaves it out (`SERIAL`,
    /// `DEFAULT nextval('s')`, identity columns).
    pub generated: Option<Generated>,
    /// Its value in rows stored before it was added (`ALTER TABLE … ADD
    /// COLUMN … DEFAULT c`: c; NULL when `None`), as PostgreSQL's
    /// `attmissingval`: adding a column rewrites no row.
    pub fill: Option<Value>,
    /// What its declared type limits beyond `ty` (SMALLINT, INTEGER,
    /// VARCHAR(n), CHAR(n)).
    pub width: Option<Width>,
    /// Its enum type's labels when `ty` is [`DataType::Enum`]: a copy of
    /// the type, which `ALTER TYPE` updates in every table that has one.
    pub enum_type: Option<crate::enums::EnumType>,
    /// A stored generated column's expression (`GENERATED ALWAYS AS (e)
    /// STORED`), as SQL over the row's other columns: computed for every
    /// row written, never given.
    pub generation: Option<String>,
}

impl Column {
    /// `v` as a value of this column's type (an assignment cast): text
    /// names a label of an enum column (22P02 if it is none of them).
    pub fn coerce(&self, v: Value) -> Result<Value> {
        match &self.enum_type {
            Some(t) => t.cast(v),
            None => v.cast_to(self.ty),
        }
    }
}

/// A limit of a column's declared type on its values: the integer types'
/// ranges (values are 64-bit), and character lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Width {
    /// SMALLINT / INT2.
    Int2,
    /// INTEGER / INT / INT4.
    Int4,
    /// VARCHAR(n) / CHARACTER VARYING(n).
    Varchar(u64),
    /// CHAR(n) / CHARACTER(n): at most n characters besides trailing
    /// spaces, which are dropped (PostgreSQL's bpchar ignores them in
    /// comparisons, `length` and concatenation; it shows them padded).
    Char(u64),
    /// NUMERIC(precision, scale).
    Numeric { precision: u32, scale: u32 },
}

impl Width {
    /// The limit of SQL type `t`, if it has one.
    pub fn from_sql(t: &sqlparser::ast::DataType) -> Option<Width> {
        use sqlparser::ast::{CharacterLength, DataType as D, ExactNumberInfo as E};
        let length = |l: &Option<CharacterLength>| match l {
            Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
            _ => None,
        };
        match t {
            // An array's: its elements'.
            D::Array(
                sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _)
                | sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)
                | sqlparser::ast::ArrayElemTypeDef::Parenthesis(inner),
            ) => Width::from_sql(inner),
            D::SmallInt(_) | D::Int2(_) => Some(Width::Int2),
            D::Int(_) | D::Integer(_) | D::Int4(_) => Some(Width::Int4),
            D::Varchar(l) | D::CharVarying(l) | D::CharacterVarying(l) => {
                length(l).map(Width::Varchar)
            }
            D::Char(l) | D::Character(l) => Some(Width::Char(length(l).unwrap_or(1))),
            D::Numeric(e) | D::Decimal(e) | D::Dec(e) => {
                let (p, s) = match e {
                    E::None => return None,
                    E::Precision(p) => (*p, 0),
                    E::PrecisionAndScale(p, s) => (*p, u64::try_from(*s).ok()?),
                };
                Some(Width::Numeric {
                    precision: u32::try_from(p).ok()?,
                    scale: u32::try_from(s).ok()?,
                })
            }
            _ => None,
        }
    }

    /// `v` (of the column's type) within the limit: 22003 for an integer
    /// out of range, 22001 for a string too long; CHAR(n) without its
    /// trailing spaces.
    pub fn check(self, v: Value) -> Result<Value> {
        match (self, v) {
            (Width::Int2, Value::Int(i)) if i16::try_from(i).is_err() => {
                Err(SqlError::numeric_out_of_range("smallint out of range"))
            }
            (Width::Int4, Value::Int(i)) if i32::try_from(i).is_err() => {
                Err(SqlError::numeric_out_of_range("integer out of range"))
            }
            (Width::Varchar(n), Value::Text(s)) if s.chars().count() as u64 > n => {
                Err(SqlError::string_too_long(format!(
                    "value too long for type character varying({n})"
                )))
            }
            (Width::Char(n), Value::Text(s)) => {
                // Trailing spaces beyond n are dropped, as PostgreSQL does.
                let kept = s.trim_end_matches(' ');
                let len = kept.chars().count() as u64;
                if len > n {
                    return Err(SqlError::string_too_long(format!(
                        "value too long for type character({n})"
                    )));
                }
                Ok(Value::Text(kept.to_string()))
            }
            (Width::Numeric { precision, scale }, Value::Numeric(n)) => {
                Ok(Value::Numeric(n.fit(precision, scale)?))
            }
            // A column of an array type: each element within its width.
            (w, Value::Array(items)) => Ok(Value::Array(
                items
                    .into_iter()
                    .map(|v| if v.is_null() { Ok(v) } else { w.check(v) })
                    .collect::<Result<_>>()?,
            )),
            (_, v) => Ok(v),
        }
    }
}

/// A column numbered by a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The sequence.
    pub sequence: String,
    /// `GENERATED ALWAYS AS IDENTITY`: an INSERT may not give a value.
    pub always: bool,
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
    /// The primary-key columns in key order; empty for a hidden row id.
    pub primary_key: Vec<usize>,
    /// Secondary indexes.
    pub indexes: Vec<IndexDef>,
    /// The id the next index of this table gets.
    pub next_index_id: u32,
    /// CHECK constraints: every row must not make them false.
    pub checks: Vec<CheckDef>,
    /// FOREIGN KEY constraints of this table's rows.
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// Where a stored row keeps each column: slot `i` of a row's values
    /// holds column `layout[i]`, or nothing any more (`None`: a dropped
    /// column, stored as NULL). Empty: slot `i` holds column `i`. A row
    /// stored before columns were added has fewer slots (see
    /// [`Column::fill`]); so no ALTER TABLE rewrites rows.
    pub layout: Vec<Option<usize>>,
    /// Work of online schema changes not finished yet (indexes being
    /// built, constraints whose rows are not checked yet), each with the
    /// change that owns it.
    pub pending: Vec<Pending>,
    /// For a table stored by hidden row ids that was given a primary key
    /// later (ALTER TABLE … ADD PRIMARY KEY): the id of the unique index
    /// (`<table>_pkey`) that is its primary key, over NOT NULL columns —
    /// PostgreSQL's model, where a primary key is a unique index and the
    /// rows stay where they are.
    pub primary_index: Option<u32>,
}

/// A piece of an online schema change (`crate::online`) still under way:
/// an index being built, or a constraint that binds every write since the
/// change that added it while the rows there were are still to be checked
/// (PostgreSQL's NOT VALID until then).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The schema change it belongs to (what finishes or abandons it).
    pub owner: u64,
    /// What it is.
    pub item: PendingItem,
}

/// What is pending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingItem {
    /// The index with this id is being built ([`IndexDef::building`]).
    Index(u32),
    /// The CHECK constraint of this name is to be validated.
    Check(String),
    /// The FOREIGN KEY constraint of this name is to be validated.
    ForeignKey(String),
    /// NOT NULL of the column of this name is to be validated.
    NotNull(String),
}

/// What a change to a referenced row does to the rows referring to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefAction {
    /// Refused (23503) while a row refers to it (NO ACTION, RESTRICT).
    Refuse,
    /// The referring rows are deleted (or updated with it).
    Cascade,
    /// The referring rows' key columns become NULL.
    SetNull,
}

/// A FOREIGN KEY constraint: `columns` of this table's rows, when none of
/// them is NULL, name a row of `parent` by its `parent_columns` (its
/// primary key or a unique index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    /// Its name (`<table>_<columns>_fkey`, or given).
    pub name: String,
    /// The referring columns.
    pub columns: Vec<usize>,
    /// The referenced table.
    pub parent: String,
    /// The referenced columns, in the order of `columns`.
    pub parent_columns: Vec<usize>,
    /// ON DELETE.
    pub on_delete: RefAction,
    /// ON UPDATE.
    pub on_update: RefAction,
}

/// A CHECK constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDef {
    /// Its name (`<table>_<column>_check`, `<table>_check`, or given).
    pub name: String,
    /// Its condition, as SQL over the table's columns.
    pub expr: String,
}

/// A secondary index (kept up to date in the same transaction as its rows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Unique within the table; index keys start with it.
    pub id: u32,
    /// Its name (unique in the database).
    pub name: String,
    /// The indexed columns, in order.
    pub columns: Vec<usize>,
    /// No two rows may have equal values (unless one of them is NULL).
    pub unique: bool,
    /// Being built (`CREATE INDEX` outside a transaction block): writers
    /// keep its entries up to date, but no query reads it until the rows
    /// that were there before it have their entries (F1's write-only
    /// state).
    pub building: bool,
}

impl TableDef {
    /// Forgets pending work whose object is gone (a dropped index,
    /// constraint or column).
    /// Also forgets a primary-key index that is gone.
    pub fn retain_pending(&mut self) {
        if let Some(id) = self.primary_index
            && !self.indexes.iter().any(|i| i.id == id)
        {
            self.primary_index = None;
        }
        let (indexes, checks, fks, columns) = (
            &self.indexes,
            &self.checks,
            &self.foreign_keys,
            &self.columns,
        );
        self.pending.retain(|p| match &p.item {
            PendingItem::Index(id) => indexes.iter().any(|i| i.id == *id && i.building),
            PendingItem::Check(n) => checks.iter().any(|c| &c.name == n),
            PendingItem::ForeignKey(n) => fks.iter().any(|f| &f.name == n),
            PendingItem::NotNull(n) => columns.iter().any(|c| &c.name == n && !c.nullable),
        });
    }

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

    /// The key of the row whose primary-key values (or row id) are `pk`,
    /// or the prefix of the keys of the rows that start with `pk`.
    pub fn row_key(&self, pk: &[Value]) -> Result<Vec<u8>> {
        let (mut key, _) = self.key_range();
        for v in pk {
            encode_key_value(&mut key, v)?;
        }
        Ok(key)
    }

    /// The primary-key values of `row` (its row id, for tables without a
    /// primary key, is not part of the row: see [`TableDef::row_key`]).
    pub fn primary_key_values(&self, row: &[Value]) -> Vec<Value> {
        self.primary_key.iter().map(|&i| row[i].clone()).collect()
    }

    /// True when the table has a primary key (else a hidden row id).
    pub fn has_primary_key(&self) -> bool {
        !self.primary_key.is_empty()
    }

    /// The columns of the table's primary key, whether it keys the rows
    /// or is a unique index ([`TableDef::primary_index`], once built).
    pub fn declared_primary_key(&self) -> Option<&[usize]> {
        if self.has_primary_key() {
            return Some(&self.primary_key);
        }
        let id = self.primary_index?;
        self.indexes
            .iter()
            .find(|i| i.id == id && !i.building)
            .map(|i| i.columns.as_slice())
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// First and past-the-end keys of the entries of `index`.
    pub fn index_range(&self, index: &IndexDef) -> (Vec<u8>, Vec<u8>) {
        let mut start = vec![INDEXES];
        start.extend_from_slice(&self.id.to_be_bytes());
        start.extend_from_slice(&index.id.to_be_bytes());
        let end = prefix_end(&start);
        (start, end)
    }

    /// The prefix of the entries of `index` whose first columns equal
    /// `values`.
    pub fn index_prefix(&self, index: &IndexDef, values: &[Value]) -> Result<Vec<u8>> {
        let (mut key, _) = self.index_range(index);
        for v in values {
            encode_index_value(&mut key, v)?;
        }
        Ok(key)
    }

    /// The key of `row`'s entry in `index`; `row_key` is the row's key.
    pub fn index_key(&self, index: &IndexDef, row: &[Value], row_key: &[u8]) -> Result<Vec<u8>> {
        let values: Vec<Value> = index.columns.iter().map(|&c| row[c].clone()).collect();
        let mut key = self.index_prefix(index, &values)?;
        if !index.unique || values.contains(&Value::Null) {
            let (table_prefix, _) = self.key_range();
            key.extend_from_slice(row_key.get(table_prefix.len()..).unwrap_or_default());
        }
        Ok(key)
    }

    /// Decodes a stored row into the values of [`TableDef::columns`].
    pub fn decode_row(&self, bytes: &[u8]) -> Result<Vec<Value>> {
        let stored: Vec<Value> = decode(bytes, "row")?;
        let slots = if self.layout.is_empty() {
            self.columns.len()
        } else {
            self.layout.len()
        };
        if stored.len() > slots {
            return Err(SqlError::internal(format!(
                "a row of \"{}\" has {} values for {slots} columns",
                self.name,
                stored.len()
            )));
        }
        let mut row: Vec<Value> = self
            .columns
            .iter()
            .map(|c| c.fill.clone().unwrap_or(Value::Null))
            .collect();
        for (slot, v) in stored.into_iter().enumerate() {
            let column = if self.layout.is_empty() {
                Some(slot)
            } else {
                self.layout[slot]
            };
            if let Some(c) = column {
                row[c] = v;
            }
        }
        // Enum values with their labels as their types name them now
        // (`ALTER TYPE … RENAME VALUE`).
        for (c, v) in self.columns.iter().zip(row.iter_mut()) {
            if let Some(t) = &c.enum_type {
                t.current(v);
            }
        }
        Ok(row)
    }

    /// Encodes `row` (a value per column) as stored.
    pub fn encode_row(&self, row: &[Value]) -> Result<Vec<u8>> {
        if self.layout.is_empty() {
            return encode(&row);
        }
        let stored: Vec<&Value> = self
            .layout
            .iter()
            .map(|c| c.and_then(|c| row.get(c)).unwrap_or(&Value::Null))
            .collect();
        encode(&stored)
    }

    /// The layout with every slot spelled out (see [`TableDef::layout`]).
    pub fn full_layout(&self) -> Vec<Option<usize>> {
        if self.layout.is_empty() {
            (0..self.columns.len()).map(Some).collect()
        } else {
            self.layout.clone()
        }
    }

    /// The indexes queries may read (built).
    pub fn readable_indexes(&self) -> impl Iterator<Item = &IndexDef> {
        self.indexes.iter().filter(|i| !i.building)
    }

    /// The column names of `index`, comma-separated.
    pub fn index_columns(&self, index: &IndexDef) -> String {
        self.column_names(&index.columns, ", ")
    }

    /// The names of columns `columns`, joined by `sep`.
    pub fn column_names(&self, columns: &[usize], sep: &str) -> String {
        columns
            .iter()
            .map(|&c| self.columns[c].name.as_str())
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: nothing sorts after it but longer 0xff runs.
    vec![0xff; prefix.len() + 1]
}

/// Appends an index value: NULL sorts first (a 0x00 tag), other values
/// follow a 0x01 tag.
fn encode_index_value(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    if *v == Value::Null {
        out.push(0x00);
        return Ok(());
    }
    out.push(0x01);
    encode_key_value(out, v)
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
        Value::Timestamp(t) | Value::TimestampTz(t) => keycode::serialize(&t.as_nanos()),
        Value::Date(d) => keycode::serialize(&i64::from(*d)),
        Value::Time(t) => keycode::serialize(t),
        // By its sort order (its type is the column's).
        Value::Enum(e) => keycode::serialize(&f64::from(e.sort)),
        // Element by element, each after a tag that sorts a NULL one after
        // the others, then a 0x00 that sorts a prefix first.
        Value::Array(items) => {
            for item in items {
                if item.is_null() {
                    out.push(0x02);
                } else {
                    out.push(0x01);
                    encode_key_value(out, item)?;
                }
            }
            out.push(0x00);
            return Ok(());
        }
        Value::Interval(iv) => {
            iv.encode_key(out);
            return Ok(());
        }
        Value::Numeric(n) => {
            n.encode_key(out);
            return Ok(());
        }
        Value::Text(s) | Value::Jsonb(s) => {
            keycode::encode_bytes(out, s.as_bytes());
            return Ok(());
        }
        Value::Bytes(b) => {
            keycode::encode_bytes(out, b);
            return Ok(());
        }
        Value::Uuid(u) => {
            out.extend_from_slice(u);
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

/// The catalog's version record (schema leases, DESIGN.md §7): every DDL
/// transaction writes it, so a transaction that read it under its
/// concurrency control knows the schema it bound against is still the
/// one at its commit timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaVersion {
    /// Raised by every DDL transaction.
    pub version: u64,
    /// A schema change that needs every lease on this version gone is
    /// under way: no lease granted on this version reaches past this
    /// timestamp (nanoseconds).
    pub closing_at: Option<u64>,
}

/// The key of the [`SchemaVersion`] record.
pub fn schema_version_key() -> &'static [u8] {
    SCHEMA_VERSION
}

/// Every catalog key: the table definitions, the table-id counter and the
/// version record (what a node's schema cache reads in one scan).
pub fn schema_span() -> (Vec<u8>, Vec<u8>) {
    (vec![0x02], vec![0x03])
}

/// The version record and the table definitions among `pairs` (a scan of
/// [`schema_span`]).
pub fn decode_schema(
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> Result<(SchemaVersion, std::collections::BTreeMap<String, TableDef>)> {
    let mut version = SchemaVersion::default();
    let mut tables = std::collections::BTreeMap::new();
    for (k, v) in pairs {
        if k.as_slice() == SCHEMA_VERSION {
            version = decode(v, "schema version")?;
        } else if k.starts_with(CATALOG) {
            let def = decode_table(v)?;
            tables.insert(def.name.clone(), def);
        }
    }
    Ok((version, tables))
}

/// The key holding the next table id.
pub fn next_table_id_key() -> &'static [u8] {
    NEXT_TABLE_ID
}

/// How a table definition is stored: tagged with its format, so a
/// definition written by an earlier version is still read. The current
/// format is tag 0, the second format's body, then [`TableExtras`] (a
/// definition of the second format ends after its body). A definition of
/// the first format has no tag: it starts with its table id, never 0.
#[derive(Serialize, Deserialize)]
enum StoredTable {
    /// Tag 0.
    Tagged(TableBody),
}

/// A column as the first format stored it (no `generated`).
#[derive(Serialize, Deserialize)]
struct ColumnV1 {
    name: String,
    ty: DataType,
    nullable: bool,
    default: Option<Value>,
}

/// A column in a tagged definition's body.
#[derive(Serialize, Deserialize)]
struct ColumnBody {
    name: String,
    ty: DataType,
    nullable: bool,
    default: Option<Value>,
    generated: Option<Generated>,
}

/// An index as every format stores it (its state is in the extras).
#[derive(Serialize, Deserialize)]
struct IndexBody {
    id: u32,
    name: String,
    columns: Vec<usize>,
    unique: bool,
}

/// A table definition as the first format stored it.
#[derive(Serialize, Deserialize)]
struct TableDefV1 {
    id: u32,
    name: String,
    columns: Vec<ColumnV1>,
    primary_key: Vec<usize>,
    indexes: Vec<IndexBody>,
    next_index_id: u32,
}

/// A tagged definition's body (all of the second format).
#[derive(Serialize, Deserialize)]
struct TableBody {
    id: u32,
    name: String,
    columns: Vec<ColumnBody>,
    primary_key: Vec<usize>,
    indexes: Vec<IndexBody>,
    next_index_id: u32,
    checks: Vec<CheckDef>,
    foreign_keys: Vec<ForeignKeyDef>,
}

/// What the current format adds after the body (ALTER TABLE's and online
/// CREATE INDEX's state); empty in the second format.
#[derive(Default, Serialize, Deserialize)]
struct TableExtras {
    /// [`Column::fill`] per column.
    fills: Vec<Option<Value>>,
    /// [`TableDef::layout`].
    layout: Vec<Option<usize>>,
    /// The ids of the indexes being built ([`IndexDef::building`]).
    building: Vec<u32>,
    /// [`Column::width`] per column.
    widths: Vec<Option<Width>>,
}

/// What follows [`TableExtras`] (a definition written before online
/// constraint checks ends without it).
#[derive(Default, Serialize, Deserialize)]
struct TableMoreExtras {
    /// [`TableDef::pending`].
    pending: Vec<Pending>,
    /// [`TableDef::primary_index`].
    primary_index: Option<u32>,
}

/// What follows [`TableMoreExtras`] (a definition written before
/// defaults evaluated per row ends without it).
#[derive(Default, Serialize, Deserialize)]
struct TableDefaults {
    /// [`Column::default_expr`] per column.
    default_exprs: Vec<Option<String>>,
}

/// What follows [`TableDefaults`] (a definition written before enum types
/// ends without it).
#[derive(Default, Serialize, Deserialize)]
struct TableEnums {
    /// [`Column::enum_type`] per column.
    enum_types: Vec<Option<crate::enums::EnumType>>,
}

/// What follows [`TableEnums`] (a definition written before stored
/// generated columns ends without it; [`TableEnums`] is written, empty,
/// when a table has generated columns and no enum column).
#[derive(Default, Serialize, Deserialize)]
struct TableGenerated {
    /// [`Column::generation`] per column.
    generations: Vec<Option<String>>,
}

/// Encodes a table definition (in the current, tagged format).
pub fn encode_table(def: &TableDef) -> Result<Vec<u8>> {
    let body = TableBody {
        id: def.id,
        name: def.name.clone(),
        columns: def
            .columns
            .iter()
            .map(|c| ColumnBody {
                name: c.name.clone(),
                ty: c.ty,
                nullable: c.nullable,
                default: c.default.clone(),
                generated: c.generated.clone(),
            })
            .collect(),
        primary_key: def.primary_key.clone(),
        indexes: def
            .indexes
            .iter()
            .map(|i| IndexBody {
                id: i.id,
                name: i.name.clone(),
                columns: i.columns.clone(),
                unique: i.unique,
            })
            .collect(),
        next_index_id: def.next_index_id,
        checks: def.checks.clone(),
        foreign_keys: def.foreign_keys.clone(),
    };
    let extras = TableExtras {
        fills: def.columns.iter().map(|c| c.fill.clone()).collect(),
        layout: def.layout.clone(),
        building: def
            .indexes
            .iter()
            .filter(|i| i.building)
            .map(|i| i.id)
            .collect(),
        widths: def.columns.iter().map(|c| c.width).collect(),
    };
    let mut out = encode(&StoredTable::Tagged(body))?;
    out.extend(encode(&extras)?);
    out.extend(encode(&TableMoreExtras {
        pending: def.pending.clone(),
        primary_index: def.primary_index,
    })?);
    out.extend(encode(&TableDefaults {
        default_exprs: def.columns.iter().map(|c| c.default_expr.clone()).collect(),
    })?);
    let generated = def.columns.iter().any(|c| c.generation.is_some());
    if generated || def.columns.iter().any(|c| c.enum_type.is_some()) {
        out.extend(encode(&TableEnums {
            enum_types: def.columns.iter().map(|c| c.enum_type.clone()).collect(),
        })?);
    }
    if generated {
        out.extend(encode(&TableGenerated {
            generations: def.columns.iter().map(|c| c.generation.clone()).collect(),
        })?);
    }
    Ok(out)
}

/// Decodes a table definition of any format.
pub fn decode_table(bytes: &[u8]) -> Result<TableDef> {
    let corrupt = |e: postcard::Error| SqlError::internal(format!("corrupt table definition: {e}"));
    // Each part after the body is absent from a definition written before
    // it existed.
    fn next<T: Default + for<'de> Deserialize<'de>>(
        rest: &mut &[u8],
    ) -> std::result::Result<T, postcard::Error> {
        if rest.is_empty() {
            return Ok(T::default());
        }
        let (part, after) = postcard::take_from_bytes::<T>(rest)?;
        *rest = after;
        Ok(part)
    }
    let (body, extras, more, defaults, enums, generated) = if bytes.first() == Some(&0) {
        let (StoredTable::Tagged(body), mut rest) =
            postcard::take_from_bytes::<StoredTable>(bytes).map_err(corrupt)?;
        let extras: TableExtras = next(&mut rest).map_err(corrupt)?;
        let more: TableMoreExtras = next(&mut rest).map_err(corrupt)?;
        let defaults: TableDefaults = next(&mut rest).map_err(corrupt)?;
        let enums: TableEnums = next(&mut rest).map_err(corrupt)?;
        let generated: TableGenerated = next(&mut rest).map_err(corrupt)?;
        (body, extras, more, defaults, enums, generated)
    } else {
        let v1: TableDefV1 = decode(bytes, "table definition")?;
        let body = TableBody {
            id: v1.id,
            name: v1.name,
            columns: v1
                .columns
                .into_iter()
                .map(|c| ColumnBody {
                    name: c.name,
                    ty: c.ty,
                    nullable: c.nullable,
                    default: c.default,
                    generated: None,
                })
                .collect(),
            primary_key: v1.primary_key,
            indexes: v1.indexes,
            next_index_id: v1.next_index_id,
            checks: Vec::new(),
            foreign_keys: Vec::new(),
        };
        (
            body,
            TableExtras::default(),
            TableMoreExtras::default(),
            TableDefaults::default(),
            TableEnums::default(),
            TableGenerated::default(),
        )
    };
    Ok(TableDef {
        id: body.id,
        name: body.name,
        columns: body
            .columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| Column {
                name: c.name,
                ty: c.ty,
                nullable: c.nullable,
                default: c.default,
                default_expr: defaults.default_exprs.get(i).cloned().flatten(),
                generated: c.generated,
                fill: extras.fills.get(i).cloned().flatten(),
                width: extras.widths.get(i).copied().flatten(),
                enum_type: enums.enum_types.get(i).cloned().flatten(),
                generation: generated.generations.get(i).cloned().flatten(),
            })
            .collect(),
        primary_key: body.primary_key,
        indexes: body
            .indexes
            .into_iter()
            .map(|i| IndexDef {
                building: extras.building.contains(&i.id),
                id: i.id,
                name: i.name,
                columns: i.columns,
                unique: i.unique,
            })
            .collect(),
        next_index_id: body.next_index_id,
        checks: body.checks,
        foreign_keys: body.foreign_keys,
        layout: extras.layout,
        pending: more.pending,
        primary_index: more.primary_index,
    })
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
            primary_key: vec![0],
            indexes: vec![],
            next_index_id: 1,
            checks: vec![],
            foreign_keys: vec![],
            layout: vec![],
            pending: vec![],
            primary_index: None,
        }
    }

    /// A nullable INT column with no default, reading `fill` in rows stored
    /// before it was added.
    fn int_column(name: &str, fill: Option<Value>) -> Column {
        Column {
            name: name.into(),
            ty: DataType::Int,
            nullable: true,
            default: None,
            default_expr: None,
            generated: None,
            enum_type: None,
            fill,
            width: None,
            generation: None,
        }
    }

    #[test]
    fn row_keys_sort_like_their_primary_keys_and_stay_in_the_table_range() {
        let t = table(7);
        let (start, end) = t.key_range();
        let mut keys: Vec<Vec<u8>> = [-5i64, 3, -100, 0, 42]
            .iter()
            .map(|i| t.row_key(&[Value::Int(*i)]).unwrap())
            .collect();
        keys.sort();
        let back: Vec<Vec<u8>> = [-100i64, -5, 0, 3, 42]
            .iter()
            .map(|i| t.row_key(&[Value::Int(*i)]).unwrap())
            .collect();
        assert_eq!(keys, back);
        assert!(keys.iter().all(|k| *k >= start && *k < end));
        let a = t.row_key(&[Value::Text("ab".into())]).unwrap();
        let b = t.row_key(&[Value::Text("abc".into())]).unwrap();
        assert!(a < b);
        assert!(t.row_key(&[Value::Null]).is_err());
        // Composite keys sort by their first column, then the next.
        let k = |a: i64, b: &str| t.row_key(&[Value::Int(a), Value::Text(b.into())]).unwrap();
        assert!(k(1, "zz") < k(2, "a"));
        assert!(k(2, "a") < k(2, "ab"));
        assert!(k(2, "ab") < prefix_end(&t.row_key(&[Value::Int(2)]).unwrap()));
        // Tables do not overlap.
        let (s8, _) = table(8).key_range();
        assert_eq!(end, s8);
    }

    /// A definition written in the first format (before `generated`) is
    /// still read; the current format is tagged and round-trips.
    #[test]
    fn table_definitions_of_the_first_format_are_still_read() {
        #[derive(Serialize)]
        struct ColumnV1 {
            name: String,
            ty: DataType,
            nullable: bool,
            default: Option<Value>,
        }
        #[derive(Serialize)]
        struct TableDefV1 {
            id: u32,
            name: String,
            columns: Vec<ColumnV1>,
            primary_key: Vec<usize>,
            indexes: Vec<IndexDef>,
            next_index_id: u32,
        }
        let old = TableDefV1 {
            id: 7,
            name: "t".into(),
            columns: vec![ColumnV1 {
                name: "k".into(),
                ty: DataType::Int,
                nullable: false,
                default: Some(Value::Int(3)),
            }],
            primary_key: vec![0],
            indexes: vec![],
            next_index_id: 1,
        };
        let def = decode_table(&postcard::to_stdvec(&old).unwrap()).unwrap();
        assert_eq!(def.id, 7);
        assert_eq!(def.columns[0].default, Some(Value::Int(3)));
        assert_eq!(def.columns[0].generated, None);
        let again = decode_table(&encode_table(&def).unwrap()).unwrap();
        assert_eq!(again, def);
    }

    /// A definition of the second format (a tagged body, nothing after it)
    /// is read with no fill, layout or index being built; the current
    /// format keeps them.
    #[test]
    fn table_definitions_of_the_second_format_are_still_read() {
        let body = TableBody {
            id: 9,
            name: "t".into(),
            columns: vec![ColumnBody {
                name: "k".into(),
                ty: DataType::Int,
                nullable: false,
                default: None,
                generated: None,
            }],
            primary_key: vec![0],
            indexes: vec![IndexBody {
                id: 1,
                name: "t_k".into(),
                columns: vec![0],
                unique: false,
            }],
            next_index_id: 2,
            checks: vec![],
            foreign_keys: vec![],
        };
        let bytes = encode(&StoredTable::Tagged(body)).unwrap();
        let mut def = decode_table(&bytes).unwrap();
        assert_eq!(def.columns[0].fill, None);
        assert!(def.layout.is_empty());
        assert!(!def.indexes[0].building);
        def.columns[0].fill = Some(Value::Int(4));
        def.layout = vec![None, Some(0)];
        def.indexes[0].building = true;
        assert_eq!(decode_table(&encode_table(&def).unwrap()).unwrap(), def);
        // An enum column keeps its type's labels.
        let mood = crate::enums::EnumType::new(9, "mood", &["a".into(), "b".into()]).unwrap();
        def.columns[0].ty = DataType::Enum(9);
        def.columns[0].enum_type = Some(mood);
        assert_eq!(decode_table(&encode_table(&def).unwrap()).unwrap(), def);
    }

    /// A stored generated column's expression is kept, with or without an
    /// enum column beside it.
    #[test]
    fn generation_expressions_round_trip() {
        let mut def = table(3);
        def.columns = vec![
            int_column("a", None),
            int_column("b", None),
            int_column("c", None),
        ];
        def.columns[2].generation = Some("a * 2".into());
        assert_eq!(decode_table(&encode_table(&def).unwrap()).unwrap(), def);
        let mood = crate::enums::EnumType::new(9, "mood", &["a".into()]).unwrap();
        def.columns[1].ty = DataType::Enum(9);
        def.columns[1].enum_type = Some(mood);
        assert_eq!(decode_table(&encode_table(&def).unwrap()).unwrap(), def);
    }

    /// Rows stored before a column was added read its fill; a dropped
    /// column's slot is skipped; rows written now store every slot.
    #[test]
    fn rows_are_read_through_the_layout() {
        let col = int_column;
        let mut t = table(3);
        t.columns = vec![col("a", None), col("c", Some(Value::Int(9)))];
        // Slots: a, (dropped b), c.
        t.layout = vec![Some(0), None, Some(1)];
        let old = encode(&vec![Value::Int(1), Value::Int(2)]).unwrap();
        assert_eq!(
            t.decode_row(&old).unwrap(),
            vec![Value::Int(1), Value::Int(9)]
        );
        let new = t.encode_row(&[Value::Int(5), Value::Int(6)]).unwrap();
        assert_eq!(
            decode::<Vec<Value>>(&new, "row").unwrap(),
            vec![Value::Int(5), Value::Null, Value::Int(6)]
        );
        assert_eq!(
            t.decode_row(&new).unwrap(),
            vec![Value::Int(5), Value::Int(6)]
        );
        let long = encode(&vec![Value::Int(1); 4]).unwrap();
        assert!(t.decode_row(&long).is_err());
    }
}
