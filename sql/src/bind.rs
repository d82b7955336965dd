//! The binder and planner: AST → [`plan`](crate::plan). Names become row
//! positions (42P01, 42703, 42702 and 42803 are raised here, before
//! anything runs), parameters become constants, WHERE and ON conditions are
//! split into conjuncts and pushed to the table they name, joins are
//! ordered so each joined table shares an equality with the ones before it
//! (a hash join), and each table read gets an access path: primary-key
//! points, a primary-key range, a secondary-index range, or a full scan.

use std::collections::HashMap;

use sqlparser::ast::{
    self, BinaryOperator as B, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    JoinConstraint, JoinOperator, SelectItem, SetExpr, TableFactor, UnaryOperator as U,
};

use crate::catalog::TableDef;
use crate::error::{Result, SqlError};
use crate::exec::{ident, object_name};
use crate::plan::{
    Access, AggCall, AggFunc, BExpr, BinOp, Body, Cache, Func, Grouping, JoinKind, Query, Scan,
    Select, SetOp, SortKey, Source, Step, Subquery,
};
use crate::value::{DataType, Value};

/// Output columns: names and (when known) types.
pub type Columns = Vec<(String, Option<DataType>)>;

/// Tables by name (everything a statement names, loaded beforehand).
pub type Tables = HashMap<String, TableDef>;

/// A FROM item as names see it.
#[derive(Debug)]
struct Entry {
    name: String,
    columns: Vec<String>,
    offset: usize,
    /// Columns merged into an earlier table's by JOIN … USING / NATURAL:
    /// not found by unqualified names, not in `*`.
    hidden: Vec<usize>,
}

/// The grouping of a grouped block, while its select list is bound.
#[derive(Debug, Default)]
struct GroupState {
    keys: Vec<BExpr>,
    aggs: Vec<AggCall>,
    types: Vec<Option<DataType>>,
}

/// One query block's names.
#[derive(Debug, Default)]
struct Scope {
    entries: Vec<Entry>,
    /// Types of the block's row positions.
    types: Vec<Option<DataType>>,
    /// Set once GROUP BY is bound; `grouped` says whether names now refer
    /// to the grouped row (select list, HAVING, ORDER BY).
    group: Option<GroupState>,
    grouped: bool,
}

impl Scope {
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
    /// Nesting of the expression being bound (see [`MAX_DEPTH`]).
    depth: usize,
    /// Types parameters must have, as far as their use shows (`col = $1`):
    /// what a client is told when it asks (PostgreSQL's Describe).
    param_hints: Vec<Option<DataType>>,
}

/// The parameter number of `$n` (0-based), if `e` is one.
fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            ast::Value::Placeholder(p) => p
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1)),
            _ => None,
        },
        Expr::Nested(inner) => placeholder(inner),
        _ => None,
    }
}

/// The deepest expression the binder takes: binding and evaluation recurse
/// on the expression tree, and a session's stack is not unlimited.
const MAX_DEPTH: usize = 128;

/// The conjuncts of a condition (`a AND b AND c` → `[a, b, c]`).
pub fn conjuncts(e: BExpr, out: &mut Vec<BExpr>) {
    match e {
        BExpr::Binary(l, BinOp::And, r) => {
            conjuncts(*l, out);
            conjuncts(*r, out);
        }
        other => out.push(other),
    }
}

/// `a AND b AND …`, or `None` for no conditions.
pub fn and_all(conds: Vec<BExpr>) -> Option<BExpr> {
    conds
        .into_iter()
        .reduce(|a, b| BExpr::Binary(Box::new(a), BinOp::And, Box::new(b)))
}

/// True when `e` names no row (it can be computed before reading).
pub fn is_const(e: &BExpr) -> bool {
    match e {
        BExpr::Const(_) => true,
        BExpr::Column(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..)
        | BExpr::InSubquery(..) => false,
        other => children(other).into_iter().all(is_const),
    }
}

/// True when `e` contains a subquery.
pub fn has_subquery(e: &BExpr) -> bool {
    match e {
        BExpr::Subquery(_) | BExpr::Exists(..) | BExpr::InSubquery(..) => true,
        other => children(other).into_iter().any(has_subquery),
    }
}

/// The direct sub-expressions of `e` (not those inside subqueries).
pub fn children(e: &BExpr) -> Vec<&BExpr> {
    match e {
        BExpr::Const(_)
        | BExpr::Column(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..) => vec![],
        BExpr::Not(a) | BExpr::Neg(a) | BExpr::IsNull(a, _) | BExpr::IsBool(a, ..) => vec![a],
        BExpr::Cast(a, _) | BExpr::InSubquery(a, ..) => vec![a],
        BExpr::Binary(a, _, b) | BExpr::IsDistinct(a, b, _) => vec![a, b],
        BExpr::InList(a, list, _) => std::iter::once(&**a).chain(list).collect(),
        BExpr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let mut v: Vec<&BExpr> = operand.iter().map(|b| &**b).collect();
            for (w, t) in whens {
                v.push(w);
                v.push(t);
            }
            v.extend(otherwise.iter().map(|b| &**b));
            v
        }
        BExpr::Func(_, args) => args.iter().collect(),
        BExpr::Like { expr, pattern, .. } => vec![expr, pattern],
    }
}

/// Positions of the current row that `e` names (not inside subqueries).
fn columns_of(e: &BExpr, out: &mut Vec<usize>) {
    if let BExpr::Column(i) = e {
        out.push(*i);
    }
    for c in children(e) {
        columns_of(c, out);
    }
}

