//! `CREATE TYPE … AS ENUM`, `ALTER TYPE` (`ADD VALUE`, `RENAME TO`,
//! `RENAME VALUE`) and `DROP TYPE`: the catalog side of
//! [`crate::enums`]. A table whose
//! columns are of the type keeps a copy of it, so `ALTER TYPE` writes
//! those tables' definitions too (in the same transaction).

use std::sync::Arc;

use sqlparser::ast::{self, AlterTypeAddValuePosition, AlterTypeOperation};

use super::{QueryResult, done, load_table, tables};
use crate::catalog;
use crate::compat::oid_of;
use crate::enums::{EnumType, decode_enums, enum_key, enums_range};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::DataType;

/// `CREATE TYPE name AS ENUM (labels)`.
pub(super) async fn create_type(
    txn: &mut dyn KvTxn,
    name: &ast::ObjectName,
    representation: &ast::UserDefinedTypeRepresentation,
) -> Result<QueryResult> {
    let ast::UserDefinedTypeRepresentation::Enum { labels } = representation else {
        return Err(SqlError::not_supported(
            "CREATE TYPE other than AS ENUM (composite types)",
        ));
    };
    let name = object_name(name)?;
    // NB: in PostgreSQL every table has a row type of its name.
    if txn.enum_def(&name).await?.is_some() || load_table(txn, &name).await?.is_some() {
        return Err(SqlError::duplicate_object(format!(
            "type \"{name}\" already exists"
        )));
    }
    let labels: Vec<String> = labels.iter().map(|l| l.value.clone()).collect();
    if let Some(l) = labels
        .iter()
        .enumerate()
        .find_map(|(i, l)| labels[..i].contains(l).then_some(l))
    {
        return Err(SqlError::unique_violation(format!(
            "duplicate key value violates unique constraint \"pg_enum_typid_label_index\"\nDETAIL: enum label \"{l}\" is given twice."
        )));
    }
    let oid = u32::try_from(oid_of("type", &name))
        .map_err(|_| SqlError::internal("a type oid beyond 32 bits"))?;
    let mut t = EnumType::new(oid, &name, &labels)?;
    t.owner = txn.user().map(str::to_string);
    txn.put(enum_key(&name), catalog::encode(&t)?)?;
    Ok(done("CREATE TYPE", 0))
}

/// The enum type `name`, or 42704.
async fn existing(txn: &mut dyn KvTxn, name: &str) -> Result<EnumType> {
    txn.enum_def(name)
        .await?
        .ok_or_else(|| crate::enums::no_such_type(name))
}

/// Ok when the statement's user created `t` or is a superuser (or the
/// caller is internal): 42501 otherwise.
async fn check_owner(txn: &mut dyn KvTxn, t: &EnumType) -> Result<()> {
    let Some(me) = txn.user().map(str::to_string) else {
        return Ok(());
    };
    if t.owner.as_deref() == Some(me.as_str()) || txn.access().await?.is_superuser(&me) {
        return Ok(());
    }
    Err(SqlError::insufficient_privilege(format!(
        "must be owner of type {}",
        t.name
    )))
}

/// The tables with a column of enum type `oid`, and those columns.
async fn users(txn: &mut dyn KvTxn, oid: u32) -> Result<Vec<(catalog::TableDef, Vec<usize>)>> {
    Ok(tables(txn)
        .await?
        .into_iter()
        .filter_map(|t| {
            let cols: Vec<usize> = (0..t.columns.len())
                .filter(|&i| t.columns[i].ty == DataType::Enum(oid))
                .collect();
            (!cols.is_empty()).then_some((t, cols))
        })
        .collect())
}

