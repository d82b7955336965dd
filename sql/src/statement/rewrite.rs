//! Query forms answered by rewriting the statement before it is bound:
//!
//! - `WITH name [(cols)] AS (query) …` (not RECURSIVE): each reference to
//!   `name` in a FROM (also in subqueries, and in later CTEs) becomes the
//!   subquery `(query) AS name`; a CTE used twice is computed twice, which
//!   is the same result for a query (it has no side effects here).
//! - `FETCH FIRST n ROWS ONLY` is `LIMIT n`.
//! - `generate_series(start, stop [, step])` in a FROM becomes a VALUES
//!   list of its integers, or of its timestamps with an interval step (at
//!   most [`crate::eval::series::MAX_SERIES`] of them).

use std::collections::HashMap;

use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, Query, SetExpr, TableFactor, TableWithJoins,
};

use crate::error::{Result, SqlError};
use crate::syntax::{ident, object_name};
use crate::value::Value;

/// True when `q` uses a form this module rewrites (a cheap look at the
/// query's top and its FROM items).
pub(super) fn needed(q: &Query) -> bool {
    fn body(b: &SetExpr) -> bool {
        match b {
            SetExpr::Select(s) => {
                s.from
                    .iter()
                    .any(|t| factor(&t.relation) || t.joins.iter().any(|j| factor(&j.relation)))
                    || s.projection.iter().any(|item| match item {
                        ast::SelectItem::UnnamedExpr(e)
                        | ast::SelectItem::ExprWithAlias { expr: e, .. } => expr(e),
                        _ => false,
                    })
                    || s.selection.iter().chain(s.having.iter()).any(expr)
            }
            SetExpr::Query(q) => needed(q),
            SetExpr::SetOperation { left, right, .. } => body(left) || body(right),
            _ => false,
        }
    }
    fn factor(f: &TableFactor) -> bool {
        match f {
            TableFactor::Table { args: Some(_), .. } => true,
            TableFactor::Derived { subquery, .. } => needed(subquery),
            // A select list's set-returning functions in step: the rows of
            // a generate_series beside them are `ARRAY(SELECT … FROM
            // generate_series(…) …)` (`system::rewrite`), a subquery by now.
            TableFactor::UNNEST { array_exprs, .. } => array_exprs.iter().any(expr),
            _ => false,
        }
    }
    // The subqueries `rewrite_expr` reaches.
    fn expr(e: &Expr) -> bool {
        match e {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => needed(q),
            Expr::Function(ast::Function {
                args: ast::FunctionArguments::Subquery(q),
                ..
            }) => needed(q),
            Expr::InSubquery {
                expr: e, subquery, ..
            } => expr(e) || needed(subquery),
            Expr::BinaryOp { left, right, .. } => expr(left) || expr(right),
            Expr::UnaryOp { expr: e, .. }
            | Expr::Nested(e)
            | Expr::Cast { expr: e, .. }
            | Expr::IsNull(e)
            | Expr::IsNotNull(e) => expr(e),
            Expr::InList { expr: e, list, .. } => expr(e) || list.iter().any(expr),
            _ => false,
        }
    }
    q.with.is_some() || q.fetch.is_some() || body(&q.body)
}

/// Named queries substituted for their names in FROM: CTEs, and views.
pub(super) type Ctes = HashMap<String, (ast::TableAlias, Query)>;

/// Rewrites `q` with `ctes` (views) as if they were its outer WITH.
pub(super) fn with_ctes(q: &mut Query, ctes: &Ctes, params: &[Value]) -> Result<()> {
    rewrite_query(q, ctes, params)
}

/// Rewrites `q` in place.
pub(super) fn query(q: &mut Query, params: &[Value]) -> Result<()> {
    rewrite_query(q, &Ctes::new(), params)
}

/// `outer` and the CTEs of `with`, each rewritten with those before it.
fn add_ctes(with: ast::With, outer: &Ctes, params: &[Value]) -> Result<Ctes> {
    let mut ctes = outer.clone();
    if with.recursive {
        // Computed before (`recursive`); only nested ones are left.
        return Err(SqlError::not_supported(
            "WITH RECURSIVE inside a subquery, or before UPDATE, DELETE or INSERT",
        ));
    }
    for cte in with.cte_tables {
        if cte.from.is_some() {
            return Err(SqlError::not_supported("WITH … FROM"));
        }
        let name = ident(&cte.alias.name);
        let mut body = *cte.query;
        if matches!(
            *body.body,
            SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Insert(_)
        ) {
            return Err(SqlError::not_supported("data-modifying statements in WITH"));
        }
        // A CTE sees the ones before it (not itself: no recursion).
        rewrite_query(&mut body, &ctes, params)?;
        ctes.insert(name, (cte.alias, body));
    }
    Ok(ctes)
}

