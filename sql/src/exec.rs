//! Executing statements over a transaction: DDL on the catalog, INSERT,
//! UPDATE, DELETE and single-table SELECT (filter, project, aggregate
//! without GROUP BY, DISTINCT, ORDER BY, LIMIT/OFFSET). Access path: a
//! primary-key point lookup when the WHERE clause pins the key
//! (`pk = literal`), else a scan of the table's key range.

use std::future::Future;
use std::pin::Pin;

use sqlparser::ast::{
    self, ColumnOption, Expr, FromTable, ObjectName, ObjectNamePart, ObjectType, OnConflictAction,
    OnInsert, SelectItem, SetExpr, Statement, TableConstraint, TableFactor, TableObject,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::catalog::{self, Column, TableDef};
use crate::error::{Result, SqlError};
use crate::expr::{self, Scope};
use crate::value::{DataType, Value};

/// A future the [`KvTxn`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// What the executor needs of a transaction: key-value reads (under the
/// transaction's concurrency control) and buffered writes.
pub trait KvTxn: Send {
    /// The value of `key`.
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;
    /// The pairs in `[start, end)`, in key order.
    fn scan<'a>(&'a mut self, start: &'a [u8], end: &'a [u8]) -> BoxFuture<'a, Result<Pairs>>;
    /// Buffers `key = value`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()>;
    /// Buffers a delete of `key`.
    fn delete(&mut self, key: Vec<u8>) -> Result<()>;
}

/// A statement's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// Column names and types (empty for statements without rows).
    pub columns: Vec<(String, Option<DataType>)>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// The command tag (`SELECT 3`, `INSERT 0 2`, `CREATE TABLE`, …).
    pub tag: String,
    /// Rows inserted, updated, deleted or returned.
    pub rows_affected: u64,
}

/// Parses `sql` (PostgreSQL dialect) into statements; 42601 on errors.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| SqlError::syntax(e.to_string()))
}

/// An identifier as Spanlite names things: unquoted ones fold to lower case.
pub(crate) fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn object_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(ident(i)),
        _ => Err(SqlError::not_supported(format!(
            "qualified name {name}: there are no schemas"
        ))),
    }
}

async fn load_table(txn: &mut dyn KvTxn, name: &str) -> Result<Option<TableDef>> {
    match txn.get(&catalog::table_key(name)).await? {
        Some(bytes) => Ok(Some(catalog::decode(&bytes, "table definition")?)),
        None => Ok(None),
    }
}

async fn table(txn: &mut dyn KvTxn, name: &ObjectName) -> Result<TableDef> {
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
        .map(|(_, v)| catalog::decode(v, "table definition"))
        .collect()
}

/// Executes one statement in `txn`. Transaction control (BEGIN, COMMIT,
/// ROLLBACK) belongs to the session and is refused here.
pub async fn execute(txn: &mut dyn KvTxn, stmt: &Statement) -> Result<QueryResult> {
    match stmt {
        Statement::CreateTable(create) => create_table(txn, create).await,
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => drop_tables(txn, names, *if_exists).await,
        Statement::Insert(insert) => insert_rows(txn, insert).await,
        Statement::Query(query) => select(txn, query).await,
        Statement::Update {
            table,
            assignments,
            from: None,
            selection,
            returning: None,
            ..
        } => update(txn, table, assignments, selection.as_ref()).await,
        Statement::Delete(delete) => delete_rows(txn, delete).await,
        Statement::ShowTables { .. } => {
            let rows: Vec<Vec<Value>> = tables(txn)
                .await?
                .into_iter()
                .map(|t| vec![Value::Text(t.name)])
                .collect();
            Ok(rows_result(vec![("table", Some(DataType::Text))], rows))
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
            let rows = def
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    vec![
                        Value::Text(c.name.clone()),
                        Value::Text(c.ty.to_string()),
                        Value::Bool(c.nullable),
                        Value::Text(
                            c.default
                                .as_ref()
                                .map_or(String::new(), ToString::to_string),
                        ),
                        Value::Bool(def.primary_key == Some(i)),
                    ]
                })
                .collect();
            Ok(rows_result(
                vec![
                    ("column", Some(DataType::Text)),
                    ("type", Some(DataType::Text)),
                    ("nullable", Some(DataType::Bool)),
                    ("default", Some(DataType::Text)),
                    ("primary_key", Some(DataType::Bool)),
                ],
                rows,
            ))
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Err(SqlError::not_supported(
            "transaction control is handled by the session",
        )),
        other => Err(SqlError::not_supported(format!(
            "statement not supported yet: {}",
            first_words(&other.to_string())
        ))),
    }
}

