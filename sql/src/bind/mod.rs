//! The binder and planner: AST → [`plan`](crate::plan). Names become row
//! positions (42P01, 42703, 42702 and 42803 are raised here, before
//! anything runs), parameters become constants, WHERE and ON conditions are
//! split into conjuncts and pushed to the table they name, joins are
//! ordered so each joined table shares an equality with the ones before it
//! (a hash join), and each table read gets an access path: primary-key
//! points, a primary-key range, a secondary-index range, or a full scan.

mod aggregates;
mod arrays;
mod expr;
mod from;
mod joins;
mod operators;
pub(crate) mod params;
mod types;
mod walk;
mod window;

use std::collections::HashMap;

use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, JoinConstraint, JoinOperator, SelectItem, SetExpr,
    TableFactor,
};

use crate::catalog::{TableDef, Width};
use crate::error::{Result, SqlError};
use crate::json::Rows;
use crate::plan::{
    Access, AggCall, BExpr, BinOp, Body, Grouping, JoinKind, LockWait, Query, Scan, Select, SetOp,
    SortKey, Source, WindowCall,
};
use crate::syntax::{ident, object_name};
use crate::value::{DataType, Value};

pub(crate) use expr::column_name;
use from::one_locked_scan;
use joins::choose_access;
use walk::{and_all, conjuncts, has_aggregate, has_window};
pub(crate) use walk::{ast_children, has_subquery};

/// Output columns: names and (when known) types.
pub type Columns = Vec<(String, Option<DataType>)>;

/// Tables by name (everything a statement names, loaded beforehand),
/// shared with the schema cache (binding copies no definition, and a kept
/// plan's tables compare equal to the same cache entry by pointer); and
/// the enum types the statement names in casts and its tables' columns
/// have.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    defs: HashMap<String, std::sync::Arc<TableDef>>,
    /// Enum types by name.
    pub types: HashMap<String, std::sync::Arc<crate::enums::EnumType>>,
}

impl Tables {
    /// No tables, no types.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds table `name`, and the enum types of its columns.
    pub fn add(&mut self, name: String, def: std::sync::Arc<TableDef>) {
        self.add_types_of(&def.columns);
        self.defs.insert(name, def);
    }

    /// Adds the enum types of `columns` (a table bound without being
    /// named: CHECK conditions, defaults).
    pub fn add_types_of(&mut self, columns: &[crate::catalog::Column]) {
        for t in columns.iter().filter_map(|c| c.enum_type.as_ref()) {
            self.types
                .entry(t.name.clone())
                .or_insert_with(|| std::sync::Arc::new(t.clone()));
        }
    }

    /// The enum type of oid `oid`, if the statement has it.
    pub fn enum_by_oid(&self, oid: u32) -> Option<&std::sync::Arc<crate::enums::EnumType>> {
        self.types.values().find(|t| t.oid == oid)
    }
}

impl std::ops::Deref for Tables {
    type Target = HashMap<String, std::sync::Arc<TableDef>>;
    fn deref(&self) -> &Self::Target {
        &self.defs
    }
}

/// A FROM item as names see it.
#[derive(Debug)]
struct Entry {
    name: String,
    columns: Vec<String>,
    offset: usize,
    /// Columns merged into an earlier table's by JOIN … USING / NATURAL:
    /// not found by unqualified names, not in `*`.
    hidden: Vec<usize>,
    /// A set-returning function of one output column: its name alone,
    /// where no column has that name, is that column (PostgreSQL's
    /// whole-row reference to a scalar function: `FROM t,
    /// jsonb_array_elements_text(t.tags) AS tag … SELECT tag`).
    scalar: bool,
}

/// The grouping of a grouped block, while its select list is bound.
#[derive(Debug, Default)]
struct GroupState {
    keys: Vec<BExpr>,
    aggs: Vec<AggCall>,
    types: Vec<Option<DataType>>,
    /// The grouping sets, as key positions (empty: a plain GROUP BY).
    sets: Vec<Vec<usize>>,
}