/// `WITH … UPDATE`, `WITH … DELETE` and `WITH … INSERT`: the statement
/// with each CTE it names (in UPDATE's FROM, DELETE's USING, subqueries of
/// its conditions and new values, an INSERT's query) replaced by its
/// query, as in a SELECT. `None` when `q` is none of these.
pub(super) fn dml_with(q: &Query, params: &[Value]) -> Result<Option<ast::Statement>> {
    let (SetExpr::Update(inner) | SetExpr::Delete(inner) | SetExpr::Insert(inner)) =
        q.body.as_ref()
    else {
        return Ok(None);
    };
    let ctes = match &q.with {
        Some(with) => add_ctes(with.clone(), &Ctes::new(), params)?,
        None => Ctes::new(),
    };
    let mut stmt = inner.clone();
    match &mut stmt {
        ast::Statement::Update {
            from,
            selection,
            assignments,
            ..
        } => {
            if let Some(
                ast::UpdateTableFromKind::BeforeSet(from)
                | ast::UpdateTableFromKind::AfterSet(from),
            ) = from
            {
                for t in from {
                    rewrite_from(t, &ctes, params)?;
                }
            }
            for e in selection
                .iter_mut()
                .chain(assignments.iter_mut().map(|a| &mut a.value))
            {
                rewrite_expr(e, &ctes, params)?;
            }
        }
        ast::Statement::Delete(d) => {
            for t in d.using.iter_mut().flatten() {
                rewrite_from(t, &ctes, params)?;
            }
            for e in d.selection.iter_mut() {
                rewrite_expr(e, &ctes, params)?;
            }
        }
        ast::Statement::Insert(i) => {
            if let Some(source) = &mut i.source {
                rewrite_query(source, &ctes, params)?;
            }
        }
        _ => {}
    }
    Ok(Some(stmt))
}

fn rewrite_query(q: &mut Query, outer: &Ctes, params: &[Value]) -> Result<()> {
    let ctes = match q.with.take() {
        Some(with) => add_ctes(with, outer, params)?,
        None => outer.clone(),
    };
    if let Some(fetch) = q.fetch.take() {
        if fetch.with_ties || fetch.percent {
            return Err(SqlError::not_supported("FETCH … WITH TIES / PERCENT"));
        }
        let limit = fetch
            .quantity
            .unwrap_or_else(|| Expr::Value(ast::Value::Number("1".into(), false).into()));
        q.limit_clause = match q.limit_clause.take() {
            None => Some(ast::LimitClause::LimitOffset {
                limit: Some(limit),
                offset: None,
                limit_by: Vec::new(),
            }),
            Some(ast::LimitClause::LimitOffset {
                limit: None,
                offset,
                limit_by,
            }) => Some(ast::LimitClause::LimitOffset {
                limit: Some(limit),
                offset,
                limit_by,
            }),
            Some(_) => return Err(SqlError::syntax("both LIMIT and FETCH")),
        };
    }
    rewrite_body(&mut q.body, &ctes, params)?;
    if let Some(order) = &mut q.order_by
        && let ast::OrderByKind::Expressions(keys) = &mut order.kind
    {
        for k in keys {
            rewrite_expr(&mut k.expr, &ctes, params)?;
        }
    }
    Ok(())
}

fn rewrite_body(b: &mut SetExpr, ctes: &Ctes, params: &[Value]) -> Result<()> {
    match b {
        SetExpr::Select(s) => {
            for t in &mut s.from {
                rewrite_from(t, ctes, params)?;
            }
            for item in &mut s.projection {
                if let ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } = item
                {
                    rewrite_expr(e, ctes, params)?;
                }
            }
            for e in s.selection.iter_mut().chain(s.having.iter_mut()) {
                rewrite_expr(e, ctes, params)?;
            }
        }
        SetExpr::Query(q) => rewrite_query(q, ctes, params)?,
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_body(left, ctes, params)?;
            rewrite_body(right, ctes, params)?;
        }
        _ => {}
    }
    Ok(())
}

