//! Executing statements over a transaction: DDL on the catalog (tables,
//! indexes), INSERT/UPDATE/DELETE with index maintenance and constraint
//! checks, queries (bound by [`crate::bind`], run by [`crate::eval`]),
//! EXPLAIN and SHOW.

mod alter;
pub(crate) mod comments;
mod ddl;
mod dml;
pub(crate) mod extensions;
mod foreign_keys;
mod modifying;
pub mod online;
mod privileges;
mod recursive;
mod retype;
mod rewrite;
mod roles;
mod row_rules;
mod sequences;
mod system;
mod table_refs;
mod types;
pub(crate) mod views;

use std::sync::Arc;

use sqlparser::ast::{
    self, Expr, FromTable, ObjectName, ObjectType, SetExpr, Statement, TableObject,
};

use crate::bind::{Binder, Tables};
use crate::catalog::{self, TableDef};
use crate::error::{Result, SqlError};
use crate::explain;
use crate::kv::KvTxn;
use crate::syntax::{first_words, object_name};
use crate::value::{DataType, Value};
use ddl::{create_index, create_table, drop_indexes, drop_tables};
use dml::{delete_rows, dml_table, insert_rows, insert_targets, run_query, update};
use table_refs::{dml_tables, load_tables, query_tables};

/// The columns `stmt` returns when it is an INSERT, UPDATE or DELETE with
/// RETURNING (what a PostgreSQL client's Describe is told), bound against
/// the table as it is now with `count` parameters; `None` for other
/// statements.
pub async fn returning_columns(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    count: usize,
) -> Result<Option<crate::bind::Columns>> {
    let target = |t: &ast::TableWithJoins| match &t.relation {
        ast::TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    };
    let (name, alias, items) = match stmt {
        Statement::Insert(i) => match (&i.table, &i.returning) {
            (TableObject::TableName(n), Some(r)) => (Some(n.clone()), i.table_alias.as_ref(), r),
            _ => return Ok(None),
        },
        Statement::Update {
            table: t,
            returning: Some(r),
            ..
        } => (target(t), None, r),
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
            match (from.first(), &d.returning) {
                (Some(t), Some(r)) => (target(t), None, r),
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let Some(name) = name else {
        return Ok(None);
    };
    let def = table(txn, &name).await?;
    let alias = alias.map_or_else(|| def.name.clone(), crate::syntax::ident);
    let mut tables = Tables::new();
    tables.add(def.name.clone(), def.clone());
    let nulls = vec![Value::Null; count];
    let (_, columns) = Binder::new(&tables, &nulls).returning(&def, &alias, items)?;
    Ok(Some(columns))
}

/// A statement's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// Column names and types (empty for statements without rows).
    pub columns: Vec<(String, Option<DataType>)>,
    /// The declared type (SMALLINT, VARCHAR(n), …) of each column that
    /// is a table column as it is, for clients told types by OID (the
    /// PostgreSQL port); empty or `None` for the others.
    pub declared: Vec<Option<crate::catalog::Width>>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// The command tag (`SELECT 3`, `INSERT 0 2`, `CREATE TABLE`, …).
    pub tag: String,
    /// Rows inserted, updated, deleted or returned.
    pub rows_affected: u64,
}

async fn load_table(txn: &mut dyn KvTxn, name: &str) -> Result<Option<Arc<TableDef>>> {
    // NB: a type's name in a list of tables (`table_refs::TYPE_MARK`)
    // is no table's, and no look-up (which a miss would make a fresh read
    // of the catalog).
    if name.starts_with(table_refs::TYPE_MARK) {
        return Ok(None);
    }
    txn.table_def(name).await
}

/// [`load_table`], as a copy to change.
async fn load_table_owned(txn: &mut dyn KvTxn, name: &str) -> Result<Option<TableDef>> {
    Ok(load_table(txn, name).await?.map(Arc::unwrap_or_clone))
}

/// How a statement changes the schema (what its session must do about
/// schema leases, DESIGN.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaChange {
    /// Only adds (CREATE TABLE): a statement bound against the version
    /// before it is still right after it, so old leases may run out.
    Additive,
    /// Removes or restructures (DROP, CREATE INDEX): no transaction bound
    /// against the version before may commit after it, so every lease on
    /// that version must have ended before it commits.
    Destructive,
}

