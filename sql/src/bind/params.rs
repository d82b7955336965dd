//! Giving a bound plan its parameters' values: every `BExpr::Param(i)` in
//! it (filters, projections, access paths, LIMIT, subqueries, derived
//! tables) becomes `BExpr::Const(params[i])`. A plan kept by a
//! [`crate::PlanCache`] is cloned and given each run's values.

use crate::error::{Result, SqlError};
use crate::plan::{Access, BExpr, Body, Query, Scan, Select, Source};
use crate::value::Value;

/// Gives `q` the values of its parameters.
pub fn query(q: &mut Query, params: &[Value]) -> Result<()> {
    body(&mut q.body, params)?;
    for e in q.limit.iter_mut().chain(q.offset.iter_mut()) {
        expr(e, params)?;
    }
    Ok(())
}

fn body(b: &mut Body, params: &[Value]) -> Result<()> {
    match b {
        Body::Select(s) => select(s, params),
        Body::Values { rows, order } => {
            for e in rows.iter_mut().flatten().chain(order.iter_mut()) {
                expr(e, params)?;
            }
            Ok(())
        }
        Body::Unnest { arrays, .. } => {
            for e in arrays {
                expr(e, params)?;
            }
            Ok(())
        }
        Body::SetOp {
            left, right, order, ..
        } => {
            body(left, params)?;
            body(right, params)?;
            for e in order {
                expr(e, params)?;
            }
            Ok(())
        }
    }
}

fn select(s: &mut Select, params: &[Value]) -> Result<()> {
    for step in &mut s.steps {
        match &mut step.source {
            Source::Unit => {}
            Source::Scan(sc) => scan(sc, params)?,
            Source::Derived {
                query: q, filter, ..
            } => {
                query(q, params)?;
                if let Some(f) = filter {
                    expr(f, params)?;
                }
            }
        }
        for (a, b) in &mut step.keys {
            expr(a, params)?;
            expr(b, params)?;
        }
        for e in step.on.iter_mut().chain(step.after.iter_mut()) {
            expr(e, params)?;
        }
    }
    for e in s
        .filter
        .iter_mut()
        .chain(s.having.iter_mut())
        .chain(s.projection.iter_mut())
        .chain(s.order.iter_mut())
    {
        expr(e, params)?;
    }
    if let Some(g) = &mut s.grouping {
        for e in &mut g.keys {
            expr(e, params)?;
        }
        for a in &mut g.aggs {
            for e in a.exprs_mut() {
                expr(e, params)?;
            }
        }
    }
    for w in &mut s.windows {
        for e in w.exprs_mut() {
            expr(e, params)?;
        }
    }
    Ok(())
}

/// Gives a table access (a DML statement's scan) its parameters' values.
pub fn scan(s: &mut Scan, params: &[Value]) -> Result<()> {
    match &mut s.access {
        Access::Full => {}
        Access::Points(points) => {
            for e in points.iter_mut().flatten() {
                expr(e, params)?;
            }
        }
        Access::Range {
            eq, lower, upper, ..
        } => {
            for e in eq.iter_mut().chain(lower.iter_mut()) {
                expr(e, params)?;
            }
            if let Some((e, _)) = upper {
                expr(e, params)?;
            }
        }
    }

    if let Some(f) = &mut s.filter {
        expr(f, params)?;
    }
    Ok(())
}

/// Gives an expression its parameters' values (subqueries included).
pub fn expr(e: &mut BExpr, params: &[Value]) -> Result<()> {
    match e {
        BExpr::Param(i) => {
            let v = params.get(*i).cloned().ok_or_else(|| {
                SqlError::undefined_parameter(format!(
                    "there is no parameter ${} ({} given)",
                    *i + 1,
                    params.len()
                ))
            })?;
            *e = BExpr::Const(v);
            Ok(())
        }
        BExpr::Subquery(sq) | BExpr::Exists(sq, _) => query(&mut sq.query, params),
        BExpr::InSubquery(a, sq, _) => {
            expr(a, params)?;
            query(&mut sq.query, params)
        }
        other => {
            for c in crate::eval::fetch::children_mut(other) {
                expr(c, params)?;
            }
            Ok(())
        }
    }
}
