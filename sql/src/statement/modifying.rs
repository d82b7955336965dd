//! Data-modifying statements in WITH (`WITH d AS (DELETE … RETURNING …)
//! INSERT INTO archive SELECT * FROM d`): each one runs first, once, in
//! the statement's transaction and in the order written, and its name then
//! stands for the rows it returned (a VALUES list, as `recursive` does for
//! a recursive CTE's rows), so the rest runs as with plain CTEs.
//!
//! PostgreSQL runs every part of such a statement on one snapshot: the
//! rest of the statement does not see what a data-modifying CTE changed,
//! only the rows it returns. Run one after the other, the rest would see
//! those changes, so a statement whose other parts name the table a
//! data-modifying CTE writes is refused (0A000) rather than answered
//! differently. A data-modifying CTE is allowed only in the top-level WITH,
//! as in PostgreSQL.

use sqlparser::ast::{self, ObjectName, SetExpr, Statement};

use super::recursive;
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::Value;

/// Whether `q`'s WITH has a data-modifying CTE.
pub(super) fn has_any(q: &ast::Query) -> bool {
    q.with
        .as_ref()
        .is_some_and(|w| w.cte_tables.iter().any(|c| modifies(&c.query)))
}

fn modifies(q: &ast::Query) -> bool {
    matches!(
        *q.body,
        SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Insert(_)
    )
}

/// Runs the data-modifying CTEs of `q` and puts their rows in their
/// place (a CTE without RETURNING leaves the WITH).
pub(super) async fn materialize(
    txn: &mut dyn KvTxn,
    q: &mut ast::Query,
    params: &[Value],
) -> Result<()> {
    let Some(with) = &q.with else {
        return Ok(());
    };
    if with.recursive {
        return Err(SqlError::not_supported(
            "data-modifying statements in WITH RECURSIVE",
        ));
    }
    let mut i = 0;
    while let Some(with) = &q.with
        && let Some(cte) = with.cte_tables.get(i)
    {
        if !modifies(&cte.query) {
            i += 1;
            continue;
        }
        let name = ident(&cte.alias.name);
        let (SetExpr::Update(inner) | SetExpr::Delete(inner) | SetExpr::Insert(inner)) =
            cte.query.body.as_ref()
        else {
            i += 1;
            continue;
        };
        let target = written(inner)?;
        let returns = returning(inner);
        // What the rest of the statement names: the other CTEs and the
        // main part, without this CTE.
        let mut rest = q.clone();
        if let Some(w) = &mut rest.with {
            w.cte_tables.remove(i);
        }
        let named = relations(&rest);
        if named.contains(&target) {
            return Err(SqlError::not_supported(format!(
                "a data-modifying WITH query (\"{name}\") on table \"{target}\" that the rest of \
                 the statement also names: in PostgreSQL the rest would not see its changes"
            )));
        }
        let referenced = named.contains(&name);
        if referenced && !returns {
            return Err(SqlError::not_supported(format!(
                "WITH query \"{name}\" does not have a RETURNING clause"
            )));
        }
        // Run with the CTEs before it (earlier data-modifying ones are
        // rows by now).
        let mut run = (*cte.query).clone();
        run.with = (i > 0).then(|| ast::With {
            with_token: with.with_token.clone(),
            recursive: false,
            cte_tables: with.cte_tables[..i].to_vec(),
        });
        let result = Box::pin(super::execute_named(
            txn,
            &Statement::Query(Box::new(run)),
            params,
            None,
        ))
        .await?;
        let Some(w) = &mut q.with else {
            return Ok(());
        };
        if !returns {
            w.cte_tables.remove(i);
            continue;
        }
        let cte = &mut w.cte_tables[i];
        if !cte.alias.columns.is_empty() && cte.alias.columns.len() != result.columns.len() {
            return Err(SqlError::syntax(format!(
                "WITH query \"{name}\" has {} columns available but {} columns specified",
                result.columns.len(),
                cte.alias.columns.len()
            )));
        }
        if cte.alias.columns.is_empty() {
            cte.alias.columns = result
                .columns
                .iter()
                .map(|(n, _)| ast::TableAliasColumnDef {
                    name: ast::Ident::with_quote('"', n),
                    data_type: None,
                })
                .collect();
        }
        let types: Vec<_> = result.columns.iter().map(|(_, t)| *t).collect();
        *cte.query = recursive::rows_query(&result.rows, &types)?;
        i += 1;
    }
    Ok(())
}

/// The table a data-modifying statement writes.
fn written(stmt: &Statement) -> Result<String> {
    let name: Option<&ObjectName> = match stmt {
        Statement::Insert(i) => match &i.table {
            ast::TableObject::TableName(n) => Some(n),
            _ => None,
        },
        Statement::Update { table, .. } => match &table.relation {
            ast::TableFactor::Table { name, .. } => Some(name),
            _ => None,
        },
        Statement::Delete(d) => match &d.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => {
                match t.first().map(|t| &t.relation) {
                    Some(ast::TableFactor::Table { name, .. }) => Some(name),
                    _ => None,
                }
            }
        },
        _ => None,
    };
    match name {
        Some(n) => object_name(n),
        None => Err(SqlError::not_supported(format!("{stmt} in WITH"))),
    }
}

fn returning(stmt: &Statement) -> bool {
    match stmt {
        Statement::Insert(i) => i.returning.is_some(),
        Statement::Update { returning, .. } => returning.is_some(),
        Statement::Delete(d) => d.returning.is_some(),
        _ => false,
    }
}

/// Every relation `q` names (tables, views, CTEs), anywhere in it.
fn relations(q: &ast::Query) -> Vec<String> {
    let mut out = Vec::new();
    let _ = ast::visit_relations(q, |name| {
        if let Ok(n) = object_name(name)
            && !out.contains(&n)
        {
            out.push(n);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}
