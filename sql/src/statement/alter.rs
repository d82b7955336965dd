//! ALTER TABLE: columns added, dropped and renamed, defaults and NOT NULL,
//! constraints added and dropped, the table renamed (DESIGN.md §7).
//!
//! ```text
//!   ADD COLUMN c [DEFAULT k]   → layout gets a slot; old rows read c as k
//!                                (Column::fill): no row rewritten
//!   DROP COLUMN c              → its slot is emptied; its indexes, checks
//!                                and foreign keys go with it
//!   RENAME COLUMN / RENAME TO  → names only (checks re-rendered, foreign
//!                                keys of other tables re-pointed)
//!   SET NOT NULL, ADD CHECK, ADD FOREIGN KEY
//!                              → the rows there are are checked first
//!   ADD UNIQUE                 → a unique index, built from the rows
//!   ADD PRIMARY KEY            → (a table without one) a unique index
//!                                `<table>_pkey` over NOT NULL columns, as
//!                                PostgreSQL makes one; rows stay put
//! ```
//!
//! Every form is one catalog write in the statement's transaction, so it
//! commits or aborts with it; the session treats ALTER TABLE as a
//! destructive schema change (no transaction bound against the table as
//! it was commits after it). Inside a transaction block, and for
//! statements of several operations, the changes that check or store rows
//! read them in the same transaction. A one-operation SET NOT NULL, ADD
//! CHECK, ADD FOREIGN KEY, ADD UNIQUE or ADD PRIMARY KEY outside a block is
//! online
//! (`crate::online`): the constraint is declared, binding every write from
//! then on, and the session checks the rows there were (and builds the
//! unique index) batch by batch after the commit, while writers go on.

use sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, DropBehavior, ObjectName, TableConstraint,
};

use super::ddl::{NewColumn, check_name, column_index, delete_range, new_column};
use super::dml::put_index_entry;
use super::row_rules::{bind_checks, check_constraints};
use super::{QueryResult, done, load_table, load_table_owned};
use crate::catalog::{self, CheckDef, ForeignKeyDef, IndexDef, Pending, PendingItem, TableDef};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::Value;

/// ALTER TABLE `name` `operations`, in order, as one change.
pub(super) async fn alter_table(
    txn: &mut dyn KvTxn,
    name: &ObjectName,
    if_exists: bool,
    operations: &[AlterTableOperation],
) -> Result<QueryResult> {
    let table_name = object_name(name)?;
    let Some(mut def) = load_table_owned(txn, &table_name).await? else {
        if if_exists {
            return Ok(done("ALTER TABLE", 0));
        }
        return Err(SqlError::undefined_table(format!(
            "relation \"{table_name}\" does not exist"
        )));
    };
    super::roles::check_owner(txn, &def).await?;
    let original = def.clone();
    // Online only alone: a failure after the commit undoes what the
    // change declared, which must be all the statement did.
    let online = match operations {
        [_] => txn.online_change(),
        _ => None,
    };
    for op in operations {
        alter_one(txn, &mut def, op, online).await?;
    }
    def.retain_pending();
    if def.name != original.name {
        txn.delete(catalog::table_key(&original.name))?;
    }
    txn.put(catalog::table_key(&def.name), catalog::encode_table(&def)?)?;
    Ok(done("ALTER TABLE", 0))
}

/// Lists `item` as pending work of online change `owner`.
fn declare(def: &mut TableDef, owner: u64, item: PendingItem) {
    def.pending.push(Pending { owner, item });
}

async fn alter_one(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    op: &AlterTableOperation,
    online: Option<u64>,
) -> Result<()> {
    match op {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            column_position: None,
            ..
        } => add_column(txn, def, column_def, *if_not_exists).await,
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            drop_behavior,
            ..
        } => {
            for c in column_names {
                drop_column(txn, def, &ident(c), *if_exists, *drop_behavior).await?;
            }
            Ok(())
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => rename_column(txn, def, &ident(old_column_name), &ident(new_column_name)).await,
        AlterTableOperation::RenameTable { table_name } => {
            let to = match table_name {
                ast::RenameTableNameKind::To(n) | ast::RenameTableNameKind::As(n) => n,
            };
            rename_table(txn, def, &object_name(to)?).await
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            alter_column(txn, def, &ident(column_name), op, online).await
        }
        AlterTableOperation::AddConstraint {
            constraint,
            not_valid: false,
        } => add_constraint(txn, def, constraint, online).await,
        AlterTableOperation::DropConstraint {
            if_exists,
            name,
            drop_behavior,
        } => drop_constraint(txn, def, &ident(name), *if_exists, *drop_behavior).await,
        AlterTableOperation::RenameConstraint { old_name, new_name } => {
            rename_constraint(txn, def, &ident(old_name), &ident(new_name)).await
        }
        other => Err(SqlError::not_supported(format!("ALTER TABLE … {other}"))),
    }
}