fn rows_result(columns: Vec<(&str, Option<DataType>)>, rows: Vec<Vec<Value>>) -> QueryResult {
    let n = rows.len() as u64;
    QueryResult {
        columns: columns
            .into_iter()
            .map(|(c, t)| (c.to_string(), t))
            .collect(),
        rows,
        tag: format!("SHOW {n}"),
        rows_affected: n,
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn done(tag: impl Into<String>, rows_affected: u64) -> QueryResult {
    QueryResult {
        tag: tag.into(),
        rows_affected,
        ..QueryResult::default()
    }
}

async fn create_table(txn: &mut dyn KvTxn, create: &ast::CreateTable) -> Result<QueryResult> {
    let name = object_name(&create.name)?;
    if load_table(txn, &name).await?.is_some() {
        if create.if_not_exists {
            return Ok(done("CREATE TABLE", 0));
        }
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut primary_key = None;
    for (i, c) in create.columns.iter().enumerate() {
        let col_name = ident(&c.name);
        if columns.iter().any(|x| x.name == col_name) {
            return Err(SqlError::duplicate_column(format!(
                "column \"{col_name}\" specified more than once"
            )));
        }
        let ty = DataType::from_sql(&c.data_type)?;
        let mut column = Column {
            name: col_name,
            ty,
            nullable: true,
            default: None,
        };
        for opt in &c.options {
            match &opt.option {
                ColumnOption::Null => column.nullable = true,
                ColumnOption::NotNull => column.nullable = false,
                ColumnOption::Default(e) => {
                    column.default = Some(expr::constant(e)?.cast_to(ty)?);
                }
                ColumnOption::Unique {
                    is_primary: true, ..
                } => {
                    if primary_key.replace(i).is_some() {
                        return Err(SqlError::not_supported(
                            "multiple primary keys (composite keys are not supported yet)",
                        ));
                    }
                    column.nullable = false;
                }
                other => {
                    return Err(SqlError::not_supported(format!(
                        "column option {other} (UNIQUE needs secondary indexes, not built yet)"
                    )));
                }
            }
        }
        columns.push(column);
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey { columns: pk, .. } => {
                let [only] = pk.as_slice() else {
                    return Err(SqlError::not_supported(
                        "composite primary keys are not supported yet",
                    ));
                };
                let Expr::Identifier(id) = &only.column.expr else {
                    return Err(SqlError::syntax("a primary key names a column"));
                };
                let name = ident(id);
                let i = columns.iter().position(|c| c.name == name).ok_or_else(|| {
                    SqlError::undefined_column(format!("column \"{name}\" does not exist"))
                })?;
                if primary_key.replace(i).is_some_and(|old| old != i) {
                    return Err(SqlError::not_supported(
                        "multiple primary keys (composite keys are not supported yet)",
                    ));
                }
                columns[i].nullable = false;
            }
            other => {
                return Err(SqlError::not_supported(format!("constraint {other}")));
            }
        }
    }
    if columns.is_empty() {
        return Err(SqlError::syntax("a table needs at least one column"));
    }
    let id = match txn.get(catalog::next_table_id_key()).await? {
        Some(b) => <[u8; 4]>::try_from(b.as_slice())
            .map(u32::from_be_bytes)
            .map_err(|_| SqlError::internal("corrupt table id counter"))?,
        None => 1,
    };
    let next = id
        .checked_add(1)
        .ok_or_else(|| SqlError::internal("table ids exhausted"))?;
    txn.put(
        catalog::next_table_id_key().to_vec(),
        next.to_be_bytes().to_vec(),
    )?;
    let def = TableDef {
        id,
        name: name.clone(),
        columns,
        primary_key,
    };
    txn.put(catalog::table_key(&name), catalog::encode(&def)?)?;
    Ok(done("CREATE TABLE", 0))
}

async fn drop_tables(
    txn: &mut dyn KvTxn,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    for n in names {
        let name = object_name(n)?;
        let Some(def) = load_table(txn, &name).await? else {
            if if_exists {
                continue;
            }
            return Err(SqlError::undefined_table(format!(
                "table \"{name}\" does not exist"
            )));
        };
        let (start, end) = def.key_range();
        for (k, _) in txn.scan(&start, &end).await? {
            txn.delete(k)?;
        }
        txn.delete(catalog::table_key(&name))?;
    }
    Ok(done("DROP TABLE", 0))
}

/// A process-unique row id for tables without a primary key.
fn next_row_id() -> i64 {
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
fn check_row(def: &TableDef, values: Vec<Value>) -> Result<Vec<Value>> {
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

fn row_key(def: &TableDef, row: &[Value]) -> Result<Vec<u8>> {
    match def.primary_key {
        Some(i) => def.row_key(&row[i]),
        None => def.row_key(&Value::Int(next_row_id())),
    }
}

async fn insert_rows(txn: &mut dyn KvTxn, insert: &ast::Insert) -> Result<QueryResult> {
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
    let targets: Vec<usize> = if insert.columns.is_empty() {
        (0..def.columns.len()).collect()
    } else {
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
        t
    };
    let Some(source) = &insert.source else {
        return Err(SqlError::syntax("INSERT without VALUES"));
    };
    let SetExpr::Values(values) = source.body.as_ref() else {
        return Err(SqlError::not_supported("INSERT … SELECT"));
    };
    let mut inserted = 0;
    for exprs in &values.rows {
        if exprs.len() != targets.len() {
            return Err(SqlError::syntax(format!(
                "INSERT has {} expressions for {} target columns",
                exprs.len(),
                targets.len()
            )));
        }
        let mut row: Vec<Value> = def
            .columns
            .iter()
            .map(|c| c.default.clone().unwrap_or(Value::Null))
            .collect();
        for (e, &i) in exprs.iter().zip(&targets) {
            row[i] = expr::constant(e)?;
        }
        let row = check_row(&def, row)?;
        let key = row_key(&def, &row)?;
        if txn.get(&key).await?.is_some() {
            if do_nothing {
                continue;
            }
            return Err(SqlError::unique_violation(format!(
                "duplicate key value violates unique constraint \"{}_pkey\"",
                def.name
            )));
        }
        txn.put(key, catalog::encode(&row)?)?;
        inserted += 1;
    }
    Ok(done(format!("INSERT 0 {inserted}"), inserted))
}

/// The rows of `def` that satisfy `filter`, with their keys.
async fn matching_rows(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    filter: Option<&Expr>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let pairs = match point_lookup(def, filter)? {
        Some(key) => txn
            .get(&key)
            .await?
            .map(|v| vec![(key, v)])
            .unwrap_or_default(),
        None => {
            let (start, end) = def.key_range();
            txn.scan(&start, &end).await?
        }
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        let row: Vec<Value> = catalog::decode(&v, "row")?;
        let keep = match filter {
            None => true,
            Some(f) => expr::eval(f, &Scope::row(def, &row))?.truth()? == Some(true),
        };
        if keep {
            out.push((k, row));
        }
    }
    Ok(out)
}

/// The key a WHERE clause pins (`pk = constant`, possibly inside ANDs).
fn point_lookup(def: &TableDef, filter: Option<&Expr>) -> Result<Option<Vec<u8>>> {
    let (Some(pk), Some(filter)) = (def.primary_key, filter) else {
        return Ok(None);
    };
    let pk_name = &def.columns[pk].name;
    let is_pk = |e: &Expr| matches!(e, Expr::Identifier(i) if &ident(i) == pk_name);
    match filter {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } => {
            let constant = if is_pk(left) {
                right
            } else if is_pk(right) {
                left
            } else {
                return Ok(None);
            };
            match expr::constant(constant) {
                Ok(Value::Null) | Err(_) => Ok(None),
                Ok(v) => match v.cast_to(def.columns[pk].ty) {
                    Ok(v) => def.row_key(&v).map(Some),
                    Err(_) => Ok(None),
                },
            }
        }
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => Ok(match point_lookup(def, Some(left))? {
            Some(k) => Some(k),
            None => point_lookup(def, Some(right))?,
        }),
        Expr::Nested(inner) => point_lookup(def, Some(inner)),
        _ => Ok(None),
    }
}

fn single_table(from: &[ast::TableWithJoins]) -> Result<Option<&ObjectName>> {
    match from {
        [] => Ok(None),
        [t] if t.joins.is_empty() => match &t.relation {
            TableFactor::Table { name, .. } => Ok(Some(name)),
            other => Err(SqlError::not_supported(format!("FROM {other}"))),
        },
        _ => Err(SqlError::not_supported("joins are not supported yet")),
    }
}

async fn update(
    txn: &mut dyn KvTxn,
    target: &ast::TableWithJoins,
    assignments: &[ast::Assignment],
    selection: Option<&Expr>,
) -> Result<QueryResult> {
    let Some(name) = single_table(std::slice::from_ref(target))? else {
        return Err(SqlError::syntax("UPDATE without a table"));
    };
    let def = table(txn, name).await?;
    let mut sets = Vec::new();
    for a in assignments {
        let ast::AssignmentTarget::ColumnName(col) = &a.target else {
            return Err(SqlError::not_supported("tuple assignments"));
        };
        sets.push((def.column(&object_name(col)?)?, &a.value));
    }
    let rows = matching_rows(txn, &def, selection).await?;
    let count = rows.len() as u64;
    for (key, old) in rows {
        let mut new = old.clone();
        for (i, e) in &sets {
            new[*i] = expr::eval(e, &Scope::row(&def, &old))?;
        }
        let new = check_row(&def, new)?;
        let new_key = match def.primary_key {
            Some(pk) if new[pk] != old[pk] => {
                let k = def.row_key(&new[pk])?;
                if txn.get(&k).await?.is_some() {
                    return Err(SqlError::unique_violation(format!(
                        "duplicate key value violates unique constraint \"{}_pkey\"",
                        def.name
                    )));
                }
                txn.delete(key)?;
                k
            }
            _ => key,
        };
        txn.put(new_key, catalog::encode(&new)?)?;
    }
    Ok(done(format!("UPDATE {count}"), count))
}

async fn delete_rows(txn: &mut dyn KvTxn, delete: &ast::Delete) -> Result<QueryResult> {
    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
    let Some(name) = single_table(from)? else {
        return Err(SqlError::syntax("DELETE without a table"));
    };
    if delete.using.is_some() || delete.returning.is_some() || delete.limit.is_some() {
        return Err(SqlError::not_supported("DELETE … USING/RETURNING/LIMIT"));
    }
    let def = table(txn, name).await?;
    let rows = matching_rows(txn, &def, delete.selection.as_ref()).await?;
    let count = rows.len() as u64;
    for (key, _) in rows {
        txn.delete(key)?;
    }
    Ok(done(format!("DELETE {count}"), count))
}

async fn select(txn: &mut dyn KvTxn, query: &ast::Query) -> Result<QueryResult> {
    if query.with.is_some() || query.fetch.is_some() || !query.locks.is_empty() {
        return Err(SqlError::not_supported(
            "WITH, FETCH and FOR UPDATE are not supported yet",
        ));
    }
    let SetExpr::Select(s) = query.body.as_ref() else {
        return Err(SqlError::not_supported(
            "UNION, VALUES and other set operations",
        ));
    };
    match &s.group_by {
        ast::GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty() => {}
        _ => return Err(SqlError::not_supported("GROUP BY is not supported yet")),
    }
    if s.having.is_some() {
        return Err(SqlError::not_supported("HAVING is not supported yet"));
    }
    let def = match single_table(&s.from)? {
        Some(name) => Some(table(txn, name).await?),
        None => None,
    };
    // Source rows: the table's (filtered), or one empty row.
    let rows: Vec<Vec<Value>> = match &def {
        Some(d) => matching_rows(txn, d, s.selection.as_ref())
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        None => {
            let keep = match &s.selection {
                None => true,
                Some(f) => expr::eval(f, &Scope::empty())?.truth()? == Some(true),
            };
            if keep { vec![Vec::new()] } else { Vec::new() }
        }
    };
    // Projection.
    let mut items: Vec<(String, &Expr)> = Vec::new();
    let mut wildcard = Vec::new();
    for item in &s.projection {
        match item {
            SelectItem::Wildcard(_) => {
                let d = def
                    .as_ref()
                    .ok_or_else(|| SqlError::syntax("SELECT * with no tables"))?;
                wildcard.push(items.len());
                for c in &d.columns {
                    items.push((c.name.clone(), &DUMMY));
                }
            }
            SelectItem::UnnamedExpr(e) => items.push((expr::column_name(e), e)),
            SelectItem::ExprWithAlias { expr, alias } => items.push((ident(alias), expr)),
            SelectItem::QualifiedWildcard(..) => {
                return Err(SqlError::not_supported("table.* is not supported yet"));
            }
        }
    }
    let is_star = |i: usize| -> Option<usize> {
        let d = def.as_ref()?;
        wildcard
            .iter()
            .find(|&&w| i >= w && i < w + d.columns.len())
            .map(|&w| i - w)
    };
    let aggregate = items
        .iter()
        .enumerate()
        .any(|(i, (_, e))| is_star(i).is_none() && expr::has_aggregate(e));
    let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new(); // (projected, source)
    if aggregate {
        if !wildcard.is_empty() {
            return Err(SqlError::grouping("SELECT * with an aggregate"));
        }
        let scopes: Vec<Scope> = rows.iter().map(|r| scope_of(&def, r)).collect();
        let mut projected = Vec::new();
        for (_, e) in &items {
            projected.push(expr::eval_aggregate(e, &scopes)?);
        }
        out.push((projected, Vec::new()));
    } else {
        for r in &rows {
            let scope = scope_of(&def, r);
            let mut projected = Vec::with_capacity(items.len());
            for (i, (_, e)) in items.iter().enumerate() {
                projected.push(match is_star(i) {
                    Some(c) => r[c].clone(),
                    None => expr::eval(e, &scope)?,
                });
            }
            out.push((projected, r.clone()));
        }
    }
    if matches!(s.distinct, Some(ast::Distinct::Distinct)) {
        let mut seen: Vec<Vec<Value>> = Vec::new();
        out.retain(|(p, _)| {
            if seen.contains(p) {
                false
            } else {
                seen.push(p.clone());
                true
            }
        });
    } else if s.distinct.is_some() {
        return Err(SqlError::not_supported("DISTINCT ON"));
    }
    if let Some(order) = &query.order_by {
        let ast::OrderByKind::Expressions(keys) = &order.kind else {
            return Err(SqlError::not_supported("ORDER BY ALL"));
        };
        let mut keyed = Vec::with_capacity(out.len());
        for (p, src) in out {
            let mut k = Vec::with_capacity(keys.len());
            for key in keys {
                k.push(order_value(&key.expr, &items, &p, &src, &def, aggregate)?);
            }
            keyed.push((k, p, src));
        }
        keyed.sort_by(|a, b| {
            for (i, key) in keys.iter().enumerate() {
                let mut o = a.0[i].sort_cmp(&b.0[i]);
                if key.options.asc == Some(false) {
                    o = o.reverse();
                }
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        out = keyed.into_iter().map(|(_, p, s)| (p, s)).collect();
    }
    let (limit, offset) = limit_offset(query)?;
    let rows: Vec<Vec<Value>> = out
        .into_iter()
        .map(|(p, _)| p)
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let columns = items
        .iter()
        .enumerate()
        .map(|(i, (n, _))| {
            let ty = rows.iter().find_map(|r| r[i].data_type()).or_else(|| {
                let d = def.as_ref()?;
                is_star(i).map(|c| d.columns[c].ty)
            });
            (n.clone(), ty)
        })
        .collect();
    let n = rows.len() as u64;
    Ok(QueryResult {
        columns,
        rows,
        tag: format!("SELECT {n}"),
        rows_affected: n,
    })
}

fn scope_of<'a>(def: &'a Option<TableDef>, row: &'a [Value]) -> Scope<'a> {
    match def {
        Some(d) => Scope::row(d, row),
        None => Scope::empty(),
    }
}

/// Placeholder expression for the columns of `*` (never evaluated).
static DUMMY: Expr = Expr::Value(ast::ValueWithSpan {
    value: ast::Value::Null,
    span: sqlparser::tokenizer::Span::empty(),
});

/// An ORDER BY key: an output column by position (`ORDER BY 2`) or alias,
/// or an expression over the source row.
fn order_value(
    e: &Expr,
    items: &[(String, &Expr)],
    projected: &[Value],
    source: &[Value],
    def: &Option<TableDef>,
    aggregate: bool,
) -> Result<Value> {
    if let Ok(Value::Int(pos)) = expr::constant(e) {
        let i = usize::try_from(pos)
            .ok()
            .and_then(|p| p.checked_sub(1))
            .filter(|&i| i < projected.len())
            .ok_or_else(|| {
                SqlError::invalid_parameter(format!(
                    "ORDER BY position {pos} is not in select list"
                ))
            })?;
        return Ok(projected[i].clone());
    }
    if let Expr::Identifier(id) = e {
        let name = ident(id);
        let from_table = def.as_ref().is_some_and(|d| d.column(&name).is_ok());
        if let Some(i) = items.iter().position(|(n, _)| *n == name)
            && (!from_table || aggregate)
        {
            return Ok(projected[i].clone());
        }
    }
    if aggregate {
        return Err(SqlError::grouping(
            "ORDER BY of an aggregate query must name an output column",
        ));
    }
    match def {
        Some(d) => expr::eval(e, &Scope::row(d, source)),
        None => expr::eval(e, &Scope::empty()),
    }
}

fn limit_offset(query: &ast::Query) -> Result<(Option<usize>, usize)> {
    let count = |e: &Expr, what: &str| -> Result<usize> {
        match expr::constant(e)? {
            Value::Int(n) if n >= 0 => usize::try_from(n)
                .map_err(|_| SqlError::invalid_parameter(format!("{what} is too large"))),
            other => Err(SqlError::invalid_parameter(format!(
                "{what} must be a non-negative integer, not {other}"
            ))),
        }
    };
    match &query.limit_clause {
        None => Ok((None, 0)),
        Some(ast::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) if limit_by.is_empty() => {
            let limit = limit.as_ref().map(|l| count(l, "LIMIT")).transpose()?;
            let offset = offset
                .as_ref()
                .map(|o| count(&o.value, "OFFSET"))
                .transpose()?
                .unwrap_or(0);
            Ok((limit, offset))
        }
        Some(other) => Err(SqlError::not_supported(format!("{other}"))),
    }
}