fn rewrite_from(t: &mut TableWithJoins, ctes: &Ctes, params: &[Value]) -> Result<()> {
    rewrite_factor(&mut t.relation, ctes, params)?;
    for j in &mut t.joins {
        rewrite_factor(&mut j.relation, ctes, params)?;
        if let ast::JoinOperator::Join(ast::JoinConstraint::On(e))
        | ast::JoinOperator::Inner(ast::JoinConstraint::On(e))
        | ast::JoinOperator::Left(ast::JoinConstraint::On(e))
        | ast::JoinOperator::LeftOuter(ast::JoinConstraint::On(e))
        | ast::JoinOperator::Right(ast::JoinConstraint::On(e))
        | ast::JoinOperator::RightOuter(ast::JoinConstraint::On(e))
        | ast::JoinOperator::FullOuter(ast::JoinConstraint::On(e)) = &mut j.join_operator
        {
            rewrite_expr(e, ctes, params)?;
        }
    }
    Ok(())
}

fn rewrite_factor(f: &mut TableFactor, ctes: &Ctes, params: &[Value]) -> Result<()> {
    match f {
        TableFactor::UNNEST { array_exprs, .. } => {
            for e in array_exprs {
                rewrite_expr(e, ctes, params)?;
            }
        }
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let Ok(n) = object_name(name) else {
                return Ok(());
            };
            let Some((cte_alias, body)) = ctes.get(&n) else {
                return Ok(());
            };
            // `FROM cte AS x (a, b)` renames; else the CTE's own names.
            let alias = alias.clone().unwrap_or_else(|| cte_alias.clone());
            let alias = if alias.columns.is_empty() {
                ast::TableAlias {
                    name: alias.name,
                    columns: cte_alias.columns.clone(),
                }
            } else {
                alias
            };
            *f = TableFactor::Derived {
                lateral: false,
                subquery: Box::new(body.clone()),
                alias: Some(alias),
            };
        }
        TableFactor::Table {
            name,
            alias,
            args: Some(args),
            with_ordinality,
            ..
        } => {
            // A function of pg_catalog (`pg_catalog.unnest(…)`, as psql
            // writes it) by its own name.
            let n = match name.0.as_slice() {
                [schema, f] if schema.as_ident().is_some_and(|s| ident(s) == "pg_catalog") => {
                    f.as_ident().map(ident).unwrap_or_default()
                }
                _ => object_name(name)?,
            };
            // The JSON set-returning functions and unnest are bound as they
            // are.
            if crate::json::Rows::of(&n).is_some() || n == "unnest" {
                for arg in &mut args.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        rewrite_expr(e, ctes, params)?;
                    }
                }
                return Ok(());
            }
            // regexp_split_to_table(…) is unnest(regexp_split_to_array(…)),
            // regexp_matches(…) the unnest of its matches' arrays; named
            // as the function when not aliased.
            if let Some(array) = set_as_array(&n, &args.args) {
                for arg in &mut args.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        rewrite_expr(e, ctes, params)?;
                    }
                }
                let alias = alias.take().unwrap_or_else(|| ast::TableAlias {
                    name: ast::Ident::new(&n),
                    columns: Vec::new(),
                });
                *f = TableFactor::UNNEST {
                    alias: Some(alias),
                    array_exprs: vec![array],
                    with_offset: false,
                    with_offset_alias: None,
                    with_ordinality: *with_ordinality,
                };
                return Ok(());
            }
            if n != "generate_series" {
                return Err(SqlError::undefined_function(format!(
                    "function {n} does not exist"
                )));
            }
            *f = series(&args.args, alias.take(), params)?;
        }
        TableFactor::Derived { subquery, .. } => rewrite_query(subquery, ctes, params)?,
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => rewrite_from(table_with_joins, ctes, params)?,
        _ => {}
    }
    Ok(())
}