/// True when the table has a row (reads the first one).
async fn has_rows(txn: &mut dyn KvTxn, def: &TableDef) -> Result<bool> {
    let (start, end) = def.key_range();
    Ok(!txn
        .scan_prefix(&start, &end, 1, false, false)
        .await?
        .0
        .is_empty())
}

/// Gives new column `i` of `def` its value in every row there is, each
/// row its own: its volatile default evaluated, its sequence's next
/// number — taken in this transaction (PostgreSQL's table rewrite), so a
/// failure leaves the sequence as it was — or its generation expression
/// computed.
async fn fill_rows(txn: &mut dyn KvTxn, def: &TableDef, i: usize) -> Result<()> {
    let column = &def.columns[i];
    let default = match &column.default_expr {
        Some(text) => Some(super::ddl::bind_default(text)?),
        None => None,
    };
    let sequence = match &column.generated {
        Some(g) => Some(super::sequences::sequence(txn, &g.sequence).await?),
        None => None,
    };
    let counter_key = sequence
        .as_ref()
        .map(|s| crate::sequence::counter_key(&s.name));
    let mut counter = match &counter_key {
        Some(key) => match txn.get_for_update(key).await? {
            Some(b) => Some(crate::sequence::decode_counter(&b)?),
            None => None,
        },
        None => None,
    };
    let rules = super::row_rules::RowRules::of(def)?;
    for (key, mut row) in rows(txn, def).await? {
        row[i] = match (&sequence, &default) {
            (Some(seq), _) => {
                let (block, next) = seq.take(counter, 1)?;
                counter = Some(next);
                Value::Int(block.first)
            }
            (None, Some(d)) => crate::eval::eval(d, &crate::eval::Env::EMPTY)?,
            (None, None) => Value::Null,
        };
        let row = rules.row(def, row)?;
        txn.put(key, def.encode_row(&row)?)?;
    }
    if let (Some(key), Some(next)) = (counter_key, counter) {
        txn.put(key, catalog::encode(&next)?)?;
    }
    Ok(())
}

/// The table's rows as stored now: (key, values per column).
async fn rows(txn: &mut dyn KvTxn, def: &TableDef) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let (start, end) = def.key_range();
    txn.scan(&start, &end)
        .await?
        .into_iter()
        .map(|(k, v)| Ok((k, def.decode_row(&v)?)))
        .collect()
}

pub(super) fn contains_nulls(def: &TableDef, c: usize) -> SqlError {
    SqlError::not_null_violation(format!(
        "column \"{}\" of relation \"{}\" contains null values",
        def.columns[c].name, def.name
    ))
}

