//! [`Client`]: the handle applications hold. Statements outside a
//! transaction, explicit transactions, and `transaction(|tx| …)` which
//! re-runs a transaction that failed retryably.
//!
//! What is retried where:
//!
//! | call                      | failure                                  | retried?                        |
//! |---------------------------|------------------------------------------|---------------------------------|
//! | any                       | node unreachable when opening a session  | next node, each once            |
//! | `query`/`execute`         | session over before the request left     | yes, on another session (node)  |
//! | `query`/`execute`         | stream broke mid-statement, a read       | yes, on another node            |
//! | `query`/`execute`         | stream broke mid-statement, a write      | no: [`Error::Ambiguous`]        |
//! | `query`/`execute`         | 40001 serialization failure              | by the node itself              |
//! | `transaction` & co.       | retryable SQL error, broken connection before `COMMIT` left | yes: whole transaction, with backoff, until the deadline |
//! | `transaction` & co.       | stream broke during `COMMIT`             | no: [`Error::Ambiguous`]        |
//! | `begin` + manual commit   | anything                                 | only `BEGIN` itself; the rest is the caller's |

use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_proto::sql::TxnState;

use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::pool::Pool;
use crate::prepared::{PreparedStatement, Sql};
use crate::row::QueryResult;
use crate::statement::{StatementKind, classify};
use crate::transaction::{BoxFuture, Concurrency, Transaction, TransactionMode};
use crate::value::Value;
use spanlite_truetime::Backoff;

/// A connection to a Spanlite cluster: cheap to clone, usable from many
/// tasks at once (each call takes a session of its own from a small pool).
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) pool: Arc<Pool>,
}