/// `ALTER TYPE name ADD VALUE …` / `RENAME TO …`.
pub(super) async fn alter_type(
    txn: &mut dyn KvTxn,
    name: &ast::ObjectName,
    operation: &AlterTypeOperation,
) -> Result<QueryResult> {
    let name = object_name(name)?;
    let mut t = existing(txn, &name).await?;
    check_owner(txn, &t).await?;
    match operation {
        AlterTypeOperation::AddValue(add) => {
            let neighbour = add.position.as_ref().map(|p| match p {
                AlterTypeAddValuePosition::Before(n) => (n.value.as_str(), true),
                AlterTypeAddValuePosition::After(n) => (n.value.as_str(), false),
            });
            if !t.add(&add.value.value, neighbour, add.if_not_exists)? {
                return Ok(done("ALTER TYPE", 0));
            }
        }
        AlterTypeOperation::Rename(r) => {
            let new = ident(&r.new_name);
            if txn.enum_def(&new).await?.is_some() || load_table(txn, &new).await?.is_some() {
                return Err(SqlError::duplicate_object(format!(
                    "type \"{new}\" already exists"
                )));
            }
            txn.delete(enum_key(&name))?;
            t.name = new;
        }
        AlterTypeOperation::RenameValue(r) => {
            let (from, to) = (r.from.value.as_str(), r.to.value.as_str());
            t.rename_value(from, to)?;
            refuse_if_written(txn, t.oid, from).await?;
        }
    }
    for (mut def, cols) in users(txn, t.oid).await? {
        for c in cols {
            let column = &mut def.columns[c];
            for v in column.default.iter_mut().chain(column.fill.iter_mut()) {
                t.current(v);
            }
            column.enum_type = Some(t.clone());
        }
        txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    }
    txn.put(enum_key(&t.name), catalog::encode(&t)?)?;
    Ok(done("ALTER TYPE", 0))
}

/// 0A000 when SQL text kept in the catalog — a CHECK condition or a
/// default of a table with a column of enum type `oid`, or a view — names
/// `label` in quotes: PostgreSQL keeps those parsed, so a renamed label
/// follows; kept as text here, it would name a label that is gone.
async fn refuse_if_written(txn: &mut dyn KvTxn, oid: u32, label: &str) -> Result<()> {
    let quoted = format!("'{}'", label.replace('\'', "''"));
    let mut texts: Vec<(String, String)> = Vec::new();
    for (def, _) in users(txn, oid).await? {
        for c in &def.checks {
            texts.push((
                format!("constraint {} of table {}", c.name, def.name),
                c.expr.clone(),
            ));
        }
        for c in def.columns.iter().filter(|c| c.default_expr.is_some()) {
            let text = c.default_expr.clone().unwrap_or_default();
            texts.push((format!("the default of {}.{}", def.name, c.name), text));
        }
    }
    for v in super::views::all_views(txn).await? {
        texts.push((format!("view {}", v.name), v.sql));
    }
    match texts.into_iter().find(|(_, text)| text.contains(&quoted)) {
        Some((what, _)) => Err(SqlError::not_supported(format!(
            "renaming enum label {quoted}, which {what} names in its SQL text"
        ))),
        None => Ok(()),
    }
}

/// `DROP TYPE [IF EXISTS] names`: 2BP01 while a column is of the type.
pub(super) async fn drop_types(
    txn: &mut dyn KvTxn,
    names: &[ast::ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<QueryResult> {
    if cascade {
        return Err(SqlError::not_supported(
            "DROP TYPE … CASCADE (drop or change the columns first)",
        ));
    }
    for n in names {
        let name = object_name(n)?;
        let t = match txn.enum_def(&name).await? {
            Some(t) => t,
            None if if_exists => continue,
            None => return Err(crate::enums::no_such_type(&name)),
        };
        check_owner(txn, &t).await?;
        if let Some((def, cols)) = users(txn, t.oid).await?.first() {
            return Err(SqlError::dependent_objects(format!(
                "cannot drop type {name} because other objects depend on it\nDETAIL: column {} of table {} depends on type {name}",
                def.columns[cols[0]].name, def.name
            )));
        }
        txn.delete(enum_key(&name))?;
    }
    Ok(done("DROP TYPE", 0))
}

/// Every enum type, read through the transaction.
pub(crate) async fn all_enums(txn: &mut dyn KvTxn) -> Result<Vec<Arc<EnumType>>> {
    let (start, end) = enums_range();
    decode_enums(&txn.scan(&start, &end).await?)
}

/// The type `t` names: an enum type of the catalog (with its labels), or
/// a built-in type.
pub(crate) async fn resolve(
    txn: &mut dyn KvTxn,
    t: &ast::DataType,
) -> Result<(DataType, Option<EnumType>)> {
    if let ast::DataType::Custom(name, modifiers) = t
        && modifiers.is_empty()
    {
        let name = object_name(name)?;
        return match txn.enum_def(&name).await? {
            Some(e) => Ok((DataType::Enum(e.oid), Some(e))),
            None => Err(crate::enums::no_such_type(&name)),
        };
    }
    Ok((DataType::from_sql(t)?, None))
}

/// The enum type of oid `oid`, read through the transaction.
pub(crate) async fn by_oid(txn: &mut dyn KvTxn, oid: u32) -> Result<Option<EnumType>> {
    Ok(all_enums(txn)
        .await?
        .into_iter()
        .find(|t| t.oid == oid)
        .map(|t| EnumType::clone(&t)))
}