async fn add_column(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    c: &ast::ColumnDef,
    if_not_exists: bool,
) -> Result<()> {
    let mut checks = def.checks.clone();
    let NewColumn {
        mut column,
        owned,
        primary,
        unique,
        fk,
    } = new_column(txn, &def.name, c, &mut checks).await?;
    if def.columns.iter().any(|x| x.name == column.name) {
        if if_not_exists {
            return Ok(());
        }
        return Err(SqlError::duplicate_column(format!(
            "column \"{}\" of relation \"{}\" already exists",
            column.name, def.name
        )));
    }
    if primary {
        return Err(SqlError::not_supported(
            "ADD COLUMN … PRIMARY KEY: add the column, then ADD PRIMARY KEY (…)",
        ));
    }
    column.fill = column.default.clone();
    // Rows already there get the default too: a stable one (`now()`)
    // evaluated once, as PostgreSQL does; a volatile one
    // (`gen_random_uuid()`) or a sequence's numbers give each row its own
    // value — the rows are rewritten (`fill_rows`).
    let volatile = c.options.iter().any(|o| match &o.option {
        ast::ColumnOption::Default(e) => super::ddl::calls_volatile(e),
        _ => false,
    });
    let per_row = (volatile || column.generated.is_some() || column.generation.is_some())
        && has_rows(txn, def).await?;
    if let Some(text) = column.default_expr.as_ref().filter(|_| !volatile) {
        column.fill = Some(column.coerce(crate::eval::eval(
            &super::ddl::bind_default(text)?,
            &crate::eval::Env::EMPTY,
        )?)?);
    }
    let new_checks: Vec<CheckDef> = checks.split_off(def.checks.len());
    // Whether the table has rows matters only to a column that its rows
    // could not all take as they are; a plain ADD COLUMN reads no row.
    let needs_rows = (!column.nullable && column.fill.is_none()) || !new_checks.is_empty();
    let filled = per_row || (needs_rows && has_rows(txn, def).await?);
    if filled && !per_row && !column.nullable && column.fill.is_none() {
        return Err(SqlError::not_null_violation(format!(
            "column \"{}\" of relation \"{}\" contains null values",
            column.name, def.name
        )));
    }
    let mut layout = def.full_layout();
    layout.push(Some(def.columns.len()));
    if let Some(mut seq) = owned {
        seq.owned_by = Some(def.id);
        super::sequences::create(txn, &seq).await?;
    }
    let i = def.columns.len();
    def.columns.push(column);
    def.layout = if layout.iter().enumerate().all(|(s, c)| *c == Some(s)) {
        Vec::new()
    } else {
        layout
    };
    // A generation expression must bind over the table's row.
    super::row_rules::bind_generated(def)?;
    if per_row {
        fill_rows(txn, def, i).await?;
    }
    // Its checks hold for the rows there are (every one has the fill).
    if filled && !new_checks.is_empty() {
        validate_checks(txn, def, &new_checks).await?;
    }
    def.checks.extend(new_checks);
    if unique {
        let name = unique_name(def, &[i]);
        add_unique_index(txn, def, name, vec![i], None).await?;
    }
    if let Some(w) = fk {
        let fk = super::foreign_keys::resolve(txn, def, w).await?;
        def.foreign_keys.push(fk);
        validate_foreign_key(txn, def, def.foreign_keys.len() - 1).await?;
    }
    Ok(())
}

/// The foreign keys of other tables to `def` that `rests_on` picks go
/// when `cascade`, else 2BP01 (dropping `what` is refused); `adjust` then
/// changes each one to `def` that stays. Changed tables are written.
async fn other_tables_keys(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    what: &str,
    cascade: bool,
    rests_on: impl Fn(&ForeignKeyDef) -> bool,
    adjust: impl Fn(&mut ForeignKeyDef),
) -> Result<()> {
    for child in txn.referencing(&def.name).await? {
        if child.name == def.name {
            continue;
        }
        let mut changed = child.clone();
        let mut refusal = None;
        changed.foreign_keys.retain(|f| {
            let rests = f.parent == def.name && rests_on(f);
            if rests && !cascade {
                refusal.get_or_insert_with(|| f.name.clone());
            }
            !rests
        });
        if let Some(fk) = refusal {
            return Err(SqlError::dependent_objects(format!(
                "cannot drop {what} because other objects depend on it: constraint {fk} on table {} depends on it",
                child.name
            )));
        }
        for f in changed
            .foreign_keys
            .iter_mut()
            .filter(|f| f.parent == def.name)
        {
            adjust(f);
        }
        if changed != child {
            txn.put(
                catalog::table_key(&changed.name),
                catalog::encode_table(&changed)?,
            )?;
        }
    }
    Ok(())
}

/// `<table>_<columns>_key`.
pub(super) fn unique_name(def: &TableDef, columns: &[usize]) -> String {
    format!("{}_{}_key", def.name, def.column_names(columns, "_"))
}

/// A row there was broke one of `checks` (`e`, the error a write of it
/// gets): PostgreSQL's message for adding the constraint. Other errors
/// pass as they are.
pub(super) fn violated_by_some_row(def: &TableDef, checks: &[CheckDef], e: SqlError) -> SqlError {
    if e.code != crate::sqlstate::CHECK_VIOLATION {
        return e;
    }
    let name = checks
        .iter()
        .find(|c| e.message.contains(&format!("\"{}\"", c.name)))
        .or(checks.first())
        .map_or("", |c| c.name.as_str());
    SqlError::check_violation(format!(
        "check constraint \"{name}\" of relation \"{}\" is violated by some row",
        def.name
    ))
}

