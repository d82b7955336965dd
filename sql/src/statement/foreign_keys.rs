//! FOREIGN KEY constraints, checked inside the statement's transaction and
//! under its concurrency control:
//!
//! - a row written with a key (no column NULL: MATCH SIMPLE) must find its
//!   parent row: a point read of the parent's primary key or unique index
//!   entry (under 2PL a shared lock, which a concurrent DELETE of the
//!   parent must wait for; under SSI/OCC a read that is validated);
//! - a parent row deleted, or whose referenced columns change, has its
//!   children looked for by a scan of each referring table (under 2PL a
//!   shared range lock, which a concurrent child INSERT must wait for;
//!   under SSI a validated span): refused (23503), deleted or updated
//!   (CASCADE) or set to NULL (SET NULL).
//!
//! So a parent delete and a child insert that race can never both commit:
//! one of them reads what the other writes.

use std::collections::HashSet;

use sqlparser::ast::{Ident, ObjectName, ReferentialAction};

use super::load_table_owned;
use crate::catalog::{ForeignKeyDef, RefAction, TableDef};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::Value;

/// A FOREIGN KEY as CREATE TABLE wrote it.
#[derive(Debug)]
pub(super) struct Written {
    pub(super) name: Option<Ident>,
    pub(super) columns: Vec<Ident>,
    pub(super) parent: ObjectName,
    pub(super) parent_columns: Vec<Ident>,
    pub(super) on_delete: Option<ReferentialAction>,
    pub(super) on_update: Option<ReferentialAction>,
}

fn action(a: Option<ReferentialAction>) -> Result<RefAction> {
    match a {
        None | Some(ReferentialAction::NoAction | ReferentialAction::Restrict) => {
            Ok(RefAction::Refuse)
        }
        Some(ReferentialAction::Cascade) => Ok(RefAction::Cascade),
        Some(ReferentialAction::SetNull) => Ok(RefAction::SetNull),
        Some(ReferentialAction::SetDefault) => Err(SqlError::not_supported("SET DEFAULT")),
    }
}

