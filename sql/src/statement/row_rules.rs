//! What every row written to a table must meet ([`RowRules`]): its
//! columns' types, NOT NULL and widths, its stored generated columns
//! computed from the rest of the row, and its CHECK conditions — for
//! INSERT, UPDATE, upserts, COPY, ALTER TABLE's rewrites and foreign-key
//! actions alike.

use sqlparser::ast::Expr;

use crate::bind::Binder;
use crate::catalog::TableDef;
use crate::error::{Result, SqlError};
use crate::eval::{self, Env};
use crate::plan::BExpr;
use crate::syntax::ident;
use crate::value::Value;

/// Casts `values` to the table's column types and checks NOT NULL and
/// widths — of every column but the stored generated ones, which
/// [`RowRules::row`] computes after. A table without generated columns
/// needs nothing else but its checks.
pub(super) fn check_row(def: &TableDef, values: Vec<Value>) -> Result<Vec<Value>> {
    values
        .into_iter()
        .zip(&def.columns)
        .map(|(v, c)| match c.generation {
            Some(_) => Ok(v),
            None => check_value(def, c, v),
        })
        .collect()
}

/// `v` as a value of column `c` of `def`: cast, NOT NULL and width checked.
fn check_value(def: &TableDef, c: &crate::catalog::Column, v: Value) -> Result<Value> {
    let v = c.coerce(v)?;
    if v == Value::Null && !c.nullable {
        return Err(SqlError::not_null_violation(format!(
            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
            c.name, def.name
        )));
    }
    match c.width {
        Some(w) => w.check(v),
        None => Ok(v),
    }
}

/// What every row written to a table must meet: its columns' types, NOT
/// NULL and widths, its stored generated columns computed from the rest
/// of the row, and its CHECK conditions.
pub(super) struct RowRules {
    checks: Vec<(String, BExpr)>,
    generated: Vec<(usize, BExpr)>,
}

impl RowRules {
    /// The rules of `def`, bound over its row.
    pub(super) fn of(def: &TableDef) -> Result<RowRules> {
        Ok(RowRules {
            checks: bind_checks(def)?,
            generated: bind_generated(def)?,
        })
    }

    /// `values` (one per column; a generated column's is ignored) as a
    /// row of `def` that meets its rules.
    pub(super) fn row(&self, def: &TableDef, values: Vec<Value>) -> Result<Vec<Value>> {
        let mut row = check_row(def, values)?;
        for (i, e) in &self.generated {
            let env = Env {
                row: &row,
                ..Env::EMPTY
            };
            let v = eval::eval(e, &env)?;
            row[*i] = check_value(def, &def.columns[*i], v)?;
        }
        check_constraints(def, &self.checks, &row)?;
        Ok(row)
    }
}

/// The table's stored generated columns, each with its expression bound
/// over the row; refuses an expression a generated column may not have
/// (PostgreSQL's rules): a subquery (0A000), a function whose value does
/// not follow from its arguments, or another generated column (42P17).
pub(super) fn bind_generated(def: &TableDef) -> Result<Vec<(usize, BExpr)>> {
    let generated: Vec<&str> = def
        .columns
        .iter()
        .filter(|c| c.generation.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let mut out = Vec::new();
    for (i, c) in def.columns.iter().enumerate() {
        let Some(text) = &c.generation else {
            continue;
        };
        let e = super::ddl::parse_expr(text)?;
        if ast_has_subquery(&e) {
            return Err(SqlError::not_supported(
                "cannot use subquery in column generation expression",
            ));
        }
        if super::ddl::calls_not_immutable(&e) {
            return Err(SqlError::invalid_object_definition(
                "generation expression is not immutable",
            ));
        }
        let mentioned = sqlparser::ast::visit_expressions(&e, |x| {
            let name = match x {
                Expr::Identifier(id) => Some(ident(id)),
                Expr::CompoundIdentifier(ids) => ids.last().map(ident),
                _ => None,
            };
            match name.filter(|n| generated.contains(&n.as_str())) {
                Some(n) => std::ops::ControlFlow::Break(n),
                None => std::ops::ControlFlow::Continue(()),
            }
        });
        if let std::ops::ControlFlow::Break(n) = mentioned {
            return Err(SqlError::invalid_object_definition(format!(
                "cannot use generated column \"{n}\" in column generation expression"
            )));
        }
        out.push((i, bind_over_row(def, &e)?));
    }
    Ok(out)
}

/// `e` bound over a row of `def` (a CHECK condition, a generation
/// expression).
fn bind_over_row(def: &TableDef, e: &Expr) -> Result<BExpr> {
    let mut tables = crate::bind::Tables::new();
    tables.add_types_of(&def.columns);
    let mut b = Binder::new(&tables, &[]).in_table(def, &[e])?;
    b.pop()
        .ok_or_else(|| SqlError::internal("a stored expression did not bind"))
}

/// The table's CHECK conditions, bound over its row.
pub(super) fn bind_checks(def: &TableDef) -> Result<Vec<(String, BExpr)>> {
    let mut out = Vec::new();
    for c in &def.checks {
        let e = super::ddl::parse_expr(&c.expr)?;
        if ast_has_subquery(&e) {
            return Err(SqlError::not_supported(
                "cannot use subquery in check constraint",
            ));
        }
        out.push((c.name.clone(), bind_over_row(def, &e)?));
    }
    Ok(out)
}

pub(super) fn ast_has_subquery(e: &Expr) -> bool {
    match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => true,
        other => crate::bind::ast_children(other)
            .into_iter()
            .any(ast_has_subquery),
    }
}

/// 23514 when `row` makes one of `checks` false (NULL passes, as in SQL).
pub(super) fn check_constraints(
    def: &TableDef,
    checks: &[(String, BExpr)],
    row: &[Value],
) -> Result<()> {
    let env = Env { row, ..Env::EMPTY };
    for (name, e) in checks {
        if eval::eval(e, &env)? == Value::Bool(false) {
            return Err(SqlError::check_violation(format!(
                "new row for relation \"{}\" violates check constraint \"{name}\"",
                def.name
            )));
        }
    }
    Ok(())
}
