//! DML: INSERT (VALUES or SELECT, ON CONFLICT DO NOTHING), UPDATE and
//! DELETE, with NOT NULL and unique checks and secondary-index upkeep in
//! the same transaction. Rows UPDATE and DELETE touch are read with
//! exclusive locks.

use sqlparser::ast::{
    self, Expr, FromTable, ObjectName, OnConflictAction, OnInsert, TableFactor, TableObject,
};

use super::table_refs::{dml_tables, load_tables, query_tables};
use super::{QueryResult, done, table};
use crate::bind::Binder;
use crate::catalog::{self, IndexDef, TableDef};
use crate::error::{Result, SqlError};
use crate::eval::{self, Env};
use crate::kv::KvTxn;
use crate::plan::{BExpr, Scan};
use crate::syntax::{ident, object_name};
use crate::value::Value;

/// A process-unique row id for tables without a primary key.
pub(super) fn next_row_id() -> i64 {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static BASE: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (nanos ^ (u64::from(std::process::id()) << 32)) & 0x3fff_ffff_ffff_0000
    });
    (base + COUNTER.fetch_add(1, Ordering::Relaxed)) as i64
}

/// Casts `values` to the table's column types and checks NOT NULL.
pub(super) fn check_row(def: &TableDef, values: Vec<Value>) -> Result<Vec<Value>> {
    values
        .into_iter()
        .zip(&def.columns)
        .map(|(v, c)| {
            let v = v.cast_to(c.ty)?;
            if v == Value::Null && !c.nullable {
                return Err(SqlError::not_null_violation(format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, def.name
                )));
            }
            Ok(v)
        })
        .collect()
}

pub(super) fn unique_violation(name: &str) -> SqlError {
    SqlError::unique_violation(format!(
        "duplicate key value violates unique constraint \"{name}\""
    ))
}

/// Writes `row`'s entry in `index`; 23505 when a unique index already has
/// the values for another row.
pub(super) async fn put_index_entry(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    index: &IndexDef,
    row: &[Value],
    row_key: &[u8],
) -> Result<()> {
    let key = def.index_key(index, row, row_key)?;
    if index.unique
        && let Some(existing) = txn.get(&key).await?
        && existing != row_key
    {
        return Err(unique_violation(&index.name));
    }
    txn.put(key, row_key.to_vec())
}

/// The first unique constraint `row` (to be stored at `row_key`) would
/// violate, if any.
pub(super) async fn conflict(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    row: &[Value],
    row_key: &[u8],
) -> Result<Option<String>> {
    if def.has_primary_key() && txn.get(row_key).await?.is_some() {
        return Ok(Some(format!("{}_pkey", def.name)));
    }
    for index in def.indexes.iter().filter(|i| i.unique) {
        let key = def.index_key(index, row, row_key)?;
        if let Some(existing) = txn.get(&key).await?
            && existing != row_key
        {
            return Ok(Some(index.name.clone()));
        }
    }
    Ok(None)
}

/// Runs a bound query: reads, then computes.
pub(super) async fn run_query(
    txn: &mut dyn KvTxn,
    q: &mut crate::plan::Query,
) -> Result<Vec<Vec<Value>>> {
    eval::fetch(txn, q).await?;
    eval::budgeted(eval::work(q), || eval::query(q, &[]))
}