/// One query block's names.
#[derive(Debug, Default)]
struct Scope {
    entries: Vec<Entry>,
    /// Types of the block's row positions.
    types: Vec<Option<DataType>>,
    /// Declared types (SMALLINT, VARCHAR(n), …) of the row positions that
    /// are table columns or a subquery's such outputs; shorter than
    /// `types` where none follow.
    declared: Vec<Option<Width>>,
    /// Set once GROUP BY is bound; `grouped` says whether names now refer
    /// to the grouped row (select list, HAVING, ORDER BY).
    group: Option<GroupState>,
    grouped: bool,
    /// Window function calls of its select list and ORDER BY (allowed
    /// only while those are bound), and their types.
    windows: Vec<WindowCall>,
    window_types: Vec<Option<DataType>>,
    windows_allowed: bool,
    /// The block's named windows (`WINDOW w AS (…)`).
    named_windows: window::NamedWindows,
}

impl Scope {
    /// Adds FROM item `name` whose columns start at row position `offset`:
    /// their names, declared types and types.
    fn add_entry(
        &mut self,
        name: String,
        columns: Vec<String>,
        offset: usize,
        declared: impl IntoIterator<Item = Option<Width>>,
        types: impl IntoIterator<Item = Option<DataType>>,
    ) {
        self.entries.push(Entry {
            name,
            columns,
            offset,
            hidden: Vec::new(),
            scalar: false,
        });
        self.declared.resize(self.types.len(), None);
        self.declared.extend(declared);
        self.types.extend(types);
    }

    fn width(&self) -> usize {
        self.types.len()
    }
}

/// Binds statements against `tables`, with `params` for `$1`, `$2`, ….
#[derive(Debug)]
pub struct Binder<'a> {
    tables: &'a Tables,
    params: &'a [Value],
    scopes: Vec<Scope>,
    /// Nesting of the expression being bound (see `expr::MAX_DEPTH`).
    depth: usize,
    /// Types parameters must have, as far as their use shows (`col = $1`):
    /// what a client is told when it asks (PostgreSQL's Describe).
    param_hints: Vec<Option<DataType>>,
}

/// Items of a FROM clause before the joins are planned.
#[derive(Debug)]
struct Item {
    source: Source,
    kind: JoinKind,
    on: Option<Expr>,
    /// Equalities of JOIN … USING / NATURAL JOIN.
    using: Vec<BExpr>,
    offset: usize,
    width: usize,
}

impl<'a> Binder<'a> {
    /// A binder over `tables` with `params`.
    pub fn new(tables: &'a Tables, params: &'a [Value]) -> Self {
        Binder {
            tables,
            params,
            scopes: Vec::new(),
            depth: 0,
            param_hints: vec![None; params.len()],
        }
    }