/// The tables other than itself a CREATE TABLE's foreign keys refer to.
/// Such a CREATE TABLE changes what a DELETE or UPDATE of those tables
/// must do, so it is a destructive change unless they are new in its own
/// transaction (the session decides).
pub fn foreign_key_parents(create: &ast::CreateTable) -> Vec<String> {
    let own = object_name(&create.name).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: &ObjectName| {
        if let Ok(n) = object_name(n)
            && n != own
            && !out.contains(&n)
        {
            out.push(n);
        }
    };
    for c in &create.columns {
        for o in &c.options {
            if let ast::ColumnOption::ForeignKey { foreign_table, .. } = &o.option {
                add(foreign_table);
            }
        }
    }
    for t in &create.constraints {
        if let ast::TableConstraint::ForeignKey { foreign_table, .. } = t {
            add(foreign_table);
        }
    }
    out
}

/// Whether and how `stmt` changes the schema.
///
/// The table a CREATE INDEX or ALTER TABLE changes, and the tables the
/// foreign keys it adds refer to (other than itself): a change of a table
/// created earlier in the same transaction, which no other transaction
/// can have bound against, changes no one else's schema unless it refers
/// to a table that existed before.
pub fn changed_table(stmt: &Statement) -> Option<(String, Vec<String>)> {
    match stmt {
        Statement::CreateIndex(c) => Some((object_name(&c.table_name).ok()?, Vec::new())),
        Statement::AlterTable {
            name, operations, ..
        } => {
            let own = object_name(name).ok()?;
            let mut parents = Vec::new();
            for op in operations {
                if let ast::AlterTableOperation::AddConstraint {
                    constraint: ast::TableConstraint::ForeignKey { foreign_table, .. },
                    ..
                } = op
                {
                    let p = object_name(foreign_table).ok()?;
                    if p != own && !parents.contains(&p) {
                        parents.push(p);
                    }
                }
            }
            Some((own, parents))
        }
        _ => None,
    }
}

