//! `ALTER TABLE t ALTER COLUMN c TYPE ty [USING expr]` to another type, or
//! to a narrower one: every row is rewritten in the statement's
//! transaction, as PostgreSQL rewrites the table. Each row's new value is
//! `expr` (PostgreSQL's default: `c::ty`, allowed without USING only where
//! PostgreSQL has an assignment cast), cast to the new type and checked
//! against its limits, NOT NULL and the table's CHECK conditions; the
//! indexes on the column are rebuilt (every old entry goes before any new
//! one is written, so uniqueness is checked among the new values). A
//! failure on any row changes nothing. Widening in place (`VARCHAR(10)` →
//! `TEXT`) reads no row and stays in `alter`.

use std::sync::Arc;

use sqlparser::ast::{self, Expr};

use super::dml::put_index_entry;
use super::row_rules::ast_has_subquery;
use super::tables;
use crate::bind::{Binder, Tables};
use crate::catalog::{Column, TableDef, Width};
use crate::enums::EnumType;
use crate::error::{Result, SqlError};
use crate::eval::{self, Env};
use crate::kv::KvTxn;
use crate::plan::BExpr;
use crate::value::{DataType, Value};

/// The type column `c` of `def` is changed to.
pub(super) struct NewType<'a> {
    pub ty: DataType,
    pub width: Option<Width>,
    pub enum_type: Option<EnumType>,
    /// As written (for messages).
    pub sql: &'a ast::DataType,
}

/// Whether PostgreSQL converts a `from` column to `to` without USING (an
/// assignment cast exists): to text, among the numbers, among dates and
/// timestamps, and within a type.
fn converts_itself(from: DataType, to: DataType) -> bool {
    use DataType as D;
    from == to
        || to == D::Text
        || matches!(
            (from, to),
            (
                D::Int | D::Float | D::Numeric,
                D::Int | D::Float | D::Numeric
            ) | (
                D::Date | D::Timestamp | D::TimestampTz,
                D::Date | D::Timestamp | D::TimestampTz
            )
        )
}

/// Rewrites every row of `def` with column `c` of type `new` (see the
/// module); `def` is the new definition afterwards.
pub(super) async fn change_type(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    c: usize,
    new: NewType<'_>,
    using: Option<&Expr>,
) -> Result<()> {
    let old = def.clone();
    let name = old.columns[c].name.clone();
    if old.primary_key.contains(&c) {
        return Err(SqlError::not_supported(format!(
            "changing the type of column \"{name}\" of the primary key of \"{}\"",
            old.name
        )));
    }
    let referenced = tables(txn).await?.iter().any(|t| {
        t.foreign_keys
            .iter()
            .any(|f| f.parent == old.name && f.parent_columns.contains(&c))
    });
    if referenced || old.foreign_keys.iter().any(|f| f.columns.contains(&c)) {
        return Err(SqlError::not_supported(format!(
            "changing the type of column \"{name}\", which a foreign key uses"
        )));
    }
    if using.is_none() && !converts_itself(old.columns[c].ty, new.ty) {
        return Err(SqlError::datatype_mismatch(format!(
            "column \"{name}\" cannot be cast automatically to type {}\nHINT: You might need to specify \"USING {name}::{}\".",
            new.sql, new.sql
        )));
    }
    let mut types = Tables::new();
    for t in txn.enum_defs().await? {
        types.types.insert(t.name.clone(), t);
    }
    types.add_types_of(&old.columns);
    let source = match using {
        Some(e) if ast_has_subquery(e) => {
            return Err(SqlError::not_supported(
                "cannot use subquery in transform expression",
            ));
        }
        Some(e) => Binder::new(&types, &[])
            .in_table(&old, &[e])?
            .pop()
            .ok_or_else(|| SqlError::internal("a USING expression did not bind"))?,
        None => BExpr::Column(c),
    };
    // The explicit cast (`CAST(x AS ty)`), which rounds a float to an
    // integer as PostgreSQL's assignment cast does.
    let cast = |e: BExpr| match &new.enum_type {
        Some(t) => BExpr::Enum(Box::new(e), Arc::new(t.clone())),
        None => BExpr::Cast(Box::new(e), new.ty),
    };
    let convert = cast(source);
    let column: &mut Column = &mut def.columns[c];
    column.ty = new.ty;
    column.width = new.width;
    column.enum_type = new.enum_type.clone();
    let column = column.clone();
    // The default (and the value of rows stored before the column was
    // added) converted the same way.
    let fitted = |v: Value| -> Result<Value> {
        let v = eval::eval(&cast(BExpr::Const(v)), &Env::EMPTY)?;
        match column.width {
            Some(w) => w.check(v),
            None => Ok(v),
        }
    };
    let default_error = |_: SqlError| {
        SqlError::datatype_mismatch(format!(
            "default for column \"{name}\" cannot be cast automatically to type {}",
            new.sql
        ))
    };
    def.columns[c].default = column
        .default
        .clone()
        .map(&fitted)
        .transpose()
        .map_err(default_error)?;
    def.columns[c].fill = column
        .fill
        .clone()
        .map(&fitted)
        .transpose()
        .map_err(default_error)?;
    let rules = super::row_rules::RowRules::of(def)?;
    let indexes: Vec<_> = old
        .indexes
        .iter()
        .filter(|i| i.columns.contains(&c))
        .collect();
    let (start, end) = old.key_range();
    let mut rewritten = Vec::new();
    for (key, bytes) in txn.scan(&start, &end).await? {
        let row = old.decode_row(&bytes)?;
        let mut new_row = row.clone();
        new_row[c] = eval::eval(
            &convert,
            &Env {
                row: &row,
                ..Env::EMPTY
            },
        )?;
        let new_row = rules.row(def, new_row)?;
        for index in &indexes {
            txn.delete(old.index_key(index, &row, &key)?)?;
        }
        rewritten.push((key, new_row));
    }
    for (key, row) in &rewritten {
        for index in &indexes {
            put_index_entry(txn, def, index, row, key).await?;
        }
        txn.put(key.clone(), def.encode_row(row)?)?;
    }
    Ok(())
}