pub(super) async fn insert_rows(
    txn: &mut dyn KvTxn,
    insert: &ast::Insert,
    params: &[Value],
    plans: Option<&super::PlanCache>,
) -> Result<QueryResult> {
    let TableObject::TableName(name) = &insert.table else {
        return Err(SqlError::not_supported("INSERT into a table function"));
    };
    let def = table(txn, name).await?;
    let do_nothing = match &insert.on {
        None => false,
        Some(OnInsert::OnConflict(c)) if c.action == OnConflictAction::DoNothing => true,
        Some(other) => return Err(SqlError::not_supported(format!("{other}"))),
    };
    if insert.returning.is_some() {
        return Err(SqlError::not_supported("INSERT … RETURNING"));
    }
    let targets = insert_targets(&def, insert)?;
    let Some(source) = &insert.source else {
        return Err(SqlError::syntax("INSERT without VALUES or SELECT"));
    };
    let mut names = Vec::new();
    query_tables(source, &mut names);
    let tables = load_tables(txn, &names).await?;
    // The rows' source (VALUES or a query) is what is bound; the target
    // columns are read from the table's definition at each run.
    let bind = |tables: &crate::bind::Tables| {
        Binder::new(tables, params)
            .query(source)
            .map(super::Plan::Query)
    };
    let plan = super::bind_with(plans, tables, params, bind)?;
    let super::Plan::Query(mut bound) = plan else {
        return Err(SqlError::internal("a kept plan of another kind"));
    };
    crate::bind::params::query(&mut bound, params)?;
    if bound.columns.len() > targets.len() {
        return Err(SqlError::syntax(
            "INSERT has more expressions than target columns",
        ));
    }
    let rows = run_query(txn, &mut bound).await?;
    let mut inserted = 0;
    for values in rows {
        let mut row: Vec<Value> = def
            .columns
            .iter()
            .map(|c| c.default.clone().unwrap_or(Value::Null))
            .collect();
        for (v, &i) in values.into_iter().zip(&targets) {
            row[i] = v;
        }
        let row = check_row(&def, row)?;
        let key = if def.has_primary_key() {
            def.row_key(&def.primary_key_values(&row))?
        } else {
            def.row_key(&[Value::Int(next_row_id())])?
        };
        if let Some(constraint) = conflict(txn, &def, &row, &key).await? {
            if do_nothing {
                continue;
            }
            return Err(unique_violation(&constraint));
        }
        for index in &def.indexes {
            put_index_entry(txn, &def, index, &row, &key).await?;
        }
        txn.put(key, catalog::encode(&row)?)?;
        inserted += 1;
    }
    Ok(done(format!("INSERT 0 {inserted}"), inserted))
}

/// The columns an INSERT fills, in its order.
pub(super) fn insert_targets(def: &TableDef, insert: &ast::Insert) -> Result<Vec<usize>> {
    if insert.columns.is_empty() {
        return Ok((0..def.columns.len()).collect());
    }
    let mut t = Vec::new();
    for c in &insert.columns {
        let i = def.column(&ident(c))?;
        if t.contains(&i) {
            return Err(SqlError::duplicate_column(format!(
                "column \"{}\" specified more than once",
                def.columns[i].name
            )));
        }
        t.push(i);
    }
    Ok(t)
}

/// Reads the rows a DML statement's WHERE selects: (key, row) pairs.
pub(super) async fn dml_rows(
    txn: &mut dyn KvTxn,
    scan: &mut Scan,
    later: &mut Option<BExpr>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    eval::fetch_scan(txn, scan).await?;
    if let Some(f) = &mut scan.filter {
        eval::fetch_expr(txn, f).await?;
    }
    if let Some(f) = later {
        eval::fetch_expr(txn, f).await?;
    }
    let mut out = Vec::new();
    let rows = std::mem::take(&mut scan.rows);
    let keys = std::mem::take(&mut scan.keys);
    for (row, key) in rows.into_iter().zip(keys) {
        let env = Env {
            row: &row,
            ..Env::EMPTY
        };
        if eval::passes(&scan.filter, &env)? && eval::passes(later, &env)? {
            out.push((key, row));
        }
    }
    Ok(out)
}

pub(super) fn dml_table(from: &ast::TableWithJoins) -> Result<&ObjectName> {
    if !from.joins.is_empty() {
        return Err(SqlError::not_supported("joins in UPDATE/DELETE"));
    }
    match &from.relation {
        TableFactor::Table {
            name, alias: None, ..
        } => Ok(name),
        other => Err(SqlError::not_supported(format!("UPDATE/DELETE of {other}"))),
    }
}

/// An UPDATE bound: the columns set, their new values, the rows' access
/// and a condition checked on them after they are read.
#[derive(Clone, Debug)]
pub(crate) struct UpdatePlan {
    columns: Vec<usize>,
    sets: Vec<BExpr>,
    scan: Scan,
    later: Option<BExpr>,
}

/// A DELETE bound: the rows' access and a later condition.
#[derive(Clone, Debug)]
pub(crate) struct DeletePlan {
    scan: Scan,
    later: Option<BExpr>,
}

pub(super) async fn update(
    txn: &mut dyn KvTxn,
    target: &ast::TableWithJoins,
    assignments: &[ast::Assignment],
    selection: Option<&Expr>,
    params: &[Value],
    plans: Option<&super::PlanCache>,
) -> Result<QueryResult> {
    let def = table(txn, dml_table(target)?).await?;
    let exprs: Vec<&Expr> = selection
        .into_iter()
        .chain(assignments.iter().map(|a| &a.value))
        .collect();
    let tables = dml_tables(txn, &def, &exprs).await?;
    let plan = super::bind_with(plans, tables, params, |tables| {
        bind_update(tables, &def, assignments, selection, params).map(super::Plan::Update)
    })?;
    let super::Plan::Update(plan) = plan else {
        return Err(SqlError::internal("a kept plan of another kind"));
    };
    run_update(txn, &def, plan, params).await
}

