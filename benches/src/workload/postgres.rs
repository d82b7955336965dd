//! [`Postgres`]: the same workloads on PostgreSQL through `tokio-postgres`,
//! the comparison point.
//!
//! One connection per worker (opened before the clock starts). Transactions
//! are `BEGIN ISOLATION LEVEL SERIALIZABLE` … `COMMIT`; statements outside
//! one run with `default_transaction_isolation = serializable`, so both
//! systems give every operation the same isolation. Serialization failures
//! (40001) and deadlocks (40P01) are retryable.
//!
//! NB: each connection prepares a statement the first time it runs it and
//! reuses it after (one round trip per statement, as Spanlite's one
//! request per statement). DDL and bulk loads go unprepared through the
//! simple query protocol.
//!
//! Not here: TLS (local benchmarking only), reconnecting a connection that
//! broke (its worker's later transactions fail and are counted as errors).

use std::collections::HashMap;

use async_trait::async_trait;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::target::{Cell, Connection, DbError, FailureKind, Param, Rows, Target, Txn};

/// A PostgreSQL database given by a connection URL.
#[derive(Debug)]
pub struct Postgres {
    config: Config,
}

impl Postgres {
    /// Parses `url` (`postgres://user:password@host:port/db` or
    /// `host=… user=…`). Connects nothing yet.
    pub fn new(url: &str) -> Result<Postgres, DbError> {
        let config = url.parse::<Config>().map_err(|e| DbError {
            kind: FailureKind::Connect,
            retryable: false,
            source: Box::new(e),
        })?;
        Ok(Postgres { config })
    }

    async fn open(&self) -> Result<PgConnection, DbError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| DbError {
            kind: FailureKind::Connect,
            retryable: false,
            source: Box::new(e),
        })?;
        // NB: the connection task ends when the client is dropped; an error
        // it ends with also fails the client's next call, which is where
        // the worker sees it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute("SET default_transaction_isolation = 'serializable'")
            .await
            .map_err(db_error)?;
        Ok(PgConnection {
            client,
            statements: HashMap::new(),
        })
    }
}

#[async_trait]
impl Target for Postgres {
    fn name(&self) -> &str {
        "postgresql"
    }

    fn endpoint(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or(""),
            self.config.get_dbname().unwrap_or("")
        )
    }

    fn isolation(&self) -> &str {
        "serializable (SSI)"
    }

    async fn durability(&self) -> Result<String, DbError> {
        let conn = self.open().await?;
        let settings = ["fsync", "synchronous_commit", "wal_sync_method"];
        let mut shown = Vec::new();
        for name in settings {
            // A server that speaks the protocol without PostgreSQL's
            // settings (Spanlite's own PostgreSQL port) answers an error:
            // say so instead of failing the run.
            let value = match conn
                .client
                .query_one("SELECT current_setting($1)", &[&name])
                .await
            {
                Ok(row) => row.try_get::<_, String>(0).map_err(db_error)?,
                Err(e) => {
                    shown.push(format!("settings not readable ({})", db_error(e)));
                    break;
                }
            };
            shown.push(format!("{name}={value}"));
        }
        Ok(shown.join(", "))
    }

    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        Ok(Box::new(self.open().await?))
    }
}

/// One worker's PostgreSQL connection and the statements it prepared.
struct PgConnection {
    client: Client,
    /// Prepared statements by SQL text.
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnection")
            .field("prepared", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl PgConnection {
    /// `sql` prepared on this connection (the first time, a round trip).
    async fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await.map_err(db_error)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    async fn query_prepared(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        let statement = self.statement(sql).await?;
        let result = self
            .client
            .query(&statement, &to_sql(params))
            .await
            .map_err(db_error)?;
        result.iter().map(row).collect()
    }

    async fn execute_prepared(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let statement = self.statement(sql).await?;
        self.client
            .execute(&statement, &to_sql(params))
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl Connection for PgConnection {
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        self.query_prepared(sql, params).await
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        self.execute_prepared(sql, params).await
    }

    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).await.map_err(db_error)
    }

    async fn begin<'a>(&'a mut self) -> Result<Box<dyn Txn + 'a>, DbError> {
        self.client
            .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await
            .map_err(db_error)?;
        Ok(Box::new(PgTxn { conn: self }))
    }
}

/// An open PostgreSQL transaction on its connection.
#[derive(Debug)]
struct PgTxn<'a> {
    conn: &'a mut PgConnection,
}

#[async_trait]
impl Txn for PgTxn<'_> {
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        self.conn.query_prepared(sql, params).await
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        self.conn.execute_prepared(sql, params).await
    }

    async fn commit(self: Box<Self>) -> Result<(), DbError> {
        self.conn.client.batch_execute("COMMIT").await.map_err(|e| {
            let mut e = db_error(e);
            if e.kind == FailureKind::Disconnected {
                // NB: the COMMIT may have reached the server.
                e.kind = FailureKind::Ambiguous;
            }
            e
        })
    }

    async fn rollback(self: Box<Self>) {
        // A closed connection has nothing to roll back; any other error
        // would show again at the next statement.
        let _ = self.conn.client.batch_execute("ROLLBACK").await;
    }
}

fn to_sql(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(i) => i as &(dyn ToSql + Sync),
            Param::Text(s) => s as &(dyn ToSql + Sync),
        })
        .collect()
}

fn row(row: &tokio_postgres::Row) -> Result<Vec<Cell>, DbError> {
    (0..row.len())
        .map(|i| {
            let t = row.columns()[i].type_();
            let cell = if *t == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)
                    .map(|v| v.map_or(Cell::Null, Cell::Int))
            } else if *t == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)
                    .map(|v| v.map_or(Cell::Null, |v| Cell::Int(v.into())))
            } else if *t == Type::TEXT || *t == Type::VARCHAR {
                row.try_get::<_, Option<String>>(i)
                    .map(|v| v.map_or(Cell::Null, Cell::Text))
            } else {
                Ok(Cell::Other(t.name().to_string()))
            };
            cell.map_err(db_error)
        })
        .collect()
}

/// The driver's error, classified for the report.
fn db_error(e: tokio_postgres::Error) -> DbError {
    let (kind, retryable) = match e.code() {
        Some(code) => (
            FailureKind::Sql(code.code().to_string()),
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED,
        ),
        None if e.is_closed() => (FailureKind::Disconnected, false),
        None => (FailureKind::Driver, false),
    };
    DbError {
        kind,
        retryable,
        source: Box::new(e),
    }
}
