//! An explicit transaction: `BEGIN`, statements, then `COMMIT` or
//! `ROLLBACK`, all on one session.
//!
//! ```text
//!              query/execute ok
//!               ┌────┐
//!               ▼    │        commit ok / rollback
//!   BEGIN ──▶ open ──┴──────────────────────────────▶ done (session back to the pool)
//!               │ a statement fails
//!               ▼
//!            doomed ── query/execute: the first failure again, nothing sent
//!               │     commit: ROLLBACK is sent, the first failure returned
//!               └─── rollback ──▶ done
//!
//!   dropped before commit/rollback: the session is closed, never pooled;
//!   the node rolls back the transaction when the stream closes.
//! ```
//!
//! A doomed transaction sends nothing more: after an error the node only
//! accepts `ROLLBACK` anyway (and would answer a `COMMIT` with `ROLLBACK`,
//! which is easy to mistake for success). Returning the first failure again
//! also keeps its `retryable` flag, which the node's later "current
//! transaction is aborted" errors would not carry.
//!
//! A node that supports it gets `BEGIN` with the first statement, in one
//! request: it runs the statement only if `BEGIN` opened a transaction, so
//! a failed `BEGIN` is that statement's error. A transaction that ran no
//! statement has sent nothing, and its commit or rollback sends nothing.
//!
//! Whether a broken connection lost a commit:
//!
//! | broke during                     | result                          |
//! |----------------------------------|---------------------------------|
//! | `BEGIN` or any statement         | [`Error::Disconnected`]: nothing committed (the node rolls back) |
//! | before `COMMIT` was sent         | [`Error::Disconnected`]         |
//! | `COMMIT` of a read-write txn     | [`Error::Ambiguous`]            |
//! | `COMMIT` of a read-only txn      | `Ok(())`: there was nothing to commit |

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use spanlite_proto::sql::TxnState;
use tonic::Status;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::prepared::{PreparedStatement, Sql};
use crate::row::QueryResult;
use crate::session::{Failure, Session};
use crate::statement::{StatementKind, classify};
use crate::value::Value;

/// A boxed, `Send` future borrowing for `'a`: what a
/// [`Client::transaction`](crate::Client::transaction) closure returns
/// (write `Box::pin(async move { … })`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What kind of transaction `BEGIN` opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionMode {
    /// Reads and writes in the session's default concurrency control
    /// (serializable unless the session or cluster chose SI): `BEGIN`.
    ReadWrite,
    /// Reads and writes under the given concurrency control:
    /// `BEGIN CONCURRENCY 'occ'`, say, or `BEGIN ISOLATION LEVEL SNAPSHOT`.
    ReadWriteWith(Concurrency),
    /// Reads at a snapshot of the present, without locks: `BEGIN READ ONLY`.
    ReadOnly,
    /// Reads at a snapshot this far in the past, which any up-to-date
    /// replica can serve: `BEGIN READ ONLY AS OF SYSTEM TIME '-<ms>ms'`
    /// (whole milliseconds; less rounds down).
    StaleRead(Duration),
}

impl TransactionMode {
    /// The statement that opens a transaction of this mode.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spanlite_client::TransactionMode;
    ///
    /// assert_eq!(
    ///     TransactionMode::StaleRead(Duration::from_secs(10)).begin_statement(),
    ///     "BEGIN READ ONLY AS OF SYSTEM TIME '-10000ms'"
    /// );
    /// ```
    pub fn begin_statement(&self) -> String {
        match self {
            TransactionMode::ReadWrite => "BEGIN".to_string(),
            TransactionMode::ReadWriteWith(Concurrency::Snapshot) => {
                "BEGIN ISOLATION LEVEL SNAPSHOT".to_string()
            }
            TransactionMode::ReadWriteWith(Concurrency::ReadCommitted) => {
                "BEGIN ISOLATION LEVEL READ COMMITTED".to_string()
            }
            TransactionMode::ReadWriteWith(c) => {
                format!(
                    "BEGIN ISOLATION LEVEL SERIALIZABLE CONCURRENCY '{}'",
                    c.name()
                )
            }
            TransactionMode::ReadOnly => "BEGIN READ ONLY".to_string(),
            TransactionMode::StaleRead(staleness) => format!(
                "BEGIN READ ONLY AS OF SYSTEM TIME '-{}ms'",
                staleness.as_millis()
            ),
        }
    }