impl Client {
    /// Connects to a cluster with the default [`ClientOptions`]; see
    /// [`connect_with`](Client::connect_with).
    ///
    /// ```no_run
    /// # async fn example() -> spanlite_client::Result<()> {
    /// use spanlite_client::Client;
    ///
    /// let client = Client::connect(["10.0.0.1:7000", "http://10.0.0.2:7000"]).await?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(urls: impl IntoIterator<Item = impl Into<String>>) -> Result<Client> {
        Self::connect_with(urls, ClientOptions::default()).await
    }

    /// Connects to a cluster through `urls`, its nodes' SQL addresses
    /// (`host:port` or `http://host:port`). Every node can serve every
    /// statement; they are tried in turn, from a start that rotates so new
    /// sessions spread over the nodes.
    ///
    /// Opens one session right away, so an error here means no node could be
    /// reached ([`Error::Connect`], for the last one tried), or an address is
    /// malformed.
    pub async fn connect_with(
        urls: impl IntoIterator<Item = impl Into<String>>,
        options: ClientOptions,
    ) -> Result<Client> {
        let pool = Pool::new(urls, options)?;
        let session = pool.open(None).await?;
        pool.release(session);
        Ok(Client {
            pool: Arc::new(pool),
        })
    }

    /// Runs one SQL statement outside any transaction, with `params` for
    /// `$1`, `$2`, …, and returns its rows.
    ///
    /// The node runs the statement as a transaction of its own, and retries
    /// it itself on serialization failures. `sql` must be exactly one
    /// statement (a trailing `;` is fine): several would all run, with only
    /// the first one's answer read, so they are refused with
    /// [`Error::Usage`], as are `BEGIN`, `COMMIT` and the like (use
    /// [`begin`](Client::begin) or [`transaction`](Client::transaction)).
    ///
    /// If the connection breaks, a read (`SELECT`, `SHOW`, `EXPLAIN`) is sent
    /// again on another node; any other statement fails with
    /// [`Error::Ambiguous`], since it may have committed.
    ///
    /// ```no_run
    /// # async fn example(client: spanlite_client::Client) -> spanlite_client::Result<()> {
    /// let result = client
    ///     .query("SELECT id, name FROM users WHERE age > $1", &[30.into()])
    ///     .await?;
    /// for row in &result.rows {
    ///     let id: i64 = row.get("id")?;
    ///     let name: Option<String> = row.get(1)?;
    ///     println!("{id}: {name:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<QueryResult> {
        let kind = classify(sql)?;
        if kind == StatementKind::TransactionControl {
            return Err(Error::Usage(
                "transaction control statement through Client: use Client::begin or Client::transaction"
                    .into(),
            ));
        }
        self.run(Sql::Text(sql), kind, params).await
    }

    /// Checks `sql` (one statement, not transaction control) and gives it an
    /// id, to run it again and again with
    /// [`query_prepared`](Client::query_prepared) and
    /// [`Transaction::query_prepared`]: each session prepares it once (the
    /// node keeps its parse and its query plan), later runs send only the
    /// id and the parameters. A syntax error shows at its first run.
    ///
    /// ```no_run
    /// # async fn example(client: spanlite_client::Client) -> spanlite_client::Result<()> {
    /// let by_id = client.prepare("SELECT name FROM users WHERE id = $1")?;
    /// for id in 1..=3i64 {
    ///     let r = client.query_prepared(&by_id, &[id.into()]).await?;
    ///     println!("{id}: {} rows", r.rows.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(&self, sql: &str) -> Result<PreparedStatement> {
        PreparedStatement::new(sql)
    }

    /// Runs a prepared statement like [`query`](Client::query).
    pub async fn query_prepared(
        &self,
        statement: &PreparedStatement,
        params: &[Value],
    ) -> Result<QueryResult> {
        self.run(Sql::Prepared(statement), statement.kind(), params)
            .await
    }

    /// Runs a prepared statement like [`execute`](Client::execute).
    pub async fn execute_prepared(
        &self,
        statement: &PreparedStatement,
        params: &[Value],
    ) -> Result<u64> {
        self.query_prepared(statement, params)
            .await
            .map(|r| r.rows_affected)
    }

    async fn run(
        &self,
        sql: Sql<'_>,
        kind: StatementKind,
        params: &[Value],
    ) -> Result<QueryResult> {
        let (session, result) = self
            .pool
            .run_anywhere(sql, params, kind == StatementKind::Read)
            .await?;
        if session.txn_state() != TxnState::Idle {
            // Dropping the session rolls the transaction back.
            return Err(Error::Protocol(format!(
                "the node left the session inside a transaction after {:?}",
                result.tag
            )));
        }
        self.pool.release(session);
        Ok(result)
    }

    /// Runs one statement like [`query`](Client::query) and returns the
    /// number of rows it inserted, updated or deleted.
    ///
    /// ```no_run
    /// # async fn example(client: spanlite_client::Client) -> spanlite_client::Result<()> {
    /// let n = client
    ///     .execute("INSERT INTO users (id, name) VALUES ($1, $2)", &[1.into(), "Ada".into()])
    ///     .await?;
    /// assert_eq!(n, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        self.query(sql, params).await.map(|r| r.rows_affected)
    }

    /// Begins a read-write transaction for the caller to drive and end with
    /// [`Transaction::commit`] or [`Transaction::rollback`]. Nothing is
    /// retried after `BEGIN`; [`transaction`](Client::transaction) does that.
    pub async fn begin(&self) -> Result<Transaction<'_>> {
        self.begin_with(TransactionMode::ReadWrite).await
    }

    /// Begins a transaction of `mode`. On a node that supports it, nothing
    /// is sent yet: `BEGIN` goes with the first statement, in one request
    /// (a failed `BEGIN` is then that statement's error, and a broken
    /// connection [`Error::Disconnected`]). Otherwise `BEGIN` is sent now,
    /// and again on another node if the connection breaks (a broken
    /// session takes its transaction with it).
    pub async fn begin_with(&self, mode: TransactionMode) -> Result<Transaction<'_>> {
        let mut session = self.pool.acquire(None).await?;
        if session.begins_with_query() && session.is_open() {
            return Ok(Transaction::deferred(self, session, mode));
        }
        self.pool.release(session);
        let (session, result) = self
            .pool
            .run_anywhere(Sql::Text(&mode.begin_statement()), &[], true)
            .await?;
        if session.txn_state() != TxnState::InTransaction {
            return Err(Error::Protocol(format!(
                "the node answered {:?} to {:?} without opening a transaction",
                result.tag,
                mode.begin_statement()
            )));
        }
        Ok(Transaction::new(self, session, mode))
    }

    /// Runs `f` in a read-write transaction and commits; if the transaction
    /// fails in a way that running it again may fix, rolls back, waits
    /// (exponential backoff with jitter) and runs `f` again in a new
    /// transaction, possibly on another node, until the transaction deadline
    /// of [`ClientOptions`].
    ///
    /// Retried: an [`Error::Sql`] that is retryable (SQLSTATE 40001: the
    /// transaction lost a conflict) from any statement or from the commit,
    /// and [`Error::Disconnected`] (the connection broke before `COMMIT` was
    /// sent). `f` decides by returning the error: the closure's error is
    /// checked, or the transaction's first failure if the closure swallowed
    /// it. Not retried, returned after rolling back: any other error,
    /// including [`Error::Application`] errors of the closure. Never retried:
    /// [`Error::Ambiguous`], the connection broke while `COMMIT` was in
    /// flight.
    ///
    /// So `f` may run several times: it should have no effects outside the
    /// transaction, and must not keep values from an attempt that failed.
    /// It may borrow from its surroundings (but not move out of them, since
    /// it runs more than once), and the returned future is `Send`:
    ///
    /// ```no_run
    /// # async fn example(client: spanlite_client::Client) -> spanlite_client::Result<()> {
    /// let names: Vec<String> = vec!["Ada".into(), "Grace".into()];
    /// let names = &names;
    /// client
    ///     .transaction(|tx| {
    ///         Box::pin(async move {
    ///             for name in names {
    ///                 tx.execute("INSERT INTO users (name) VALUES ($1)", &[name.as_str().into()])
    ///                     .await?;
    ///             }
    ///             Ok(())
    ///         })
    ///     })
    ///     .await?;
    ///
    /// let background = client.clone();
    /// tokio::spawn(async move {
    ///     background
    ///         .transaction(|tx| Box::pin(async move { tx.execute("DELETE FROM sessions", &[]).await }))
    ///         .await
    /// });
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A money transfer that gives up, rolled back, when funds are short:
    ///
    /// ```no_run
    /// # async fn example(client: spanlite_client::Client) -> spanlite_client::Result<()> {
    /// use spanlite_client::Error;
    ///
    /// let (from, to, amount) = (1i64, 2i64, 10i64);
    /// let new_balance: i64 = client
    ///     .transaction(|tx| {
    ///         Box::pin(async move {
    ///             let rows = tx
    ///                 .query("SELECT balance FROM accounts WHERE id = $1", &[from.into()])
    ///                 .await?
    ///                 .rows;
    ///             let balance: i64 = match rows.first() {
    ///                 Some(row) => row.get("balance")?,
    ///                 None => return Err(Error::application("no such account")),
    ///             };
    ///             if balance < amount {
    ///                 return Err(Error::application("insufficient funds"));
    ///             }
    ///             tx.execute(
    ///                 "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
    ///                 &[amount.into(), from.into()],
    ///             )
    ///             .await?;
    ///             tx.execute(
    ///                 "UPDATE accounts SET balance = balance + $1 WHERE id = $2",
    ///                 &[amount.into(), to.into()],
    ///             )
    ///             .await?;
    ///             Ok(balance - amount)
    ///         })
    ///     })
    ///     .await?;
    /// println!("left: {new_balance}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn transaction<'c, T, F>(&'c self, f: F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        self.retrying(TransactionMode::ReadWrite, f).await
    }

    /// Like [`transaction`](Client::transaction), under the concurrency
    /// control `concurrency` (2PL, OCC, SSI, or SI, which is not
    /// serializable).
    pub async fn transaction_with<'c, T, F>(&'c self, concurrency: Concurrency, f: F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        self.retrying(TransactionMode::ReadWriteWith(concurrency), f)
            .await
    }

    /// Like [`transaction`](Client::transaction), in a read-only transaction
    /// (`BEGIN READ ONLY`): reads at one consistent snapshot, without locks.
    pub async fn read_only_transaction<'c, T, F>(&'c self, f: F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        self.retrying(TransactionMode::ReadOnly, f).await
    }

    /// Like [`transaction`](Client::transaction), in a read-only transaction
    /// at a snapshot `staleness` in the past (`BEGIN READ ONLY AS OF SYSTEM
    /// TIME '-<ms>ms'`), which the nearest up-to-date replica can serve
    /// without asking the leader.
    pub async fn stale_read_transaction<'c, T, F>(&'c self, staleness: Duration, f: F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        self.retrying(TransactionMode::StaleRead(staleness), f)
            .await
    }

    /// Runs attempts of `f` until one commits, one fails for good, or the
    /// deadline would pass during the next backoff.
    async fn retrying<'c, T, F>(&'c self, mode: TransactionMode, mut f: F) -> Result<T>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        let options = &self.pool.options;
        let deadline = Instant::now() + options.transaction_deadline;
        let mut backoff = Backoff::new(options.initial_backoff, options.max_backoff);
        let mut attempt = 1u32;
        loop {
            let (error, retry) = match self.attempt(mode, &mut f).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let delay = backoff.next_delay();
            if !retry || Instant::now() + delay >= deadline {
                return Err(error);
            }
            tracing::debug!(attempt, %error, ?delay, "transaction failed; running it again");
            tokio::time::sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One attempt: BEGIN, `f`, COMMIT (or ROLLBACK). On failure, also says
    /// whether another attempt may succeed.
    async fn attempt<'c, T, F>(
        &'c self,
        mode: TransactionMode,
        f: &mut F,
    ) -> Result<T, (Error, bool)>
    where
        F: for<'t> FnMut(&'t mut Transaction<'c>) -> BoxFuture<'t, Result<T>>,
    {
        let with_verdict = |e: Error| {
            let retry = e.is_retryable();
            (e, retry)
        };
        let mut tx = self.begin_with(mode).await.map_err(with_verdict)?;
        match f(&mut tx).await {
            Ok(value) => tx.commit().await.map(|()| value).map_err(with_verdict),
            Err(e) => {
                let retry = e.is_retryable() || tx.failed_retryably();
                if let Err(rollback) = tx.rollback().await {
                    tracing::debug!(%rollback, "rollback failed; the session was closed");
                }
                Err((e, retry))
            }
        }
    }

    /// The client's session pool.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}
