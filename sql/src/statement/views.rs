//! Views: `CREATE VIEW v [(cols)] AS query`, `DROP VIEW`. A view is its
//! query's text in the catalog; a statement that names one is rewritten
//! with the view as a subquery in its FROM (as a WITH query is, see
//! `rewrite`), and then checked and bound as any other statement — so the
//! privileges checked are those on the view's tables, for the user who
//! runs the statement.
//!
//! ```text
//!   0x02 'w' <name>  → ViewDef (postcard)
//! ```

use serde::{Deserialize, Serialize};
use sqlparser::ast::{self, Statement};

use super::table_refs::query_tables;
use super::{QueryResult, done, load_table};
use crate::catalog;
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;
use crate::syntax::{ident, object_name};
use crate::value::Value;

const VIEWS: &[u8] = &[0x02, b'w'];

/// How deep views may name views.
const MAX_DEPTH: usize = 16;

/// A view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDef {
    /// Its name.
    pub name: String,
    /// Its columns' names.
    pub columns: Vec<String>,
    /// Its query, as SQL.
    pub sql: String,
}

/// The catalog key of view `name`.
pub fn view_key(name: &str) -> Vec<u8> {
    [VIEWS, name.as_bytes()].concat()
}

fn views_range() -> (Vec<u8>, Vec<u8>) {
    (VIEWS.to_vec(), catalog::prefix_end(VIEWS))
}

/// View `name`, read through the transaction.
pub(super) async fn view(txn: &mut dyn KvTxn, name: &str) -> Result<Option<ViewDef>> {
    match txn.get(&view_key(name)).await? {
        Some(b) => Ok(Some(catalog::decode(&b, "view")?)),
        None => Ok(None),
    }
}

/// Every view, read through the transaction.
pub(crate) async fn all_views(txn: &mut dyn KvTxn) -> Result<Vec<ViewDef>> {
    let (start, end) = views_range();
    txn.scan(&start, &end)
        .await?
        .iter()
        .map(|(_, v)| catalog::decode(v, "view"))
        .collect()
}

fn parse_query(sql: &str) -> Result<ast::Query> {
    let mut statements = crate::syntax::parse(sql)?;
    match (statements.pop(), statements.pop()) {
        (Some(Statement::Query(q)), None) => Ok(*q),
        _ => Err(SqlError::internal("a view's query did not parse")),
    }
}

/// The views `q` names (a name that is not a table), each expanded in
/// turn: name → (alias with its columns, its query).
fn views_of<'a>(
    txn: &'a mut dyn KvTxn,
    q: &'a ast::Query,
    depth: usize,
    out: &'a mut super::rewrite::Ctes,
) -> crate::kv::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let mut names = Vec::new();
        query_tables(q, &mut names);
        for n in names {
            if out.contains_key(&n)
                || n.starts_with(super::table_refs::TYPE_MARK)
                || load_table(txn, &n).await?.is_some()
            {
                continue;
            }
            let Some(v) = view(txn, &n).await? else {
                continue;
            };
            if depth >= MAX_DEPTH {
                return Err(SqlError::too_complex(format!(
                    "views nested deeper than {MAX_DEPTH}"
                )));
            }
            let mut body = parse_query(&v.sql)?;
            let mut inner = super::rewrite::Ctes::new();
            views_of(txn, &body, depth + 1, &mut inner).await?;
            super::rewrite::with_ctes(&mut body, &inner, &[])?;
            let alias = ast::TableAlias {
                name: ast::Ident::with_quote('"', &v.name),
                columns: v
                    .columns
                    .iter()
                    .map(|c| ast::TableAliasColumnDef {
                        name: ast::Ident::with_quote('"', c),
                        data_type: None,
                    })
                    .collect(),
            };
            out.insert(n, (alias, body));
        }
        Ok(())
    })
}

