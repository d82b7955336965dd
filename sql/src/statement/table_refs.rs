//! Which tables a statement names: walked on the AST before binding, so
//! their definitions are read (one key each) and nothing else.

use sqlparser::ast::{self, Expr, SetExpr, TableFactor};

use super::load_table;
use crate::bind::Tables;
use crate::catalog::TableDef;
use crate::error::Result;
use crate::kv::KvTxn;
use crate::syntax::object_name;

pub(super) fn query_tables(q: &ast::Query, out: &mut Vec<String>) {
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

pub(super) fn set_expr_tables(e: &SetExpr, out: &mut Vec<String>) {
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

pub(super) fn factor_tables(f: &TableFactor, out: &mut Vec<String>) {
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

/// Marks a name in a list of tables as a type's that a cast names
/// (`'ok'::mood`), not a table's: no identifier a client sends has it.
pub(super) const TYPE_MARK: char = '\0';

pub(super) fn expr_tables(e: &Expr, out: &mut Vec<String>) {
    // Every table a subquery anywhere in `e` names: also in an aggregate's
    // FILTER, a window's OVER, a CASE, a function's named argument.
    let _ = sqlparser::ast::visit_relations(e, |name| {
        if let Ok(n) = object_name(name)
            && !out.contains(&n)
        {
            out.push(n);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    // And the types it casts to that are no built-in type (enum types).
    let _ = sqlparser::ast::visit_expressions(e, |x| {
        let t = match x {
            Expr::Cast { data_type, .. } => Some(data_type),
            Expr::TypedString(t) => Some(&t.data_type),
            _ => None,
        };
        if let Some(ast::DataType::Custom(name, modifiers)) = t
            && modifiers.is_empty()
            && let Ok(n) = object_name(name)
        {
            let marked = format!("{TYPE_MARK}{n}");
            if !out.contains(&marked) {
                out.push(marked);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// The tables an UPDATE or DELETE of `def` needs: `def` and those its
/// expressions' subqueries name.
pub(super) async fn dml_tables(
    txn: &mut dyn KvTxn,
    def: &TableDef,
    exprs: &[&Expr],
) -> Result<Tables> {
    let mut names = vec![def.name.clone()];
    for e in exprs {
        expr_tables(e, &mut names);
    }
    load_tables(txn, &names).await
}

/// Loads the definitions of `names` (missing ones are left out: binding
/// reports them).
pub(super) async fn load_tables(txn: &mut dyn KvTxn, names: &[String]) -> Result<Tables> {
    let mut out = Tables::new();
    // The enum types casts name (their tables' columns bring their own).
    let types: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix(TYPE_MARK))
        .collect();
    if !types.is_empty() {
        for t in txn.enum_defs().await? {
            if types.contains(&t.name.as_str()) {
                out.types.insert(t.name.clone(), t);
            }
        }
    }
    for n in names.iter().filter(|n| !n.starts_with(TYPE_MARK)) {
        if let Some(def) = load_table(txn, n).await? {
            out.add(n.clone(), def);
        }
    }
    Ok(out)
}