/// 23514 when a row there is makes one of `checks` false.
async fn validate_checks(txn: &mut dyn KvTxn, def: &TableDef, checks: &[CheckDef]) -> Result<()> {
    let only = TableDef {
        checks: checks.to_vec(),
        ..def.clone()
    };
    let bound = bind_checks(&only)?;
    for (_, row) in rows(txn, def).await? {
        check_constraints(def, &bound, &row).map_err(|e| violated_by_some_row(def, checks, e))?;
    }
    Ok(())
}

/// 23503 when a row there is names no parent row under foreign key
/// `def.foreign_keys[i]`.
async fn validate_foreign_key(txn: &mut dyn KvTxn, def: &TableDef, i: usize) -> Result<()> {
    let only = TableDef {
        foreign_keys: vec![def.foreign_keys[i].clone()],
        ..def.clone()
    };
    for (_, row) in rows(txn, def).await? {
        super::foreign_keys::check_parents(txn, &only, &row, None).await?;
    }
    Ok(())
}

/// Adds a unique index named `name` on `columns`, with entries for the
/// rows there are (23505 if two share values) — or, for online change
/// `online`, declared to be built after the commit.
async fn add_unique_index(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    name: String,
    columns: Vec<usize>,
    online: Option<u64>,
) -> Result<()> {
    if super::ddl::index_owner(txn, &name).await?.is_some()
        || def.index(&name).is_some()
        || load_table(txn, &name).await?.is_some()
    {
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    let index = IndexDef {
        id: def.next_index_id,
        name,
        columns,
        unique: true,
        building: online.is_some(),
    };
    def.next_index_id = def
        .next_index_id
        .checked_add(1)
        .ok_or_else(|| SqlError::internal("index ids exhausted"))?;
    match online {
        Some(owner) => declare(def, owner, PendingItem::Index(index.id)),
        None => {
            for (key, row) in rows(txn, def).await? {
                put_index_entry(txn, def, &index, &row, &key).await?;
            }
        }
    }
    def.indexes.push(index);
    Ok(())
}

async fn drop_column(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    name: &str,
    if_exists: bool,
    behavior: Option<DropBehavior>,
) -> Result<()> {
    let Some(c) = def.columns.iter().position(|x| x.name == name) else {
        if if_exists {
            return Ok(());
        }
        return Err(SqlError::undefined_column(format!(
            "column \"{name}\" of relation \"{}\" does not exist",
            def.name
        )));
    };
    if def.primary_key.contains(&c) {
        return Err(SqlError::not_supported(format!(
            "cannot drop column \"{name}\": it is in the primary key of \"{}\", which keys its rows",
            def.name
        )));
    }
    if def.columns.len() == 1 {
        return Err(SqlError::not_supported(format!(
            "cannot drop column \"{name}\": the last column of \"{}\"",
            def.name
        )));
    }
    super::views::refuse_if_viewed(txn, &def.name, &[], "alter", "table").await?;
    let cascade = matches!(behavior, Some(DropBehavior::Cascade));
    // Generated columns computed from it: refused, or dropped first with
    // CASCADE (as PostgreSQL does).
    let mut dependents = Vec::new();
    for x in &def.columns {
        if let Some(g) = &x.generation
            && x.name != name
            && mentions(g, name)?
        {
            dependents.push(x.name.clone());
        }
    }
    if let Some(d) = dependents.first()
        && !cascade
    {
        return Err(SqlError::dependent_objects(format!(
            "cannot drop column {name} of table {} because other objects depend on it: column {d} of table {} depends on column {name} (use DROP … CASCADE to drop them too)",
            def.name, def.name
        )));
    }
    for d in &dependents {
        Box::pin(drop_column(txn, def, d, false, behavior)).await?;
    }
    let c = def.column(name)?;
    super::comments::drop_comments(txn, &def.name, Some(name)).await?;
    let shift = |i: usize| if i > c { i - 1 } else { i };
    // Other tables' foreign keys to this column: refused, or dropped with
    // CASCADE; the others name this table's columns by place.
    other_tables_keys(
        txn,
        def,
        &format!("column {name} of table {}", def.name),
        cascade,
        |f| f.parent_columns.contains(&c),
        |f| f.parent_columns.iter_mut().for_each(|i| *i = shift(*i)),
    )
    .await?;
    // Its indexes go, with their entries.
    let (gone, kept): (Vec<IndexDef>, Vec<IndexDef>) = std::mem::take(&mut def.indexes)
        .into_iter()
        .partition(|i| i.columns.contains(&c));
    for index in &gone {
        delete_range(txn, def.index_range(index)).await?;
    }
    def.indexes = kept;
    // Its checks and foreign keys go.
    let mut checks = Vec::new();
    for check in std::mem::take(&mut def.checks) {
        if !mentions(&check.expr, name)? {
            checks.push(check);
        }
    }
    def.checks = checks;
    let own = def.name.clone();
    def.foreign_keys.retain(|f| {
        let refers = f.parent == own && f.parent_columns.contains(&c);
        !(f.columns.contains(&c) || refers)
    });
    // The sequence it owned goes.
    if let Some(g) = &def.columns[c].generated
        && let Some(seq) = txn.sequence_def(&g.sequence).await?
        && seq.owned_by == Some(def.id)
    {
        super::sequences::remove(txn, &seq)?;
    }
    // Columns after it move down one place; its slot in stored rows is
    // kept, empty.
    def.layout = def
        .full_layout()
        .into_iter()
        .map(|slot| match slot {
            Some(i) if i == c => None,
            Some(i) => Some(shift(i)),
            None => None,
        })
        .collect();
    def.columns.remove(c);
    for i in def.primary_key.iter_mut() {
        *i = shift(*i);
    }
    for index in def.indexes.iter_mut() {
        for i in index.columns.iter_mut() {
            *i = shift(*i);
        }
    }
    let own_name = def.name.clone();
    for fk in def.foreign_keys.iter_mut() {
        for i in fk.columns.iter_mut() {
            *i = shift(*i);
        }
        if fk.parent == own_name {
            for i in fk.parent_columns.iter_mut() {
                *i = shift(*i);
            }
        }
    }
    Ok(())
}

/// Renames column `from` to `to` (when given) in the stored condition
/// `expr`, token by token (a name followed by `(` is a function's);
/// returns the condition and whether `from` occurs in it.
fn rename_in(expr: &str, from: &str, to: Option<&str>) -> Result<(String, bool)> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, expr)
        .tokenize()
        .map_err(|e| SqlError::internal(format!("a stored check condition: {e}")))?;
    let mut found = false;
    for i in 0..tokens.len() {
        let call = matches!(tokens.get(i + 1), Some(Token::LParen));
        if let Token::Word(w) = &mut tokens[i] {
            let name = match w.quote_style {
                None => w.value.to_lowercase(),
                Some('"') => w.value.clone(),
                Some(_) => continue,
            };
            if name == from && !call {
                found = true;
                if let Some(to) = to {
                    w.value = to.to_string();
                    w.quote_style = Some('"');
                }
            }
        }
    }
    Ok((tokens.iter().map(ToString::to_string).collect(), found))
}

