//! Comments: `COMMENT ON TABLE t IS '…'` and `COMMENT ON COLUMN t.c IS
//! '…'` (`IS NULL` removes one), kept in the catalog by table and column
//! name, moved by renames and dropped with what they describe; read by
//! `obj_description`, `col_description` and `pg_description` (so psql's
//! `\d+` and `\dt+`, and migration tools that compare them, see them).
//!
//! ```text
//!   0x02 'k' <table> 0x00 <column, empty for the table>  → the text
//! ```

use sqlparser::ast::{CommentObject, ObjectName};

use super::{QueryResult, done, table};
use crate::catalog;
use crate::error::{Result, SqlError};
use crate::kv::KvTxn;

const COMMENTS: &[u8] = &[0x02, b'k'];

/// A comment: the table, the column (empty for the table's own), the text.
pub(crate) type Comment = (String, String, String);

fn comment_key(table: &str, column: &str) -> Vec<u8> {
    [COMMENTS, table.as_bytes(), &[0], column.as_bytes()].concat()
}

/// The keys of every comment on `table` and its columns.
fn table_range(table: &str) -> (Vec<u8>, Vec<u8>) {
    let start = [COMMENTS, table.as_bytes(), &[0]].concat();
    let end = catalog::prefix_end(&start);
    (start, end)
}

/// Every comment, read through the transaction.
pub(crate) async fn all_comments(txn: &mut dyn KvTxn) -> Result<Vec<Comment>> {
    let (start, end) = (COMMENTS.to_vec(), catalog::prefix_end(COMMENTS));
    let mut out = Vec::new();
    for (k, v) in txn.scan(&start, &end).await? {
        let rest = &k[COMMENTS.len()..];
        let Some(at) = rest.iter().position(|b| *b == 0) else {
            return Err(SqlError::internal(
                "a comment's catalog key has no column part",
            ));
        };
        let text: String = catalog::decode(&v, "comment")?;
        out.push((
            String::from_utf8_lossy(&rest[..at]).into_owned(),
            String::from_utf8_lossy(&rest[at + 1..]).into_owned(),
            text,
        ));
    }
    Ok(out)
}

/// `COMMENT ON TABLE | COLUMN name IS 'text' | NULL`.
pub(super) async fn comment(
    txn: &mut dyn KvTxn,
    kind: CommentObject,
    name: &ObjectName,
    text: Option<&str>,
) -> Result<QueryResult> {
    let (table_name, column) = match kind {
        CommentObject::Table => (name.clone(), String::new()),
        CommentObject::Column => {
            let mut parts = name.0.clone();
            let column = parts
                .pop()
                .and_then(|p| p.as_ident().map(crate::syntax::ident))
                .ok_or_else(|| {
                    SqlError::syntax(format!("column name \"{name}\" must be qualified"))
                })?;
            if parts.is_empty() {
                return Err(SqlError::syntax(format!(
                    "column name \"{name}\" must be qualified"
                )));
            }
            (ObjectName(parts), column)
        }
        other => {
            return Err(SqlError::not_supported(format!(
                "COMMENT ON {other} (comments on tables and columns are kept)"
            )));
        }
    };
    let def = table(txn, &table_name).await?;
    super::roles::check_owner(txn, &def).await?;
    if !column.is_empty() {
        def.column(&column)?;
    }
    let key = comment_key(&def.name, &column);
    match text {
        // PostgreSQL keeps no empty comment either.
        Some(t) if !t.is_empty() => txn.put(key, catalog::encode(&t.to_string())?)?,
        _ => txn.delete(key)?,
    }
    Ok(done("COMMENT", 0))
}

/// Drops the comments of table `table` (DROP TABLE), or of its column
/// `column` only.
pub(super) async fn drop_comments(
    txn: &mut dyn KvTxn,
    table: &str,
    column: Option<&str>,
) -> Result<()> {
    match column {
        Some(c) => txn.delete(comment_key(table, c)),
        None => {
            let (start, end) = table_range(table);
            for (k, _) in txn.scan(&start, &end).await? {
                txn.delete(k)?;
            }
            Ok(())
        }
    }
}

/// Moves the comments of table `from` to table `to` (`ALTER TABLE …
/// RENAME TO`), or of its column `from_column` to `to_column`.
pub(super) async fn move_comments(
    txn: &mut dyn KvTxn,
    from: &str,
    to: &str,
    columns: Option<(&str, &str)>,
) -> Result<()> {
    let (start, end) = table_range(from);
    for (k, v) in txn.scan(&start, &end).await? {
        let column = String::from_utf8_lossy(&k[start.len()..]).into_owned();
        let new_column = match columns {
            Some((a, b)) if column == a => b.to_string(),
            Some(_) => continue,
            None => column,
        };
        txn.delete(k)?;
        txn.put(comment_key(to, &new_column), v)?;
    }
    Ok(())
}