/// `stmt` with the views it names in place of their names, if it names
/// any (a query, or an INSERT's rows).
pub(super) async fn expand(
    txn: &mut dyn KvTxn,
    stmt: &Statement,
    params: &[Value],
) -> Result<Option<Statement>> {
    let q = match stmt {
        Statement::Query(q) => q.as_ref(),
        Statement::Insert(i) => match &i.source {
            Some(s) => s.as_ref(),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let mut views = super::rewrite::Ctes::new();
    views_of(txn, q, 0, &mut views).await?;
    if views.is_empty() {
        return Ok(None);
    }
    let mut stmt = stmt.clone();
    let q = match &mut stmt {
        Statement::Query(q) => q.as_mut(),
        Statement::Insert(ast::Insert {
            source: Some(s), ..
        }) => s.as_mut(),
        _ => return Ok(None),
    };
    super::rewrite::with_ctes(q, &views, params)?;
    Ok(Some(stmt))
}

/// CREATE [OR REPLACE] VIEW.
pub(super) async fn create_view(
    txn: &mut dyn KvTxn,
    name: &ast::ObjectName,
    or_replace: bool,
    if_not_exists: bool,
    columns: &[ast::ViewColumnDef],
    query: &ast::Query,
) -> Result<QueryResult> {
    let name = object_name(name)?;
    if load_table(txn, &name).await?.is_some() || txn.sequence_def(&name).await?.is_some() {
        return Err(SqlError::duplicate_table(format!(
            "relation \"{name}\" already exists"
        )));
    }
    if view(txn, &name).await?.is_some() {
        if if_not_exists {
            return Ok(done("CREATE VIEW", 0));
        }
        if !or_replace {
            return Err(SqlError::duplicate_table(format!(
                "relation \"{name}\" already exists"
            )));
        }
    }
    // Bound once now: its tables and columns must exist.
    let probe = Statement::Query(Box::new(query.clone()));
    let probe = expand(txn, &probe, &[]).await?.unwrap_or(probe);
    let Statement::Query(q) = &probe else {
        return Err(SqlError::internal("a view's query changed kind"));
    };
    let mut q = q.as_ref().clone();
    if super::rewrite::needed(&q) {
        super::rewrite::query(&mut q, &[])?;
    }
    let nulls: Vec<Value> = Vec::new();
    let bound = super::bind_query(txn, &q, &nulls, None).await?;
    let mut names: Vec<String> = bound.columns.iter().map(|c| c.0.clone()).collect();
    if !columns.is_empty() {
        if columns.len() > names.len() {
            return Err(SqlError::syntax(
                "CREATE VIEW specifies more column names than columns",
            ));
        }
        for (n, c) in names.iter_mut().zip(columns) {
            *n = ident(&c.name);
        }
    }
    let def = ViewDef {
        name: name.clone(),
        columns: names,
        sql: query.to_string(),
    };
    txn.put(view_key(&name), catalog::encode(&def)?)?;
    Ok(done("CREATE VIEW", 0))
}

/// DROP VIEW [IF EXISTS]: refused (2BP01) while another view names it.
pub(super) async fn drop_views(
    txn: &mut dyn KvTxn,
    names: &[ast::ObjectName],
    if_exists: bool,
) -> Result<QueryResult> {
    let dropping = names
        .iter()
        .map(object_name)
        .collect::<Result<Vec<String>>>()?;
    for name in &dropping {
        if view(txn, name).await?.is_none() {
            if if_exists {
                continue;
            }
            return Err(SqlError::undefined_table(format!(
                "view \"{name}\" does not exist"
            )));
        }
        refuse_if_viewed(txn, name, &dropping, "drop", "view").await?;
        txn.delete(view_key(name))?;
    }
    Ok(done("DROP VIEW", 0))
}

/// 2BP01 while a view not in `also` names `name` (`verb`: what would
/// be done to it, "drop" or "alter").
pub(super) async fn refuse_if_viewed(
    txn: &mut dyn KvTxn,
    name: &str,
    also: &[String],
    verb: &str,
    kind: &str,
) -> Result<()> {
    for v in all_views(txn).await? {
        if also.contains(&v.name) || v.name == name {
            continue;
        }
        let mut names = Vec::new();
        query_tables(&parse_query(&v.sql)?, &mut names);
        if names.iter().any(|n| n == name) {
            return Err(SqlError::dependent_objects(format!(
                "cannot {verb} {kind} {name} because other objects depend on it: view {} depends on it",
                v.name
            )));
        }
    }
    Ok(())
}
