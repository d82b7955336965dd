//! DML: INSERT (VALUES, SELECT or DEFAULT VALUES; ON CONFLICT DO NOTHING
//! or DO UPDATE), UPDATE (also … FROM) and DELETE (also … USING), each
//! with RETURNING, with NOT NULL and unique checks and secondary-index
//! upkeep in the same transaction. Rows UPDATE and DELETE touch are read
//! with exclusive locks.

use std::collections::HashSet;

use sqlparser::ast::{
    self, ConflictTarget, Expr, FromTable, ObjectName, OnConflictAction, OnInsert, SelectItem,
    TableFactor, TableObject,
};

use super::row_rules::RowRules;
use super::table_refs::{dml_tables, expr_tables, load_tables, query_tables};
use super::{QueryResult, done, table};
use crate::bind::{Binder, Columns};
use crate::catalog::{IndexDef, TableDef};
use crate::error::{Result, SqlError};
use crate::eval::{self, Env};
use crate::kv::KvTxn;
use crate::plan::{Access, BExpr, BinOp, Scan};
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

/// Whether `e` is the keyword `DEFAULT` (as VALUES and SET write it).
pub(super) fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

/// `source` with each `DEFAULT` of its VALUES made NULL, and where they
/// were (by row, the positions in it); `None` when it has none.
fn take_defaults(source: &ast::Query) -> (Option<ast::Query>, Vec<Vec<usize>>) {
    let ast::SetExpr::Values(values) = source.body.as_ref() else {
        return (None, Vec::new());
    };
    let positions: Vec<Vec<usize>> = values
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .filter(|(_, e)| is_default(e))
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    if positions.iter().all(Vec::is_empty) {
        return (None, Vec::new());
    }
    let mut q = source.clone();
    if let ast::SetExpr::Values(values) = q.body.as_mut() {
        for e in values.rows.iter_mut().flatten() {
            if is_default(e) {
                *e = Expr::Value(ast::Value::Null.into());
            }
        }
    }
    (Some(q), positions)
}

/// The columns `assignments` set (each at most once: 42601) and the
/// expressions they get, in order (UPDATE, UPDATE … FROM, ON CONFLICT DO
/// UPDATE).
///
/// `SET c = DEFAULT` gets the column's default (NULL without one).
fn assignment_targets(
    def: &TableDef,
    assignments: &[ast::Assignment],
) -> Result<(Vec<usize>, Vec<Expr>)> {
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
        if def.columns[i].generation.is_some() && !is_default(&a.value) {
            return Err(SqlError::generated_always(format!(
                "column \"{}\" can only be updated to DEFAULT: it is a generated column",
                def.columns[i].name
            )));
        }
        columns.push(i);
        exprs.push(if is_default(&a.value) {
            match crate::statement::system::column_default(&def.columns[i]) {
                Some(text) => super::ddl::parse_expr(&text)?,
                None => Expr::Value(ast::Value::Null.into()),
            }
        } else {
            a.value.clone()
        });
    }
    Ok((columns, exprs))
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

/// A RETURNING list bound over the target table's row.
pub(super) struct Returning {
    exprs: Vec<BExpr>,
    columns: Columns,
    rows: Vec<Vec<Value>>,
}

impl Returning {
    /// Binds `items` (if any) over a row of `def` named `name`, with the
    /// tables its subqueries name loaded.
    pub(super) async fn bind(
        txn: &mut dyn KvTxn,
        def: &TableDef,
        name: &str,
        items: Option<&Vec<SelectItem>>,
        params: &[Value],
    ) -> Result<Option<Self>> {
        let Some(items) = items else {
            return Ok(None);
        };
        let mut names = vec![def.name.clone()];
        for item in items {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                expr_tables(e, &mut names);
            }
        }
        let tables = load_tables(txn, &names).await?;
        let (mut exprs, columns) = Binder::new(&tables, params).returning(def, name, items)?;
        for e in &mut exprs {
            crate::bind::params::expr(e, params)?;
            eval::fetch_expr(txn, e).await?;
        }
        Ok(Some(Self {
            exprs,
            columns,
            rows: Vec::new(),
        }))
    }

    /// Adds the output row for table row `row`.
    fn add(&mut self, row: &[Value]) -> Result<()> {
        let env = Env { row, ..Env::EMPTY };
        let out = self
            .exprs
            .iter()
            .map(|e| eval::eval(e, &env))
            .collect::<Result<Vec<_>>>()?;
        self.rows.push(out);
        Ok(())
    }
}