/// The AST sub-expressions of `e` that bind in the same block (not those in
/// subqueries); used to find aggregate calls.
pub(crate) fn ast_children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp { left, right, .. } => vec![left, right],
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNotFalse(expr)
        | Expr::InSubquery { expr, .. }
        | Expr::Ceil { expr, .. }
        | Expr::Floor { expr, .. } => vec![expr],
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => vec![a, b],
        Expr::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
        Expr::Between {
            expr, low, high, ..
        } => vec![expr, low, high],
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            vec![expr, pattern]
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let mut v: Vec<&Expr> = operand.iter().map(|b| &**b).collect();
            for c in conditions {
                v.push(&c.condition);
                v.push(&c.result);
            }
            v.extend(else_result.iter().map(|b| &**b));
            v
        }
        Expr::Function(f) => match &f.args {
            FunctionArguments::List(list) => list
                .args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        },
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => std::iter::once(&**expr)
            .chain(substring_from.iter().map(|b| &**b))
            .chain(substring_for.iter().map(|b| &**b))
            .collect(),
        Expr::Trim {
            expr, trim_what, ..
        } => std::iter::once(&**expr)
            .chain(trim_what.iter().map(|b| &**b))
            .collect(),
        Expr::Position { expr, r#in } => vec![expr, r#in],
        _ => vec![],
    }
}

fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_lowercase()
}

/// True when `e` calls an aggregate (outside subqueries).
pub fn has_aggregate(e: &Expr) -> bool {
    if let Expr::Function(f) = e
        && AggFunc::named(&function_name(f)).is_some()
    {
        return true;
    }
    ast_children(e).into_iter().any(has_aggregate)
}

/// The output name of a select item without an alias.
fn column_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident(i),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident).unwrap_or_default(),
        Expr::Function(f) => function_name(f),
        Expr::Nested(inner) => column_name(inner),
        Expr::Cast { expr, .. } => column_name(expr),
        Expr::Case { .. } => "case".to_string(),
        Expr::Exists { .. } => "exists".to_string(),
        Expr::Substring { .. } => "substring".to_string(),
        Expr::Trim { .. } => "btrim".to_string(),
        Expr::Ceil { .. } => "ceil".to_string(),
        Expr::Floor { .. } => "floor".to_string(),
        _ => "?column?".to_string(),
    }
}

/// The literal value of `v`.
fn literal(v: &ast::Value, params: &[Value]) -> Result<Value> {
    Ok(match v {
        ast::Value::Null => Value::Null,
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(n.parse::<f64>().map_err(|_| {
                SqlError::numeric_out_of_range(format!("number {n} is out of range"))
            })?),
        },
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::NationalStringLiteral(s) => Value::Text(s.clone()),
        ast::Value::DollarQuotedString(s) => Value::Text(s.value.clone()),
        ast::Value::HexStringLiteral(h) => Value::Bytes(decode_hex(h)?),
        ast::Value::Placeholder(p) => {
            let n = p
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    SqlError::syntax(format!("parameter {p}: use $1, $2, … for parameters"))
                })?;
            params.get(n - 1).cloned().ok_or_else(|| SqlError {
                code: "42P02",
                message: format!("there is no parameter ${n} ({} given)", params.len()),
            })?
        }
        other => return Err(SqlError::not_supported(format!("literal {other}"))),
    })
}

fn decode_hex(h: &str) -> Result<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return Err(SqlError::invalid_text(format!(
            "odd number of hex digits: {h}"
        )));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| SqlError::invalid_text(format!("invalid hex digits: {h}")))
        })
        .collect()
}

fn binop(op: &B) -> Result<BinOp> {
    Ok(match op {
        B::And => BinOp::And,
        B::Or => BinOp::Or,
        B::Eq => BinOp::Eq,
        B::NotEq => BinOp::NotEq,
        B::Lt => BinOp::Lt,
        B::LtEq => BinOp::LtEq,
        B::Gt => BinOp::Gt,
        B::GtEq => BinOp::GtEq,
        B::Plus => BinOp::Plus,
        B::Minus => BinOp::Minus,
        B::Multiply => BinOp::Multiply,
        B::Divide => BinOp::Divide,
        B::Modulo => BinOp::Modulo,
        B::StringConcat => BinOp::Concat,
        other => return Err(SqlError::not_supported(format!("operator {other}"))),
    })
}

/// 54001: the statement is too complex to run.
pub fn too_complex(why: String) -> SqlError {
    SqlError {
        code: "54001",
        message: format!("statement too complex: {why}"),
    }
}