/// Role and privilege statements are schema changes too: a node's schema
/// cache holds the roles and grants, and a REVOKE, ALTER ROLE or DROP ROLE
/// must not leave a node checking statements against what it took away.
pub fn schema_change(stmt: &Statement) -> Option<SchemaChange> {
    match stmt {
        Statement::CreateTable(_)
        | Statement::CreateRole { .. }
        | Statement::Grant { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateType { .. }
        | Statement::CreateView { .. } => Some(SchemaChange::Additive),
        // NB: an added label is additive, but a statement bound against
        // the old labels refuses it; a rename takes the old name away.
        Statement::AlterType(_) => Some(SchemaChange::Destructive),
        Statement::CreateIndex(_)
        | Statement::AlterTable { .. }
        | Statement::Truncate { .. }
        | Statement::AlterRole { .. }
        | Statement::Revoke { .. }
        | Statement::Drop {
            object_type:
                ObjectType::Table
                | ObjectType::Index
                | ObjectType::Role
                | ObjectType::User
                | ObjectType::Sequence
                | ObjectType::Type
                | ObjectType::View,
            ..
        } => Some(SchemaChange::Destructive),
        _ => None,
    }
}

/// VACUUM and ANALYZE: PostgreSQL's maintenance, which Spanlite does all
/// the time or has no use for: old MVCC versions are collected on every
/// replica as they age past the GC window (`storage/src/mvcc/gc.rs`), and plans use
/// no statistics. So they check that the table named exists (42P01) and
/// do nothing more; applications and tools (pgbench -i) send them.
async fn maintenance(
    txn: &mut dyn KvTxn,
    name: Option<&ObjectName>,
    tag: &str,
) -> Result<QueryResult> {
    if let Some(name) = name {
        table(txn, name).await?;
    }
    Ok(done(tag, 0))
}

async fn table(txn: &mut dyn KvTxn, name: &ObjectName) -> Result<Arc<TableDef>> {
    let name = object_name(name)?;
    load_table(txn, &name)
        .await?
        .ok_or_else(|| SqlError::undefined_table(format!("relation \"{name}\" does not exist")))
}

/// Every table, by name.
pub async fn tables(txn: &mut dyn KvTxn) -> Result<Vec<TableDef>> {
    let (start, end) = catalog::catalog_range();
    txn.scan(&start, &end)
        .await?
        .iter()
        .map(|(_, v)| catalog::decode_table(v))
        .collect()
}

// ---------------------------------------------------------------------------

/// Executes one statement in `txn`, with `params` for `$1`, `$2`, ….
/// Transaction control (BEGIN, COMMIT, ROLLBACK) belongs to the session and
/// is refused here.
pub async fn execute(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
) -> Result<QueryResult> {
    execute_with(txn, stmt, params, None).await
}

/// Executes `stmt` as [`execute`] does, keeping the plan of a query, an
/// INSERT (its rows' source), an UPDATE or a DELETE in `plans` for its
/// next run (see [`PlanCache`]); other statements are bound each time.
pub async fn execute_cached(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
    plans: &PlanCache,
) -> Result<QueryResult> {
    execute_with(txn, stmt, params, Some(plans)).await
}

async fn execute_with(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
    plans: Option<&PlanCache>,
) -> Result<QueryResult> {
    // The system catalogs and session functions: answered by rewriting
    // the statement (`crate::system`), whose plan is then not kept.
    // (Boxed: a Statement is large, and this future is nested deeply.)
    // Whether it does is the statement's own (one walk per prepared
    // statement, not per run).
    let mentions = match plans {
        Some(p) => *p.names_system.get_or_init(|| system::mentions(stmt)),
        None => system::mentions(stmt),
    };
    let expanded: Option<Box<Statement>> = if mentions {
        Some(Box::new(Box::pin(system::expand(txn, stmt, params)).await?))
    } else {
        None
    };
    let (stmt, plans) = match &expanded {
        Some(s) => (&**s, None),
        None => (stmt, plans),
    };
    // Boxed: a statement's future is large, and this one holds it twice
    // (the retry); inline, the futures of callers that nest it overflow a
    // 2 MiB stack in debug builds.
    match Box::pin(execute_named(txn, stmt, params, plans)).await {
        // A name that is not a table may be a view: the statement again,
        // with its views in place (checked and bound as written there).
        // Binding fails before anything is read or written.
        Err(e)
            if e.code == crate::error::UNDEFINED_TABLE
                && matches!(stmt, Statement::Query(_) | Statement::Insert(_)) =>
        {
            match views::expand(txn, stmt, params).await? {
                Some(expanded) => Box::pin(execute_named(txn, &expanded, params, None)).await,
                None => Err(e),
            }
        }
        r => r,
    }
}

async fn execute_named(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
    plans: Option<&PlanCache>,
) -> Result<QueryResult> {
    privileges::authorize(txn, stmt).await?;
    // WITH, FETCH FIRST, generate_series: rewritten first (and the plan
    // not kept: it may depend on the parameters' values).
    let rewritten;
    let (stmt, plans) = match stmt {
        // Data-modifying statements in WITH: run first, then their rows.
        Statement::Query(q) if modifying::has_any(q) => {
            let mut q = q.clone();
            modifying::materialize(txn, &mut q, params).await?;
            return Box::pin(execute_named(txn, &Statement::Query(q), params, None)).await;
        }
        Statement::Query(q)
            if matches!(
                *q.body,
                SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Insert(_)
            ) =>
        {
            let Some(inner) = rewrite::dml_with(q, params)? else {
                return Err(SqlError::internal("WITH before a statement that is none"));
            };
            return Box::pin(execute_named(txn, &inner, params, None)).await;
        }
        Statement::Query(q) if rewrite::needed(q) => {
            let mut q = q.clone();
            recursive::materialize(txn, &mut q, params).await?;
            rewrite::query(&mut q, params)?;
            rewritten = Statement::Query(q);
            (&rewritten, None)
        }
        Statement::Insert(i) if i.source.as_ref().is_some_and(|s| rewrite::needed(s)) => {
            let mut i = i.clone();
            if let Some(source) = &mut i.source {
                rewrite::query(source, params)?;
            }
            rewritten = Statement::Insert(i);
            (&rewritten, None)
        }
        _ => (stmt, plans),
    };
    match stmt {
        Statement::CreateTable(create) => create_table(txn, create).await,
        Statement::CreateRole { .. } => roles::create_role(txn, stmt).await,
        Statement::AlterRole { name, operation } => roles::alter_role(txn, name, operation).await,
        Statement::Drop {
            object_type: ObjectType::Role | ObjectType::User,
            if_exists,
            names,
            ..
        } => roles::drop_roles(txn, names, *if_exists).await,
        Statement::Grant { .. } => roles::grant(txn, stmt).await,
        Statement::CreateView {
            or_alter: false,
            materialized: false,
            name,
            or_replace,
            if_not_exists,
            columns,
            query,
            temporary: false,
            to: None,
            ..
        } => views::create_view(txn, name, *or_replace, *if_not_exists, columns, query).await,
        Statement::Drop {
            object_type: ObjectType::View,
            if_exists,
            names,
            ..
        } => views::drop_views(txn, names, *if_exists).await,
        Statement::CreateSequence {
            temporary: false,
            if_not_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
        } => {
            sequences::create_sequence(
                txn,
                name,
                *if_not_exists,
                data_type.as_ref(),
                sequence_options,
                owned_by.as_ref(),
            )
            .await
        }
        Statement::Drop {
            object_type: ObjectType::Sequence,
            if_exists,
            names,
            ..
        } => sequences::drop_sequences(txn, names, *if_exists).await,
        Statement::CreateType {
            name,
            representation,
        } => types::create_type(txn, name, representation).await,
        Statement::AlterType(ast::AlterType { name, operation }) => {
            types::alter_type(txn, name, operation).await
        }
        Statement::Drop {
            object_type: ObjectType::Type,
            if_exists,
            names,
            cascade,
            ..
        } => types::drop_types(txn, names, *if_exists, *cascade).await,
        Statement::Truncate {
            table_names,
            partitions: None,
            identity,
            cascade,
            on_cluster: None,
            ..
        } => {
            let names: Vec<ObjectName> = table_names.iter().map(|t| t.name.clone()).collect();
            ddl::truncate(
                txn,
                &names,
                matches!(identity, Some(ast::TruncateIdentityOption::Restart)),
                matches!(cascade, Some(ast::CascadeOption::Cascade)),
            )
            .await
        }
        Statement::Comment {
            object_type,
            object_name,
            comment,
            if_exists: false,
        } => comments::comment(txn, *object_type, object_name, comment.as_deref()).await,
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => create_schema(schema_name, *if_not_exists),
        Statement::CreateExtension {
            name,
            if_not_exists,
            version,
            ..
        } => extensions::create_extension(txn, name, *if_not_exists, version.as_ref()).await,
        Statement::DropExtension {
            names, if_exists, ..
        } => extensions::drop_extensions(txn, names, *if_exists).await,
        Statement::Revoke { .. } => roles::revoke(txn, stmt).await,
        Statement::CreateIndex(create) => create_index(txn, create).await,
        Statement::Vacuum(v) => maintenance(txn, v.table_name.as_ref(), "VACUUM").await,
        Statement::Analyze { table_name, .. } => {
            let table = (!table_name.0.is_empty()).then_some(table_name);
            maintenance(txn, table, "ANALYZE").await
        }
        Statement::AlterTable {
            name,
            if_exists,
            only: _,
            operations,
            location: None,
            on_cluster: None,
            iceberg: false,
            ..
        } => alter::alter_table(txn, name, *if_exists, operations).await,
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => drop_tables(txn, names, *if_exists).await,
        Statement::Drop {
            object_type: ObjectType::Index,
            if_exists,
            names,
            ..
        } => drop_indexes(txn, names, *if_exists).await,
        Statement::Insert(insert) => insert_rows(txn, insert, params, plans).await,
        Statement::Query(q) => select(txn, q, params, plans).await,
        Statement::Update {
            table,
            assignments,
            from: None,
            selection,
            returning,
            or: None,
            limit: None,
        } => {
            update(
                txn,
                table,
                assignments,
                selection.as_ref(),
                returning.as_ref(),
                params,
                plans,
            )
            .await
        }
        Statement::Update {
            table,
            assignments,
            from: Some(ast::UpdateTableFromKind::AfterSet(from)),
            selection,
            returning,
            or: None,
            limit: None,
        } => {
            dml::update_from(
                txn,
                table,
                assignments,
                from,
                selection.as_ref(),
                returning.as_ref(),
                params,
            )
            .await
        }
        Statement::Delete(delete) => delete_rows(txn, delete, params, plans).await,
        Statement::Explain {
            statement,
            analyze: false,
            ..
        } => explain_statement(txn, statement, params).await,
        // The plan, then the statement run (an INSERT, UPDATE or DELETE
        // writes, as in PostgreSQL), its rows and how long it took.
        Statement::Explain {
            statement,
            analyze: true,
            ..
        } => {
            let mut plan = explain_statement(txn, statement, params).await?;
            let started = std::time::Instant::now();
            let result = Box::pin(execute_with(txn, statement, params, None)).await?;
            let took = started.elapsed();
            plan.rows.push(vec![Value::Text(format!(
                "Actual rows: {}",
                result.rows_affected.max(result.rows.len() as u64)
            ))]);
            plan.rows.push(vec![Value::Text(format!(
                "Execution Time: {:.3} ms",
                took.as_secs_f64() * 1000.0
            ))]);
            Ok(plan)
        }
        Statement::ShowTables { .. } => {
            let rows: Vec<Vec<Value>> = tables(txn)
                .await?
                .into_iter()
                .map(|t| vec![Value::Text(t.name)])
                .collect();
            Ok(rows_result(
                vec![("table", Some(DataType::Text))],
                rows,
                "SHOW",
            ))
        }
        Statement::ShowColumns { show_options, .. } => {
            let Some(name) = show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref())
            else {
                return Err(SqlError::syntax("SHOW COLUMNS FROM <table>"));
            };
            let def = table(txn, name).await?;
            Ok(describe(&def))
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Err(SqlError::not_supported(
            "transaction control is handled by the session",
        )),
        other => Err(SqlError::not_supported(format!(
            "statement not supported: {}",
            first_words(&other.to_string())
        ))),
    }
}

/// SHOW COLUMNS: one row per column, then one per index.
fn describe(def: &TableDef) -> QueryResult {
    let rows: Vec<Vec<Value>> = def
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                Value::Text(c.name.clone()),
                Value::Text(
                    c.enum_type
                        .as_ref()
                        .map_or_else(|| c.ty.to_string(), |t| t.name.clone()),
                ),
                Value::Bool(c.nullable),
                Value::Text(match (&c.default, &c.default_expr) {
                    (_, Some(text)) => text.clone(),
                    (Some(v), None) => v.to_string(),
                    (None, None) => String::new(),
                }),
                Value::Bool(def.primary_key.contains(&i)),
                Value::Text(
                    def.indexes
                        .iter()
                        .filter(|x| x.columns.contains(&i))
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]
        })
        .collect();
    rows_result(
        vec![
            ("column", Some(DataType::Text)),
            ("type", Some(DataType::Text)),
            ("nullable", Some(DataType::Bool)),
            ("default", Some(DataType::Text)),
            ("primary_key", Some(DataType::Bool)),
            ("indexes", Some(DataType::Text)),
        ],
        rows,
        "SHOW",
    )
}