    /// True for the modes that cannot write.
    pub fn is_read_only(&self) -> bool {
        !matches!(
            self,
            TransactionMode::ReadWrite | TransactionMode::ReadWriteWith(_)
        )
    }
}

/// How a read-write transaction controls concurrency (Spanlite's
/// `CONCURRENCY` setting; README, "Isolation modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Concurrency {
    /// Two-phase locking with wound-wait: reads lock (`'2pl'`).
    TwoPhaseLocking,
    /// Optimistic: lock-free reads validated at commit (`'occ'`).
    Optimistic,
    /// Serializable snapshot isolation: reads at one snapshot, validated
    /// at commit (`'ssi'`).
    SerializableSnapshot,
    /// Snapshot isolation, not serializable: write skew is possible
    /// (`'si'`).
    Snapshot,
    /// Read committed, PostgreSQL's default level: each statement reads
    /// a snapshot of its own, rows read for update (UPDATE, DELETE,
    /// `SELECT … FOR UPDATE`) are locked and read newest (`'rc'`).
    ReadCommitted,
}

impl Concurrency {
    /// Every mode.
    pub const ALL: [Concurrency; 5] = [
        Concurrency::TwoPhaseLocking,
        Concurrency::Optimistic,
        Concurrency::SerializableSnapshot,
        Concurrency::Snapshot,
        Concurrency::ReadCommitted,
    ];

    /// The name SQL uses: `2pl`, `occ`, `ssi`, `si` or `rc`.
    pub fn name(self) -> &'static str {
        match self {
            Concurrency::TwoPhaseLocking => "2pl",
            Concurrency::Optimistic => "occ",
            Concurrency::SerializableSnapshot => "ssi",
            Concurrency::Snapshot => "si",
            Concurrency::ReadCommitted => "rc",
        }
    }
}

impl std::fmt::Display for Concurrency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Concurrency {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Concurrency::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown concurrency {s:?}: use 2pl, occ, ssi or si"))
    }
}

/// Why a transaction cannot commit any more.
#[derive(Clone, Debug)]
enum Doomed {
    /// A statement failed: the node holds the transaction failed (or ended it).
    Failed {
        sqlstate: String,
        message: String,
        retryable: bool,
    },
    /// The connection broke; the node rolls back.
    Broken(Status),
    /// The node answered in a way the protocol does not allow.
    Protocol(String),
}

impl Doomed {
    fn to_error(&self) -> Error {
        match self {
            Doomed::Failed {
                sqlstate,
                message,
                retryable,
            } => Error::Sql {
                sqlstate: sqlstate.clone(),
                message: message.clone(),
                retryable: *retryable,
            },
            Doomed::Broken(source) => Error::Disconnected {
                source: source.clone(),
            },
            Doomed::Protocol(m) => Error::Protocol(m.clone()),
        }
    }
}

/// An open transaction on one session, from
/// [`Client::begin`](crate::Client::begin) or handed to a
/// [`Client::transaction`](crate::Client::transaction) closure.
///
/// It borrows the [`Client`] it came from (which is what lets a
/// `transaction` closure borrow from its surroundings); in a task of its
/// own, clone the client first. End it with [`commit`](Transaction::commit) or
/// [`rollback`](Transaction::rollback). Dropping it instead rolls it back:
/// its session is closed rather than reused, and the node rolls back the
/// transaction of a session whose stream closes.
#[derive(Debug)]
pub struct Transaction<'c> {
    client: &'c Client,
    /// `None` once the connection broke.
    session: Option<Session>,
    mode: TransactionMode,
    /// The first failure, once there is one.
    doomed: Option<Doomed>,
    /// `BEGIN` (of `mode`) is not sent yet: it goes with the first
    /// statement, in one request (a node that supports it; see
    /// [`Client::begin_with`](crate::Client::begin_with)).
    begin_pending: bool,
}