/// Adds `row` to `returning`'s rows, if there is a RETURNING.
fn returned(returning: &mut Option<Returning>, row: &[Value]) -> Result<()> {
    match returning {
        Some(r) => r.add(row),
        None => Ok(()),
    }
}

/// The statement's result: its tag, and RETURNING's rows if it has one.
fn finish(tag: String, count: u64, returning: Option<Returning>) -> QueryResult {
    match returning {
        None => done(tag, count),
        Some(r) => {
            let columns = r
                .columns
                .iter()
                .enumerate()
                .map(|(i, (n, ty))| {
                    let ty = ty.or_else(|| r.rows.iter().find_map(|row| row[i].data_type()));
                    (n.clone(), ty)
                })
                .collect();
            QueryResult {
                declared: Vec::new(),
                columns,
                rows: r.rows,
                tag,
                rows_affected: count,
            }
        }
    }
}

/// The unique constraint an ON CONFLICT names or infers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arbiter {
    PrimaryKey,
    /// The unique index at this position of the table's indexes.
    Index(usize),
}

impl Arbiter {
    fn name(self, def: &TableDef) -> String {
        match self {
            Arbiter::PrimaryKey => format!("{}_pkey", def.name),
            Arbiter::Index(i) => def.indexes[i].name.clone(),
        }
    }

    /// The key of the row already there that `row` (to be stored at
    /// `row_key`) conflicts with on this constraint, if any.
    async fn existing(
        self,
        txn: &mut dyn KvTxn,
        def: &TableDef,
        row: &[Value],
        row_key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        match self {
            Arbiter::PrimaryKey => Ok(txn.get(row_key).await?.map(|_| row_key.to_vec())),
            Arbiter::Index(i) => {
                let index = &def.indexes[i];
                let key = def.index_key(index, row, row_key)?;
                Ok(txn.get(&key).await?.filter(|k| k.as_slice() != row_key))
            }
        }
    }
}

/// The constraint of an ON CONFLICT target (42P10 when none matches).
fn arbiter(def: &TableDef, target: &ConflictTarget) -> Result<Arbiter> {
    match target {
        ConflictTarget::Columns(cols) => {
            let mut wanted = cols
                .iter()
                .map(|c| def.column(&ident(c)))
                .collect::<Result<Vec<_>>>()?;
            wanted.sort_unstable();
            let same = |cols: &[usize]| {
                let mut c = cols.to_vec();
                c.sort_unstable();
                c == wanted
            };
            if def.has_primary_key() && same(&def.primary_key) {
                return Ok(Arbiter::PrimaryKey);
            }
            def.indexes
                .iter()
                .position(|i| i.unique && !i.building && same(&i.columns))
                .map(Arbiter::Index)
                .ok_or_else(|| {
                    SqlError::invalid_column_reference(
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                    )
                })
        }
        ConflictTarget::OnConstraint(name) => {
            let name = object_name(name)?;
            if def.has_primary_key() && name == format!("{}_pkey", def.name) {
                return Ok(Arbiter::PrimaryKey);
            }
            def.indexes
                .iter()
                .position(|i| i.unique && !i.building && i.name == name)
                .map(Arbiter::Index)
                .ok_or_else(|| {
                    SqlError::undefined_object(format!(
                        "constraint \"{name}\" for table \"{}\" does not exist",
                        def.name
                    ))
                })
        }
    }
}

