//! [`Spanlite`]: the workloads through the Rust driver (`spanlite-client`).
//!
//! One [`Client`] is shared by every worker; its pool keeps up to one idle
//! session per worker, so each statement or transaction reuses a session
//! (new sessions rotate over the nodes given). Each worker prepares its
//! statements at first use (`Client::prepare`), as the PostgreSQL target
//! does; later runs send the statement's id and its parameters.
//!
//! NB: transactions are begun with [`Client::begin_with`] (in the run's
//! [`Mode`]) and committed by hand,
//! not with `Client::transaction`, so the runner's own retry loop (the same
//! for every target) sees and counts every abort. A single statement outside
//! a transaction is retried by the node itself on 40001: those retries are
//! not visible here.

use async_trait::async_trait;
use std::collections::HashMap;

use spanlite_client::{
    Client, ClientOptions, Error, PreparedStatement, Transaction, TransactionMode, Value,
};

use super::options::Mode;
use super::target::{Cell, Connection, DbError, FailureKind, Param, Rows, Target, Txn};

/// A Spanlite cluster reached through `spanlite-client`.
#[derive(Debug)]
pub struct Spanlite {
    client: Client,
    endpoint: String,
    mode: Mode,
}

impl Spanlite {
    /// Connects to the nodes at `urls` (`host:port`), keeping up to
    /// `sessions` idle sessions (one per worker). `endpoint` describes the
    /// cluster in reports (`embedded, 3 nodes`).
    pub async fn connect(
        urls: &[String],
        sessions: usize,
        endpoint: impl Into<String>,
    ) -> Result<Spanlite, DbError> {
        Self::connect_with(urls, sessions, endpoint, ClientOptions::default()).await
    }

    /// [`Spanlite::connect`] with driver options (TLS, say).
    pub async fn connect_with(
        urls: &[String],
        sessions: usize,
        endpoint: impl Into<String>,
        options: ClientOptions,
    ) -> Result<Spanlite, DbError> {
        let options = options
            .max_idle_sessions(sessions)
            .application_name("spanlite-workload");
        let client = Client::connect_with(urls.iter().cloned(), options)
            .await
            .map_err(db_error)?;
        Ok(Spanlite {
            client,
            endpoint: endpoint.into(),
            mode: Mode::default(),
        })
    }

    /// Runs read-write transactions in `mode` (default 2PL).
    pub fn with_mode(mut self, mode: Mode) -> Spanlite {
        self.mode = mode;
        self
    }
}

#[async_trait]
impl Target for Spanlite {
    fn name(&self) -> &str {
        "spanlite"
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn isolation(&self) -> &str {
        self.mode.isolation()
    }

    async fn durability(&self) -> Result<String, DbError> {
        // NB: not configurable in Spanlite, so not asked: every node's WAL
        // fdatasyncs each group commit, and a write is acknowledged once a
        // majority of its tablet's replicas logged it.
        Ok("WAL fdatasync per group commit, Raft majority of 3".into())
    }

    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        Ok(Box::new(SpanliteConnection {
            client: self.client.clone(),
            mode: TransactionMode::ReadWriteWith(self.mode.concurrency()),
            prepared: Prepared::default(),
        }))
    }
}

/// A worker's handle on the shared client.
#[derive(Debug)]
struct SpanliteConnection {
    client: Client,
    mode: TransactionMode,
    prepared: Prepared,
}

/// The worker's statements, prepared at first use (as the PostgreSQL
/// target prepares them with tokio-postgres): later runs send an id.
#[derive(Debug, Default)]
struct Prepared(HashMap<String, PreparedStatement>);

impl Prepared {
    fn get(&mut self, client: &Client, sql: &str) -> Result<PreparedStatement, DbError> {
        if let Some(p) = self.0.get(sql) {
            return Ok(p.clone());
        }
        let p = client.prepare(sql).map_err(db_error)?;
        self.0.insert(sql.to_string(), p.clone());
        Ok(p)
    }
}

#[async_trait]
impl Connection for SpanliteConnection {
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        let stmt = self.prepared.get(&self.client, sql)?;
        let result = self
            .client
            .query_prepared(&stmt, &values(params))
            .await
            .map_err(db_error)?;
        Ok(rows(result))
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let stmt = self.prepared.get(&self.client, sql)?;
        self.client
            .execute_prepared(&stmt, &values(params))
            .await
            .map_err(db_error)
    }

    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.client
            .execute(sql, &[])
            .await
            .map(drop)
            .map_err(db_error)
    }

    async fn begin<'a>(&'a mut self) -> Result<Box<dyn Txn + 'a>, DbError> {
        let tx = self.client.begin_with(self.mode).await.map_err(db_error)?;
        Ok(Box::new(SpanliteTxn {
            tx,
            client: &self.client,
            prepared: &mut self.prepared,
        }))
    }
}

/// An open Spanlite transaction.
#[derive(Debug)]
struct SpanliteTxn<'c> {
    tx: Transaction<'c>,
    client: &'c Client,
    prepared: &'c mut Prepared,
}

#[async_trait]
impl Txn for SpanliteTxn<'_> {
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError> {
        let stmt = self.prepared.get(self.client, sql)?;
        let result = self
            .tx
            .query_prepared(&stmt, &values(params))
            .await
            .map_err(db_error)?;
        Ok(rows(result))
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let stmt = self.prepared.get(self.client, sql)?;
        self.tx
            .execute_prepared(&stmt, &values(params))
            .await
            .map_err(db_error)
    }

    async fn commit(self: Box<Self>) -> Result<(), DbError> {
        self.tx.commit().await.map_err(db_error)
    }

    async fn rollback(self: Box<Self>) {
        // A broken connection has rolled back already; an error here tells
        // nothing the failed statement did not.
        let _ = self.tx.rollback().await;
    }
}

fn values(params: &[Param]) -> Vec<Value> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(i) => Value::Int(*i),
            Param::Text(s) => Value::Text(s.clone()),
        })
        .collect()
}

fn rows(result: spanlite_client::QueryResult) -> Rows {
    result
        .rows
        .into_iter()
        .map(|row| {
            row.into_values()
                .into_iter()
                .map(|v| match v {
                    Value::Null => Cell::Null,
                    Value::Int(i) => Cell::Int(i),
                    Value::Text(s) => Cell::Text(s),
                    other => Cell::Other(other.sql_type().map_or("NULL", |t| t.name()).into()),
                })
                .collect()
        })
        .collect()
}

/// The driver's error, classified for the report.
fn db_error(e: Error) -> DbError {
    let kind = match &e {
        Error::Sql { sqlstate, .. } => FailureKind::Sql(sqlstate.clone()),
        Error::Disconnected { .. } => FailureKind::Disconnected,
        Error::Ambiguous { .. } => FailureKind::Ambiguous,
        Error::Connect { .. } => FailureKind::Connect,
        Error::Column { .. } | Error::Type { .. } | Error::UnexpectedNull { .. } => {
            FailureKind::BadResult
        }
        _ => FailureKind::Driver,
    };
    DbError {
        kind,
        retryable: e.is_retryable(),
        source: Box::new(e),
    }
}
