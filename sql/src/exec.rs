//! Executing statements over a transaction: DDL on the catalog (tables,
//! indexes), INSERT/UPDATE/DELETE with index maintenance and constraint
//! checks, queries (bound by [`crate::bind`], run by [`crate::run`]),
//! EXPLAIN and SHOW.

use std::future::Future;
use std::pin::Pin;

use sqlparser::ast::{
    self, ColumnOption, Expr, FromTable, ObjectName, ObjectNamePart, ObjectType, OnConflictAction,
    OnInsert, SetExpr, Statement, TableConstraint, TableFactor, TableObject,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::bind::{self, Binder, Tables};
use crate::catalog::{self, Column, IndexDef, TableDef};
use crate::error::{Result, SqlError};
use crate::explain;
use crate::plan::{BExpr, Scan};
use crate::run::{self, Env};
use crate::value::{DataType, Value};

/// A future the [`KvTxn`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// What the executor needs of a transaction: key-value reads (under the
/// transaction's concurrency control) and buffered writes, which later
/// reads of the same transaction see.
pub trait KvTxn: Send {
    /// The value of `key`.
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;
    /// The value of `key`, locked for writing (SELECT … FOR UPDATE, and the
    /// rows UPDATE and DELETE read). Plain [`KvTxn::get`] unless the
    /// transaction can lock.
    fn get_for_update<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.get(key)
    }
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

/// The most binary operators one statement may have. Operator chains
/// (`1 + 1 + …`) parse into trees as deep as they are long, and trees are
/// walked (and dropped) recursively: this bounds the depth. Nesting by
/// parentheses is bounded by the parser itself.
const MAX_OPERATORS: usize = 2000;

/// Refuses statements with more than [`MAX_OPERATORS`] binary operators
/// (54001), counted on tokens before anything builds a tree.
fn check_operators(sql: &str) -> Result<()> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    let mut count = 0usize;
    let mut operand_before = false;
    for t in &tokens {
        if matches!(t, Token::Whitespace(_)) {
            continue;
        }
        if *t == Token::SemiColon {
            count = 0;
        }
        let binary = match t {
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat
            | Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq => operand_before,
            Token::Word(w) => {
                w.quote_style.is_none()
                    && (w.value.eq_ignore_ascii_case("and") || w.value.eq_ignore_ascii_case("or"))
            }
            _ => false,
        };
        if binary {
            count += 1;
            if count > MAX_OPERATORS {
                return Err(bind::too_complex(format!(
                    "more than {MAX_OPERATORS} operators in one statement"
                )));
            }
        }
        operand_before = matches!(
            t,
            Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::RParen
                | Token::Placeholder(_)
        ) || matches!(t, Token::Word(w) if !binary && w.keyword == sqlparser::keywords::Keyword::NoKeyword);
    }
    Ok(())
}

/// Parses `sql` (PostgreSQL dialect) into statements; 42601 on errors,
/// 54001 for statements too large to take apart safely.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    check_operators(sql)?;
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

pub(crate) fn object_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(ident(i)),
        _ => Err(SqlError::not_supported(format!(
            "qualified name {name}: there are no schemas"
        ))),
    }
}

pub(crate) fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
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

// ---------------------------------------------------------------------------
// Which tables a statement names (read before binding).

fn query_tables(q: &ast::Query, out: &mut Vec<String>) {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            query_tables(&cte.query, out);
        }
    }
    set_expr_tables(&q.body, out);
    if let Some(o) = &q.order_by
        && let ast::OrderByKind::Expressions(keys) = &o.kind
    {
        for k in keys {
            expr_tables(&k.expr, out);
        }
    }
}

fn set_expr_tables(e: &SetExpr, out: &mut Vec<String>) {
    match e {
        SetExpr::Select(s) => {
            for twj in &s.from {
                factor_tables(&twj.relation, out);
                for j in &twj.joins {
                    factor_tables(&j.relation, out);
                    let c = match &j.join_operator {
                        ast::JoinOperator::Join(c)
                        | ast::JoinOperator::Inner(c)
                        | ast::JoinOperator::Left(c)
                        | ast::JoinOperator::LeftOuter(c) => Some(c),
                        _ => None,
                    };
                    if let Some(ast::JoinConstraint::On(e)) = c {
                        expr_tables(e, out);
                    }
                }
            }
            for item in &s.projection {
                if let ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } = item
                {
                    expr_tables(e, out);
                }
            }
            for e in s.selection.iter().chain(s.having.iter()) {
                expr_tables(e, out);
            }
            if let ast::GroupByExpr::Expressions(es, _) = &s.group_by {
                for e in es {
                    expr_tables(e, out);
                }
            }
        }
        SetExpr::Query(q) => query_tables(q, out),
        SetExpr::SetOperation { left, right, .. } => {
            set_expr_tables(left, out);
            set_expr_tables(right, out);
        }
        SetExpr::Values(v) => {
            for e in v.rows.iter().flatten() {
                expr_tables(e, out);
            }
        }
        _ => {}
    }
}