/// True when the condition `expr` names column `column`.
fn mentions(expr: &str, column: &str) -> Result<bool> {
    Ok(rename_in(expr, column, None)?.1)
}

async fn rename_column(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    from: &str,
    to: &str,
) -> Result<()> {
    let c = def.column(from)?;
    if def.columns.iter().any(|x| x.name == to) {
        return Err(SqlError::duplicate_column(format!(
            "column \"{to}\" of relation \"{}\" already exists",
            def.name
        )));
    }
    super::views::refuse_if_viewed(txn, &def.name, &[], "alter", "table").await?;
    for check in def.checks.iter_mut() {
        check.expr = rename_in(&check.expr, from, Some(to))?.0;
    }
    for g in def.columns.iter_mut().filter_map(|x| x.generation.as_mut()) {
        *g = rename_in(g, from, Some(to))?.0;
    }
    def.columns[c].name = to.to_string();
    super::comments::move_comments(txn, &def.name, &def.name, Some((from, to))).await?;
    for p in def.pending.iter_mut() {
        if p.item == PendingItem::NotNull(from.to_string()) {
            p.item = PendingItem::NotNull(to.to_string());
        }
    }
    Ok(())
}

async fn rename_table(txn: &mut dyn KvTxn, def: &mut TableDef, to: &str) -> Result<()> {
    if to == def.name {
        return Ok(());
    }
    if load_table(txn, to).await?.is_some()
        || txn.sequence_def(to).await?.is_some()
        || super::views::view(txn, to).await?.is_some()
        || super::ddl::index_owner(txn, to).await?.is_some()
    {
        return Err(SqlError::duplicate_table(format!(
            "relation \"{to}\" already exists"
        )));
    }
    super::views::refuse_if_viewed(txn, &def.name, &[], "alter", "table").await?;
    let from = def.name.clone();
    for mut child in txn.referencing(&from).await? {
        if child.name == from {
            continue;
        }
        for fk in child.foreign_keys.iter_mut() {
            if fk.parent == from {
                fk.parent = to.to_string();
            }
        }
        txn.put(
            catalog::table_key(&child.name),
            catalog::encode_table(&child)?,
        )?;
    }
    for fk in def.foreign_keys.iter_mut() {
        if fk.parent == from {
            fk.parent = to.to_string();
        }
    }
    super::comments::move_comments(txn, &from, to, None).await?;
    def.name = to.to_string();
    Ok(())
}