fn rows_result(
    columns: Vec<(&str, Option<DataType>)>,
    rows: Vec<Vec<Value>>,
    verb: &str,
) -> QueryResult {
    let n = rows.len() as u64;
    QueryResult {
        declared: Vec::new(),
        columns: columns
            .into_iter()
            .map(|(c, t)| (c.to_string(), t))
            .collect(),
        rows,
        tag: format!("{verb} {n}"),
        rows_affected: n,
    }
}

fn done(tag: impl Into<String>, rows_affected: u64) -> QueryResult {
    QueryResult {
        declared: Vec::new(),
        tag: tag.into(),
        rows_affected,
        ..QueryResult::default()
    }
}

/// The types the `count` parameters of `stmt` must have, as far as their
/// uses show (`col = $1`, `INSERT … VALUES ($1)`, `SET col = $1`); `None`
/// where nothing says. What PostgreSQL clients are told when they ask.
pub async fn param_types(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    count: usize,
) -> Result<Vec<Option<DataType>>> {
    let nulls = vec![Value::Null; count];
    match stmt {
        Statement::Query(q) => {
            let mut names = Vec::new();
            query_tables(q, &mut names);
            let tables = load_tables(txn, &names).await?;
            let mut b = Binder::new(&tables, &nulls);
            b.query(q)?;
            Ok(b.param_hints().to_vec())
        }
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Ok(vec![None; count]);
            };
            let def = table(txn, name).await?;
            let targets = insert_targets(&def, insert)?;
            let Some(source) = &insert.source else {
                return Ok(vec![None; count]);
            };
            let mut names = Vec::new();
            query_tables(source, &mut names);
            let tables = load_tables(txn, &names).await?;
            let mut b = Binder::new(&tables, &nulls);
            if let SetExpr::Values(values) = source.body.as_ref() {
                for row in &values.rows {
                    for (e, &i) in row.iter().zip(&targets) {
                        b.hint_type(e, def.columns[i].ty);
                    }
                }
            }
            b.query(source)?;
            Ok(b.param_hints().to_vec())
        }
        Statement::Update {
            table: target,
            assignments,
            selection,
            ..
        } => {
            let def = table(txn, dml_table(target)?).await?;
            let exprs: Vec<&Expr> = selection
                .iter()
                .chain(assignments.iter().map(|a| &a.value))
                .collect();
            let tables = dml_tables(txn, &def, &exprs).await?;
            let mut b = Binder::new(&tables, &nulls);
            for a in assignments {
                if let ast::AssignmentTarget::ColumnName(col) = &a.target {
                    let i = def.column(&object_name(col)?)?;
                    b.hint_type(&a.value, def.columns[i].ty);
                }
            }
            let values: Vec<&Expr> = assignments.iter().map(|a| &a.value).collect();
            b.in_table(&def, &values)?;
            b.dml_scan(&def, selection.as_ref())?;
            Ok(b.param_hints().to_vec())
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            let [from] = from.as_slice() else {
                return Ok(vec![None; count]);
            };
            let def = table(txn, dml_table(from)?).await?;
            let tables =
                dml_tables(txn, &def, &delete.selection.iter().collect::<Vec<_>>()).await?;
            let mut b = Binder::new(&tables, &nulls);
            b.dml_scan(&def, delete.selection.as_ref())?;
            Ok(b.param_hints().to_vec())
        }
        _ => Ok(vec![None; count]),
    }
}