fn factor_tables(f: &TableFactor, out: &mut Vec<String>) {
    match f {
        TableFactor::Table { name, .. } => {
            if let Ok(n) = object_name(name)
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
        TableFactor::Derived { subquery, .. } => query_tables(subquery, out),
        _ => {}
    }
}

fn expr_tables(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => query_tables(q, out),
        Expr::InSubquery { expr, subquery, .. } => {
            expr_tables(expr, out);
            query_tables(subquery, out);
        }
        other => {
            for c in bind::ast_children(other) {
                expr_tables(c, out);
            }
        }
    }
}

/// The tables an UPDATE or DELETE of `def` needs: `def` and those its
/// expressions' subqueries name.
async fn dml_tables(txn: &mut dyn KvTxn, def: &TableDef, exprs: &[&Expr]) -> Result<Tables> {
    let mut names = vec![def.name.clone()];
    for e in exprs {
        expr_tables(e, &mut names);
    }
    load_tables(txn, &names).await
}

/// Deletes every key in `[start, end)`.
async fn delete_range(txn: &mut dyn KvTxn, (start, end): (Vec<u8>, Vec<u8>)) -> Result<()> {
    for (k, _) in txn.scan(&start, &end).await? {
        txn.delete(k)?;
    }
    Ok(())
}

/// Loads the definitions of `names` (missing ones are left out: binding
/// reports them).
async fn load_tables(txn: &mut dyn KvTxn, names: &[String]) -> Result<Tables> {
    let mut out = Tables::new();
    for n in names {
        if let Some(def) = load_table(txn, n).await? {
            out.insert(n.clone(), def);
        }
    }
    Ok(out)
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
    match stmt {
        Statement::CreateTable(create) => create_table(txn, create).await,
        Statement::CreateIndex(create) => create_index(txn, create).await,
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
        Statement::Insert(insert) => insert_rows(txn, insert, params).await,
        Statement::Query(q) => select(txn, q, params).await,
        Statement::Update {
            table,
            assignments,
            from: None,
            selection,
            returning: None,
            ..
        } => update(txn, table, assignments, selection.as_ref(), params).await,
        Statement::Delete(delete) => delete_rows(txn, delete, params).await,
        Statement::Explain {
            statement,
            analyze: false,
            ..
        } => explain_statement(txn, statement, params).await,
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
                Value::Text(c.ty.to_string()),
                Value::Bool(c.nullable),
                Value::Text(
                    c.default
                        .as_ref()
                        .map_or(String::new(), ToString::to_string),
                ),
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
        tag: tag.into(),
        rows_affected,
        ..QueryResult::default()
    }
}

// ---------------------------------------------------------------------------
// DDL.

fn column_index(columns: &[Column], e: &Expr) -> Result<usize> {
    let Expr::Identifier(id) = e else {
        return Err(SqlError::not_supported(format!(
            "{e}: keys and indexes are on plain columns"
        )));
    };
    let name = ident(id);
    columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| SqlError::undefined_column(format!("column \"{name}\" does not exist")))
}