async fn alter_column(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    name: &str,
    op: &AlterColumnOperation,
    online: Option<u64>,
) -> Result<()> {
    let c = def.column(name)?;
    match op {
        AlterColumnOperation::SetNotNull => {
            if def.columns[c].nullable {
                match online {
                    Some(owner) => declare(def, owner, PendingItem::NotNull(name.to_string())),
                    None => {
                        for (_, row) in rows(txn, def).await? {
                            if row[c] == Value::Null {
                                return Err(contains_nulls(def, c));
                            }
                        }
                    }
                }
                def.columns[c].nullable = false;
            }
            Ok(())
        }
        AlterColumnOperation::DropNotNull => {
            if def.declared_primary_key().is_some_and(|k| k.contains(&c))
                || def.primary_index.is_some_and(|id| {
                    def.indexes
                        .iter()
                        .any(|i| i.id == id && i.columns.contains(&c))
                })
            {
                return Err(SqlError::invalid_table_definition(format!(
                    "column \"{name}\" is in a primary key"
                )));
            }
            def.columns[c].nullable = true;
            Ok(())
        }
        AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault
            if def.columns[c].generation.is_some() =>
        {
            Err(SqlError::syntax(format!(
                "column \"{name}\" of relation \"{}\" is a generated column",
                def.name
            )))
        }
        AlterColumnOperation::SetDefault { value } => {
            if let Some(seq) = super::sequences::default_sequence(value) {
                super::sequences::sequence(txn, &seq).await?;
                def.columns[c].default = None;
                def.columns[c].default_expr = None;
                def.columns[c].generated = Some(catalog::Generated {
                    sequence: seq,
                    always: false,
                });
            } else {
                if def.columns[c].generated.as_ref().is_some_and(|g| g.always) {
                    return Err(SqlError::syntax(format!(
                        "column \"{name}\" of relation \"{}\" is an identity column",
                        def.name
                    )));
                }
                (def.columns[c].default, def.columns[c].default_expr) =
                    super::ddl::default_of(value, &def.columns[c])?;
                def.columns[c].generated = None;
            }
            Ok(())
        }
        AlterColumnOperation::DropDefault => {
            if def.columns[c].generated.as_ref().is_some_and(|g| g.always) {
                return Err(SqlError::syntax(format!(
                    "column \"{name}\" of relation \"{}\" is an identity column",
                    def.name
                )));
            }
            def.columns[c].default = None;
            def.columns[c].default_expr = None;
            def.columns[c].generated = None;
            Ok(())
        }
        AlterColumnOperation::SetDataType {
            data_type, using, ..
        } => {
            for x in &def.columns {
                if let Some(g) = &x.generation
                    && x.name != name
                    && mentions(g, name)?
                {
                    return Err(SqlError::not_supported(format!(
                        "cannot alter type of a column used by a generated column: column \"{name}\" is used by generated column \"{}\"",
                        x.name
                    )));
                }
            }
            let (ty, enum_type) = super::types::resolve(txn, data_type).await?;
            let width = catalog::Width::from_sql(data_type);
            let column = &mut def.columns[c];
            let same_type = ty == column.ty && enum_type == column.enum_type;
            if same_type && width == column.width && using.is_none() {
                return Ok(());
            }
            // The same type with a wider limit: every stored value fits
            // as it is, so only the definition changes.
            if same_type && using.is_none() && widens(column.width, width) {
                column.width = width;
                return Ok(());
            }
            let new = super::retype::NewType {
                ty,
                width,
                enum_type,
                sql: data_type,
            };
            super::retype::change_type(txn, def, c, new, using.as_ref()).await
        }
        other => Err(SqlError::not_supported(format!("ALTER COLUMN … {other}"))),
    }
}

