//! DDL: tables (primary keys, NOT NULL, DEFAULT, UNIQUE) and secondary
//! indexes, built from the rows there are and dropped with their entries.
//! The catalog is ordinary transactional data: DDL commits or aborts with
//! its transaction.

use sqlparser::ast::{self, ColumnOption, Expr, ObjectName, TableConstraint};

use super::dml::put_index_entry;
use super::{QueryResult, done, load_table, table, tables};
use crate::bind::{Binder, Tables};
use crate::catalog::{self, Column, IndexDef, TableDef};
use crate::error::{Result, SqlError};
use crate::eval::{self, Env};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::{DataType, Value};

/// Deletes every key in `[start, end)`.
pub(super) async fn delete_range(
    txn: &mut dyn KvTxn,
    (start, end): (Vec<u8>, Vec<u8>),
) -> Result<()> {
    for (k, _) in txn.scan(&start, &end).await? {
        txn.delete(k)?;
    }
    Ok(())
}

pub(super) fn column_index(columns: &[Column], e: &Expr) -> Result<usize> {
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

pub(super) async fn create_table(
    txn: &mut dyn KvTxn,
    create: &ast::CreateTable,
) -> Result<QueryResult> {
    let name = object_name(&create.name)?;
    if let Some(q) = &create.query {
        return create_table_as(txn, create, &name, q).await;
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
    // Sequences this table will own (SERIAL, identity), by column.
    let mut owned: Vec<(usize, crate::sequence::SequenceDef)> = Vec::new();
    let mut primary_key: Option<Vec<usize>> = None;
    let mut unique: Vec<Vec<usize>> = Vec::new();
    let mut checks: Vec<catalog::CheckDef> = Vec::new();
    // FOREIGN KEYs as written: (name, columns, parent, parent columns,
    // ON DELETE, ON UPDATE), checked once the columns are known.
    let mut fks: Vec<super::foreign_keys::Written> = Vec::new();
    let two_keys = || {
        SqlError::invalid_table_definition(format!(
            "multiple primary keys for table \"{name}\" are not allowed"
        ))
    };
    for (i, c) in create.columns.iter().enumerate() {
        let new = new_column(txn, &name, c, &mut checks).await?;
        if columns.iter().any(|x| x.name == new.column.name) {
            return Err(SqlError::duplicate_column(format!(
                "column \"{}\" specified more than once",
                new.column.name
            )));
        }
        if let Some(seq) = new.owned {
            owned.push((i, seq));
        }
        if new.primary && primary_key.replace(vec![i]).is_some() {
            return Err(two_keys());
        }
        if new.unique {
            unique.push(vec![i]);
        }
        fks.extend(new.fk);
        columns.push(new.column);
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
            TableConstraint::ForeignKey {
                name: given,
                index_name: None,
                columns: cols,
                foreign_table,
                referred_columns,
                on_delete,
                on_update,
                characteristics,
            } => {
                super::foreign_keys::checked_at_once(characteristics.as_ref())?;
                fks.push(super::foreign_keys::Written {
                    name: given.clone(),
                    columns: cols.clone(),
                    parent: foreign_table.clone(),
                    parent_columns: referred_columns.clone(),
                    on_delete: *on_delete,
                    on_update: *on_update,
                })
            }
            TableConstraint::Check {
                name: given,
                expr,
                enforced: None | Some(true),
            } => {
                let name = match given {
                    Some(n) => ident(n),
                    None => check_name(&checks, format!("{name}_check")),
                };
                checks.push(catalog::CheckDef {
                    name,
                    expr: expr.to_string(),
                });
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
    let id = new_table_id(txn).await?;
    for (_, mut seq) in owned {
        seq.owned_by = Some(id);
        super::sequences::create(txn, &seq).await?;
    }
    let mut def = TableDef {
        id,
        name: name.clone(),
        columns,
        primary_key: primary_key.unwrap_or_default(),
        indexes: Vec::new(),
        next_index_id: 1,
        checks,
        foreign_keys: Vec::new(),
        layout: Vec::new(),
        pending: Vec::new(),
        primary_index: None,
    };
    // Each condition and generation expression must bind over the
    // table's row (no subqueries).
    super::row_rules::RowRules::of(&def)?;
    for cols in unique {
        let index_name = super::alter::unique_name(&def, &cols);
        if def.index(&index_name).is_none() {
            def.indexes.push(IndexDef {
                id: def.next_index_id,
                name: index_name,
                columns: cols,
                unique: true,
                building: false,
            });
            def.next_index_id += 1;
        }
    }
    for w in fks {
        let fk = super::foreign_keys::resolve(txn, &def, w).await?;
        def.foreign_keys.push(fk);
    }
    txn.put(catalog::table_key(&name), catalog::encode_table(&def)?)?;
    super::roles::record_owner(txn, def.id)?;
    Ok(done("CREATE TABLE", 0))
}

/// A column of CREATE TABLE or ALTER TABLE … ADD COLUMN, and what its
/// options ask of the table.
pub(super) struct NewColumn {
    pub column: Column,
    /// The sequence it numbers itself from, to create (SERIAL, identity).
    pub owned: Option<crate::sequence::SequenceDef>,
    /// PRIMARY KEY.
    pub primary: bool,
    /// UNIQUE.
    pub unique: bool,
    /// REFERENCES.
    pub fk: Option<super::foreign_keys::Written>,
}

/// PostgreSQL's names for CHECK constraints: `base`, then with a number
/// when a name is already taken.
pub(super) fn check_name(checks: &[catalog::CheckDef], base: String) -> String {
    let mut name = base.clone();
    let mut n = 0;
    while checks.iter().any(|c| c.name == name) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// Reads column definition `c` of table `table`; its CHECK options are
/// added to `checks`.
pub(super) async fn new_column(
    txn: &mut dyn KvTxn,
    table: &str,
    c: &ast::ColumnDef,
    checks: &mut Vec<catalog::CheckDef>,
) -> Result<NewColumn> {
    let col_name = ident(&c.name);
    let type_name = c.data_type.to_string().to_lowercase();
    let serial = matches!(
        type_name.as_str(),
        "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
    );
    let (ty, enum_type) = if serial {
        (DataType::Int, None)
    } else {
        super::types::resolve(txn, &c.data_type).await?
    };
    let mut new = NewColumn {
        column: Column {
            name: col_name.clone(),
            ty,
            enum_type,
            nullable: !serial,
            default: None,
            default_expr: None,
            generated: None,
            generation: None,
            fill: None,
            width: match type_name.as_str() {
                "serial" | "serial4" => Some(catalog::Width::Int4),
                "smallserial" | "serial2" => Some(catalog::Width::Int2),
                "bigserial" | "serial8" => None,
                _ => catalog::Width::from_sql(&c.data_type),
            },
        },
        owned: None,
        primary: false,
        unique: false,
        fk: None,
    };
    let column = &mut new.column;
    let owned_name = format!("{table}_{col_name}_seq");
    if serial {
        new.owned = Some(crate::sequence::SequenceDef::new(&owned_name));
        column.generated = Some(catalog::Generated {
            sequence: owned_name.clone(),
            always: false,
        });
    }
    for opt in &c.options {
        match &opt.option {
            ColumnOption::Null => column.nullable = true,
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Default(e) if super::sequences::default_sequence(e).is_some() => {
                let seq = super::sequences::default_sequence(e).unwrap_or_default();
                super::sequences::sequence(txn, &seq).await?;
                column.generated = Some(catalog::Generated {
                    sequence: seq,
                    always: false,
                });
            }
            ColumnOption::Generated {
                generated_as:
                    generated_as @ (ast::GeneratedAs::Always | ast::GeneratedAs::ByDefault),
                sequence_options,
                generation_expr: None,
                ..
            } => {
                if serial || column.generated.is_some() {
                    return Err(SqlError::syntax(format!(
                        "multiple default values specified for column \"{col_name}\""
                    )));
                }
                if column.generation.is_some() {
                    return Err(both("identity", &col_name, table));
                }
                let mut seq = crate::sequence::SequenceDef::new(&owned_name);
                super::sequences::apply_options(
                    &mut seq,
                    sequence_options.as_deref().unwrap_or_default(),
                )?;
                new.owned = Some(seq);
                column.nullable = false;
                column.generated = Some(catalog::Generated {
                    sequence: owned_name.clone(),
                    always: matches!(generated_as, ast::GeneratedAs::Always),
                });
            }
            ColumnOption::Default(_) if column.generation.is_some() => {
                return Err(both("default", &col_name, table));
            }
            ColumnOption::Default(e) => {
                (column.default, column.default_expr) = default_of(e, column)?
            }
            // GENERATED ALWAYS AS (e) STORED (its expression is checked
            // with the whole table: `dml::bind_generated`).
            ColumnOption::Generated {
                generated_as: ast::GeneratedAs::ExpStored,
                generation_expr: Some(e),
                ..
            } => {
                if column.generated.is_some() {
                    return Err(both("identity", &col_name, table));
                }
                if column.default.is_some() || column.default_expr.is_some() {
                    return Err(both("default", &col_name, table));
                }
                column.generation = Some(e.to_string());
            }
            ColumnOption::Unique {
                is_primary: true, ..
            } => {
                new.primary = true;
                column.nullable = false;
            }
            ColumnOption::Unique {
                is_primary: false, ..
            } => new.unique = true,
            ColumnOption::ForeignKey {
                foreign_table,
                referred_columns,
                on_delete,
                on_update,
                characteristics,
            } => {
                super::foreign_keys::checked_at_once(characteristics.as_ref())?;
                new.fk = Some(super::foreign_keys::Written {
                    name: None,
                    columns: vec![c.name.clone()],
                    parent: foreign_table.clone(),
                    parent_columns: referred_columns.clone(),
                    on_delete: *on_delete,
                    on_update: *on_update,
                })
            }
            ColumnOption::Check(e) => {
                let name = check_name(checks, format!("{table}_{col_name}_check"));
                checks.push(catalog::CheckDef {
                    name,
                    expr: e.to_string(),
                });
            }
            other => {
                return Err(SqlError::not_supported(format!("column option {other}")));
            }
        }
    }
    Ok(new)
}

/// 42601 for a column given both a generation expression and a default
/// or an identity (`what`).
fn both(what: &str, column: &str, table: &str) -> SqlError {
    SqlError::syntax(format!(
        "both {what} and generation expression specified for column \"{column}\" of table \"{table}\""
    ))
}

/// The value of constant expression `e` as type `ty` (a DEFAULT).
/// A column's default: a constant, folded now; or, when it calls a
/// function (`now()`, `CURRENT_TIMESTAMP`, `gen_random_uuid()`, …), its
/// text, to be evaluated for each row (as PostgreSQL does) — evaluated
/// once now too, so that a default that cannot be one fails here.
pub(super) fn default_of(e: &Expr, column: &Column) -> Result<(Option<Value>, Option<String>)> {
    let value = column.coerce(constant(e, std::slice::from_ref(column))?)?;
    let calls = sqlparser::ast::visit_expressions(e, |x| {
        if matches!(x, Expr::Function(_)) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    Ok(if calls.is_break() {
        (None, Some(e.to_string()))
    } else {
        (Some(value), None)
    })
}

/// Functions that give another value each call (PostgreSQL's volatile
/// ones).
const VOLATILE: &[&str] = &[
    "gen_random_uuid",
    "uuid_generate_v4",
    "random",
    "clock_timestamp",
    "nextval",
];

/// Functions whose value depends on the transaction, the session or the
/// catalog rather than on their arguments alone (PostgreSQL's stable
/// ones, and the volatile ones besides [`VOLATILE`]).
const NOT_IMMUTABLE: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "currval",
    "lastval",
    "setval",
    "current_setting",
    "set_config",
    "current_user",
    "session_user",
    "current_role",
    "user",
    "current_schema",
    "current_database",
    "pg_backend_pid",
    "version",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "gen_random_bytes",
    "gen_salt",
    "pg_sleep",
    "pg_sleep_for",
    "pg_cancel_backend",
    "pg_terminate_backend",
    "txid_current",
    "pg_current_xact_id",
];

/// Whether `e` calls one of `names`.
fn calls_any(e: &Expr, names: &[&str]) -> bool {
    sqlparser::ast::visit_expressions(e, |x| match x {
        Expr::Function(f)
            if names.contains(
                &f.name
                    .0
                    .last()
                    .map(|p| p.to_string().to_lowercase())
                    .unwrap_or_default()
                    .as_str(),
            ) =>
        {
            std::ops::ControlFlow::Break(())
        }
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether `e` calls a function that gives another value each call
/// (PostgreSQL's volatile ones).
pub(super) fn calls_volatile(e: &Expr) -> bool {
    calls_any(e, VOLATILE)
}

/// Whether `e` calls a function that is not immutable — what a stored
/// generated column's expression may not do (its value must follow from
/// the row alone).
pub(super) fn calls_not_immutable(e: &Expr) -> bool {
    calls_any(e, VOLATILE) || calls_any(e, NOT_IMMUTABLE)
}

/// A default of [`default_of`]'s text, bound for evaluation (the stored
/// text of the column's definition).
pub(super) fn bind_default(text: &str) -> Result<crate::plan::BExpr> {
    Binder::new(&Tables::new(), &[]).constant(&parse_expr(text)?)
}

/// An expression the catalog keeps as text (a default), parsed again.
pub(super) fn parse_expr(text: &str) -> Result<Expr> {
    let bad = || SqlError::internal(format!("a stored expression did not parse: {text}"));
    let mut statements = crate::syntax::parse(&format!("SELECT {text}"))?;
    let Some(ast::Statement::Query(q)) = statements.pop() else {
        return Err(bad());
    };
    let ast::SetExpr::Select(select) = q.body.as_ref() else {
        return Err(bad());
    };
    match select.projection.first() {
        Some(ast::SelectItem::UnnamedExpr(e)) => Ok(e.clone()),
        _ => Err(bad()),
    }
}

/// The value of constant expression `e` (which may cast to the enum types
/// of `columns`).
pub(super) fn constant(e: &Expr, columns: &[Column]) -> Result<Value> {
    let mut tables = Tables::new();
    tables.add_types_of(columns);
    let b = Binder::new(&tables, &[]).constant(e)?;
    eval::eval(&b, &Env::EMPTY)
}

/// The table that has index `name`, if any.
pub(super) async fn index_owner(txn: &mut dyn KvTxn, name: &str) -> Result<Option<TableDef>> {
    Ok(tables(txn)
        .await?
        .into_iter()
        .find(|t| t.index(name).is_some()))
}

pub(super) async fn create_index(
    txn: &mut dyn KvTxn,
    create: &ast::CreateIndex,
) -> Result<QueryResult> {
    if create.predicate.is_some() || !create.include.is_empty() || create.using.is_some() {
        return Err(SqlError::not_supported(
            "partial indexes, INCLUDE and USING",
        ));
    }
    let mut def = std::sync::Arc::unwrap_or_clone(table(txn, &create.table_name).await?);
    super::roles::check_owner(txn, &def).await?;
    let columns = create
        .columns
        .iter()
        .map(|c| column_index(&def.columns, &c.column.expr))
        .collect::<Result<Vec<_>>>()?;
    let name = match &create.name {
        Some(n) => object_name(n)?,
        None => format!("{}_{}_idx", def.name, def.column_names(&columns, "_")),
    };
    if index_owner(txn, &name).await?.is_some() || load_table(txn, &name).await?.is_some() {
        if create.if_not_exists {
            return Ok(done("CREATE INDEX", 0));
        }
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let later = txn.online_change();
    let index = IndexDef {
        id: def.next_index_id,
        name,
        columns,
        unique: create.unique,
        building: later.is_some(),
    };
    if let Some(owner) = later {
        def.pending.push(catalog::Pending {
            owner,
            item: catalog::PendingItem::Index(index.id),
        });
    }
    def.next_index_id = def
        .next_index_id
        .checked_add(1)
        .ok_or_else(|| SqlError::internal("index ids exhausted"))?;
    // Entries for the rows there are (unless the caller builds them
    // online, after this commits).
    if later.is_none() {
        let (start, end) = def.key_range();
        for (key, value) in txn.scan(&start, &end).await? {
            let row = def.decode_row(&value)?;
            put_index_entry(txn, &def, &index, &row, &key).await?;
        }
    }
    def.indexes.push(index);
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    Ok(done("CREATE INDEX", 0))
}

pub(super) async fn drop_indexes(
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
            return Err(SqlError::undefined_object(format!(
                "index \"{name}\" does not exist"
            )));
        };
        let Some(pos) = def.indexes.iter().position(|i| i.name == name) else {
            continue;
        };
        super::roles::check_owner(txn, &def).await?;
        let index = def.indexes.remove(pos);
        def.retain_pending();
        delete_range(txn, def.index_range(&index)).await?;
        txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    }
    Ok(done("DROP INDEX", 0))
}

/// CREATE TABLE … AS query: a table with the query's columns (without a
/// primary key) and its rows, in one transaction.
async fn create_table_as(
    txn: &mut dyn KvTxn,
    create: &ast::CreateTable,
    name: &str,
    q: &ast::Query,
) -> Result<QueryResult> {
    if !create.columns.is_empty() || !create.constraints.is_empty() {
        return Err(SqlError::not_supported(
            "CREATE TABLE … AS with column definitions",
        ));
    }
    if load_table(txn, name).await?.is_some() {
        if create.if_not_exists {
            return Ok(done("CREATE TABLE AS", 0));
        }
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let stmt = ast::Statement::Query(Box::new(q.clone()));
    let stmt = super::views::expand(txn, &stmt, &[]).await?.unwrap_or(stmt);
    let ast::Statement::Query(q) = stmt else {
        return Err(SqlError::internal("a query changed kind"));
    };
    let mut q = *q;
    if super::rewrite::needed(&q) {
        super::rewrite::query(&mut q, &[])?;
    }
    super::privileges::authorize(txn, &ast::Statement::Query(Box::new(q.clone()))).await?;
    let mut bound = super::bind_query(txn, &q, &[], None).await?;
    let rows = super::dml::run_query(txn, &mut bound).await?;
    let mut columns = Vec::new();
    for (i, (col, ty)) in bound.columns.iter().enumerate() {
        if columns.iter().any(|c: &Column| c.name == *col) {
            return Err(SqlError::duplicate_column(format!(
                "column \"{col}\" specified more than once"
            )));
        }
        let ty = ty
            .or_else(|| {
                rows.iter()
                    .find_map(|r| r.get(i).and_then(Value::data_type))
            })
            .unwrap_or(DataType::Text);
        let enum_type = match ty {
            DataType::Enum(oid) => super::types::by_oid(txn, oid).await?,
            _ => None,
        };
        columns.push(Column {
            name: col.clone(),
            ty,
            enum_type,
            nullable: true,
            default: None,
            default_expr: None,
            generated: None,
            generation: None,
            fill: None,
            width: None,
        });
    }
    let def = TableDef {
        id: new_table_id(txn).await?,
        name: name.to_string(),
        columns,
        primary_key: Vec::new(),
        indexes: Vec::new(),
        next_index_id: 1,
        checks: Vec::new(),
        foreign_keys: Vec::new(),
        layout: Vec::new(),
        pending: Vec::new(),
        primary_index: None,
    };
    txn.put(catalog::table_key(name), catalog::encode_table(&def)?)?;
    super::roles::record_owner(txn, def.id)?;
    let n = rows.len() as u64;
    for row in rows {
        let row = super::row_rules::check_row(&def, row)?;
        let key = def.row_key(&[Value::Int(super::dml::next_row_id())])?;
        txn.put(key, def.encode_row(&row)?)?;
    }
    Ok(done(format!("SELECT {n}"), n))
}

/// Takes the next table id from the counter.
pub(super) async fn new_table_id(txn: &mut dyn KvTxn) -> Result<u32> {
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
    Ok(id)
}

/// TRUNCATE: each table gets a new, empty id (as PostgreSQL gives it a new
/// file) in one catalog write, so it commits or aborts with its
/// transaction and costs the same whatever the table's size; its grants
/// move with it; the old id's rows and index entries are discarded
/// (deleted after the commit, see [`KvTxn::discard_range`]).
/// `TRUNCATE names [RESTART IDENTITY] [CASCADE]`: every row of the tables
/// goes at once (each gets a new id; the old rows are cleaned up after).
/// A table another table's foreign key refers to is truncated only with
/// that table, named or (CASCADE) added; RESTART IDENTITY starts the
/// sequences of their SERIAL and identity columns again.
pub(super) async fn truncate(
    txn: &mut dyn KvTxn,
    names: &[ObjectName],
    restart: bool,
    cascade: bool,
) -> Result<QueryResult> {
    let mut defs: Vec<std::sync::Arc<TableDef>> = Vec::new();
    for n in names {
        let def = table(txn, n).await?;
        if !defs.iter().any(|d| d.id == def.id) {
            defs.push(def);
        }
    }
    // CASCADE: the tables referring to these, and those referring to
    // them, until none is left out.
    let mut i = 0;
    while cascade && i < defs.len() {
        let name = defs[i].name.clone();
        for child in txn.referencing(&name).await? {
            if !defs.iter().any(|d| d.name == child.name) {
                defs.push(std::sync::Arc::new(child));
            }
        }
        i += 1;
    }
    for def in &defs {
        super::roles::check_privilege(txn, def, crate::access::privilege::DELETE).await?;
    }
    let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    for def in &defs {
        super::foreign_keys::refuse_if_referenced(txn, def, &names, "truncate").await?;
    }
    if restart {
        for def in &defs {
            for g in def.columns.iter().filter_map(|c| c.generated.as_ref()) {
                if let Some(seq) = txn.sequence_def(&g.sequence).await? {
                    super::sequences::restart(txn, &seq)?;
                }
            }
        }
    }
    for old in defs {
        let mut def = TableDef::clone(&old);
        def.id = new_table_id(txn).await?;
        txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
        super::roles::move_grants(txn, old.id, def.id).await?;
        super::sequences::move_owned(txn, &old, def.id).await?;
        let mut ranges = vec![old.key_range()];
        ranges.extend(old.indexes.iter().map(|i| old.index_range(i)));
        for (start, end) in ranges {
            txn.discard_range(start, end).await?;
        }
    }
    Ok(done("TRUNCATE TABLE", 0))
}

pub(super) async fn drop_tables(
    txn: &mut dyn KvTxn,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    let dropping = names
        .iter()
        .map(object_name)
        .collect::<Result<Vec<String>>>()?;
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
        super::roles::check_owner(txn, &def).await?;
        super::foreign_keys::refuse_if_referenced(txn, &def, &dropping, "drop").await?;
        super::views::refuse_if_viewed(txn, &def.name, &dropping, "drop", "table").await?;
        super::roles::drop_grants(txn, &def).await?;
        super::sequences::drop_owned(txn, &def).await?;
        super::comments::drop_comments(txn, &def.name, None).await?;
        let mut ranges = vec![def.key_range()];
        ranges.extend(def.indexes.iter().map(|i| def.index_range(i)));
        for range in ranges {
            delete_range(txn, range).await?;
        }
        txn.delete(catalog::table_key(&name))?;
    }
    Ok(done("DROP TABLE", 0))
}