    fn table(&self, name: &ast::ObjectName) -> Result<&'a std::sync::Arc<TableDef>> {
        let name = object_name(name)?;
        self.tables
            .get(&name)
            .ok_or_else(|| SqlError::undefined_table(format!("relation \"{name}\" does not exist")))
    }

    fn scope(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// An expression with no row (VALUES of INSERT, LIMIT, DEFAULT).
    pub fn constant(&mut self, e: &Expr) -> Result<BExpr> {
        self.scopes.push(Scope::default());
        let r = self.expr(e);
        self.scopes.pop();
        r
    }

    /// Binds a table for UPDATE/DELETE: its scan (filtered by the WHERE
    /// conditions it can check itself, locking what it reads) and the
    /// conditions with subqueries, checked afterwards. The table's row is
    /// the current row of `exprs`, bound afterwards with [`Binder::in_table`].
    pub fn dml_scan(
        &mut self,
        def: &std::sync::Arc<TableDef>,
        selection: Option<&Expr>,
    ) -> Result<(Scan, Option<BExpr>)> {
        self.scopes.push(Scope::default());
        let r = self.dml_scan_inner(def, selection);
        self.scopes.pop();
        r
    }

    fn dml_scan_inner(
        &mut self,
        def: &std::sync::Arc<TableDef>,
        selection: Option<&Expr>,
    ) -> Result<(Scan, Option<BExpr>)> {
        self.add_table_scope(&def.name, def);
        let mut conds = Vec::new();
        if let Some(w) = selection {
            let b = self.expr(w)?;
            conjuncts(b, &mut conds);
        }
        let (later, local): (Vec<BExpr>, Vec<BExpr>) = conds.into_iter().partition(has_subquery);
        let mut scan = Scan {
            table: def.clone(),
            alias: def.name.clone(),
            offset: 0,
            width: def.columns.len(),
            access: Access::Full,
            filter: None,
            for_update: true,
            lock_wait: LockWait::Wait,
            rows: Vec::new(),
            keys: Vec::new(),
        };
        scan.access = choose_access(&scan, &local);
        scan.filter = and_all(local);
        Ok((scan, and_all(later)))
    }

    /// Binds expressions over one row of `def` (UPDATE's SET).
    pub fn in_table(&mut self, def: &TableDef, exprs: &[&Expr]) -> Result<Vec<BExpr>> {
        self.in_tables(&[(&def.name, def)], exprs)
    }

    /// Binds expressions over a row made of rows of `tables`, one after
    /// another, each named as given (ON CONFLICT's SET: the existing row,
    /// then `excluded`).
    pub fn in_tables(
        &mut self,
        tables: &[(&str, &TableDef)],
        exprs: &[&Expr],
    ) -> Result<Vec<BExpr>> {
        self.scopes.push(Scope::default());
        for (name, def) in tables {
            self.add_table_scope(name, def);
        }
        let r = exprs.iter().map(|e| self.expr(e)).collect();
        self.scopes.pop();
        r
    }

    /// Binds a RETURNING list over one row of `def` (named `name`): its
    /// expressions and its output columns (`*` is every column).
    pub fn returning(
        &mut self,
        def: &TableDef,
        name: &str,
        items: &[SelectItem],
    ) -> Result<(Vec<BExpr>, Columns)> {
        self.scopes.push(Scope::default());
        self.add_table_scope(name, def);
        let r = self.returning_items(name, items);
        self.scopes.pop();
        r
    }

    fn returning_items(
        &mut self,
        name: &str,
        items: &[SelectItem],
    ) -> Result<(Vec<BExpr>, Columns)> {
        let mut projection = Vec::new();
        let mut columns = Vec::new();
        for item in items {
            match item {
                SelectItem::Wildcard(_) => self.expand(0, false, &mut projection, &mut columns)?,
                SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) if object_name(n)? == name => {
                    self.expand(0, false, &mut projection, &mut columns)?;
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    return Err(SqlError::undefined_table(format!(
                        "missing FROM-clause entry for table \"{kind}\""
                    )));
                }
                SelectItem::UnnamedExpr(e) => {
                    let b = self.expr(e)?;
                    columns.push((column_name(e), self.type_of(&b)));
                    projection.push(b);
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let b = self.expr(expr)?;
                    columns.push((ident(alias), self.type_of(&b)));
                    projection.push(b);
                }
            }
        }
        Ok((projection, columns))
    }

    fn add_table_scope(&mut self, name: &str, def: &TableDef) {
        let scope = self.scope();
        let offset = scope.width();
        scope.add_entry(
            name.to_string(),
            def.columns.iter().map(|c| c.name.clone()).collect(),
            offset,
            def.columns.iter().map(|c| c.width),
            def.columns.iter().map(|c| Some(c.ty)),
        );
    }

    /// Binds a query.
    pub fn query(&mut self, q: &ast::Query) -> Result<Query> {
        if q.with.is_some() {
            return Err(SqlError::not_supported("WITH (common table expressions)"));
        }
        if q.fetch.is_some() {
            return Err(SqlError::not_supported("FETCH (use LIMIT)"));
        }
        let mut for_update = false;
        let mut lock_wait = LockWait::Wait;
        // FOR UPDATE OF t: only these FROM items' rows are locked.
        let mut lock_of: Vec<String> = Vec::new();
        for lock in &q.locks {
            if let Some(of) = &lock.of {
                if lock.lock_type != ast::LockType::Update {
                    return Err(SqlError::not_supported(format!("{lock}")));
                }
                lock_of.push(object_name(of)?);
            }
            if let Some(nonblock) = &lock.nonblock {
                if lock.lock_type != ast::LockType::Update {
                    return Err(SqlError::not_supported(format!("{lock}")));
                }
                lock_wait = match nonblock {
                    ast::NonBlock::Nowait => LockWait::NoWait,
                    ast::NonBlock::SkipLocked => LockWait::SkipLocked,
                };
            }
            // FOR SHARE is what every 2PL read does anyway.
            for_update |= lock.lock_type == ast::LockType::Update;
        }
        let order_by: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(o) => match &o.kind {
                ast::OrderByKind::Expressions(keys) => keys,
                ast::OrderByKind::All(_) => return Err(SqlError::not_supported("ORDER BY ALL")),
            },
        };
        let (body, columns) = match q.body.as_ref() {
            SetExpr::Select(s) => {
                let (mut select, columns) = self.select(s, order_by, for_update)?;
                if !lock_of.is_empty() {
                    from::lock_only(&mut select, &lock_of)?;
                }
                if lock_wait != LockWait::Wait {
                    one_locked_scan(&mut select, lock_wait)?;
                }
                (Body::Select(Box::new(select)), columns)
            }
            other => {
                if for_update {
                    return Err(SqlError::not_supported(
                        "FOR UPDATE with UNION, INTERSECT, EXCEPT or VALUES",
                    ));
                }
                let (mut body, columns) = self.body(other)?;
                let keys = order_by
                    .iter()
                    .map(|k| output_key(&k.expr, &columns))
                    .collect::<Result<Vec<_>>>()?;
                match &mut body {
                    Body::Values { order, .. } | Body::SetOp { order, .. } => *order = keys,
                    Body::Select(_) | Body::Unnest { .. } => {}
                }
                (body, columns)
            }
        };
        let order: Vec<SortKey> = order_by
            .iter()
            .map(|k| {
                let descending = k.options.asc == Some(false);
                SortKey {
                    descending,
                    nulls_first: k.options.nulls_first.unwrap_or(descending),
                }
            })
            .collect();
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) if limit_by.is_empty() => (
                limit.as_ref().map(|l| self.constant(l)).transpose()?,
                offset
                    .as_ref()
                    .map(|o| self.constant(&o.value))
                    .transpose()?,
            ),
            Some(other) => return Err(SqlError::not_supported(format!("{other}"))),
        };
        // DISTINCT ON's keys follow ORDER BY's in the block's sort keys.
        let distinct_on = match &body {
            Body::Select(s) => s.order.len().saturating_sub(order.len()),
            _ => 0,
        };
        let mut query = Query {
            body,
            order,
            limit,
            offset,
            columns,
            distinct_on,
        };
        crate::eval::fetch::index_for_order(&mut query);
        // The rows to lock are chosen before the query runs (see
        // `eval::fetch`): from this block's rows alone.
        if lock_wait != LockWait::Wait
            && (query.distinct_on > 0 || walk::references_outer(&query, 1))
        {
            return Err(SqlError::not_supported(
                "NOWAIT or SKIP LOCKED with DISTINCT ON, or in a correlated subquery",
            ));
        }
        Ok(query)
    }

    /// A body that is not a plain SELECT with ORDER BY (arms of set
    /// operations, VALUES).
    fn body(&mut self, e: &SetExpr) -> Result<(Body, Columns)> {
        match e {
            SetExpr::Select(s) => {
                let (select, columns) = self.select(s, &[], false)?;
                Ok((Body::Select(Box::new(select)), columns))
            }
            SetExpr::Query(q) => {
                let bound = self.query(q)?;
                if !bound.order.is_empty() || bound.limit.is_some() || bound.offset.is_some() {
                    return Err(SqlError::not_supported(
                        "ORDER BY or LIMIT inside a parenthesised set operand",
                    ));
                }
                Ok((bound.body, bound.columns))
            }
            SetExpr::Values(values) => {
                let mut rows = Vec::new();
                let mut width = None;
                for r in &values.rows {
                    if *width.get_or_insert(r.len()) != r.len() {
                        return Err(SqlError::syntax("VALUES lists must all be the same length"));
                    }
                    let row = r
                        .iter()
                        .map(|e| self.constant(e))
                        .collect::<Result<Vec<_>>>()?;
                    rows.push(row);
                }
                let columns = (0..width.unwrap_or(0))
                    .map(|i| {
                        let ty = rows.iter().find_map(|r: &Vec<BExpr>| self.type_of(&r[i]));
                        (format!("column{}", i + 1), ty)
                    })
                    .collect();
                Ok((
                    Body::Values {
                        rows,
                        order: Vec::new(),
                    },
                    columns,
                ))
            }
            SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let op = match op {
                    ast::SetOperator::Union => SetOp::Union,
                    ast::SetOperator::Intersect => SetOp::Intersect,
                    ast::SetOperator::Except | ast::SetOperator::Minus => SetOp::Except,
                };
                let all = match set_quantifier {
                    ast::SetQuantifier::All => true,
                    ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                    other => return Err(SqlError::not_supported(format!("{other}"))),
                };
                let (l, lcols) = self.body(left)?;
                let (r, rcols) = self.body(right)?;
                if lcols.len() != rcols.len() {
                    return Err(SqlError::syntax(
                        "each UNION/INTERSECT/EXCEPT query must have the same number of columns",
                    ));
                }
                let columns = lcols
                    .into_iter()
                    .zip(rcols)
                    .map(|((n, lt), (_, rt))| (n, lt.or(rt)))
                    .collect();
                Ok((
                    Body::SetOp {
                        op,
                        all,
                        left: Box::new(l),
                        right: Box::new(r),
                        order: Vec::new(),
                    },
                    columns,
                ))
            }
            other => Err(SqlError::not_supported(format!(
                "query {}",
                crate::syntax::first_words(&other.to_string())
            ))),
        }
    }

    /// Binds one SELECT block with its ORDER BY.
    fn select(
        &mut self,
        s: &ast::Select,
        order_by: &[ast::OrderByExpr],
        for_update: bool,
    ) -> Result<(Select, Columns)> {
        if s.top.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.qualify.is_some()
            || s.connect_by.is_some()
            || s.value_table_mode.is_some()
            || s.exclude.is_some()
        {
            return Err(SqlError::not_supported(format!(
                "SELECT clause in {}",
                crate::syntax::first_words(&s.to_string())
            )));
        }
        self.scopes.push(Scope::default());
        let r = self.select_inner(s, order_by, for_update);
        self.scopes.pop();
        r
    }

    fn select_inner(
        &mut self,
        s: &ast::Select,
        order_by: &[ast::OrderByExpr],
        for_update: bool,
    ) -> Result<(Select, Columns)> {
        self.scope().named_windows = window::named_windows(&s.named_window)?;
        // FROM.
        let mut items = Vec::new();
        for (i, twj) in s.from.iter().enumerate() {
            let kind = if i == 0 {
                JoinKind::First
            } else {
                JoinKind::Inner
            };
            self.add_item(&twj.relation, kind, None, for_update, &mut items)?;
            for join in &twj.joins {
                let (kind, constraint) = match &join.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinKind::Inner, c),
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
                    JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinKind::Right, c),
                    JoinOperator::FullOuter(c) => (JoinKind::Full, c),
                    JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
                    other => {
                        return Err(SqlError::not_supported(format!(
                            "join {}",
                            crate::syntax::first_words(&format!("{other:?}"))
                        )));
                    }
                };
                let on = match constraint {
                    JoinConstraint::On(e) => Some(e.clone()),
                    _ => None,
                };
                if matches!(kind, JoinKind::Left | JoinKind::Right | JoinKind::Full)
                    && matches!(constraint, JoinConstraint::None)
                {
                    return Err(SqlError::syntax("an outer join needs ON or USING"));
                }
                self.add_item(&join.relation, kind, on, for_update, &mut items)?;
                let names: Option<Vec<String>> = match constraint {
                    JoinConstraint::Using(cols) => {
                        Some(cols.iter().map(object_name).collect::<Result<Vec<_>>>()?)
                    }
                    JoinConstraint::Natural => {
                        let scope = self.scope();
                        let (last, earlier) = scope.entries.split_last().unzip();
                        let earlier = earlier.unwrap_or_default();
                        Some(last.map_or(Vec::new(), |l| {
                            l.columns
                                .iter()
                                .filter(|c| earlier.iter().any(|e| e.columns.contains(c)))
                                .cloned()
                                .collect()
                        }))
                    }
                    _ => None,
                };
                if let Some(names) = names {
                    let eqs = self.using(&names, kind == JoinKind::Right)?;
                    if let Some(item) = items.last_mut() {
                        item.using = eqs;
                    }
                }
            }
        }
        if items.is_empty() {
            items.push(Item {
                source: Source::Unit,
                kind: JoinKind::First,
                on: None,
                using: Vec::new(),
                offset: 0,
                width: 0,
            });
        }
        let width = self.scope().width();
        // WHERE.
        let mut conds = Vec::new();
        if let Some(w) = &s.selection {
            if has_window(w) {
                return Err(SqlError::windowing(
                    "window functions are not allowed in WHERE",
                ));
            }
            if has_aggregate(w) {
                return Err(SqlError::grouping(
                    "aggregate functions are not allowed in WHERE",
                ));
            }
            let b = self.expr(w)?;
            conjuncts(b, &mut conds);
        }
        let (steps, filter) = self.plan_joins(items, conds)?;

        // Grouping.
        let group_exprs: &[Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(e, modifiers) if modifiers.is_empty() => e,
            other => return Err(SqlError::not_supported(format!("{other}"))),
        };
        let sets = aggregates::grouping_sets(group_exprs)?;
        let grouped = !group_exprs.is_empty()
            || s.having.is_some()
            || s.projection.iter().any(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    has_aggregate(e)
                }
                _ => false,
            })
            || order_by.iter().any(|k| has_aggregate(&k.expr));
        if grouped {
            let mut state = GroupState::default();
            let plain: Vec<Vec<&Expr>> = vec![group_exprs.iter().collect()];
            for set in sets.as_ref().unwrap_or(&plain) {
                let mut positions = Vec::new();
                for g in set {
                    // GROUP BY 2 / GROUP BY alias name a select item.
                    let target = self.group_target(g, &s.projection)?;
                    if has_window(target) {
                        return Err(SqlError::windowing(
                            "window functions are not allowed in GROUP BY",
                        ));
                    }
                    if has_aggregate(target) {
                        return Err(SqlError::grouping(
                            "aggregate functions are not allowed in GROUP BY",
                        ));
                    }
                    let b = self.expr(target)?;
                    let k = match state.keys.iter().position(|k| *k == b) {
                        Some(k) => k,
                        None => {
                            state.types.push(self.type_of(&b));
                            state.keys.push(b);
                            state.keys.len() - 1
                        }
                    };
                    if !positions.contains(&k) {
                        positions.push(k);
                    }
                }
                if sets.is_some() {
                    state.sets.push(positions);
                }
            }
            let scope = self.scope();
            scope.group = Some(state);
            scope.grouped = true;
        }

        // Select list (and ORDER BY): where window functions may be.
        self.scope().windows_allowed = true;
        let mut projection = Vec::new();
        let mut columns = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    let n = self.scope().entries.len();
                    if n == 0 {
                        return Err(SqlError::syntax("SELECT * with no tables specified"));
                    }
                    for e in 0..n {
                        self.expand(e, false, &mut projection, &mut columns)?;
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let name = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => object_name(n)?,
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(SqlError::not_supported(format!("{e}.*")));
                        }
                    };
                    let e = self
                        .scope()
                        .entries
                        .iter()
                        .position(|e| e.name == name)
                        .ok_or_else(|| {
                            SqlError::undefined_table(format!(
                                "missing FROM-clause entry for table \"{name}\""
                            ))
                        })?;
                    self.expand(e, true, &mut projection, &mut columns)?;
                }
                SelectItem::UnnamedExpr(e) => {
                    let b = self.expr(e)?;
                    columns.push((column_name(e), self.type_of(&b)));
                    projection.push(b);
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let b = self.expr(expr)?;
                    columns.push((ident(alias), self.type_of(&b)));
                    projection.push(b);
                }
            }
        }
        self.scope().windows_allowed = false;
        let having = match &s.having {
            Some(h) if has_window(h) => {
                return Err(SqlError::windowing(
                    "window functions are not allowed in HAVING",
                ));
            }
            Some(h) => Some(self.expr(h)?),
            None => None,
        };
        self.scope().windows_allowed = true;
        let mut order = Vec::new();
        for k in order_by {
            if k.with_fill.is_some() {
                return Err(SqlError::not_supported("ORDER BY … WITH FILL"));
            }
            let key = match output_key(&k.expr, &columns) {
                Ok(k) => k,
                Err(e) if e.code == spanlite_sqlstate::INVALID_COLUMN_REFERENCE => return Err(e),
                Err(_) => self.expr(&k.expr)?,
            };
            order.push(key);
        }
        let distinct = match &s.distinct {
            None => false,
            Some(ast::Distinct::Distinct) => true,
            Some(ast::Distinct::On(exprs)) => {
                // Sort keys after ORDER BY's: the first row of each is kept.
                for e in exprs {
                    let key = match output_key(e, &columns) {
                        Ok(k) => k,
                        Err(err) if err.code == spanlite_sqlstate::INVALID_COLUMN_REFERENCE => {
                            return Err(err);
                        }
                        Err(_) => self.expr(e)?,
                    };
                    order.push(key);
                }
                false
            }
        };
        let scope = self.scope();
        scope.windows_allowed = false;
        scope.grouped = false;
        let grouping = scope.group.take().map(|g| Grouping {
            keys: g.keys,
            aggs: g.aggs,
            sets: g.sets,
        });
        // Window values follow the rows they are computed over.
        let windows = std::mem::take(&mut scope.windows);
        scope.window_types.clear();
        if !windows.is_empty() {
            let base = match &grouping {
                Some(g) => g.keys.len() + g.aggs.len(),
                None => width,
            };
            for e in projection.iter_mut().chain(order.iter_mut()) {
                place_windows(e, base);
            }
        }
        // Outputs that are a column as it is keep its declared type.
        let declared = projection
            .iter()
            .map(|b| {
                let mut b = b;
                if let (Some(g), BExpr::Column(k)) = (&grouping, b) {
                    match g.keys.get(*k) {
                        Some(key) => b = key,
                        None => return None,
                    }
                }
                match b {
                    BExpr::Column(i) => self.scopes.last()?.declared.get(*i).copied().flatten(),
                    BExpr::Subquery(s) => s.query.declared().first().copied().flatten(),
                    _ => None,
                }
            })
            .collect();
        Ok((
            Select {
                steps,
                width,
                filter,
                grouping,
                having,
                windows,
                projection,
                distinct,
                order,
                declared,
            },
            columns,
        ))
    }

    /// The expression a GROUP BY item means: a select item by position or
    /// alias, or itself.
    fn group_target<'e>(&self, g: &'e Expr, projection: &'e [SelectItem]) -> Result<&'e Expr> {
        if let Expr::Value(v) = g
            && let ast::Value::Number(n, _) = &v.value
        {
            let pos: usize = n.parse().unwrap_or(0);
            return match pos.checked_sub(1).and_then(|i| projection.get(i)) {
                Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => {
                    Ok(e)
                }
                _ => Err(SqlError::invalid_column_reference(format!(
                    "GROUP BY position {n} is not in select list"
                ))),
            };
        }
        if let Expr::Identifier(id) = g {
            let name = ident(id);
            let is_column = self
                .scopes
                .last()
                .is_some_and(|s| s.entries.iter().any(|e| e.columns.contains(&name)));
            if !is_column {
                for item in projection {
                    if let SelectItem::ExprWithAlias { expr, alias } = item
                        && ident(alias) == name
                    {
                        return Ok(expr);
                    }
                }
            }
        }
        Ok(g)
    }

    /// The equalities of `JOIN … USING (names)` between the last FROM
    /// entry and the one earlier entry with each name; the last entry's
    /// columns (the earlier one's for a RIGHT JOIN) are merged away.
    fn using(&mut self, names: &[String], right: bool) -> Result<Vec<BExpr>> {
        let scope = self.scope();
        let Some((last, earlier)) = scope.entries.split_last_mut() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in names {
            let r = last.columns.iter().position(|c| c == name).ok_or_else(|| {
                SqlError::undefined_column(format!(
                    "column \"{name}\" specified in USING clause does not exist in right table"
                ))
            })?;
            let mut found = earlier
                .iter_mut()
                .filter_map(|e| e.columns.iter().position(|c| c == name).map(|c| (e, c)));
            let Some((left, l)) = found.next() else {
                return Err(SqlError::undefined_column(format!(
                    "column \"{name}\" specified in USING clause does not exist in left table"
                )));
            };
            if found.next().is_some() {
                return Err(SqlError::ambiguous_column(format!(
                    "common column name \"{name}\" appears more than once in left table"
                )));
            }
            out.push(BExpr::Binary(
                Box::new(BExpr::Column(left.offset + l)),
                BinOp::Eq,
                Box::new(BExpr::Column(last.offset + r)),
            ));
            if right {
                left.hidden.push(l);
            } else {
                last.hidden.push(r);
            }
        }
        Ok(out)
    }

    /// The columns of FROM entry `e` as select items.
    fn expand(
        &mut self,
        e: usize,
        all: bool,
        projection: &mut Vec<BExpr>,
        columns: &mut Vec<(String, Option<DataType>)>,
    ) -> Result<()> {
        let (offset, names, hidden) = {
            let entry = &self.scope().entries[e];
            (entry.offset, entry.columns.clone(), entry.hidden.clone())
        };
        for (i, name) in names.into_iter().enumerate() {
            if !all && hidden.contains(&i) {
                continue;
            }
            let b = self.column_ref(0, offset + i, &name)?;
            columns.push((name, self.type_of(&b)));
            projection.push(b);
        }
        Ok(())
    }

    /// A reference to position `index` of the block `depth` levels out
    /// (0 = this block), as seen from the current block.
    fn column_ref(&mut self, depth: usize, index: usize, name: &str) -> Result<BExpr> {
        let n = self.scopes.len();
        let scope = &self.scopes[n - 1 - depth];
        let position = if scope.grouped {
            let group = scope.group.as_ref();
            match group.and_then(|g| g.keys.iter().position(|k| *k == BExpr::Column(index))) {
                Some(k) => k,
                None => {
                    return Err(SqlError::grouping(format!(
                        "column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"
                    )));
                }
            }
        } else {
            index
        };
        if depth == 0 {
            return Ok(BExpr::Column(position));
        }
        Ok(BExpr::Outer {
            depth,
            index: position,
        })
    }

    /// Resolves a (possibly qualified) column name, innermost block first.
    fn resolve(&mut self, qualifier: Option<&str>, name: &str) -> Result<BExpr> {
        let n = self.scopes.len();
        for depth in 0..n {
            let scope = &self.scopes[n - 1 - depth];
            let mut found = None;
            let mut qualifier_seen = false;
            for e in &scope.entries {
                if qualifier.is_some_and(|q| q != e.name) {
                    continue;
                }
                qualifier_seen = true;
                if let Some(c) = e.columns.iter().position(|x| x == name)
                    && (qualifier.is_some() || !e.hidden.contains(&c))
                {
                    if found.is_some() {
                        return Err(SqlError::ambiguous_column(format!(
                            "column reference \"{name}\" is ambiguous"
                        )));
                    }
                    found = Some(e.offset + c);
                }
            }
            if qualifier.is_none()
                && found.is_none()
                && let Some(e) = scope.entries.iter().find(|e| e.scalar && e.name == name)
            {
                found = Some(e.offset);
            }
            if let Some(i) = found {
                return self.column_ref(depth, i, name);
            }
            if qualifier.is_some() && qualifier_seen {
                return Err(SqlError::undefined_column(format!(
                    "column {}.{name} does not exist",
                    qualifier.unwrap_or_default()
                )));
            }
        }
        match qualifier {
            Some(q)
                if !self
                    .scopes
                    .iter()
                    .any(|s| s.entries.iter().any(|e| e.name == q)) =>
            {
                Err(SqlError::undefined_table(format!(
                    "missing FROM-clause entry for table \"{q}\""
                )))
            }
            None if self
                .scopes
                .iter()
                .any(|s| s.entries.iter().any(|e| e.name == name)) =>
            {
                Err(SqlError::not_supported(format!(
                    "the whole-row reference \"{name}\" outside row_to_json, to_json(b) and json(b)_agg"
                )))
            }
            _ => Err(SqlError::undefined_column(format!(
                "column \"{name}\" does not exist"
            ))),
        }
    }
}

