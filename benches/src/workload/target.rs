//! What a workload runs against: a [`Target`] opens one [`Connection`] per
//! worker; a connection runs single statements (each its own transaction) or
//! begins a [`Txn`]. The workloads are written once against these traits, so
//! Spanlite and PostgreSQL run the same statements in the same order.
//!
//! ```text
//!   Target ──connect()──▶ Connection ──query/execute──▶ one statement, autocommit
//!                             │
//!                             └──begin()──▶ Txn ──query/execute…──▶ commit | rollback
//! ```
//!
//! INVARIANT: every [`Txn`] is ended by [`Txn::commit`] or [`Txn::rollback`];
//! the runner never drops one (a dropped Spanlite transaction closes its
//! session, a dropped PostgreSQL one would leave the connection inside it).

use std::fmt;

use async_trait::async_trait;

/// A statement parameter (`$1`, `$2`, …). The workloads need only these.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A 64-bit integer (`BIGINT` on both systems).
    Int(i64),
    /// Text.
    Text(String),
}

/// One value of a result row, as the workloads read it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer column.
    Int(i64),
    /// A text column.
    Text(String),
    /// A value of another type, by its type's name (the workloads never
    /// read one; kept so a surprise is reported, not hidden).
    Other(String),
}

/// The rows of a result, each a list of cells in column order.
pub type Rows = Vec<Vec<Cell>>;

/// A database the workloads can run against.
///
/// Contract: `connect` may be called once per worker, concurrently; each
/// connection is used by one task at a time.
#[async_trait]
pub trait Target: Send + Sync + fmt::Debug {
    /// The system's short name for reports: `spanlite`, `postgresql`.
    fn name(&self) -> &str;

    /// Where it runs, without secrets: `embedded, 3 nodes`, `bench@127.0.0.1:5432/bench`.
    fn endpoint(&self) -> String;

    /// The isolation level the workload's transactions get, and how.
    fn isolation(&self) -> &str;

    /// What makes a commit durable there, read from the database where it
    /// can say (PostgreSQL's `fsync`, `synchronous_commit`, …).
    async fn durability(&self) -> Result<String, DbError>;

    /// Opens the connection of one worker.
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError>;
}

/// One worker's connection (a session; on Spanlite, a handle on a shared
/// session pool).
#[async_trait]
pub trait Connection: Send {
    /// Runs one statement as a transaction of its own and returns its rows.
    /// Serializable on both systems (a lone `SELECT` on Spanlite is a strong
    /// lock-free read).
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError>;

    /// Runs one statement as a transaction of its own; returns the rows it
    /// changed.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError>;

    /// Runs one statement without parameters (DDL, bulk loads), not prepared.
    async fn batch(&mut self, sql: &str) -> Result<(), DbError>;

    /// Begins a serializable read-write transaction. End it with
    /// [`Txn::commit`] or [`Txn::rollback`].
    async fn begin<'a>(&'a mut self) -> Result<Box<dyn Txn + 'a>, DbError>;
}

/// An open read-write transaction.
///
/// Contract: after a statement failed, only [`Txn::rollback`] is called
/// (the runner does that); a commit that fails has ended the transaction.
#[async_trait]
pub trait Txn: Send {
    /// Runs one statement in the transaction and returns its rows.
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows, DbError>;

    /// Runs one statement in the transaction; returns the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError>;

    /// Commits. A conflict found at commit is a retryable [`DbError`].
    async fn commit(self: Box<Self>) -> Result<(), DbError>;

    /// Rolls back; failures are ignored (a broken connection has rolled back
    /// already).
    async fn rollback(self: Box<Self>);
}

/// Why a statement or transaction failed, as the report counts it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    /// The database refused with this SQLSTATE (`40001`, `40P01`, …).
    Sql(String),
    /// The connection broke before anything could have committed.
    Disconnected,
    /// The connection broke while a commit was in flight: it may have
    /// taken effect.
    Ambiguous,
    /// No connection could be opened.
    Connect,
    /// A result was not what the workload expects (a missing row, a wrong
    /// type).
    BadResult,
    /// The driver reported something else (protocol or usage error).
    Driver,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Sql(state) => match sqlstate_name(state) {
                Some(name) => write!(f, "{state} {name}"),
                None => f.write_str(state),
            },
            FailureKind::Disconnected => f.write_str("disconnected"),
            FailureKind::Ambiguous => f.write_str("ambiguous commit"),
            FailureKind::Connect => f.write_str("connect"),
            FailureKind::BadResult => f.write_str("unexpected result"),
            FailureKind::Driver => f.write_str("driver"),
        }
    }
}

/// PostgreSQL's condition name of a SQLSTATE (the one table of codes).
fn sqlstate_name(state: &str) -> Option<&'static str> {
    spanlite_sqlstate::name(state)
}

/// A failed statement, transaction or connection. Displays the driver's
/// error with its causes (tokio-postgres says only `db error` at the top).
#[derive(Debug, thiserror::Error)]
#[error("{}", chain(.source.as_ref()))]
pub struct DbError {
    /// What the report counts it as.
    pub kind: FailureKind,
    /// True when running the transaction again may succeed and cannot apply
    /// anything twice (serialization failures, deadlocks).
    pub retryable: bool,
    /// The driver's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DbError {
    /// A result the workload cannot read (`what` says why); never retried.
    pub fn bad_result(what: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::BadResult,
            retryable: false,
            source: what.into().into(),
        }
    }
}

/// `error: cause: cause's cause …`, each message once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let message = cause.to_string();
        if !out.contains(&message) {
            out.push_str(": ");
            out.push_str(&message);
        }
        next = cause.source();
    }
    out
}

/// Reads an integer cell; a `NULL` or another type is a
/// [`FailureKind::BadResult`].
pub fn int_cell(rows: &Rows, row: usize, column: usize) -> Result<i64, DbError> {
    match rows.get(row).and_then(|r| r.get(column)) {
        Some(Cell::Int(i)) => Ok(*i),
        Some(other) => Err(DbError::bad_result(format!(
            "row {row} column {column}: expected an integer, got {other:?}"
        ))),
        None => Err(DbError::bad_result(format!(
            "no row {row} column {column} in a result of {} rows",
            rows.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_name_the_condition() {
        assert_eq!(
            FailureKind::Sql("40001".into()).to_string(),
            "40001 serialization_failure"
        );
        assert_eq!(
            FailureKind::Sql("40P01".into()).to_string(),
            "40P01 deadlock_detected"
        );
        assert_eq!(
            FailureKind::Sql("XX000".into()).to_string(),
            "XX000 internal_error"
        );
        // A code outside the table shows as it came.
        assert_eq!(FailureKind::Sql("99999".into()).to_string(), "99999");
        assert_eq!(FailureKind::Disconnected.to_string(), "disconnected");
    }

    #[test]
    fn errors_show_their_causes() {
        let io = std::io::Error::other("connection refused");
        let e = DbError {
            kind: FailureKind::Connect,
            retryable: false,
            source: Box::new(Outer(io)),
        };
        assert_eq!(e.to_string(), "db error: connection refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("db error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn int_cells_refuse_nulls_and_missing_rows() {
        let rows: Rows = vec![vec![Cell::Int(7), Cell::Null]];
        assert_eq!(int_cell(&rows, 0, 0).unwrap(), 7);
        assert_eq!(
            int_cell(&rows, 0, 1).unwrap_err().kind,
            FailureKind::BadResult
        );
        assert_eq!(
            int_cell(&rows, 1, 0).unwrap_err().kind,
            FailureKind::BadResult
        );
    }
}