// ---------------------------------------------------------------------------
// Queries.

/// `q` bound (or its plan kept in `plans`) and given its parameters.
async fn bind_query(
    txn: &mut dyn KvTxn,
    q: &ast::Query,
    params: &[Value],
    plans: Option<&PlanCache>,
) -> Result<crate::plan::Query> {
    let names = match plans {
        // The tables a statement names are its own: found on its first run.
        Some(p) => std::borrow::Cow::Borrowed(p.query_tables.get_or_init(|| {
            let mut names = Vec::new();
            query_tables(q, &mut names);
            names
        })),
        None => {
            let mut names = Vec::new();
            query_tables(q, &mut names);
            std::borrow::Cow::Owned(names)
        }
    };
    let tables = load_tables(txn, &names).await?;
    let plan = bind_with(plans, tables, params, |tables| {
        Binder::new(tables, params).query(q).map(Plan::Query)
    })?;
    let Plan::Query(mut bound) = plan else {
        return Err(SqlError::internal("a kept plan of another kind"));
    };
    crate::bind::params::query(&mut bound, params)?;
    Ok(bound)
}

/// Gives a DML statement's bound scan and later condition their
/// parameters' values.
pub(crate) fn dml_params(
    scan: &mut crate::plan::Scan,
    later: &mut Option<crate::plan::BExpr>,
    params: &[Value],
) -> Result<()> {
    crate::bind::params::scan(scan, params)?;
    if let Some(e) = later {
        crate::bind::params::expr(e, params)?;
    }
    Ok(())
}