/// An ORDER BY key naming an output column (by position or name).
fn output_key(e: &Expr, columns: &[(String, Option<DataType>)]) -> Result<BExpr> {
    if let Expr::Value(v) = e
        && let ast::Value::Number(n, _) = &v.value
    {
        return n
            .parse::<usize>()
            .ok()
            .and_then(|p| p.checked_sub(1))
            .filter(|&i| i < columns.len())
            .map(BExpr::Output)
            .ok_or_else(|| {
                SqlError::invalid_column_reference(format!(
                    "ORDER BY position {n} is not in select list"
                ))
            });
    }
    if let Expr::Identifier(id) = e {
        let name = ident(id);
        let mut matches = columns.iter().enumerate().filter(|(_, c)| c.0 == name);
        if let (Some((i, _)), None) = (matches.next(), matches.next()) {
            return Ok(BExpr::Output(i));
        }
    }
    Err(SqlError::undefined_column(format!(
        "ORDER BY {e}: name an output column or its position"
    )))
}

/// Where a window call's value is while it is bound: past any row
/// position, until the block's width is known.
pub(crate) const WINDOW_SLOT: usize = usize::MAX / 2;

/// Points the window placeholders in `e` at `base` (where the window
/// values start in the row they are appended to).
fn place_windows(e: &mut BExpr, base: usize) {
    if let BExpr::Column(c) = e
        && *c >= WINDOW_SLOT
    {
        *c = *c - WINDOW_SLOT + base;
        return;
    }
    for child in crate::eval::fetch::children_mut(e) {
        place_windows(child, base);
    }
}