/// Whether every value a column limited by `old` holds is within `new`,
/// unchanged (VARCHAR(10) → VARCHAR(20) or TEXT, INTEGER → BIGINT,
/// NUMERIC(10,2) → NUMERIC(12,2)).
fn widens(old: Option<catalog::Width>, new: Option<catalog::Width>) -> bool {
    use catalog::Width as W;
    match (old, new) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(W::Int2), Some(W::Int4)) => true,
        (Some(W::Varchar(a) | W::Char(a)), Some(W::Varchar(b))) => b >= a,
        (Some(W::Char(a)), Some(W::Char(b))) => b >= a,
        (
            Some(W::Numeric {
                precision: p1,
                scale: s1,
            }),
            Some(W::Numeric {
                precision: p2,
                scale: s2,
            }),
        ) => s1 == s2 && p2 >= p1,
        (Some(a), Some(b)) => a == b,
    }
}

async fn add_constraint(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    constraint: &TableConstraint,
    online: Option<u64>,
) -> Result<()> {
    match constraint {
        TableConstraint::PrimaryKey { columns, name, .. } => {
            let cols = columns
                .iter()
                .map(|c| column_index(&def.columns, &c.column.expr))
                .collect::<Result<Vec<_>>>()?;
            if let Some(n) = name {
                let n = ident(n);
                if n != format!("{}_pkey", def.name) {
                    return Err(SqlError::not_supported(format!(
                        "a primary key named other than {}_pkey ({n})",
                        def.name
                    )));
                }
            }
            add_primary_key(txn, def, cols, online).await
        }
        TableConstraint::Unique { columns, name, .. } => {
            let cols = columns
                .iter()
                .map(|c| column_index(&def.columns, &c.column.expr))
                .collect::<Result<Vec<_>>>()?;
            let name = match name {
                Some(n) => ident(n),
                None => unique_name(def, &cols),
            };
            add_unique_index(txn, def, name, cols, online).await
        }
        TableConstraint::Check {
            name,
            expr,
            enforced: None | Some(true),
        } => {
            let name = match name {
                Some(n) => ident(n),
                None => check_name(&def.checks, format!("{}_check", def.name)),
            };
            if def.checks.iter().any(|c| c.name == name) {
                return Err(SqlError::duplicate_object(format!(
                    "constraint \"{name}\" for relation \"{}\" already exists",
                    def.name
                )));
            }
            let check = CheckDef {
                name,
                expr: expr.to_string(),
            };
            match online {
                Some(owner) => declare(def, owner, PendingItem::Check(check.name.clone())),
                None => validate_checks(txn, def, std::slice::from_ref(&check)).await?,
            }
            def.checks.push(check);
            Ok(())
        }
        TableConstraint::ForeignKey {
            name,
            index_name: None,
            columns,
            foreign_table,
            referred_columns,
            on_delete,
            on_update,
            characteristics,
        } => {
            super::foreign_keys::checked_at_once(characteristics.as_ref())?;
            let w = super::foreign_keys::Written {
                name: name.clone(),
                columns: columns.clone(),
                parent: foreign_table.clone(),
                parent_columns: referred_columns.clone(),
                on_delete: *on_delete,
                on_update: *on_update,
            };
            let fk = super::foreign_keys::resolve(txn, def, w).await?;
            if def.foreign_keys.iter().any(|f| f.name == fk.name) {
                return Err(SqlError::duplicate_object(format!(
                    "constraint \"{}\" for relation \"{}\" already exists",
                    fk.name, def.name
                )));
            }
            let name = fk.name.clone();
            def.foreign_keys.push(fk);
            match online {
                Some(owner) => {
                    declare(def, owner, PendingItem::ForeignKey(name));
                    Ok(())
                }
                None => validate_foreign_key(txn, def, def.foreign_keys.len() - 1).await,
            }
        }
        other => Err(SqlError::not_supported(format!("ADD {other}"))),
    }
}