async fn select(
    txn: &mut dyn KvTxn,
    q: &ast::Query,
    params: &[Value],
    plans: Option<&PlanCache>,
) -> Result<QueryResult> {
    if sequences::may_call(q) {
        let mut q = q.clone();
        if sequences::resolve_calls(txn, &mut q, params).await? {
            let bound = bind_query(txn, &q, params, None).await?;
            return run_select(txn, bound).await;
        }
    }
    let bound = bind_query(txn, q, params, plans).await?;
    run_select(txn, bound).await
}

/// `bind`'s plan against `tables`, or the one `plans` kept (see
/// [`PlanCache::get_or_bind`]).
pub(crate) fn bind_with(
    plans: Option<&PlanCache>,
    tables: Tables,
    params: &[Value],
    bind: impl FnOnce(&Tables) -> Result<Plan>,
) -> Result<Plan> {
    match plans {
        Some(cache) => cache.get_or_bind(tables, params, bind),
        None => bind(&tables),
    }
}

/// A statement's bound plan kept between its runs (a prepared statement's,
/// one per statement): a query is bound once per schema of its tables and
/// types of its parameters, and each run clones the plan and gives it its
/// parameters' values. The tables are loaded at each run (from the schema
/// cache, under the run's schema lease), and a plan bound against other
/// definitions, or other parameter types, is bound again.
#[derive(Debug, Default)]
pub struct PlanCache {
    plan: std::sync::Mutex<Option<CachedPlan>>,
    /// Whether the statement names a system catalog or session function
    /// (`system::mentions`), found on its first run.
    names_system: std::sync::OnceLock<bool>,
    /// The tables a query names (`query_tables`), found on its first run.
    query_tables: std::sync::OnceLock<Vec<String>>,
}