/// Checks a written FOREIGN KEY of table `def` against its parent (which
/// may be `def` itself): the referenced columns must be its primary key or
/// a unique index (42830), of the same types (42804).
pub(super) async fn resolve(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    w: Written,
) -> Result<ForeignKeyDef> {
    let parent_name = object_name(&w.parent)?;
    let parent = if parent_name == def.name {
        def.clone()
    } else {
        load_table_owned(txn, &parent_name).await?.ok_or_else(|| {
            SqlError::undefined_table(format!("relation \"{parent_name}\" does not exist"))
        })?
    };
    let columns = w
        .columns
        .iter()
        .map(|c| def.column(&ident(c)))
        .collect::<Result<Vec<_>>>()?;
    let parent_columns = if w.parent_columns.is_empty() {
        match parent.declared_primary_key() {
            Some(k) => k.to_vec(),
            None => {
                return Err(SqlError::invalid_foreign_key(format!(
                    "there is no primary key for referenced table \"{parent_name}\""
                )));
            }
        }
    } else {
        w.parent_columns
            .iter()
            .map(|c| parent.column(&ident(c)))
            .collect::<Result<Vec<_>>>()?
    };
    if columns.len() != parent_columns.len() {
        return Err(SqlError::invalid_foreign_key(
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    let same_set = |cols: &[usize]| {
        let mut a = cols.to_vec();
        let mut b = parent_columns.clone();
        a.sort_unstable();
        b.sort_unstable();
        a == b
    };
    let keyed = (parent.has_primary_key() && same_set(&parent.primary_key))
        || parent
            .indexes
            .iter()
            .any(|i| i.unique && !i.building && same_set(&i.columns));
    if !keyed {
        return Err(SqlError::invalid_foreign_key(format!(
            "there is no unique constraint matching given keys for referenced table \"{parent_name}\""
        )));
    }
    for (&c, &p) in columns.iter().zip(&parent_columns) {
        if def.columns[c].ty != parent.columns[p].ty {
            return Err(SqlError::datatype_mismatch(format!(
                "foreign key constraint cannot be implemented: key columns \"{}\" and \"{}\" are of incompatible types",
                def.columns[c].name, parent.columns[p].name
            )));
        }
    }
    let name = match &w.name {
        Some(n) => ident(n),
        None => format!("{}_{}_fkey", def.name, def.column_names(&columns, "_")),
    };
    Ok(ForeignKeyDef {
        name,
        columns,
        parent: parent_name,
        parent_columns,
        on_delete: action(w.on_delete)?,
        on_update: action(w.on_update)?,
    })
}

/// The referenced values of `row` (a child row) under `fk`, or `None` when
/// one of them is NULL (nothing to check).
fn key_of(fk: &ForeignKeyDef, row: &[Value]) -> Option<Vec<Value>> {
    let values: Vec<Value> = fk.columns.iter().map(|&c| row[c].clone()).collect();
    (!values.contains(&Value::Null)).then_some(values)
}

fn describe(names: &[&str], values: &[Value]) -> String {
    format!(
        "({})=({})",
        names.join(", "),
        values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// True when `parent` has a row whose `fk.parent_columns` are `values`.
async fn parent_has(
    txn: &mut dyn KvTxn,
    parent: &TableDef,
    fk: &ForeignKeyDef,
    values: &[Value],
) -> Result<bool> {
    // A parent row with these values: NULL elsewhere does not matter to
    // the keys built from it.
    let mut row = vec![Value::Null; parent.columns.len()];
    for (&p, v) in fk.parent_columns.iter().zip(values) {
        row[p] = v.clone();
    }
    let mut sorted = fk.parent_columns.clone();
    sorted.sort_unstable();
    let mut pk = parent.primary_key.clone();
    pk.sort_unstable();
    if parent.has_primary_key() && sorted == pk {
        let key = parent.row_key(&parent.primary_key_values(&row))?;
        return Ok(txn.get(&key).await?.is_some());
    }
    for index in parent.readable_indexes().filter(|i| i.unique) {
        let mut cols = index.columns.clone();
        cols.sort_unstable();
        if cols == sorted {
            let key = parent.index_key(index, &row, &[])?;
            return Ok(txn.get(&key).await?.is_some());
        }
    }
    Err(SqlError::internal(format!(
        "foreign key {} has no key in table {}",
        fk.name, parent.name
    )))
}

/// Checks the foreign keys of `row`, written to table `def` (`old`: the
/// row it replaces, whose unchanged keys need no check): 23503 when a
/// parent row is missing.
pub(super) async fn check_parents(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    row: &[Value],
    old: Option<&[Value]>,
) -> Result<()> {
    for fk in &def.foreign_keys {
        let Some(values) = key_of(fk, row) else {
            continue;
        };
        if old.is_some_and(|o| fk.columns.iter().all(|&c| o[c] == row[c])) {
            continue;
        }
        let parent = if fk.parent == def.name {
            def.clone()
        } else {
            load_table_owned(txn, &fk.parent).await?.ok_or_else(|| {
                SqlError::internal(format!("the parent table {} is gone", fk.parent))
            })?
        };
        // A row that refers to itself is its own parent.
        let own = fk.parent == def.name
            && fk
                .parent_columns
                .iter()
                .zip(&values)
                .all(|(&p, v)| row[p] == *v);
        if !own && !parent_has(txn, &parent, fk, &values).await? {
            let names: Vec<&str> = fk
                .columns
                .iter()
                .map(|&c| def.columns[c].name.as_str())
                .collect();
            return Err(SqlError::foreign_key_violation(format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\": Key {} is not present in table \"{}\"",
                def.name,
                fk.name,
                describe(&names, &values),
                fk.parent
            )));
        }
    }
    Ok(())
}

type Row = Vec<Value>;

/// What happens to a parent row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Delete,
    Update,
}

/// How deep CASCADE goes before it is refused (a chain of tables, or a
/// table referring to itself).
const MAX_CASCADE_DEPTH: usize = 64;

/// Applies the foreign keys that refer to table `parent` to the rows of it
/// that change: `rows` are (old row, new row — `None` when deleted).
/// Refuses (23503), or cascades, or sets NULL, as each key says.
pub(super) fn on_parent_change<'a>(
    txn: &'a mut dyn KvTxn,
    parent: &'a TableDef,
    rows: &'a [(Vec<Value>, Option<Vec<Value>>)],
    depth: usize,
) -> crate::kv::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        let children = txn.referencing(&parent.name).await?;
        for child in &children {
            for fk in child
                .foreign_keys
                .iter()
                .filter(|fk| fk.parent == parent.name)
            {
                // The parent keys that go away (deleted, or changed).
                let mut gone: Vec<(Vec<Value>, Option<Vec<Value>>)> = Vec::new();
                for (old, new) in rows {
                    let old_key: Vec<Value> =
                        fk.parent_columns.iter().map(|&p| old[p].clone()).collect();
                    if old_key.contains(&Value::Null) {
                        continue;
                    }
                    let new_key: Option<Vec<Value>> = new
                        .as_ref()
                        .map(|n| fk.parent_columns.iter().map(|&p| n[p].clone()).collect());
                    if new_key.as_ref() == Some(&old_key) {
                        continue;
                    }
                    gone.push((old_key, new_key));
                }
                if gone.is_empty() {
                    continue;
                }
                let change = if rows.iter().any(|(_, n)| n.is_none()) {
                    Change::Delete
                } else {
                    Change::Update
                };
                let act = if change == Change::Delete {
                    fk.on_delete
                } else {
                    fk.on_update
                };
                apply(txn, child, fk, &gone, act, depth).await?;
            }
        }
        Ok(())
    })
}

