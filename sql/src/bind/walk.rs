//! Walking expressions: conjuncts, sub-expressions (bound and AST), which
//! columns an expression names, whether it is constant, has a subquery or
//! an aggregate, and whether a subquery names an enclosing query.

use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::plan::{AggCall, AggFunc, BExpr, BinOp, Body, Query, Source, WindowCall};

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
        BExpr::Const(_) | BExpr::Param(_) => true,
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
        | BExpr::Param(_)
        | BExpr::Column(_)
        | BExpr::Outer { .. }
        | BExpr::Output(_)
        | BExpr::Subquery(_)
        | BExpr::Exists(..) => vec![],
        BExpr::Not(a) | BExpr::Neg(a) | BExpr::IsNull(a, _) | BExpr::IsBool(a, ..) => vec![a],
        BExpr::Cast(a, _) | BExpr::Enum(a, _) | BExpr::InSubquery(a, ..) => vec![a],
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
pub(crate) fn columns_of(e: &BExpr, out: &mut Vec<usize>) {
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
        Expr::Array(a) => a.elem.iter().collect(),
        Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => vec![left, right],
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut v = vec![&**root];
            for a in access_chain {
                match a {
                    ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => v.push(index),
                    ast::AccessExpr::Subscript(ast::Subscript::Slice {
                        lower_bound,
                        upper_bound,
                        ..
                    }) => v.extend(lower_bound.iter().chain(upper_bound)),
                    ast::AccessExpr::Dot(e) => v.push(e),
                }
            }
            v
        }
        _ => vec![],
    }
}

pub(crate) fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_lowercase()
}

/// True when `e` calls an aggregate (outside subqueries; a window
/// function's aggregate is not one, the aggregates in its arguments are).
pub fn has_aggregate(e: &Expr) -> bool {
    if let Expr::Function(f) = e
        && f.over.is_none()
        && AggFunc::named(&function_name(f)).is_some()
    {
        return true;
    }
    ast_children(e).into_iter().any(has_aggregate)
}

/// True when `e` calls a window function (outside subqueries).
pub fn has_window(e: &Expr) -> bool {
    if let Expr::Function(f) = e
        && f.over.is_some()
    {
        return true;
    }
    ast_children(e).into_iter().any(has_window)
}

/// True when `q` names a column `depth` or more blocks outside itself.
pub(crate) fn references_outer(q: &Query, depth: usize) -> bool {
    let in_expr = |e: &BExpr| expr_references_outer(e, depth);
    let in_body = |b: &Body| body_references_outer(b, depth);
    in_body(&q.body) || q.limit.iter().chain(q.offset.iter()).any(in_expr)
}

pub(crate) fn body_references_outer(b: &Body, depth: usize) -> bool {
    let in_expr = |e: &BExpr| expr_references_outer(e, depth);
    match b {
        Body::Values { rows, order } => rows.iter().flatten().chain(order).any(in_expr),
        Body::Unnest { arrays, .. } => arrays.iter().any(in_expr),
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
                exprs.extend(g.aggs.iter().flat_map(AggCall::exprs));
            }
            exprs.extend(s.windows.iter().flat_map(WindowCall::exprs));
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

pub(crate) fn expr_references_outer(e: &BExpr, depth: usize) -> bool {
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