async fn create_table(txn: &mut dyn KvTxn, create: &ast::CreateTable) -> Result<QueryResult> {
    let name = object_name(&create.name)?;
    if create.query.is_some() {
        return Err(SqlError::not_supported("CREATE TABLE … AS"));
    }
    if load_table(txn, &name).await?.is_some() {
        if create.if_not_exists {
            return Ok(done("CREATE TABLE", 0));
        }
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut primary_key: Option<Vec<usize>> = None;
    let mut unique: Vec<Vec<usize>> = Vec::new();
    let two_keys = || SqlError {
        code: "42P16",
        message: format!("multiple primary keys for table \"{name}\" are not allowed"),
    };
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
                    let tables = Tables::new();
                    let b = Binder::new(&tables, &[]).constant(e)?;
                    column.default = Some(run::eval(&b, &Env::EMPTY)?.cast_to(ty)?);
                }
                ColumnOption::Unique {
                    is_primary: true, ..
                } => {
                    if primary_key.replace(vec![i]).is_some() {
                        return Err(two_keys());
                    }
                    column.nullable = false;
                }
                ColumnOption::Unique {
                    is_primary: false, ..
                } => unique.push(vec![i]),
                other => {
                    return Err(SqlError::not_supported(format!("column option {other}")));
                }
            }
        }
        columns.push(column);
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey { columns: pk, .. } => {
                let mut key = Vec::new();
                for c in pk {
                    let i = column_index(&columns, &c.column.expr)?;
                    if key.contains(&i) {
                        return Err(SqlError::duplicate_column(format!(
                            "column \"{}\" appears twice in primary key constraint",
                            columns[i].name
                        )));
                    }
                    columns[i].nullable = false;
                    key.push(i);
                }
                if primary_key.replace(key).is_some() {
                    return Err(two_keys());
                }
            }
            TableConstraint::Unique { columns: cols, .. } => {
                let key = cols
                    .iter()
                    .map(|c| column_index(&columns, &c.column.expr))
                    .collect::<Result<Vec<_>>>()?;
                unique.push(key);
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
    let mut def = TableDef {
        id,
        name: name.clone(),
        columns,
        primary_key: primary_key.unwrap_or_default(),
        indexes: Vec::new(),
        next_index_id: 1,
    };
    for cols in unique {
        let index_name = format!(
            "{name}_{}_key",
            cols.iter()
                .map(|&c| def.columns[c].name.as_str())
                .collect::<Vec<_>>()
                .join("_")
        );
        if def.index(&index_name).is_none() {
            def.indexes.push(IndexDef {
                id: def.next_index_id,
                name: index_name,
                columns: cols,
                unique: true,
            });
            def.next_index_id += 1;
        }
    }
    txn.put(catalog::table_key(&name), catalog::encode(&def)?)?;
    Ok(done("CREATE TABLE", 0))
}

/// The table that has index `name`, if any.
async fn index_owner(txn: &mut dyn KvTxn, name: &str) -> Result<Option<TableDef>> {
    Ok(tables(txn)
        .await?
        .into_iter()
        .find(|t| t.index(name).is_some()))
}

async fn create_index(txn: &mut dyn KvTxn, create: &ast::CreateIndex) -> Result<QueryResult> {
    if create.predicate.is_some() || !create.include.is_empty() || create.using.is_some() {
        return Err(SqlError::not_supported(
            "partial indexes, INCLUDE and USING",
        ));
    }
    let mut def = table(txn, &create.table_name).await?;
    let columns = create
        .columns
        .iter()
        .map(|c| column_index(&def.columns, &c.column.expr))
        .collect::<Result<Vec<_>>>()?;
    let name = match &create.name {
        Some(n) => object_name(n)?,
        None => format!(
            "{}_{}_idx",
            def.name,
            columns
                .iter()
                .map(|&c| def.columns[c].name.as_str())
                .collect::<Vec<_>>()
                .join("_")
        ),
    };
    if index_owner(txn, &name).await?.is_some() || load_table(txn, &name).await?.is_some() {
        if create.if_not_exists {
            return Ok(done("CREATE INDEX", 0));
        }
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let index = IndexDef {
        id: def.next_index_id,
        name,
        columns,
        unique: create.unique,
    };
    def.next_index_id = def
        .next_index_id
        .checked_add(1)
        .ok_or_else(|| SqlError::internal("index ids exhausted"))?;
    // Entries for the rows there are.
    let (start, end) = def.key_range();
    for (key, value) in txn.scan(&start, &end).await? {
        let row: Vec<Value> = catalog::decode(&value, "row")?;
        put_index_entry(txn, &def, &index, &row, &key).await?;
    }
    def.indexes.push(index);
    txn.put(catalog::table_key(&def.name), catalog::encode(&def)?)?;
    Ok(done("CREATE INDEX", 0))
}

async fn drop_indexes(
    txn: &mut dyn KvTxn,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    for n in names {
        let name = object_name(n)?;
        let Some(mut def) = index_owner(txn, &name).await? else {
            if if_exists {
                continue;
            }
            return Err(SqlError {
                code: "42704",
                message: format!("index \"{name}\" does not exist"),
            });
        };
        let Some(pos) = def.indexes.iter().position(|i| i.name == name) else {
            continue;
        };
        let index = def.indexes.remove(pos);
        delete_range(txn, def.index_range(&index)).await?;
        txn.put(catalog::table_key(&def.name), catalog::encode(&def)?)?;
    }
    Ok(done("DROP INDEX", 0))
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
        let mut ranges = vec![def.key_range()];
        ranges.extend(def.indexes.iter().map(|i| def.index_range(i)));
        for range in ranges {
            delete_range(txn, range).await?;
        }
        txn.delete(catalog::table_key(&name))?;
    }
    Ok(done("DROP TABLE", 0))
}

