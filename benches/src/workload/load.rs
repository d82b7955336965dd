//! Setup shared by the workloads: drop the table, create it, and load its
//! rows with multi-row `INSERT`s of literals (the same text on every
//! target, unprepared).

use super::target::{Connection, DbError};

/// Rows per `INSERT`.
const LOAD_BATCH: usize = 100;

/// A table to (re)create: its name, its column definitions, and the
/// column list its rows are inserted under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableDef {
    /// `bank_accounts`.
    pub name: &'static str,
    /// `id BIGINT PRIMARY KEY, balance BIGINT NOT NULL`.
    pub columns: &'static str,
    /// `id, balance`.
    pub insert_columns: &'static str,
}

/// Drops `table` if it exists, creates it, and inserts `rows` (each a
/// parenthesised tuple of SQL literals, `(1, 'x')`) [`LOAD_BATCH`] at a
/// time.
pub(crate) async fn recreate(
    conn: &mut dyn Connection,
    table: TableDef,
    rows: impl Iterator<Item = String>,
) -> Result<(), DbError> {
    conn.batch(&format!("DROP TABLE IF EXISTS {}", table.name))
        .await?;
    conn.batch(&format!("CREATE TABLE {} ({})", table.name, table.columns))
        .await?;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let batch: Vec<String> = rows.by_ref().take(LOAD_BATCH).collect();
        conn.batch(&format!(
            "INSERT INTO {} ({}) VALUES {}",
            table.name,
            table.insert_columns,
            batch.join(", ")
        ))
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::workload::target::{Param, Rows, Txn};

    /// Records the statements it is sent.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    #[async_trait]
    impl Connection for Recorder {
        async fn query(&mut self, _: &str, _: &[Param]) -> Result<Rows, DbError> {
            Err(DbError::bad_result("not used"))
        }
        async fn execute(&mut self, _: &str, _: &[Param]) -> Result<u64, DbError> {
            Err(DbError::bad_result("not used"))
        }
        async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
            self.0.push(sql.to_string());
            Ok(())
        }
        async fn begin<'a>(&'a mut self) -> Result<Box<dyn Txn + 'a>, DbError> {
            Err(DbError::bad_result("not used"))
        }
    }

    const T: TableDef = TableDef {
        name: "t",
        columns: "k BIGINT PRIMARY KEY",
        insert_columns: "k",
    };

    #[tokio::test]
    async fn rows_are_inserted_in_batches_after_drop_and_create() {
        let mut conn = Recorder::default();
        recreate(&mut conn, T, (0..250).map(|k| format!("({k})")))
            .await
            .unwrap();
        let sent = &conn.0;
        assert_eq!(sent.len(), 2 + 3, "{sent:?}");
        assert_eq!(sent[0], "DROP TABLE IF EXISTS t");
        assert_eq!(sent[1], "CREATE TABLE t (k BIGINT PRIMARY KEY)");
        assert!(sent[2].starts_with("INSERT INTO t (k) VALUES (0), (1), "));
        assert!(sent[2].ends_with(", (99)"));
        assert!(sent[4].starts_with("INSERT INTO t (k) VALUES (200), "));
        assert!(sent[4].ends_with(", (249)"));
    }

    #[tokio::test]
    async fn an_empty_table_gets_no_insert() {
        let mut conn = Recorder::default();
        recreate(&mut conn, T, std::iter::empty()).await.unwrap();
        assert_eq!(conn.0.len(), 2);
    }
}