async fn apply(
    txn: &mut dyn KvTxn,
    child: &TableDef,
    fk: &ForeignKeyDef,
    gone: &[(Vec<Value>, Option<Vec<Value>>)],
    act: RefAction,
    depth: usize,
) -> Result<()> {
    // The referring rows: one scan of the child table.
    let (start, end) = child.key_range();
    let scanned = txn.scan(&start, &end).await?;
    // (key, old row, new row or None when deleted)
    let mut changed: Vec<(Vec<u8>, Vec<Value>, Option<Row>)> = Vec::new();
    let mut seen = HashSet::new();
    for (key, bytes) in scanned {
        let row = child.decode_row(&bytes)?;
        let Some(values) = key_of(fk, &row) else {
            continue;
        };
        let Some((old_key, new_key)) = gone.iter().find(|(k, _)| *k == values) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        match act {
            RefAction::Refuse => {
                let names: Vec<&str> = fk
                    .columns
                    .iter()
                    .map(|&c| child.columns[c].name.as_str())
                    .collect();
                return Err(SqlError::foreign_key_violation(format!(
                    "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\": Key {} is still referenced from table \"{}\"",
                    fk.parent,
                    fk.name,
                    child.name,
                    describe(&names, old_key),
                    child.name
                )));
            }
            RefAction::Cascade => {
                let new = new_key.as_ref().map(|nk| {
                    let mut n = row.clone();
                    for (&c, v) in fk.columns.iter().zip(nk) {
                        n[c] = v.clone();
                    }
                    n
                });
                changed.push((key, row, new));
            }
            RefAction::SetNull => {
                let mut n = row.clone();
                for &c in &fk.columns {
                    n[c] = Value::Null;
                }
                changed.push((key, row, Some(n)));
            }
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    if depth >= MAX_CASCADE_DEPTH {
        return Err(SqlError::too_complex(format!(
            "foreign key actions nested deeper than {MAX_CASCADE_DEPTH}"
        )));
    }
    let rules = super::row_rules::RowRules::of(child)?;
    let mut rows = Vec::new();
    for (key, old, new) in changed {
        let new = match new {
            None => {
                super::dml::delete_row(txn, child, &key, &old)?;
                None
            }
            Some(n) => {
                let n = rules.row(child, n)?;
                super::dml::write_update(txn, child, &key, &old, &n).await?;
                Some(n)
            }
        };
        rows.push((old, new));
    }
    // The child's own children, in turn.
    on_parent_change(txn, child, &rows, depth + 1).await
}

/// Refuses to drop or truncate table `def` while a table not in `also`
/// refers to it.
pub(super) async fn refuse_if_referenced(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    also: &[String],
    verb: &str,
) -> Result<()> {
    let children = txn.referencing(&def.name).await?;
    if let Some(child) = children
        .iter()
        .find(|c| c.name != def.name && !also.contains(&c.name))
    {
        let fk = child
            .foreign_keys
            .iter()
            .find(|f| f.parent == def.name)
            .map_or("", |f| f.name.as_str());
        let message = format!(
            "cannot {verb} table {} because other objects depend on it: constraint {fk} on table {} depends on it",
            def.name, child.name
        );
        return Err(if verb == "truncate" {
            SqlError::not_supported(message)
        } else {
            SqlError::dependent_objects(message)
        });
    }
    Ok(())
}

/// A foreign key's `[NOT] DEFERRABLE [INITIALLY DEFERRED | IMMEDIATE]`:
/// accepted, and checked at each statement as a NOT DEFERRABLE key is
/// (Spanlite does not defer checks to COMMIT: a transaction that writes a
/// referring row before the row it refers to fails with 23503 where
/// PostgreSQL would wait for the COMMIT). `NOT ENFORCED` is refused.
pub(super) fn checked_at_once(c: Option<&sqlparser::ast::ConstraintCharacteristics>) -> Result<()> {
    match c {
        Some(c) if c.enforced == Some(false) => Err(SqlError::not_supported(
            "NOT ENFORCED foreign keys (every foreign key is checked)",
        )),
        _ => Ok(()),
    }
}