impl<'c> Transaction<'c> {
    /// A transaction whose `BEGIN` succeeded on `session`.
    pub(crate) fn new(client: &'c Client, session: Session, mode: TransactionMode) -> Self {
        Self {
            client,
            session: Some(session),
            mode,
            doomed: None,
            begin_pending: false,
        }
    }

    /// A transaction whose `BEGIN` goes to `session` with its first
    /// statement.
    pub(crate) fn deferred(client: &'c Client, session: Session, mode: TransactionMode) -> Self {
        let mut t = Self::new(client, session, mode);
        t.begin_pending = true;
        t
    }

    /// The mode it was begun with.
    pub fn mode(&self) -> TransactionMode {
        self.mode
    }

    /// True when the first failure of this transaction (if the caller
    /// swallowed it) means running it again may succeed.
    pub(crate) fn failed_retryably(&self) -> bool {
        self.doomed
            .as_ref()
            .is_some_and(|d| d.to_error().is_retryable())
    }

    /// Runs one statement (not `BEGIN`, `COMMIT`, `ROLLBACK` and the like:
    /// see [`commit`](Transaction::commit)) with `params` for `$1`, `$2`, …
    ///
    /// After a statement has failed, the transaction is doomed: this returns
    /// that first failure again without sending anything. A broken
    /// connection gives [`Error::Disconnected`] (nothing of the transaction
    /// is committed).
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<QueryResult> {
        if classify(sql)? == StatementKind::TransactionControl {
            return Err(Error::Usage(
                "transaction control statement inside a Transaction: use commit() or rollback()"
                    .into(),
            ));
        }
        self.run(Sql::Text(sql), params).await
    }

    /// Runs a statement prepared by [`Client::prepare`](crate::Client::prepare)
    /// like [`query`](Transaction::query).
    pub async fn query_prepared(
        &mut self,
        statement: &PreparedStatement,
        params: &[Value],
    ) -> Result<QueryResult> {
        self.run(Sql::Prepared(statement), params).await
    }

    /// Runs a prepared statement like [`execute`](Transaction::execute).
    pub async fn execute_prepared(
        &mut self,
        statement: &PreparedStatement,
        params: &[Value],
    ) -> Result<u64> {
        self.query_prepared(statement, params)
            .await
            .map(|r| r.rows_affected)
    }

    async fn run(&mut self, sql: Sql<'_>, params: &[Value]) -> Result<QueryResult> {
        if let Some(doomed) = &self.doomed {
            return Err(doomed.to_error());
        }
        let Some(session) = self.session.as_mut() else {
            return Err(self.doom(Doomed::Protocol("the transaction has no session".into())));
        };
        let begin = std::mem::take(&mut self.begin_pending).then(|| self.mode.begin_statement());
        match session.run_after(begin.as_deref(), sql, params).await {
            Ok(result) if session.txn_state() == TxnState::InTransaction => Ok(result),
            Ok(_) => {
                self.session = None;
                Err(self.doom(Doomed::Protocol(
                    "the node left the transaction after a statement".into(),
                )))
            }
            Err(Failure::Sql(e)) => {
                if let Error::Sql {
                    sqlstate,
                    message,
                    retryable,
                } = &e
                {
                    self.doomed = Some(Doomed::Failed {
                        sqlstate: sqlstate.clone(),
                        message: message.clone(),
                        retryable: *retryable,
                    });
                }
                Err(e)
            }
            Err(Failure::NotSent(status) | Failure::Lost(status)) => {
                self.client.pool.forget_node(session.node());
                self.session = None;
                Err(self.doom(Doomed::Broken(status)))
            }
        }
    }