/// Rewrites the subqueries in `e` (and the operators, casts and lists
/// they sit in).
fn rewrite_expr(e: &mut Expr, ctes: &Ctes, params: &[Value]) -> Result<()> {
    match e {
        Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => rewrite_query(q, ctes, params),
        // ARRAY(subquery).
        Expr::Function(ast::Function {
            args: ast::FunctionArguments::Subquery(q),
            ..
        }) => rewrite_query(q, ctes, params),
        Expr::InSubquery { expr, subquery, .. } => {
            rewrite_expr(expr, ctes, params)?;
            rewrite_query(subquery, ctes, params)
        }
        Expr::BinaryOp { left, right, .. } => {
            rewrite_expr(left, ctes, params)?;
            rewrite_expr(right, ctes, params)
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr) => rewrite_expr(expr, ctes, params),
        Expr::InList { expr, list, .. } => {
            rewrite_expr(expr, ctes, params)?;
            list.iter_mut()
                .try_for_each(|x| rewrite_expr(x, ctes, params))
        }
        _ => Ok(()),
    }
}

/// `generate_series(start, stop [, step])` as a VALUES list named as the
/// call is (`generate_series`, or its alias and column alias): of
/// integers, or of timestamps with an interval step
/// ([`time_series`]).
/// The array whose elements set-returning function `name` gives, for the
/// two regular-expression ones: `regexp_split_to_table(args)` gives those
/// of `regexp_split_to_array(args)`, `regexp_matches(args)` those of
/// `spanlite_regexp_matches(args)` (one text array per match).
pub(crate) fn set_as_array(name: &str, args: &[FunctionArg]) -> Option<Expr> {
    let function = match name {
        "regexp_split_to_table" => "regexp_split_to_array",
        "regexp_matches" => crate::plan::REGEXP_MATCHES_ALL,
        _ => return None,
    };
    Some(Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(function)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args.to_vec(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}

fn series(
    args: &[FunctionArg],
    alias: Option<ast::TableAlias>,
    params: &[Value],
) -> Result<TableFactor> {
    let args = args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => super::constant_value(e, params),
            _ => Err(SqlError::not_supported(
                "generate_series with named arguments",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let values = crate::eval::series::series_values(&args)?;
    let empty = match crate::eval::series::series_type(&args) {
        crate::value::DataType::Timestamp => "SELECT NULL::timestamp WHERE false",
        crate::value::DataType::TimestampTz => "SELECT NULL::timestamptz WHERE false",
        _ => "SELECT 0 WHERE false",
    };
    let rows: Vec<Vec<Expr>> = values
        .into_iter()
        .map(|v| {
            vec![match v {
                Value::Int(n) => Expr::Value(ast::Value::Number(n.to_string(), false).into()),
                Value::Timestamp(_) | Value::TimestampTz(_) => Expr::Cast {
                    kind: ast::CastKind::DoubleColon,
                    expr: Box::new(Expr::Value(
                        ast::Value::SingleQuotedString(v.to_string()).into(),
                    )),
                    data_type: ast::DataType::Timestamp(
                        None,
                        if matches!(v, Value::Timestamp(_)) {
                            ast::TimezoneInfo::None
                        } else {
                            ast::TimezoneInfo::WithTimeZone
                        },
                    ),
                    format: None,
                },
                _ => Expr::Value(ast::Value::Null.into()),
            }]
        })
        .collect();
    let name = ast::Ident::new("generate_series");
    let alias = match alias {
        Some(a) if a.columns.is_empty() => ast::TableAlias {
            columns: vec![ast::TableAliasColumnDef {
                name: a.name.clone(),
                data_type: None,
            }],
            name: a.name,
        },
        Some(a) => a,
        None => ast::TableAlias {
            name: name.clone(),
            columns: vec![ast::TableAliasColumnDef {
                name,
                data_type: None,
            }],
        },
    };
    // An empty series: a query with the column's type and no rows.
    let body = if rows.is_empty() {
        let mut statements = crate::syntax::parse(empty)?;
        match statements.pop() {
            Some(ast::Statement::Query(q)) => *q,
            _ => return Err(SqlError::internal("an empty series did not parse")),
        }
    } else {
        values_query(rows)
    };
    Ok(TableFactor::Derived {
        lateral: false,
        subquery: Box::new(body),
        alias: Some(alias),
    })
}

/// `VALUES (…), …` of `rows` as a query.
pub(super) fn values_query(rows: Vec<Vec<Expr>>) -> Query {
    Query {
        with: None,
        body: Box::new(SetExpr::Values(ast::Values {
            explicit_row: false,
            rows,
        })),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}