/// ADD PRIMARY KEY on a table stored by hidden row ids, as PostgreSQL
/// makes one: a unique index `<table>_pkey` over `columns`, which become
/// NOT NULL (23502 for a NULL, 23505 for two equal keys); the rows stay
/// where they are. Online like ADD UNIQUE and SET NOT NULL (`online`).
async fn add_primary_key(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    columns: Vec<usize>,
    online: Option<u64>,
) -> Result<()> {
    if def.has_primary_key() || def.primary_index.is_some() {
        return Err(SqlError::invalid_table_definition(format!(
            "multiple primary keys for table \"{}\" are not allowed",
            def.name
        )));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(SqlError::duplicate_column(format!(
                "column \"{}\" appears twice in primary key constraint",
                def.columns[*c].name
            )));
        }
    }
    let pkey = format!("{}_pkey", def.name);
    for &c in &columns {
        if !def.columns[c].nullable {
            continue;
        }
        match online {
            Some(owner) => declare(
                def,
                owner,
                PendingItem::NotNull(def.columns[c].name.clone()),
            ),
            None => {
                if rows(txn, def)
                    .await?
                    .iter()
                    .any(|(_, r)| r[c] == Value::Null)
                {
                    return Err(contains_nulls(def, c));
                }
            }
        }
        def.columns[c].nullable = false;
    }
    def.primary_index = Some(def.next_index_id);
    add_unique_index(txn, def, pkey, columns, online).await
}

async fn drop_constraint(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    name: &str,
    if_exists: bool,
    behavior: Option<DropBehavior>,
) -> Result<()> {
    if let Some(i) = def.checks.iter().position(|c| c.name == name) {
        def.checks.remove(i);
        return Ok(());
    }
    if let Some(i) = def.foreign_keys.iter().position(|f| f.name == name) {
        def.foreign_keys.remove(i);
        return Ok(());
    }
    if let Some(i) = def.indexes.iter().position(|x| x.unique && x.name == name) {
        // Foreign keys of other tables that rest on it.
        let cols = def.indexes[i].columns.clone();
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        let cascade = matches!(behavior, Some(DropBehavior::Cascade));
        let rests_on = |f: &ForeignKeyDef| {
            let mut p = f.parent_columns.clone();
            p.sort_unstable();
            p == sorted
        };
        other_tables_keys(
            txn,
            def,
            &format!("constraint {name} on table {}", def.name),
            cascade,
            rests_on,
            |_| {},
        )
        .await?;
        let index = def.indexes.remove(i);
        delete_range(txn, def.index_range(&index)).await?;
        return Ok(());
    }
    if name == format!("{}_pkey", def.name) && def.has_primary_key() {
        return Err(SqlError::not_supported(format!(
            "dropping the primary key of \"{}\", which keys its rows",
            def.name
        )));
    }
    if if_exists {
        return Ok(());
    }
    Err(SqlError::undefined_object(format!(
        "constraint \"{name}\" of relation \"{}\" does not exist",
        def.name
    )))
}

async fn rename_constraint(
    txn: &mut dyn KvTxn,
    def: &mut TableDef,
    from: &str,
    to: &str,
) -> Result<()> {
    let taken = def.checks.iter().any(|c| c.name == to)
        || def.foreign_keys.iter().any(|f| f.name == to)
        || def.indexes.iter().any(|i| i.name == to)
        || super::ddl::index_owner(txn, to).await?.is_some()
        || load_table(txn, to).await?.is_some();
    if taken {
        return Err(SqlError::duplicate_object(format!(
            "constraint \"{to}\" for relation \"{}\" already exists",
            def.name
        )));
    }
    for p in def.pending.iter_mut() {
        match &mut p.item {
            PendingItem::Check(n) | PendingItem::ForeignKey(n) if n == from => *n = to.to_string(),
            _ => {}
        }
    }
    if let Some(c) = def.checks.iter_mut().find(|c| c.name == from) {
        c.name = to.to_string();
    } else if let Some(f) = def.foreign_keys.iter_mut().find(|f| f.name == from) {
        f.name = to.to_string();
    } else if let Some(i) = def.indexes.iter_mut().find(|i| i.unique && i.name == from) {
        i.name = to.to_string();
    } else {
        return Err(SqlError::undefined_object(format!(
            "constraint \"{from}\" for table \"{}\" does not exist",
            def.name
        )));
    }
    Ok(())
}