    /// Runs one statement like [`query`](Transaction::query) and returns the
    /// number of rows it inserted, updated or deleted.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.query(sql, params).await.map(|r| r.rows_affected)
    }

    /// Commits. If a statement of the transaction failed, rolls back instead
    /// and returns that failure.
    ///
    /// Errors: [`Error::Sql`] when the commit failed (retryable if it was
    /// aborted by a conflict), [`Error::Disconnected`] when the connection
    /// broke before `COMMIT` was sent (nothing committed), and
    /// [`Error::Ambiguous`] when it broke while `COMMIT` was in flight.
    pub async fn commit(mut self) -> Result<()> {
        if let Some(doomed) = self.doomed.take() {
            self.finish("ROLLBACK").await.ok();
            return Err(doomed.to_error());
        }
        let Some(mut session) = self.session.take() else {
            return Err(Error::Protocol("the transaction has no session".into()));
        };
        if std::mem::take(&mut self.begin_pending) {
            // Nothing was sent: there is no transaction to commit.
            self.client.pool.release(session);
            return Ok(());
        }
        match session.run(Sql::Text("COMMIT"), &[]).await {
            Ok(result) if session.txn_state() != TxnState::Idle => Err(Error::Protocol(format!(
                "the session is still in a transaction after COMMIT ({})",
                result.tag
            ))),
            Ok(result) if result.tag == "ROLLBACK" => {
                self.client.pool.release(session);
                Err(Error::Protocol(
                    "the node rolled back at COMMIT a transaction the driver saw no error in"
                        .into(),
                ))
            }
            Ok(_) => {
                self.client.pool.release(session);
                Ok(())
            }
            Err(Failure::Sql(e)) => {
                self.client.pool.release(session);
                Err(e)
            }
            Err(Failure::NotSent(source)) => {
                self.client.pool.forget_node(session.node());
                Err(Error::Disconnected { source })
            }
            Err(Failure::Lost(source)) => {
                self.client.pool.forget_node(session.node());
                if self.mode.is_read_only() {
                    // NB: a read-only transaction has nothing to lose.
                    Ok(())
                } else {
                    Err(Error::Ambiguous { source })
                }
            }
        }
    }

    /// Rolls back. A broken connection counts as rolled back: the node rolls
    /// back the transaction of a session whose stream closes.
    pub async fn rollback(mut self) -> Result<()> {
        self.finish("ROLLBACK").await
    }

    /// Sends `sql` (ending the transaction) and returns the session to the
    /// pool if that left it idle.
    async fn finish(&mut self, sql: &str) -> Result<()> {
        let Some(mut session) = self.session.take() else {
            return Ok(());
        };
        if std::mem::take(&mut self.begin_pending) {
            // Nothing was sent: there is no transaction to end.
            self.client.pool.release(session);
            return Ok(());
        }
        match session.run(Sql::Text(sql), &[]).await {
            Ok(_) => {
                self.client.pool.release(session);
                Ok(())
            }
            Err(Failure::Sql(e)) => Err(e),
            Err(Failure::NotSent(_) | Failure::Lost(_)) => {
                self.client.pool.forget_node(session.node());
                Ok(())
            }
        }
    }

    /// Records the first failure; returns it as an error.
    fn doom(&mut self, doomed: Doomed) -> Error {
        let e = doomed.to_error();
        self.doomed.get_or_insert(doomed);
        e
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            tracing::debug!(
                node = %session.node(),
                "transaction dropped before commit or rollback; closing its session (the node rolls back)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_statements() {
        assert_eq!(TransactionMode::ReadWrite.begin_statement(), "BEGIN");
        assert_eq!(
            TransactionMode::ReadOnly.begin_statement(),
            "BEGIN READ ONLY"
        );
        assert_eq!(
            TransactionMode::StaleRead(Duration::from_micros(15_999)).begin_statement(),
            "BEGIN READ ONLY AS OF SYSTEM TIME '-15ms'"
        );
        assert!(!TransactionMode::ReadWrite.is_read_only());
        assert_eq!(
            TransactionMode::ReadWriteWith(Concurrency::Optimistic).begin_statement(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE CONCURRENCY 'occ'"
        );
        assert_eq!(
            TransactionMode::ReadWriteWith(Concurrency::Snapshot).begin_statement(),
            "BEGIN ISOLATION LEVEL SNAPSHOT"
        );
        assert_eq!(
            TransactionMode::ReadWriteWith(Concurrency::ReadCommitted).begin_statement(),
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        );
        assert_eq!("SSI".parse(), Ok(Concurrency::SerializableSnapshot));
        assert_eq!("rc".parse(), Ok(Concurrency::ReadCommitted));
        assert!("mvcc".parse::<Concurrency>().is_err());
        assert!(TransactionMode::StaleRead(Duration::ZERO).is_read_only());
    }
}