fn numeric(t: Option<DataType>) -> bool {
    matches!(t, Some(DataType::Int | DataType::Float))
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

    fn table(&self, name: &ast::ObjectName) -> Result<&'a TableDef> {
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
        def: &TableDef,
        selection: Option<&Expr>,
    ) -> Result<(Scan, Option<BExpr>)> {
        self.scopes.push(Scope::default());
        let r = self.dml_scan_inner(def, selection);
        self.scopes.pop();
        r
    }

    fn dml_scan_inner(
        &mut self,
        def: &TableDef,
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
            rows: Vec::new(),
            keys: Vec::new(),
        };
        scan.access = choose_access(&scan, &local);
        scan.filter = and_all(local);
        Ok((scan, and_all(later)))
    }

    /// Binds expressions over one row of `def` (UPDATE's SET).
    pub fn in_table(&mut self, def: &TableDef, exprs: &[&Expr]) -> Result<Vec<BExpr>> {
        self.scopes.push(Scope::default());
        self.add_table_scope(&def.name, def);
        let r = exprs.iter().map(|e| self.expr(e)).collect();
        self.scopes.pop();
        r
    }

    fn add_table_scope(&mut self, name: &str, def: &TableDef) {
        let scope = self.scope();
        let offset = scope.width();
        scope.entries.push(Entry {
            name: name.to_string(),
            columns: def.columns.iter().map(|c| c.name.clone()).collect(),
            offset,
            hidden: Vec::new(),
        });
        scope.types.extend(def.columns.iter().map(|c| Some(c.ty)));
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
        for lock in &q.locks {
            if lock.of.is_some() || lock.nonblock.is_some() {
                return Err(SqlError::not_supported(format!("{lock}")));
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
                let (select, columns) = self.select(s, order_by, for_update)?;
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
                    Body::Select(_) => {}
                }
                (body, columns)
            }
        };
        let order = order_by
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
        Ok(Query {
            body,
            order,
            limit,
            offset,
            columns,
        })
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
                crate::exec::first_words(&other.to_string())
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
            || !s.named_window.is_empty()
            || s.qualify.is_some()
            || s.connect_by.is_some()
            || s.value_table_mode.is_some()
            || s.exclude.is_some()
        {
            return Err(SqlError::not_supported(format!(
                "SELECT clause in {}",
                crate::exec::first_words(&s.to_string())
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
                            crate::exec::first_words(&format!("{other:?}"))
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
            for g in group_exprs {
                // GROUP BY 2 / GROUP BY alias name a select item.
                let target = self.group_target(g, &s.projection)?;
                if has_aggregate(target) {
                    return Err(SqlError::grouping(
                        "aggregate functions are not allowed in GROUP BY",
                    ));
                }
                let b = self.expr(target)?;
                if !state.keys.contains(&b) {
                    state.types.push(self.type_of(&b));
                    state.keys.push(b);
                }
            }
            let scope = self.scope();
            scope.group = Some(state);
            scope.grouped = true;
        }

        // Select list.
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
        let having = match &s.having {
            Some(h) => Some(self.expr(h)?),
            None => None,
        };
        let mut order = Vec::new();
        for k in order_by {
            if k.with_fill.is_some() {
                return Err(SqlError::not_supported("ORDER BY … WITH FILL"));
            }
            let key = match output_key(&k.expr, &columns) {
                Ok(k) => k,
                Err(e) if e.code == "42P10" => return Err(e),
                Err(_) => self.expr(&k.expr)?,
            };
            order.push(key);
        }
        let distinct = match &s.distinct {
            None => false,
            Some(ast::Distinct::Distinct) => true,
            Some(ast::Distinct::On(_)) => return Err(SqlError::not_supported("DISTINCT ON")),
        };
        let scope = self.scope();
        scope.grouped = false;
        let grouping = scope.group.take().map(|g| Grouping {
            keys: g.keys,
            aggs: g.aggs,
        });
        Ok((
            Select {
                steps,
                width,
                filter,
                grouping,
                having,
                projection,
                distinct,
                order,
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
                _ => Err(SqlError {
                    code: "42P10",
                    message: format!("GROUP BY position {n} is not in select list"),
                }),
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
                return Err(SqlError {
                    code: "42702",
                    message: format!(
                        "common column name \"{name}\" appears more than once in left table"
                    ),
                });
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

    /// Adds a FROM item (a table or a subquery) to the current block.
    fn add_item(
        &mut self,
        factor: &TableFactor,
        kind: JoinKind,
        on: Option<Expr>,
        for_update: bool,
        items: &mut Vec<Item>,
    ) -> Result<()> {
        let offset = self.scope().width();
        let alias_of = |alias: &Option<ast::TableAlias>| alias.as_ref().map(|a| ident(&a.name));
        let check_unique = |scope: &Scope, name: &str| -> Result<()> {
            if scope.entries.iter().any(|e| e.name == name) {
                return Err(SqlError {
                    code: "42712",
                    message: format!("table name \"{name}\" specified more than once"),
                });
            }
            Ok(())
        };
        let rename = |columns: &mut Vec<String>, alias: &Option<ast::TableAlias>| -> Result<()> {
            if let Some(a) = alias {
                if a.columns.len() > columns.len() {
                    return Err(SqlError::syntax(format!(
                        "table \"{}\" has {} columns available but {} columns specified",
                        ident(&a.name),
                        columns.len(),
                        a.columns.len()
                    )));
                }
                for (c, new) in columns.iter_mut().zip(&a.columns) {
                    *c = ident(&new.name);
                }
            }
            Ok(())
        };
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                partitions,
                ..
            } if with_hints.is_empty() && partitions.is_empty() => {
                let def = self.table(name)?;
                let entry_name = alias_of(alias).unwrap_or_else(|| def.name.clone());
                check_unique(self.scope(), &entry_name)?;
                let mut names: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
                rename(&mut names, alias)?;
                let width = names.len();
                let scope = self.scope();
                scope.entries.push(Entry {
                    name: entry_name.clone(),
                    columns: names,
                    offset,
                    hidden: Vec::new(),
                });
                scope.types.extend(def.columns.iter().map(|c| Some(c.ty)));
                items.push(Item {
                    source: Source::Scan(Box::new(Scan {
                        table: def.clone(),
                        alias: entry_name,
                        offset,
                        width: 0,
                        access: Access::Full,
                        filter: None,
                        for_update,
                        rows: Vec::new(),
                        keys: Vec::new(),
                    })),
                    kind,
                    on,
                    using: Vec::new(),
                    offset,
                    width,
                });
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
            } => {
                // The subquery cannot see this block's other FROM items:
                // bind it with this block's scope set aside.
                let current = self.scopes.pop().unwrap_or_default();
                let bound = self.query(subquery);
                self.scopes.push(current);
                let bound = bound?;
                let entry_name = alias_of(alias).unwrap_or_else(|| "subquery".to_string());
                check_unique(self.scope(), &entry_name)?;
                let mut names: Vec<String> = bound.columns.iter().map(|c| c.0.clone()).collect();
                rename(&mut names, alias)?;
                let width = names.len();
                let types: Vec<Option<DataType>> = bound.columns.iter().map(|c| c.1).collect();
                let scope = self.scope();
                scope.entries.push(Entry {
                    name: entry_name.clone(),
                    columns: names,
                    offset,
                    hidden: Vec::new(),
                });
                scope.types.extend(types);
                items.push(Item {
                    source: Source::Derived {
                        query: Box::new(bound),
                        alias: entry_name,
                        offset,
                        width,
                        filter: None,
                    },
                    kind,
                    on,
                    using: Vec::new(),
                    offset,
                    width,
                });
            }
            other => {
                return Err(SqlError::not_supported(format!("FROM {other}")));
            }
        }
        Ok(())
    }

    /// Orders the joins, pushes conditions down and picks access paths.
    fn plan_joins(
        &mut self,
        items: Vec<Item>,
        where_conds: Vec<BExpr>,
    ) -> Result<(Vec<Step>, Option<BExpr>)> {
        if items.len() > 64 {
            return Err(SqlError::not_supported(
                "more than 64 tables in one FROM clause",
            ));
        }
        let width = self.scope().width();
        // Which item owns each row position.
        let mut owner = vec![0usize; width];
        for (i, item) in items.iter().enumerate() {
            for slot in owner.iter_mut().skip(item.offset).take(item.width) {
                *slot = i;
            }
        }
        let mask_of = |e: &BExpr| -> u64 {
            let mut cols = Vec::new();
            columns_of(e, &mut cols);
            cols.iter().fold(0u64, |m, &c| m | (1 << owner[c]))
        };
        let outer_join = items
            .iter()
            .any(|i| matches!(i.kind, JoinKind::Left | JoinKind::Right | JoinKind::Full));
        let mut items = items;
        // `a RIGHT JOIN b` is `b LEFT JOIN a` (rows keep their layout, so
        // only the order of the steps changes).
        let mut syntax_order: Vec<usize> = (0..items.len()).collect();
        for i in 1..items.len() {
            if items[i].kind == JoinKind::Right {
                if i != 1 {
                    return Err(SqlError::not_supported(
                        "RIGHT JOIN after other joins (write it as a LEFT JOIN)",
                    ));
                }
                items[0].kind = JoinKind::Left;
                items[1].kind = JoinKind::First;
                items[0].on = items[1].on.take();
                items[0].using = std::mem::take(&mut items[1].using);
                syntax_order.swap(0, 1);
            }
        }
        let mut filters: Vec<Vec<BExpr>> = vec![Vec::new(); items.len()];
        let mut final_filter = Vec::new();
        let mut item_on: Vec<Vec<BExpr>> = vec![Vec::new(); items.len()];
        let mut pool: Vec<(BExpr, u64)> = Vec::new();
        let mut nullable = vec![false; items.len()];
        for (i, item) in items.iter().enumerate() {
            match item.kind {
                JoinKind::Left => nullable[i] = true,
                // Both sides of a FULL JOIN (everything joined before it).
                JoinKind::Full => nullable[..=i].iter_mut().for_each(|n| *n = true),
                _ => {}
            }
        }
        // ON conditions.
        for (i, item) in items.iter_mut().enumerate() {
            let mut cs = std::mem::take(&mut item.using);
            if let Some(on) = &item.on {
                if has_aggregate(on) {
                    return Err(SqlError::grouping(
                        "aggregate functions are not allowed in JOIN conditions",
                    ));
                }
                let b = self.expr(on)?;
                conjuncts(b, &mut cs);
            }
            {
                if outer_join {
                    item_on[i] = cs;
                } else {
                    pool.extend(cs.into_iter().map(|c| {
                        let m = mask_of(&c);
                        (c, m)
                    }));
                }
            }
        }
        for c in where_conds {
            let m = mask_of(&c);
            if has_subquery(&c) {
                final_filter.push(c);
            } else if m.count_ones() == 1 && !nullable[m.trailing_zeros() as usize] {
                filters[m.trailing_zeros() as usize].push(c);
            } else if outer_join {
                final_filter.push(c);
            } else {
                pool.push((c, m));
            }
        }
        // Single-item conditions of the pool go to their item.
        let mut rest = Vec::new();
        for (c, m) in pool {
            if m.count_ones() == 1 && !has_subquery(&c) {
                filters[m.trailing_zeros() as usize].push(c);
            } else if has_subquery(&c) {
                final_filter.push(c);
            } else {
                rest.push((c, m));
            }
        }
        // Join order: FROM order with outer joins; otherwise greedy, each
        // next item sharing an equality with the ones joined.
        let n = items.len();
        let mut order = vec![syntax_order[0]];
        let mut joined: u64 = 1 << syntax_order[0];
        while order.len() < n {
            let remaining: Vec<usize> = (0..n).filter(|i| joined & (1 << i) == 0).collect();
            let next = if outer_join {
                syntax_order[order.len()]
            } else {
                let links = |j: usize, equi_only: bool| {
                    rest.iter().any(|(c, m)| {
                        m & (1 << j) != 0
                            && m & joined != 0
                            && m & !(joined | (1 << j)) == 0
                            && (!equi_only || self.equi_key(c, joined, j, &mask_of).is_some())
                    })
                };
                remaining
                    .iter()
                    .copied()
                    .find(|&j| links(j, true))
                    .or_else(|| remaining.iter().copied().find(|&j| links(j, false)))
                    .unwrap_or(remaining[0])
            };
            order.push(next);
            joined |= 1 << next;
        }
        let mut items: Vec<Option<Item>> = items.into_iter().map(Some).collect();
        let mut steps = Vec::new();
        let mut joined: u64 = 0;
        for (pos, &i) in order.iter().enumerate() {
            let Some(mut item) = items[i].take() else {
                return Err(SqlError::internal("join order visits an item twice"));
            };
            let bit = 1u64 << i;
            let mut keys = Vec::new();
            let mut after = Vec::new();
            let mut on = Vec::new();
            if outer_join {
                for c in std::mem::take(&mut item_on[i]) {
                    let m = mask_of(&c);
                    if m == bit && !has_subquery(&c) && item.kind != JoinKind::Full {
                        // A condition on the joined table alone filters it
                        // before matching (also right for LEFT JOIN).
                        filters[i].push(c);
                    } else if pos > 0
                        && let Some(k) = self.equi_key(&c, joined, i, &mask_of)
                    {
                        keys.push(k);
                    } else if matches!(item.kind, JoinKind::Left | JoinKind::Full) {
                        on.push(c);
                    } else {
                        after.push(c);
                    }
                }
            } else {
                let mut keep = Vec::new();
                for (c, m) in rest.drain(..) {
                    if m & !(joined | bit) != 0 {
                        keep.push((c, m));
                    } else if pos > 0
                        && m & bit != 0
                        && let Some(k) = self.equi_key(&c, joined, i, &mask_of)
                    {
                        keys.push(k);
                    } else {
                        after.push(c);
                    }
                }
                rest = keep;
            }
            let kind = if pos == 0 {
                JoinKind::First
            } else if matches!(item.kind, JoinKind::Left | JoinKind::Full) {
                item.kind
            } else {
                JoinKind::Inner
            };
            let local = std::mem::take(&mut filters[i]);
            match &mut item.source {
                Source::Scan(scan) => {
                    scan.width = width;
                    scan.access = choose_access(scan, &local);
                    scan.filter = and_all(local);
                }
                Source::Derived { filter, .. } => *filter = and_all(local),
                Source::Unit => after.extend(local),
            }
            steps.push(Step {
                source: item.source,
                kind,
                keys,
                on: and_all(on),
                after: and_all(after),
            });
            joined |= bit;
        }
        final_filter.extend(rest.into_iter().map(|(c, _)| c));
        Ok((steps, and_all(final_filter)))
    }

    /// `l = r` with `l` over the items `joined` and `r` over item `j`
    /// alone, of types a hash join compares like `=` does.
    fn equi_key(
        &self,
        c: &BExpr,
        joined: u64,
        j: usize,
        mask_of: &dyn Fn(&BExpr) -> u64,
    ) -> Option<(BExpr, BExpr)> {
        let BExpr::Binary(l, BinOp::Eq, r) = c else {
            return None;
        };
        let bit = 1u64 << j;
        let (ml, mr) = (mask_of(l), mask_of(r));
        let (left, right) = if ml != 0 && ml & !joined == 0 && mr == bit {
            (l, r)
        } else if mr != 0 && mr & !joined == 0 && ml == bit {
            (r, l)
        } else {
            return None;
        };
        let (lt, rt) = (self.type_of(left), self.type_of(right));
        let comparable = match (lt, rt) {
            (Some(a), Some(b)) => a == b || (numeric(lt) && numeric(rt)),
            _ => false,
        };
        comparable.then(|| ((**left).clone(), (**right).clone()))
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
                        return Err(SqlError {
                            code: "42702",
                            message: format!("column reference \"{name}\" is ambiguous"),
                        });
                    }
                    found = Some(e.offset + c);
                }
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
            _ => Err(SqlError::undefined_column(format!(
                "column \"{name}\" does not exist"
            ))),
        }
    }

    fn subquery(&mut self, q: &ast::Query) -> Result<Subquery> {
        let query = self.query(q)?;
        // Correlated: it names a column of this block or one further out.
        let correlated = references_outer(&query, 1);
        Ok(Subquery {
            query,
            correlated,
            cache: Cache::default(),
        })
    }

    /// Binds an expression in the current block.
    pub fn expr(&mut self, e: &Expr) -> Result<BExpr> {
        if self.depth >= MAX_DEPTH {
            return Err(too_complex(format!(
                "expressions nest deeper than {MAX_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let r = self.expr_inner(e);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, e: &Expr) -> Result<BExpr> {
        // In a grouped block, aggregates and GROUP BY expressions become
        // positions of the grouped row.
        if self.scopes.last().is_some_and(|s| s.grouped) {
            if let Expr::Function(f) = e
                && let Some(func) = AggFunc::named(&function_name(f))
            {
                return self.aggregate(func, f);
            }
            if !matches!(
                e,
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)
            ) {
                let scope = self.scope();
                scope.grouped = false;
                let plain = self.expr(e);
                let scope = self.scope();
                scope.grouped = true;
                if let Ok(b) = plain
                    && let Some(k) = scope
                        .group
                        .as_ref()
                        .and_then(|g| g.keys.iter().position(|k| *k == b))
                {
                    return Ok(BExpr::Column(k));
                }
            }
        }
        Ok(match e {
            Expr::Identifier(i) => self.resolve(None, &ident(i))?,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.resolve(Some(&ident(t)), &ident(c))?,
                _ => {
                    return Err(SqlError::not_supported(format!(
                        "name {e} (there are no schemas)"
                    )));
                }
            },
            Expr::Value(v) => BExpr::Const(literal(&v.value, self.params)?),
            Expr::TypedString(t) => BExpr::Cast(
                Box::new(BExpr::Const(literal(&t.value.value, self.params)?)),
                DataType::from_sql(&t.data_type)?,
            ),
            Expr::Nested(inner) => self.expr(inner)?,
            // -9223372036854775808 is an INT, though its digits alone are not.
            Expr::UnaryOp { op: U::Minus, expr }
                if matches!(&**expr, Expr::Value(v) if matches!(&v.value, ast::Value::Number(n, _)
                    if format!("-{n}").parse::<i64>().is_ok() && n.parse::<i64>().is_err())) =>
            {
                BExpr::Const(Value::Int(i64::MIN))
            }
            Expr::UnaryOp { op, expr } => {
                let b = self.expr(expr)?;
                match op {
                    U::Not => BExpr::Not(Box::new(b)),
                    U::Minus => match b {
                        BExpr::Const(Value::Int(i)) => {
                            BExpr::Const(Value::Int(i.checked_neg().ok_or_else(|| {
                                SqlError::numeric_out_of_range("integer out of range")
                            })?))
                        }
                        BExpr::Const(Value::Float(x)) => BExpr::Const(Value::Float(-x)),
                        b => BExpr::Neg(Box::new(b)),
                    },
                    U::Plus => b,
                    other => return Err(SqlError::not_supported(format!("operator {other}"))),
                }
            }
            Expr::BinaryOp { left, op, right } => {
                let op = binop(op)?;
                let (l, r) = (self.expr(left)?, self.expr(right)?);
                self.hint(left, &r);
                self.hint(right, &l);
                BExpr::Binary(Box::new(l), op, Box::new(r))
            }
            Expr::IsNull(a) => BExpr::IsNull(Box::new(self.expr(a)?), false),
            Expr::IsNotNull(a) => BExpr::IsNull(Box::new(self.expr(a)?), true),
            Expr::IsTrue(a) => BExpr::IsBool(Box::new(self.expr(a)?), true, false),
            Expr::IsNotTrue(a) => BExpr::IsBool(Box::new(self.expr(a)?), true, true),
            Expr::IsFalse(a) => BExpr::IsBool(Box::new(self.expr(a)?), false, false),
            Expr::IsNotFalse(a) => BExpr::IsBool(Box::new(self.expr(a)?), false, true),
            Expr::IsDistinctFrom(a, b) => {
                BExpr::IsDistinct(Box::new(self.expr(a)?), Box::new(self.expr(b)?), false)
            }
            Expr::IsNotDistinctFrom(a, b) => {
                BExpr::IsDistinct(Box::new(self.expr(a)?), Box::new(self.expr(b)?), true)
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = self.expr(expr)?;
                let items = list
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<Result<Vec<_>>>()?;
                for x in list {
                    self.hint(x, &v);
                }
                BExpr::InList(Box::new(v), items, *negated)
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let v = self.expr(expr)?;
                let both = BExpr::Binary(
                    Box::new(BExpr::Binary(
                        Box::new(v.clone()),
                        BinOp::GtEq,
                        Box::new(self.expr(low)?),
                    )),
                    BinOp::And,
                    Box::new(BExpr::Binary(
                        Box::new(v),
                        BinOp::LtEq,
                        Box::new(self.expr(high)?),
                    )),
                );
                if *negated {
                    BExpr::Not(Box::new(both))
                } else {
                    both
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => BExpr::Case {
                operand: operand
                    .as_ref()
                    .map(|o| self.expr(o).map(Box::new))
                    .transpose()?,
                whens: conditions
                    .iter()
                    .map(|c| Ok((self.expr(&c.condition)?, self.expr(&c.result)?)))
                    .collect::<Result<_>>()?,
                otherwise: else_result
                    .as_ref()
                    .map(|o| self.expr(o).map(Box::new))
                    .transpose()?,
            },
            Expr::Cast {
                expr, data_type, ..
            } => BExpr::Cast(Box::new(self.expr(expr)?), DataType::from_sql(data_type)?),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            }
            | Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => BExpr::Like {
                expr: Box::new(self.expr(expr)?),
                pattern: Box::new(self.expr(pattern)?),
                negated: *negated,
                case_insensitive: matches!(e, Expr::ILike { .. }),
            },
            Expr::Subquery(q) => {
                let sub = self.subquery(q)?;
                if sub.query.columns.len() != 1 {
                    return Err(SqlError::syntax("subquery must return only one column"));
                }
                BExpr::Subquery(Box::new(sub))
            }
            Expr::Exists { subquery, negated } => {
                BExpr::Exists(Box::new(self.subquery(subquery)?), *negated)
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let v = self.expr(expr)?;
                let sub = self.subquery(subquery)?;
                if sub.query.columns.len() != 1 {
                    return Err(SqlError::syntax("subquery has too many columns"));
                }
                BExpr::InSubquery(Box::new(v), Box::new(sub), *negated)
            }
            Expr::Function(f) => self.function(f)?,
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.expr(expr)?];
                args.push(match substring_from {
                    Some(f) => self.expr(f)?,
                    None => BExpr::Const(Value::Int(1)),
                });
                if let Some(f) = substring_for {
                    args.push(self.expr(f)?);
                }
                BExpr::Func(Func::Substr, args)
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters: None,
            } => {
                let func = match trim_where {
                    None | Some(ast::TrimWhereField::Both) => Func::Trim,
                    Some(ast::TrimWhereField::Leading) => Func::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => Func::Rtrim,
                };
                let mut args = vec![self.expr(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.expr(w)?);
                }
                BExpr::Func(func, args)
            }
            Expr::Ceil {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => BExpr::Func(Func::Ceil, vec![self.expr(expr)?]),
            Expr::Floor {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => BExpr::Func(Func::Floor, vec![self.expr(expr)?]),
            Expr::Position { expr, r#in } => {
                BExpr::Func(Func::Position, vec![self.expr(r#in)?, self.expr(expr)?])
            }
            other => {
                return Err(SqlError::not_supported(format!(
                    "expression {}",
                    crate::exec::first_words(&other.to_string())
                )));
            }
        })
    }

    /// The arguments of a call: plain expressions, or `*` (`None`).
    fn call_args(f: &ast::Function) -> Result<(Option<Vec<&Expr>>, bool)> {
        if f.over.is_some()
            || f.filter.is_some()
            || !f.within_group.is_empty()
            || f.null_treatment.is_some()
        {
            return Err(SqlError::not_supported(format!(
                "{} (window functions, FILTER and WITHIN GROUP)",
                crate::exec::first_words(&f.to_string())
            )));
        }
        match &f.args {
            FunctionArguments::None => Ok((Some(Vec::new()), false)),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(SqlError::not_supported(format!("{f}")));
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(e),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {
                            return Ok((None, distinct));
                        }
                        other => return Err(SqlError::not_supported(format!("argument {other}"))),
                    }
                }
                Ok((Some(out), distinct))
            }
            FunctionArguments::Subquery(_) => Err(SqlError::not_supported(format!("{f}"))),
        }
    }

    fn aggregate(&mut self, func: AggFunc, f: &ast::Function) -> Result<BExpr> {
        let (args, distinct) = Self::call_args(f)?;
        let arg = match (args, func) {
            (None, AggFunc::Count) => None,
            (None, _) => {
                return Err(SqlError::syntax(format!(
                    "{}(*) is not defined",
                    function_name(f)
                )));
            }
            (Some(a), _) if a.len() == 1 => {
                if has_aggregate(a[0]) {
                    return Err(SqlError::grouping(
                        "aggregate function calls cannot be nested",
                    ));
                }
                let scope = self.scope();
                scope.grouped = false;
                let b = self.expr(a[0]);
                self.scope().grouped = true;
                Some(b?)
            }
            (Some(_), _) => {
                return Err(SqlError::undefined_function(format!(
                    "{} takes exactly one argument",
                    function_name(f)
                )));
            }
        };
        let ty = match func {
            AggFunc::Count => Some(DataType::Int),
            AggFunc::Avg => Some(DataType::Float),
            _ => arg.as_ref().and_then(|a| self.type_of(a)),
        };
        let call = AggCall {
            func,
            arg,
            distinct,
        };
        let scope = self.scope();
        let Some(group) = scope.group.as_mut() else {
            return Err(SqlError::internal("aggregate outside a grouped block"));
        };
        let i = match group.aggs.iter().position(|a| *a == call) {
            Some(i) => i,
            None => {
                group.aggs.push(call);
                group.types.push(ty);
                group.aggs.len() - 1
            }
        };
        Ok(BExpr::Column(group.keys.len() + i))
    }

    fn function(&mut self, f: &ast::Function) -> Result<BExpr> {
        let name = function_name(f);
        if AggFunc::named(&name).is_some() {
            return Err(SqlError::grouping(format!(
                "aggregate function {name} is not allowed here"
            )));
        }
        let func = Func::named(&name).ok_or_else(|| {
            SqlError::undefined_function(format!("function {name} does not exist"))
        })?;
        let (args, distinct) = Self::call_args(f)?;
        let Some(args) = args.filter(|_| !distinct) else {
            return Err(SqlError::syntax(format!(
                "{name}(*) or DISTINCT is not allowed here"
            )));
        };
        let args = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>>>()?;
        Ok(BExpr::Func(func, args))
    }

    /// Notes that parameter `param` (if it is one) is compared with, or
    /// stored into, something of `other`'s type.
    fn hint(&mut self, param: &Expr, other: &BExpr) {
        if let Some(k) = placeholder(param)
            && let Some(ty) = self.type_of(other)
            && let Some(slot) = self.param_hints.get_mut(k)
        {
            slot.get_or_insert(ty);
        }
    }

    /// Notes that parameter `param` (if it is one) is stored into a column
    /// of type `ty`.
    pub fn hint_type(&mut self, param: &Expr, ty: DataType) {
        if let Some(slot) = placeholder(param).and_then(|k| self.param_hints.get_mut(k)) {
            slot.get_or_insert(ty);
        }
    }

    /// The parameters' types as their uses showed them.
    pub fn param_hints(&self) -> &[Option<DataType>] {
        &self.param_hints
    }

    /// The static type of `e` in the current block, when known.
    pub fn type_of(&self, e: &BExpr) -> Option<DataType> {
        let scope = self.scopes.last()?;
        Some(match e {
            BExpr::Const(v) => return v.data_type(),
            BExpr::Column(i) => {
                return if scope.grouped {
                    scope
                        .group
                        .as_ref()
                        .and_then(|g| g.types.get(*i).copied().flatten())
                } else {
                    scope.types.get(*i).copied().flatten()
                };
            }
            BExpr::Outer { .. } | BExpr::Output(_) => return None,
            BExpr::Neg(a) => return self.type_of(a),
            BExpr::Binary(a, op, b) => match op {
                BinOp::Plus | BinOp::Minus | BinOp::Multiply | BinOp::Divide | BinOp::Modulo => {
                    match (self.type_of(a), self.type_of(b)) {
                        (Some(DataType::Int), Some(DataType::Int)) => DataType::Int,
                        (x, y) if numeric(x) && numeric(y) => DataType::Float,
                        _ => return None,
                    }
                }
                BinOp::Concat => DataType::Text,
                _ => DataType::Bool,
            },
            BExpr::Not(_)
            | BExpr::IsNull(..)
            | BExpr::IsBool(..)
            | BExpr::IsDistinct(..)
            | BExpr::InList(..)
            | BExpr::Like { .. }
            | BExpr::Exists(..)
            | BExpr::InSubquery(..) => DataType::Bool,
            BExpr::Case {
                whens, otherwise, ..
            } => {
                return whens
                    .iter()
                    .map(|(_, t)| t)
                    .chain(otherwise.iter().map(|b| &**b))
                    .find_map(|t| self.type_of(t));
            }
            BExpr::Cast(_, t) => *t,
            BExpr::Subquery(s) => return s.query.columns.first().and_then(|c| c.1),
            BExpr::Func(f, args) => match f {
                Func::Abs | Func::Round | Func::Ceil | Func::Floor => {
                    return args.first().and_then(|a| self.type_of(a));
                }
                Func::Lower
                | Func::Upper
                | Func::Substr
                | Func::Trim
                | Func::Ltrim
                | Func::Rtrim
                | Func::Replace
                | Func::Concat => DataType::Text,
                Func::Length | Func::Position => DataType::Int,
                Func::Coalesce | Func::NullIf | Func::Greatest | Func::Least => {
                    return args.iter().find_map(|a| self.type_of(a));
                }
                Func::Now => DataType::Timestamp,
            },
        })
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
            .ok_or_else(|| SqlError {
                code: "42P10",
                message: format!("ORDER BY position {n} is not in select list"),
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

/// True when `q` names a column `depth` or more blocks outside itself.
fn references_outer(q: &Query, depth: usize) -> bool {
    let in_expr = |e: &BExpr| expr_references_outer(e, depth);
    let in_body = |b: &Body| body_references_outer(b, depth);
    in_body(&q.body) || q.limit.iter().chain(q.offset.iter()).any(in_expr)
}

fn body_references_outer(b: &Body, depth: usize) -> bool {
    let in_expr = |e: &BExpr| expr_references_outer(e, depth);
    match b {
        Body::Values { rows, order } => rows.iter().flatten().chain(order).any(in_expr),
        Body::SetOp {
            left, right, order, ..
        } => {
            body_references_outer(left, depth)
                || body_references_outer(right, depth)
                || order.iter().any(in_expr)
        }
        Body::Select(s) => {
            let mut exprs: Vec<&BExpr> = Vec::new();
            exprs.extend(s.filter.iter());
            exprs.extend(s.having.iter());
            exprs.extend(s.projection.iter());
            exprs.extend(s.order.iter());
            if let Some(g) = &s.grouping {
                exprs.extend(g.keys.iter());
                exprs.extend(g.aggs.iter().filter_map(|a| a.arg.as_ref()));
            }
            for step in &s.steps {
                exprs.extend(step.on.iter());
                exprs.extend(step.after.iter());
                for (l, r) in &step.keys {
                    exprs.push(l);
                    exprs.push(r);
                }
                match &step.source {
                    Source::Unit => {}
                    Source::Scan(scan) => exprs.extend(scan.filter.iter()),
                    Source::Derived { query, filter, .. } => {
                        // A derived table's own outer names start one
                        // block further out (it sees this block's outer).
                        if references_outer(query, depth) {
                            return true;
                        }
                        exprs.extend(filter.iter());
                    }
                }
            }
            exprs.into_iter().any(|e| expr_references_outer(e, depth))
        }
    }
}

fn expr_references_outer(e: &BExpr, depth: usize) -> bool {
    match e {
        BExpr::Outer { depth: d, .. } => *d >= depth,
        BExpr::Subquery(s) | BExpr::Exists(s, _) => references_outer(&s.query, depth + 1),
        BExpr::InSubquery(v, s, _) => {
            expr_references_outer(v, depth) || references_outer(&s.query, depth + 1)
        }
        other => children(other)
            .into_iter()
            .any(|c| expr_references_outer(c, depth)),
    }
}

/// Picks how `scan` reads its table from the conditions on it alone.
fn choose_access(scan: &Scan, conds: &[BExpr]) -> Access {
    let def = &scan.table;
    let n = def.columns.len();
    let column = |e: &BExpr| match e {
        BExpr::Column(p) if *p >= scan.offset && *p < scan.offset + n => Some(*p - scan.offset),
        _ => None,
    };
    let mut eq: HashMap<usize, BExpr> = HashMap::new();
    let mut within: HashMap<usize, Vec<BExpr>> = HashMap::new();
    let mut lower: HashMap<usize, BExpr> = HashMap::new();
    let mut upper: HashMap<usize, (BExpr, bool)> = HashMap::new();
    for c in conds {
        match c {
            BExpr::Binary(l, op, r) => {
                let (col, op, k) = match (column(l), column(r)) {
                    (Some(col), _) if is_const(r) => (col, *op, (**r).clone()),
                    (_, Some(col)) if is_const(l) => {
                        let flipped = match op {
                            BinOp::Lt => BinOp::Gt,
                            BinOp::LtEq => BinOp::GtEq,
                            BinOp::Gt => BinOp::Lt,
                            BinOp::GtEq => BinOp::LtEq,
                            other => *other,
                        };
                        (col, flipped, (**l).clone())
                    }
                    _ => continue,
                };
                match op {
                    BinOp::Eq => {
                        eq.entry(col).or_insert(k);
                    }
                    BinOp::Gt | BinOp::GtEq => {
                        lower.entry(col).or_insert(k);
                    }
                    BinOp::Lt => {
                        upper.entry(col).or_insert((k, false));
                    }
                    BinOp::LtEq => {
                        upper.entry(col).or_insert((k, true));
                    }
                    _ => {}
                }
            }
            BExpr::InList(e, list, false) if list.iter().all(is_const) => {
                if let Some(col) = column(e) {
                    within.entry(col).or_insert_with(|| list.clone());
                }
            }
            _ => {}
        }
    }
    let pk = &def.primary_key;
    // Whole primary key: points.
    if !pk.is_empty() {
        let (last, init) = (pk[pk.len() - 1], &pk[..pk.len() - 1]);
        if init.iter().all(|c| eq.contains_key(c)) {
            let prefix: Vec<BExpr> = init.iter().map(|c| eq[c].clone()).collect();
            if let Some(v) = eq.get(&last) {
                let mut t = prefix;
                t.push(v.clone());
                return Access::Points(vec![t]);
            }
            if let Some(list) = within.get(&last) {
                return Access::Points(
                    list.iter()
                        .map(|v| {
                            let mut t = prefix.clone();
                            t.push(v.clone());
                            t
                        })
                        .collect(),
                );
            }
        }
    }
    // A range: equal on the first `m` columns, then bounded on the next.
    let range = |columns: &[usize], index: Option<u32>| -> Option<(usize, bool, Access)> {
        let m = columns.iter().take_while(|c| eq.contains_key(c)).count();
        let next = columns.get(m);
        let lo = next.and_then(|c| lower.get(c)).cloned();
        let hi = next.and_then(|c| upper.get(c)).cloned();
        let bounded = lo.is_some() || hi.is_some();
        if m == 0 && !bounded {
            return None;
        }
        Some((
            m,
            bounded,
            Access::Range {
                index,
                eq: columns[..m].iter().map(|c| eq[c].clone()).collect(),
                lower: lo,
                upper: hi,
            },
        ))
    };
    let mut best: Option<(usize, bool, Access)> =
        if pk.is_empty() { None } else { range(pk, None) };
    for index in &def.indexes {
        // A unique index with every column equal: one row at most.
        if index.unique
            && index.columns.iter().all(|c| eq.contains_key(c))
            && let Some(r) = range(&index.columns, Some(index.id))
        {
            return r.2;
        }
        if let Some(candidate) = range(&index.columns, Some(index.id)) {
            let better = match &best {
                None => true,
                Some((m, bounded, _)) => (candidate.0, candidate.1) > (*m, *bounded),
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    best.map_or(Access::Full, |b| b.2)
}