// ---------------------------------------------------------------------------
// DML.

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

fn unique_violation(name: &str) -> SqlError {
    SqlError::unique_violation(format!(
        "duplicate key value violates unique constraint \"{name}\""
    ))
}

/// Writes `row`'s entry in `index`; 23505 when a unique index already has
/// the values for another row.
async fn put_index_entry(
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
async fn conflict(
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
async fn run_query(txn: &mut dyn KvTxn, q: &mut crate::plan::Query) -> Result<Vec<Vec<Value>>> {
    run::fetch(txn, q).await?;
    run::query(q, &[])
}

async fn insert_rows(
    txn: &mut dyn KvTxn,
    insert: &ast::Insert,
    params: &[Value],
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
    let mut bound = Binder::new(&tables, params).query(source)?;
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
fn insert_targets(def: &TableDef, insert: &ast::Insert) -> Result<Vec<usize>> {
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

/// Reads the rows a DML statement's WHERE selects: (key, row) pairs.
async fn dml_rows(
    txn: &mut dyn KvTxn,
    scan: &mut Scan,
    later: &mut Option<BExpr>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    run::fetch_scan(txn, scan).await?;
    if let Some(f) = &mut scan.filter {
        run::fetch_expr(txn, f).await?;
    }
    if let Some(f) = later {
        run::fetch_expr(txn, f).await?;
    }
    let mut out = Vec::new();
    let rows = std::mem::take(&mut scan.rows);
    let keys = std::mem::take(&mut scan.keys);
    for (row, key) in rows.into_iter().zip(keys) {
        let env = Env {
            row: &row,
            ..Env::EMPTY
        };
        if run::passes(&scan.filter, &env)? && run::passes(later, &env)? {
            out.push((key, row));
        }
    }
    Ok(out)
}

fn dml_table(from: &ast::TableWithJoins) -> Result<&ObjectName> {
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

async fn update(
    txn: &mut dyn KvTxn,
    target: &ast::TableWithJoins,
    assignments: &[ast::Assignment],
    selection: Option<&Expr>,
    params: &[Value],
) -> Result<QueryResult> {
    let def = table(txn, dml_table(target)?).await?;
    let exprs: Vec<&Expr> = selection
        .into_iter()
        .chain(assignments.iter().map(|a| &a.value))
        .collect();
    let tables = dml_tables(txn, &def, &exprs).await?;
    let mut binder = Binder::new(&tables, params);
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    for a in assignments {
        let ast::AssignmentTarget::ColumnName(col) = &a.target else {
            return Err(SqlError::not_supported("tuple assignments"));
        };
        let i = def.column(&object_name(col)?)?;
        if columns.contains(&i) {
            return Err(SqlError {
                code: "42601",
                message: format!(
                    "multiple assignments to same column \"{}\"",
                    def.columns[i].name
                ),
            });
        }
        columns.push(i);
        exprs.push(&a.value);
    }
    let mut sets = binder.in_table(&def, &exprs)?;
    let (mut scan, mut later) = binder.dml_scan(&def, selection)?;
    for e in &mut sets {
        run::fetch_expr(txn, e).await?;
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
            new[i] = run::eval(e, &env)?;
        }
        let new = check_row(&def, new)?;
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

async fn delete_rows(
    txn: &mut dyn KvTxn,
    delete: &ast::Delete,
    params: &[Value],
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
    let (mut scan, mut later) =
        Binder::new(&tables, params).dml_scan(&def, delete.selection.as_ref())?;
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

// ---------------------------------------------------------------------------
// Queries.

async fn bind_query(
    txn: &mut dyn KvTxn,
    q: &ast::Query,
    params: &[Value],
) -> Result<crate::plan::Query> {
    let mut names = Vec::new();
    query_tables(q, &mut names);
    let tables = load_tables(txn, &names).await?;
    Binder::new(&tables, params).query(q)
}

async fn select(txn: &mut dyn KvTxn, q: &ast::Query, params: &[Value]) -> Result<QueryResult> {
    let mut bound = bind_query(txn, q, params).await?;
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
        Statement::Query(q) => explain::query(&bind_query(txn, q, params).await?),
        Statement::Update {
            table: target,
            selection,
            ..
        } => {
            let def = table(txn, dml_table(target)?).await?;
            let tables = dml_tables(txn, &def, &selection.iter().collect::<Vec<_>>()).await?;
            let (scan, later) = Binder::new(&tables, params).dml_scan(&def, selection.as_ref())?;
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
            let (scan, later) =
                Binder::new(&tables, params).dml_scan(&def, delete.selection.as_ref())?;
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
                for l in explain::query(&bind_query(txn, source, params).await?) {
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