#[derive(Debug)]
struct CachedPlan {
    tables: Tables,
    param_types: Vec<Option<DataType>>,
    /// The session's time zone when it was bound (a literal read as a
    /// timestamp with time zone is read in it).
    zone: crate::zone::Zone,
    plan: Plan,
}

/// The same definitions, by pointer: the schema cache hands out one
/// allocation per definition until it changes (a refresh keeps the
/// allocations of the ones stored alike), so anything else is a change —
/// or a definition read through the transaction, bound again. (Not `==`:
/// it is looser than the stored form — 0.0 == -0.0 — and a new default
/// must not run with a plan bound against the old one.)
fn same_tables(a: &Tables, b: &Tables) -> bool {
    a.types == b.types
        && a.len() == b.len()
        && a.iter()
            .all(|(name, def)| b.get(name).is_some_and(|other| Arc::ptr_eq(def, other)))
}

/// `CREATE SCHEMA`: Spanlite has the one schema `public` (beside the
/// system ones), so `CREATE SCHEMA IF NOT EXISTS public` — as Prisma's
/// migrations begin — is done, and any other schema is 0A000.
fn create_schema(name: &ast::SchemaName, if_not_exists: bool) -> Result<QueryResult> {
    let ast::SchemaName::Simple(n) = name else {
        return Err(SqlError::not_supported(
            "CREATE SCHEMA … AUTHORIZATION (Spanlite has one schema, public)",
        ));
    };
    let n = object_name(n)?;
    if ["public", "pg_catalog", "information_schema"].contains(&n.as_str()) {
        if if_not_exists {
            return Ok(done("CREATE SCHEMA", 0));
        }
        return Err(SqlError::duplicate_schema(format!(
            "schema \"{n}\" already exists"
        )));
    }
    Err(SqlError::not_supported(format!(
        "CREATE SCHEMA {n}: Spanlite has one schema, public"
    )))
}

/// The value of a constant expression, which names no column (a literal,
/// a cast, an operator over them, a parameter): a call's argument, an
/// `EXECUTE`'s parameter.
pub fn constant_value(e: &Expr, params: &[Value]) -> Result<Value> {
    let tables = crate::bind::Tables::new();
    let mut b = crate::bind::Binder::new(&tables, params).constant(e)?;
    crate::bind::params::expr(&mut b, params)?;
    crate::eval::eval(&b, &crate::eval::Env::EMPTY)
}