/// What an INSERT does with a row that violates a unique constraint.
enum OnConflict {
    /// 23505.
    Error,
    /// Skips the row (on `arbiter`'s conflicts only, if it has one).
    Nothing(Option<Arbiter>),
    /// Updates the row there on `arbiter`'s conflicts: `columns` get
    /// `sets`, evaluated over the row there followed by the proposed row
    /// (`excluded`), where `filter` holds.
    Update {
        arbiter: Arbiter,
        columns: Vec<usize>,
        sets: Vec<BExpr>,
        filter: Option<BExpr>,
    },
}

async fn bind_on_conflict(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    name: &str,
    on: Option<&OnInsert>,
    params: &[Value],
) -> Result<OnConflict> {
    let Some(on) = on else {
        return Ok(OnConflict::Error);
    };
    let OnInsert::OnConflict(c) = on else {
        return Err(SqlError::not_supported(format!("{on}")));
    };
    let target = c
        .conflict_target
        .as_ref()
        .map(|t| arbiter(def, t))
        .transpose()?;
    let update = match &c.action {
        OnConflictAction::DoNothing => return Ok(OnConflict::Nothing(target)),
        OnConflictAction::DoUpdate(u) => u,
    };
    let Some(arbiter) = target else {
        return Err(SqlError::syntax(
            "ON CONFLICT DO UPDATE requires inference specification or constraint name",
        ));
    };
    let (columns, owned) = assignment_targets(def, &update.assignments)?;
    let exprs: Vec<&Expr> = owned.iter().collect();
    let mut names = vec![def.name.clone()];
    for e in exprs.iter().copied().chain(update.selection.as_ref()) {
        expr_tables(e, &mut names);
    }
    let tables = load_tables(txn, &names).await?;
    let scope = [(name, def), ("excluded", def)];
    let mut binder = Binder::new(&tables, params);
    let mut sets = binder.in_tables(&scope, &exprs)?;
    let mut filter = match &update.selection {
        Some(w) => binder.in_tables(&scope, &[w])?.pop(),
        None => None,
    };
    for e in sets.iter_mut().chain(filter.as_mut()) {
        crate::bind::params::expr(e, params)?;
        eval::fetch_expr(txn, e).await?;
    }
    Ok(OnConflict::Update {
        arbiter,
        columns,
        sets,
        filter,
    })
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
    let alias = insert
        .table_alias
        .as_ref()
        .map_or_else(|| def.name.clone(), ident);
    let on_conflict = bind_on_conflict(txn, &def, &alias, insert.on.as_ref(), params).await?;
    let rules = RowRules::of(&def)?;
    let mut returning =
        Returning::bind(txn, &def, &alias, insert.returning.as_ref(), params).await?;
    let targets = insert_targets(&def, insert)?;
    // `DEFAULT` in VALUES: NULL there, then the column's default.
    let (without_defaults, defaulted) = match &insert.source {
        Some(source) => take_defaults(source),
        None => (None, Vec::new()),
    };
    let rows = match &insert.source {
        // INSERT … DEFAULT VALUES: one row of defaults.
        None if insert.columns.is_empty() => vec![Vec::new()],
        None => return Err(SqlError::syntax("INSERT without VALUES or SELECT")),
        Some(source) => {
            let source: &ast::Query = match &without_defaults {
                Some(q) => q,
                None => source,
            };
            // nextval() in VALUES: answered now, and the plan not kept.
            let mut resolved = None;
            if super::sequences::may_call(source) {
                let mut q = source.clone();
                if super::sequences::resolve_calls(txn, &mut q, params).await? {
                    resolved = Some(q);
                }
            }
            let plans = if resolved.is_some() { None } else { plans };
            let source: &ast::Query = resolved.as_ref().unwrap_or(source);
            let mut names = Vec::new();
            query_tables(source, &mut names);
            let tables = load_tables(txn, &names).await?;
            // The rows' source (VALUES or a query) is what is bound; the
            // target columns are read from the table's definition at each
            // run.
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
            run_query(txn, &mut bound).await?
        }
    };
    // Columns a sequence numbers when the INSERT leaves them out.
    let mut numbered = Vec::new();
    for (i, c) in def.columns.iter().enumerate() {
        if let Some(g) = &c.generated {
            let seq = super::sequences::sequence(txn, &g.sequence).await?;
            numbered.push((i, seq, g.always));
        }
    }
    // Defaults that call functions: evaluated for each row.
    let per_row = def
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.default_expr.as_deref().map(|text| (i, text)))
        .map(|(i, text)| Ok((i, super::ddl::bind_default(text)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut count = 0;
    // Rows this statement inserted or updated (ON CONFLICT DO UPDATE may
    // not touch one twice).
    let mut touched: HashSet<Vec<u8>> = HashSet::new();
    for (n, values) in rows.into_iter().enumerate() {
        let mut row: Vec<Value> = def
            .columns
            .iter()
            .map(|c| c.default.clone().unwrap_or(Value::Null))
            .collect();
        let defaults_here = defaulted.get(n).map_or(&[][..], Vec::as_slice);
        let given: Vec<usize> = targets[..values.len().min(targets.len())]
            .iter()
            .enumerate()
            .filter(|(j, _)| !defaults_here.contains(j))
            .map(|(_, &i)| i)
            .collect();
        for (i, default) in &per_row {
            if !given.contains(i) {
                row[*i] = def.columns[*i]
                    .coerce(crate::eval::eval(default, &crate::eval::Env::EMPTY)?)?;
            }
        }
        for (i, seq, always) in &numbered {
            if !given.contains(i) {
                row[*i] = Value::Int(txn.next_value(seq).await?);
            } else if *always {
                return Err(SqlError::generated_always(format!(
                    "cannot insert a non-DEFAULT value into column \"{}\": it is an identity column defined as GENERATED ALWAYS",
                    def.columns[*i].name
                )));
            }
        }
        for (j, (v, &i)) in values.into_iter().zip(&targets).enumerate() {
            if !defaults_here.contains(&j) {
                row[i] = v;
            }
        }
        if let Some(&i) = given.iter().find(|&&i| def.columns[i].generation.is_some()) {
            return Err(SqlError::generated_always(format!(
                "cannot insert a non-DEFAULT value into column \"{}\": it is a generated column",
                def.columns[i].name
            )));
        }
        let row = rules.row(&def, row)?;
        let key = if def.has_primary_key() {
            def.row_key(&def.primary_key_values(&row))?
        } else {
            def.row_key(&[Value::Int(next_row_id())])?
        };
        if let OnConflict::Update {
            arbiter,
            columns,
            sets,
            filter,
        } = &on_conflict
            && let Some(existing_key) = arbiter.existing(txn, &def, &row, &key).await?
        {
            if !touched.insert(existing_key.clone()) {
                return Err(SqlError::cardinality_violation(
                    "ON CONFLICT DO UPDATE command cannot affect row a second time",
                ));
            }
            let Some(bytes) = txn.get_for_update(&existing_key).await? else {
                return Err(SqlError::internal("an index entry without its row"));
            };
            let old = def.decode_row(&bytes)?;
            let both: Vec<Value> = old.iter().chain(&row).cloned().collect();
            let env = Env {
                row: &both,
                ..Env::EMPTY
            };
            if !eval::passes(filter, &env)? {
                continue;
            }
            let mut new = old.clone();
            for (&i, e) in columns.iter().zip(sets) {
                new[i] = eval::eval(e, &env)?;
            }
            let new = rules.row(&def, new)?;
            super::foreign_keys::check_parents(txn, &def, &new, Some(&old)).await?;
            let new_key = write_update(txn, &def, &existing_key, &old, &new).await?;
            super::foreign_keys::on_parent_change(txn, &def, &[(old, Some(new.clone()))], 0)
                .await?;
            touched.insert(new_key);
            returned(&mut returning, &new)?;
            count += 1;
            continue;
        }
        if let Some(constraint) = conflict(txn, &def, &row, &key).await? {
            match &on_conflict {
                OnConflict::Nothing(None) => continue,
                OnConflict::Nothing(Some(a)) if a.name(&def) == constraint => continue,
                _ => return Err(unique_violation(&constraint)),
            }
        }
        super::foreign_keys::check_parents(txn, &def, &row, None).await?;
        for index in &def.indexes {
            put_index_entry(txn, &def, index, &row, &key).await?;
        }
        txn.put(key.clone(), def.encode_row(&row)?)?;
        touched.insert(key);
        returned(&mut returning, &row)?;
        count += 1;
    }
    Ok(finish(format!("INSERT 0 {count}"), count, returning))
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
    // The subqueries first: one may say which keys to read.
    if let Some(f) = later {
        eval::fetch_expr(txn, f).await?;
    }
    keys_from_subquery(scan, later)?;
    eval::fetch_scan(txn, scan).await?;
    if let Some(f) = &mut scan.filter {
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

/// The most keys an `IN (SELECT …)` turns into before the table is read
/// whole instead.
const SUBQUERY_KEYS_MAX: usize = 1000;

/// `WHERE pk IN (SELECT …)` on a table with a one-column primary key,
/// the subquery uncorrelated and already fetched: the table is read by the
/// keys the subquery gives (the condition is still checked), instead of
/// every row being read, locked and filtered. So the job queues' `UPDATE
/// jobs … WHERE id IN (SELECT id … FOR UPDATE SKIP LOCKED) RETURNING …`
/// locks the rows its subquery chose and no others: a whole-table read
/// for update would wait for every row the other workers hold.
fn keys_from_subquery(scan: &mut Scan, later: &Option<BExpr>) -> Result<()> {
    let ([pk], Access::Full, Some(cond)) = (scan.table.primary_key.as_slice(), &scan.access, later)
    else {
        return Ok(());
    };
    let column = BExpr::Column(scan.offset + pk);
    let mut conds = vec![cond];
    while let Some(c) = conds.pop() {
        let (sub, most) = match c {
            BExpr::Binary(l, BinOp::And, r) => {
                conds.push(l);
                conds.push(r);
                continue;
            }
            BExpr::InSubquery(v, sub, false) if **v == column => (sub, SUBQUERY_KEYS_MAX),
            // `pk = (SELECT …)`: one key (more rows are the condition's
            // error, 21000, from the whole-table read).
            BExpr::Binary(l, BinOp::Eq, r) if **l == column => match &**r {
                BExpr::Subquery(sub) => (sub, 1),
                _ => continue,
            },
            _ => continue,
        };
        if sub.correlated {
            continue;
        }
        // Kept in the subquery's cache: the condition, checked on the rows
        // read, uses these rows and does not compute them again.
        let rows = match sub.cache.0.get() {
            Some(rows) => rows,
            None => {
                let rows = eval::query(&sub.query, &[])?;
                sub.cache.0.get_or_init(|| rows)
            }
        };
        if rows.len() <= most {
            scan.access = Access::Points(
                rows.iter()
                    .filter_map(|r| r.first())
                    .map(|v| vec![BExpr::Const(v.clone())])
                    .collect(),
            );
            return Ok(());
        }
    }
    Ok(())
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
    returning: Option<&Vec<SelectItem>>,
    params: &[Value],
    plans: Option<&super::PlanCache>,
) -> Result<QueryResult> {
    let def = table(txn, dml_table(target)?).await?;
    let returning = Returning::bind(txn, &def, &def.name, returning, params).await?;
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
    run_update(txn, &def, plan, params, returning).await
}

fn bind_update(
    tables: &crate::bind::Tables,
    def: &std::sync::Arc<TableDef>,
    assignments: &[ast::Assignment],
    selection: Option<&Expr>,
    params: &[Value],
) -> Result<UpdatePlan> {
    let mut binder = Binder::new(tables, params);
    let (columns, owned) = assignment_targets(def, assignments)?;
    let exprs: Vec<&Expr> = owned.iter().collect();
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
    mut returning: Option<Returning>,
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
    let rules = RowRules::of(def)?;
    let mut changed = Vec::new();
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
        let new = rules.row(def, new)?;
        super::foreign_keys::check_parents(txn, def, &new, Some(&old)).await?;
        write_update(txn, def, &key, &old, &new).await?;
        returned(&mut returning, &new)?;
        changed.push((old, Some(new)));
    }
    super::foreign_keys::on_parent_change(txn, def, &changed, 0).await?;
    Ok(finish(format!("UPDATE {count}"), count, returning))
}

/// Replaces row `old` (at `key`) by `new`, moving it if its primary key
/// changed and keeping the indexes; 23505 on a unique key another row has.
/// Returns the row's key now.
pub(super) async fn write_update(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    key: &[u8],
    old: &[Value],
    new: &[Value],
) -> Result<Vec<u8>> {
    let pk_changed = def.primary_key.iter().any(|&i| new[i] != old[i]);
    let new_key = if pk_changed {
        let k = def.row_key(&def.primary_key_values(new))?;
        if txn.get(&k).await?.is_some() {
            return Err(unique_violation(&format!("{}_pkey", def.name)));
        }
        k
    } else {
        key.to_vec()
    };
    // Check every unique index before writing anything.
    let mut moved = Vec::new();
    for index in &def.indexes {
        let old_entry = def.index_key(index, old, key)?;
        let new_entry = def.index_key(index, new, &new_key)?;
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
        txn.delete(key.to_vec())?;
    }
    txn.put(new_key.clone(), def.encode_row(new)?)?;
    Ok(new_key)
}

/// The rows of `target` a join with `others` selects (UPDATE … FROM,
/// DELETE … USING), each once, with `extra` expressions evaluated on the
/// joined row after the target's columns: run as a query
/// `SELECT t.*, extra… FROM target, others… WHERE selection`.
async fn joined_rows(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    target: &ast::TableWithJoins,
    others: &[ast::TableWithJoins],
    extra: &[&Expr],
    selection: Option<&Expr>,
    params: &[Value],
) -> Result<Vec<(Vec<u8>, Vec<Value>, Vec<Value>)>> {
    if !def.has_primary_key() {
        return Err(SqlError::not_supported(
            "UPDATE … FROM / DELETE … USING on a table without a primary key",
        ));
    }
    let TableFactor::Table { alias, .. } = &target.relation else {
        return Err(SqlError::not_supported(format!(
            "UPDATE/DELETE of {target}"
        )));
    };
    let name = alias
        .as_ref()
        .map_or_else(|| def.name.clone(), |a| ident(&a.name));
    let mut sql = format!("SELECT \"{}\".*", name.replace('"', "\"\""));
    for e in extra {
        sql.push_str(&format!(", ({e})"));
    }
    // The other FROM items first: a table joined on its key to one
    // before it is read by that one's keys (`eval::fetch`), so the rows
    // of `UPDATE … FROM (SELECT … SKIP LOCKED) AS next WHERE t.id =
    // next.id` are read by key, not the whole table.
    sql.push_str(" FROM ");
    for o in others {
        sql.push_str(&format!("{o}, "));
    }
    sql.push_str(&target.to_string());
    if let Some(w) = selection {
        sql.push_str(&format!(" WHERE {w}"));
    }
    let mut statements = crate::syntax::parse(&sql)?;
    let (Some(ast::Statement::Query(q)), None) = (statements.pop(), statements.pop()) else {
        return Err(SqlError::internal("a join of UPDATE/DELETE did not parse"));
    };
    let mut names = Vec::new();
    query_tables(&q, &mut names);
    let tables = load_tables(txn, &names).await?;
    let mut bound = Binder::new(&tables, params).query(&q)?;
    crate::bind::params::query(&mut bound, params)?;
    let width = def.columns.len();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mut row in run_query(txn, &mut bound).await? {
        let extra = row.split_off(width.min(row.len()));
        let key = def.row_key(&def.primary_key_values(&row))?;
        if seen.insert(key.clone()) {
            out.push((key, row, extra));
        }
    }
    Ok(out)
}

/// UPDATE … FROM: the target's rows joined with the FROM items.
#[allow(clippy::too_many_arguments)]
pub(super) async fn update_from(
    txn: &mut dyn KvTxn,
    target: &ast::TableWithJoins,
    assignments: &[ast::Assignment],
    from: &[ast::TableWithJoins],
    selection: Option<&Expr>,
    returning: Option<&Vec<SelectItem>>,
    params: &[Value],
) -> Result<QueryResult> {
    let TableFactor::Table { name, alias, .. } = &target.relation else {
        return Err(SqlError::not_supported(format!("UPDATE of {target}")));
    };
    let def = table(txn, name).await?;
    let (columns, owned) = assignment_targets(&def, assignments)?;
    let exprs: Vec<&Expr> = owned.iter().collect();
    // RETURNING names the table as the statement does (`UPDATE t AS x …
    // RETURNING x.id`).
    let named = alias
        .as_ref()
        .map_or_else(|| def.name.clone(), |a| ident(&a.name));
    let mut returning = Returning::bind(txn, &def, &named, returning, params).await?;
    let rules = RowRules::of(&def)?;
    let rows = joined_rows(txn, &def, target, from, &exprs, selection, params).await?;
    let mut changed = Vec::new();
    let count = rows.len() as u64;
    for (key, _, values) in rows {
        // The row as it is now, locked for writing.
        let Some(bytes) = txn.get_for_update(&key).await? else {
            continue;
        };
        let old = def.decode_row(&bytes)?;
        let mut new = old.clone();
        for (&i, v) in columns.iter().zip(values) {
            new[i] = v;
        }
        let new = rules.row(&def, new)?;
        super::foreign_keys::check_parents(txn, &def, &new, Some(&old)).await?;
        write_update(txn, &def, &key, &old, &new).await?;
        returned(&mut returning, &new)?;
        changed.push((old, Some(new)));
    }
    super::foreign_keys::on_parent_change(txn, &def, &changed, 0).await?;
    Ok(finish(format!("UPDATE {count}"), count, returning))
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
    if delete.limit.is_some() || !delete.order_by.is_empty() {
        return Err(SqlError::not_supported("DELETE … ORDER BY/LIMIT"));
    }
    if let Some(using) = &delete.using {
        let TableFactor::Table { name, alias, .. } = &from.relation else {
            return Err(SqlError::not_supported(format!("DELETE of {from}")));
        };
        let def = table(txn, name).await?;
        let named = alias
            .as_ref()
            .map_or_else(|| def.name.clone(), |a| ident(&a.name));
        let mut returning =
            Returning::bind(txn, &def, &named, delete.returning.as_ref(), params).await?;
        let rows = joined_rows(
            txn,
            &def,
            from,
            using,
            &[],
            delete.selection.as_ref(),
            params,
        )
        .await?;
        let mut count = 0;
        let mut deleted = Vec::new();
        for (key, _, _) in rows {
            let Some(bytes) = txn.get_for_update(&key).await? else {
                continue;
            };
            let row = def.decode_row(&bytes)?;
            delete_row(txn, &def, &key, &row)?;
            returned(&mut returning, &row)?;
            deleted.push((row, None));
            count += 1;
        }
        super::foreign_keys::on_parent_change(txn, &def, &deleted, 0).await?;
        return Ok(finish(format!("DELETE {count}"), count, returning));
    }
    let def = table(txn, dml_table(from)?).await?;
    let mut returning =
        Returning::bind(txn, &def, &def.name, delete.returning.as_ref(), params).await?;
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
    let mut deleted = Vec::new();
    for (key, row) in rows {
        delete_row(txn, &def, &key, &row)?;
        returned(&mut returning, &row)?;
        deleted.push((row, None));
    }
    super::foreign_keys::on_parent_change(txn, &def, &deleted, 0).await?;
    Ok(finish(format!("DELETE {count}"), count, returning))
}

/// Deletes `row` (at `key`) and its index entries.
pub(super) fn delete_row(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    key: &[u8],
    row: &[Value],
) -> Result<()> {
    for index in &def.indexes {
        txn.delete(def.index_key(index, row, key)?)?;
    }
    txn.delete(key.to_vec())
}