fn bind_update(
    tables: &crate::bind::Tables,
    def: &TableDef,
    assignments: &[ast::Assignment],
    selection: Option<&Expr>,
    params: &[Value],
) -> Result<UpdatePlan> {
    let mut binder = Binder::new(tables, params);
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    for a in assignments {
        let ast::AssignmentTarget::ColumnName(col) = &a.target else {
            return Err(SqlError::not_supported("tuple assignments"));
        };
        let i = def.column(&object_name(col)?)?;
        if columns.contains(&i) {
            return Err(SqlError::syntax(format!(
                "multiple assignments to same column \"{}\"",
                def.columns[i].name
            )));
        }
        columns.push(i);
        exprs.push(&a.value);
    }
    let sets = binder.in_table(def, &exprs)?;
    let (scan, later) = binder.dml_scan(def, selection)?;
    Ok(UpdatePlan {
        columns,
        sets,
        scan,
        later,
    })
}

async fn run_update(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    plan: UpdatePlan,
    params: &[Value],
) -> Result<QueryResult> {
    let UpdatePlan {
        columns,
        mut sets,
        mut scan,
        mut later,
    } = plan;
    super::dml_params(&mut scan, &mut later, params)?;
    for e in &mut sets {
        crate::bind::params::expr(e, params)?;
    }
    for e in &mut sets {
        eval::fetch_expr(txn, e).await?;
    }
    let rows = dml_rows(txn, &mut scan, &mut later).await?;
    let count = rows.len() as u64;
    for (key, old) in rows {
        let mut new = old.clone();
        let env = Env {
            row: &old,
            ..Env::EMPTY
        };
        for (&i, e) in columns.iter().zip(&sets) {
            new[i] = eval::eval(e, &env)?;
        }
        let new = check_row(def, new)?;
        let pk_changed = def.primary_key.iter().any(|&i| new[i] != old[i]);
        let new_key = if pk_changed {
            let k = def.row_key(&def.primary_key_values(&new))?;
            if txn.get(&k).await?.is_some() {
                return Err(unique_violation(&format!("{}_pkey", def.name)));
            }
            k
        } else {
            key.clone()
        };
        // Check every unique index before writing anything.
        let mut moved = Vec::new();
        for index in &def.indexes {
            let old_entry = def.index_key(index, &old, &key)?;
            let new_entry = def.index_key(index, &new, &new_key)?;
            if old_entry != new_entry || new_key != key {
                if index.unique
                    && let Some(existing) = txn.get(&new_entry).await?
                    && existing != key
                {
                    return Err(unique_violation(&index.name));
                }
                moved.push((old_entry, new_entry));
            }
        }
        for (old_entry, new_entry) in moved {
            txn.delete(old_entry)?;
            txn.put(new_entry, new_key.clone())?;
        }
        if new_key != key {
            txn.delete(key)?;
        }
        txn.put(new_key, catalog::encode(&new)?)?;
    }
    Ok(done(format!("UPDATE {count}"), count))
}

pub(super) async fn delete_rows(
    txn: &mut dyn KvTxn,
    delete: &ast::Delete,
    params: &[Value],
    plans: Option<&super::PlanCache>,
) -> Result<QueryResult> {
    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
    let [from] = from.as_slice() else {
        return Err(SqlError::not_supported("DELETE from several tables"));
    };
    if delete.using.is_some() || delete.returning.is_some() || delete.limit.is_some() {
        return Err(SqlError::not_supported("DELETE … USING/RETURNING/LIMIT"));
    }
    let def = table(txn, dml_table(from)?).await?;
    let tables = dml_tables(txn, &def, &delete.selection.iter().collect::<Vec<_>>()).await?;
    let bind = |tables: &crate::bind::Tables| {
        Binder::new(tables, params)
            .dml_scan(&def, delete.selection.as_ref())
            .map(|(scan, later)| super::Plan::Delete(DeletePlan { scan, later }))
    };
    let plan = super::bind_with(plans, tables, params, bind)?;
    let super::Plan::Delete(DeletePlan {
        mut scan,
        mut later,
    }) = plan
    else {
        return Err(SqlError::internal("a kept plan of another kind"));
    };
    super::dml_params(&mut scan, &mut later, params)?;
    let rows = dml_rows(txn, &mut scan, &mut later).await?;
    let count = rows.len() as u64;
    for (key, row) in rows {
        for index in &def.indexes {
            txn.delete(def.index_key(index, &row, &key)?)?;
        }
        txn.delete(key)?;
    }
    Ok(done(format!("DELETE {count}"), count))
}