/// A bound statement, before its parameters get their values.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    Query(crate::plan::Query),
    Update(dml::UpdatePlan),
    Delete(dml::DeletePlan),
}

impl PlanCache {
    /// The kept plan if it was bound against `tables` with parameters of
    /// the types of `params`; otherwise `bind`'s, kept for next time.
    pub(crate) fn get_or_bind(
        &self,
        tables: Tables,
        params: &[Value],
        bind: impl FnOnce(&Tables) -> Result<Plan>,
    ) -> Result<Plan> {
        let types: Vec<Option<DataType>> = params.iter().map(Value::data_type).collect();
        let zone = crate::zone::current();
        {
            let cached = self
                .plan
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(c) = cached.as_ref().filter(|c| {
                c.param_types == types && c.zone == zone && same_tables(&c.tables, &tables)
            }) {
                return Ok(c.plan.clone());
            }
        }
        let plan = bind(&tables)?;
        *self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(CachedPlan {
            tables,
            param_types: types,
            zone,
            plan: plan.clone(),
        });
        Ok(plan)
    }

    /// True once a plan is kept (tests).
    pub fn is_filled(&self) -> bool {
        self.plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

/// Runs a bound query whose parameters have their values.
async fn run_select(txn: &mut dyn KvTxn, mut bound: crate::plan::Query) -> Result<QueryResult> {
    let rows = run_query(txn, &mut bound).await?;
    let columns = bound
        .columns
        .iter()
        .enumerate()
        .map(|(i, (n, ty))| {
            let ty = ty.or_else(|| {
                rows.iter()
                    .find_map(|r| r.get(i).and_then(Value::data_type))
            });
            (n.clone(), ty)
        })
        .collect();
    let n = rows.len() as u64;
    Ok(QueryResult {
        columns,
        declared: bound.declared(),
        rows,
        tag: format!("SELECT {n}"),
        rows_affected: n,
    })
}

async fn explain_statement(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
) -> Result<QueryResult> {
    let lines = match stmt {
        Statement::Query(q) => explain::query(&bind_query(txn, q, params, None).await?),
        Statement::Update {
            table: target,
            selection,
            ..
        } => {
            let def = table(txn, dml_table(target)?).await?;
            let tables = dml_tables(txn, &def, &selection.iter().collect::<Vec<_>>()).await?;
            let (mut scan, mut later) =
                Binder::new(&tables, params).dml_scan(&def, selection.as_ref())?;
            dml_params(&mut scan, &mut later, params)?;
            explain::dml("Update", &scan, later.as_ref())
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            let [from] = from.as_slice() else {
                return Err(SqlError::not_supported("DELETE from several tables"));
            };
            let def = table(txn, dml_table(from)?).await?;
            let tables =
                dml_tables(txn, &def, &delete.selection.iter().collect::<Vec<_>>()).await?;
            let (mut scan, mut later) =
                Binder::new(&tables, params).dml_scan(&def, delete.selection.as_ref())?;
            dml_params(&mut scan, &mut later, params)?;
            explain::dml("Delete", &scan, later.as_ref())
        }
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Err(SqlError::not_supported("INSERT into a table function"));
            };
            let def = table(txn, name).await?;
            let mut lines = vec![format!(
                "Insert into {} (checks: primary key{})",
                def.name,
                def.indexes
                    .iter()
                    .filter(|i| i.unique)
                    .map(|i| format!(", {}", i.name))
                    .collect::<String>()
            )];
            if let Some(source) = &insert.source {
                for l in explain::query(&bind_query(txn, source, params, None).await?) {
                    lines.push(format!("  {l}"));
                }
            }
            lines
        }
        other => {
            return Err(SqlError::not_supported(format!(
                "EXPLAIN {}",
                first_words(&other.to_string())
            )));
        }
    };
    let rows = lines.into_iter().map(|l| vec![Value::Text(l)]).collect();
    Ok(rows_result(
        vec![("QUERY PLAN", Some(DataType::Text))],
        rows,
        "EXPLAIN",
    ))
}
