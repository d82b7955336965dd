//! One SQL session: its transaction state and statement execution.
//!
//! ```text
//!   idle ──BEGIN──▶ in transaction ──COMMIT/ROLLBACK──▶ idle
//!                        │ error
//!                        ▼
//!                      failed ──COMMIT (= rollback) / ROLLBACK──▶ idle
//! ```
//!
//! Outside an explicit transaction each statement runs in its own
//! transaction, retried with backoff while it fails with 40001. Inside one,
//! any error fails the whole transaction (as in PostgreSQL), so a statement
//! that failed half-way never commits its earlier writes.

use std::time::{Duration, Instant};

use spanlite_sql::sqlparser::ast::{Statement, TransactionAccessMode, TransactionMode};
use spanlite_sql::{BoxFuture, KvTxn, Pairs, QueryResult, SqlError, execute, parse};

use crate::gateway::{Gateway, GatewayError, Txn, TxnOptions};

/// What one statement produced.
pub type StatementResult = Result<QueryResult, SqlError>;

/// A gateway transaction as the SQL executor sees it.
struct Kv<'a>(&'a mut Txn);

/// A gateway error as SQL sees it.
fn sql_error(e: GatewayError) -> SqlError {
    match e {
        GatewayError::Aborted(m) => {
            SqlError::serialization_failure(format!("restart transaction: {m}"))
        }
        GatewayError::Unavailable(m) | GatewayError::NotInitialized(m) => SqlError::unavailable(m),
        GatewayError::Invalid(m) if m.contains("read-only") => SqlError::read_only(m),
        GatewayError::Invalid(m) => SqlError::not_supported(m),
        GatewayError::Failed(m) => SqlError::internal(m),
    }
}

impl KvTxn for Kv<'_> {
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, SqlError>> {
        Box::pin(async move { self.0.get(key).await.map_err(sql_error) })
    }

    fn scan<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs, SqlError>> {
        Box::pin(async move { self.0.scan(start, end).await.map_err(sql_error) })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), SqlError> {
        self.0.put(key, value).map_err(sql_error)
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<(), SqlError> {
        self.0.delete(key).map_err(sql_error)
    }
}

/// An explicit transaction and whether a statement in it failed.
#[derive(Debug)]
struct Open {
    txn: Txn,
    failed: bool,
}

/// How long an implicit transaction is retried on 40001.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// A SQL session on a gateway.
#[derive(Debug)]
pub struct Session {
    gateway: Gateway,
    open: Option<Open>,
}

fn tag(t: &str) -> QueryResult {
    QueryResult {
        tag: t.to_string(),
        ..QueryResult::default()
    }
}

impl Session {
    /// A session on `gateway`, outside any transaction.
    pub fn new(gateway: Gateway) -> Self {
        Self {
            gateway,
            open: None,
        }
    }

    /// The definition of table `name`, read in a read-only transaction.
    pub async fn table(&self, name: &str) -> Result<Option<spanlite_sql::TableDef>, SqlError> {
        let options = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
        let tables = spanlite_sql::tables(&mut Kv(&mut txn)).await?;
        Ok(tables.into_iter().find(|t| t.name == name))
    }

    /// True inside BEGIN … COMMIT.
    pub fn in_transaction(&self) -> bool {
        self.open.is_some()
    }

    /// True when the open transaction failed (only ROLLBACK helps).
    pub fn failed(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.failed)
    }

    /// Runs the statements of `sql` in order; stops at the first error.
    pub async fn run(&mut self, sql: &str) -> Vec<StatementResult> {
        let statements = match parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail();
                return vec![Err(e)];
            }
        };
        let mut out = Vec::new();
        for stmt in &statements {
            let r = self.statement(stmt).await;
            let stop = r.is_err();
            out.push(r);
            if stop {
                break;
            }
        }
        out
    }

    fn fail(&mut self) {
        if let Some(open) = &mut self.open {
            open.failed = true;
        }
    }

    /// Ends the session: an open transaction is rolled back.
    pub async fn close(&mut self) {
        if let Some(open) = self.open.take() {
            open.txn.rollback().await;
        }
    }

    async fn statement(&mut self, stmt: &Statement) -> StatementResult {
        match stmt {
            Statement::StartTransaction { modes, .. } => self.begin(modes),
            Statement::Commit { .. } => self.commit().await,
            Statement::Rollback { .. } => {
                if let Some(open) = self.open.take() {
                    open.txn.rollback().await;
                }
                Ok(tag("ROLLBACK"))
            }
            _ => match &mut self.open {
                Some(open) if open.failed => Err(SqlError {
                    code: "25P02",
                    message: "current transaction is aborted, commands ignored until end of transaction block".into(),
                }),
                Some(open) => {
                    let r = execute(&mut Kv(&mut open.txn), stmt, &[]).await;
                    if r.is_err() {
                        open.failed = true;
                    }
                    r
                }
                None => self.implicit(stmt).await,
            },
        }
    }

    fn begin(&mut self, modes: &[TransactionMode]) -> StatementResult {
        if self.open.is_some() {
            return Err(SqlError {
                code: "25001",
                message: "there is already a transaction in progress".into(),
            });
        }
        let mut options = TxnOptions::default();
        for m in modes {
            match m {
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                    options.read_only = true;
                }
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {}
                // Every isolation level gets serializable 2PL (stronger
                // than asked is allowed).
                TransactionMode::IsolationLevel(_) => {}
            }
        }
        let txn = self.gateway.begin_with(&options).map_err(sql_error)?;
        self.open = Some(Open { txn, failed: false });
        Ok(tag("BEGIN"))
    }

    async fn commit(&mut self) -> StatementResult {
        let Some(open) = self.open.take() else {
            // PostgreSQL warns and succeeds.
            return Ok(tag("COMMIT"));
        };
        if open.failed {
            open.txn.rollback().await;
            return Ok(tag("ROLLBACK"));
        }
        open.txn.commit().await.map_err(sql_error)?;
        Ok(tag("COMMIT"))
    }

    /// One statement in its own transaction, retried on 40001.
    async fn implicit(&mut self, stmt: &Statement) -> StatementResult {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(2);
        loop {
            let mut txn = self
                .gateway
                .begin_with(&TxnOptions::default())
                .map_err(sql_error)?;
            let result = match execute(&mut Kv(&mut txn), stmt, &[]).await {
                Ok(r) => txn.commit().await.map(|_| r).map_err(sql_error),
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() && start.elapsed() + backoff < RETRY_FOR => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }
}
