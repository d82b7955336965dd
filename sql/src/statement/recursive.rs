//! `WITH RECURSIVE`: each recursive CTE is computed before the statement
//! is bound, and replaced by a VALUES list of its rows; the query then
//! runs as with plain CTEs (`rewrite`).
//!
//! ```text
//!   name AS (base UNION [ALL] step)
//!     rows    := run(base)
//!     working := rows
//!     while working is not empty:
//!         new     := run(step, with name = working)   -- UNION: minus rows
//!         rows    += new;  working := new
//!     name AS (VALUES rows)
//! ```
//!
//! Each run is an ordinary query in the statement's transaction. A
//! recursion that never ends stops at [`MAX_ROWS`] rows (54000).

use std::collections::HashSet;

use sqlparser::ast::{self, SetExpr, SetOperator, SetQuantifier, Statement};

use super::table_refs::{query_tables, set_expr_tables};
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::ident;
use crate::value::{DataType, Value};

/// The most rows a recursive CTE may have.
pub const MAX_ROWS: usize = 100_000;

/// Computes the recursive CTEs of `q`'s WITH RECURSIVE, leaving a plain
/// WITH of the same names.
pub(super) async fn materialize(
    txn: &mut dyn KvTxn,
    q: &mut ast::Query,
    params: &[Value],
) -> Result<()> {
    let Some(with) = &mut q.with else {
        return Ok(());
    };
    if !with.recursive {
        return Ok(());
    }
    with.recursive = false;
    for i in 0..with.cte_tables.len() {
        let name = ident(&with.cte_tables[i].alias.name);
        let mut names = Vec::new();
        query_tables(&with.cte_tables[i].query, &mut names);
        if !names.contains(&name) {
            continue;
        }
        let earlier = with.cte_tables[..i].to_vec();
        let cte = &with.cte_tables[i];
        let form = || {
            SqlError::invalid_recursion(format!(
                "recursive query \"{name}\" does not have the form non-recursive-term UNION [ALL] recursive-term"
            ))
        };
        let SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier,
            left,
            right,
        } = cte.query.body.as_ref()
        else {
            return Err(form());
        };
        let mut base_names = Vec::new();
        set_expr_tables(left, &mut base_names);
        if base_names.contains(&name) {
            return Err(form());
        }
        let all = matches!(set_quantifier, SetQuantifier::All);
        // A query of `body` with `ctes` as its WITH.
        let query_of = |body: &SetExpr, ctes: Vec<ast::Cte>, limit0: bool| -> Result<ast::Query> {
            let mut query = (*cte.query).clone();
            query.body = Box::new(body.clone());
            query.with = Some(ast::With {
                with_token: with.with_token.clone(),
                recursive: false,
                cte_tables: ctes,
            });
            if limit0 {
                query.limit_clause = Some(ast::LimitClause::LimitOffset {
                    limit: Some(ast::Expr::Value(
                        ast::Value::Number("0".into(), false).into(),
                    )),
                    offset: None,
                    limit_by: Vec::new(),
                });
            }
            Ok(query)
        };
        let base = run(txn, query_of(left, earlier.clone(), false)?, params).await?;
        let columns: Vec<String> = if cte.alias.columns.is_empty() {
            base.columns.iter().map(|(n, _)| n.clone()).collect()
        } else {
            if cte.alias.columns.len() != base.columns.len() {
                return Err(SqlError::syntax(format!(
                    "WITH query \"{name}\" has {} columns available but {} columns specified",
                    base.columns.len(),
                    cte.alias.columns.len()
                )));
            }
            cte.alias.columns.iter().map(|c| ident(&c.name)).collect()
        };
        let types: Vec<Option<DataType>> = base.columns.iter().map(|(_, t)| *t).collect();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        let keep = |row: &Vec<Value>, seen: &mut HashSet<Vec<u8>>| -> Result<bool> {
            Ok(all || seen.insert(crate::catalog::encode(row)?))
        };
        let mut working = Vec::new();
        for row in base.rows {
            if keep(&row, &mut seen)? {
                working.push(row);
            }
        }
        let alias = ast::TableAlias {
            name: cte.alias.name.clone(),
            columns: columns
                .iter()
                .map(|c| ast::TableAliasColumnDef {
                    name: ast::Ident::with_quote('"', c),
                    data_type: None,
                })
                .collect(),
        };
        let empty = query_of(left, earlier.clone(), true)?;
        while !working.is_empty() {
            rows.extend(working.iter().cloned());
            if rows.len() > MAX_ROWS {
                return Err(SqlError::program_limit_exceeded(format!(
                    "recursive query \"{name}\" gives more than {MAX_ROWS} rows here"
                )));
            }
            let mut ctes = earlier.clone();
            ctes.push(ast::Cte {
                alias: alias.clone(),
                query: Box::new(values(&working, &types)?),
                from: None,
                materialized: None,
                closing_paren_token: cte.closing_paren_token.clone(),
            });
            let step = run(txn, query_of(right, ctes, false)?, params).await?;
            if step.columns.len() != columns.len() {
                return Err(SqlError::syntax(format!(
                    "each UNION query of \"{name}\" must have the same number of columns"
                )));
            }
            working.clear();
            for row in step.rows {
                if keep(&row, &mut seen)? {
                    working.push(row);
                }
            }
        }
        let body = if rows.is_empty() {
            empty
        } else {
            values(&rows, &types)?
        };
        let cte = &mut with.cte_tables[i];
        *cte.query = body;
        cte.alias = alias;
    }
    Ok(())
}

/// Runs `q` (plain WITH, no recursion) in `txn`.
async fn run(txn: &mut dyn KvTxn, q: ast::Query, params: &[Value]) -> Result<super::QueryResult> {
    let stmt = Statement::Query(Box::new(q));
    Box::pin(super::execute_named(txn, &stmt, params, None)).await
}

/// A query of `rows` with columns of `types`: `VALUES (…), …`, each
/// value a literal cast to its column's type, or for no rows a SELECT of
/// such NULLs with LIMIT 0.
pub(super) fn rows_query(rows: &[Vec<Value>], types: &[Option<DataType>]) -> Result<ast::Query> {
    if rows.is_empty() {
        let nulls = vec![Value::Null; types.len()];
        let mut q = values(&[nulls], types)?;
        q.limit_clause = Some(ast::LimitClause::LimitOffset {
            limit: Some(ast::Expr::Value(
                ast::Value::Number("0".into(), false).into(),
            )),
            offset: None,
            limit_by: Vec::new(),
        });
        return Ok(q);
    }
    values(rows, types)
}

/// `VALUES (…), …` of `rows`, each value a literal cast to its column's
/// type (an enum type's label is left a quoted literal, which is read as
/// one where it meets the type).
fn values(rows: &[Vec<Value>], types: &[Option<DataType>]) -> Result<ast::Query> {
    let mut sql = String::from("VALUES ");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            let ty = types.get(j).copied().flatten().or_else(|| v.data_type());
            let text = match v {
                Value::Null => "NULL".to_string(),
                other => format!("'{}'", other.to_string().replace('\'', "''")),
            };
            match ty {
                Some(DataType::Enum(_)) | None => sql.push_str(&text),
                Some(t) => sql.push_str(&format!("CAST({text} AS {t})")),
            }
        }
        sql.push(')');
    }
    match crate::syntax::parse(&sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => Err(SqlError::internal("a recursive query's rows did not parse")),
    }
}
