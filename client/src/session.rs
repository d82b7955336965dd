//! One session: a `SqlService.Session` gRPC stream, on its own connection to
//! one node, driven one statement at a time.
//!
//! ```text
//!   driver                                    node
//!     │── StartSession ─────────────────────────▶│   (no answer)
//!     │── Query{id: 1, sql, params} ────────────▶│
//!     │◀─ RowDescription{id: 1}   (if rows)     ─│
//!     │◀─ RowBatch{id: 1} …       (0 or more)   ─│
//!     │◀─ CommandComplete{id: 1, txn_state}  or  ─│
//!     │◀─ SqlError{id: 1, txn_state}            ─│
//!     │── Query{id: 2, …} ──────────────────────▶│   …
//! ```
//!
//! INVARIANT: at most one request is in flight, and it is one statement
//! (see [`statement`](crate::statement)), so exactly one `CommandComplete`
//! or `SqlError` ends it. Between requests the node sends nothing; anything
//! that arrives then (an error, the end of the stream) means the session is
//! over.
//!
//! How a statement can fail, which decides what the caller may retry:
//!
//! | [`Failure`] | meaning                                   | session      |
//! |-------------|-------------------------------------------|--------------|
//! | `Sql`       | the node ran it and answered with an error | still usable |
//! | `NotSent`   | the session was over before the request left: nothing ran | dead |
//! | `Lost`      | the stream broke after the request left: it may have run | dead |
//!
//! HAZARD: "before the request left" is judged from what the connection has
//! already received. A node that died a moment ago may not have been noticed
//! yet; the request is then written into a dead connection and comes back
//! `Lost` (for a write: ambiguous) although it never arrived. HTTP/2
//! keepalive pings bound how long a silently dead connection goes unnoticed.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use spanlite_proto::sql::sql_service_client::SqlServiceClient;
use spanlite_proto::sql::{
    self as pb, Prepare, Query, SessionRequest, SessionResponse, StartSession, TxnState,
    session_request, session_response,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Status, Streaming};

use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::prepared::{PreparedStatement, Sql};
use crate::row::{Column, QueryResult, Row};
use crate::value::Value;
use crate::wire::{column_from_wire, value_from_wire, value_to_wire};

/// How often an idle connection is pinged, so a dead peer is noticed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How long a ping may go unanswered before the connection counts as dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response message accepted (a batch of large rows).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Why [`Session::run`] did not return a result.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The node ran the statement and it failed ([`Error::Sql`]); the session
    /// is still usable.
    Sql(Error),
    /// The session was over before the request left: nothing ran. The
    /// session is dead.
    NotSent(Status),
    /// The stream broke (or the node broke the protocol) after the request
    /// left: the statement may have run. The session is dead.
    Lost(Status),
}

/// A session with one node. Not shared: one caller drives it at a time.
pub(crate) struct Session {
    /// The node's URL, e.g. `http://10.0.0.1:7000`.
    node: Arc<str>,
    requests: mpsc::Sender<SessionRequest>,
    responses: Streaming<SessionResponse>,
    next_request_id: u64,
    /// The node's transaction state after the last statement.
    txn_state: TxnState,
    /// A request was sent and its answer not yet read completely (a caller
    /// abandoned `run` half-way if this is still set when it returns).
    in_flight: bool,
    /// Why the session is over, once it is. NB: a finished stream must not
    /// be polled again, so this is checked first.
    dead: Option<Status>,
    /// Ids of the statements prepared on this session.
    prepared: std::collections::HashSet<u64>,
    /// The node runs `Query.begin` (its answer named the feature).
    begin_with_query: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("node", &self.node)
            .field("next_request_id", &self.next_request_id)
            .field("txn_state", &self.txn_state)
            .field("in_flight", &self.in_flight)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a session on `node` (a URL with scheme): connects, starts the
    /// stream and sends `StartSession`. Errors are [`Error::Connect`], also
    /// when it all takes longer than the connect timeout.
    pub(crate) async fn open(node: Arc<str>, options: &ClientOptions) -> Result<Session> {
        let connect_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Connect {
            url: node.to_string(),
            source,
        };
        let mut endpoint =
            Endpoint::from_shared(node.to_string()).map_err(|e| connect_error(e.into()))?;
        if let Some(tls) = &options.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| connect_error(e.into()))?;
        }
        let endpoint = endpoint
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let start = SessionRequest {
            kind: Some(session_request::Kind::Start(StartSession {
                application_name: options.application_name.clone(),
                settings: options.settings.clone(),
                user: options.user.clone(),
                password: options.password.clone(),
            })),
        };
        let open = async {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| connect_error(e.into()))?;
            let (requests, outgoing) = mpsc::channel(2);
            requests
                .try_send(start)
                .map_err(|e| connect_error(e.to_string().into()))?;
            let answer = SqlServiceClient::new(channel)
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .session(ReceiverStream::new(outgoing))
                .await
                .map_err(|status| connect_error(status.into()))?;
            let begin_with_query = answer
                .metadata()
                .get(spanlite_proto::sql::SESSION_FEATURES_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',')
                        .any(|f| f.trim() == spanlite_proto::sql::BEGIN_WITH_QUERY)
                });
            let responses = answer.into_inner();
            tracing::debug!(%node, "session opened");
            Ok(Session {
                node: node.clone(),
                requests,
                responses,
                next_request_id: 1,
                txn_state: TxnState::Idle,
                in_flight: false,
                dead: None,
                prepared: std::collections::HashSet::new(),
                begin_with_query,
            })
        };
        tokio::time::timeout(options.connect_timeout, open)
            .await
            .map_err(|elapsed| connect_error(elapsed.into()))?
    }

    /// The node this session is on.
    pub(crate) fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// The node's transaction state after the last statement.
    pub(crate) fn txn_state(&self) -> TxnState {
        self.txn_state
    }

    /// True when the session can serve a new user: alive, nothing in
    /// flight, no transaction open.
    pub(crate) fn is_reusable(&self) -> bool {
        self.dead.is_none() && !self.in_flight && self.txn_state == TxnState::Idle
    }

    /// Runs one statement (the caller has checked it is exactly one) with
    /// `params` for `$1`, `$2`, …, and reads its whole answer.
    pub(crate) async fn run(
        &mut self,
        sql: Sql<'_>,
        params: &[Value],
    ) -> Result<QueryResult, Failure> {
        self.run_after(None, sql, params).await
    }

    /// Whether the node runs a `begin` statement with a query (one round
    /// trip for both: [`Session::run_after`]).
    pub(crate) fn begins_with_query(&self) -> bool {
        self.begin_with_query
    }

    /// Runs `begin` (a `BEGIN …`) and then, only if it opened a
    /// transaction, the statement, as one request; the answer is the
    /// statement's, or the `BEGIN`'s error. Needs
    /// [`Session::begins_with_query`]; `None` is [`Session::run`].
    pub(crate) async fn run_after(
        &mut self,
        begin: Option<&str>,
        sql: Sql<'_>,
        params: &[Value],
    ) -> Result<QueryResult, Failure> {
        if begin.is_some() && !self.begin_with_query {
            return Err(violation(
                "the node cannot begin a transaction with a query".into(),
            ));
        }
        if let Some(status) = self.check_idle() {
            return Err(Failure::NotSent(status));
        }
        let (text, statement_id) = match sql {
            Sql::Text(text) => (text.to_string(), 0),
            Sql::Prepared(p) => {
                if !self.prepared.contains(&p.id()) {
                    self.prepare(p).await?;
                }
                (String::new(), p.id())
            }
        };
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let request = SessionRequest {
            kind: Some(session_request::Kind::Query(Query {
                request_id,
                sql: text,
                params: params.iter().map(value_to_wire).collect(),
                statement_id,
                begin: begin.unwrap_or_default().to_string(),
            })),
        };
        self.in_flight = true;
        if self.requests.send(request).await.is_err() {
            let status = Status::unavailable("the session's request stream has closed");
            return Err(Failure::NotSent(self.die(status)));
        }
        let answer = self.answer(request_id).await;
        if let Err(Failure::Lost(status)) = &answer {
            self.die(status.clone());
        } else {
            self.in_flight = false;
        }
        answer
    }

    /// Prepares `p` on this session (once: later runs send its id). A
    /// broken stream here means the statement itself was not sent.
    async fn prepare(&mut self, p: &PreparedStatement) -> Result<(), Failure> {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let request = SessionRequest {
            kind: Some(session_request::Kind::Prepare(Prepare {
                request_id,
                statement_id: p.id(),
                sql: p.sql().to_string(),
            })),
        };
        self.in_flight = true;
        if self.requests.send(request).await.is_err() {
            let status = Status::unavailable("the session's request stream has closed");
            return Err(Failure::NotSent(self.die(status)));
        }
        match self.answer(request_id).await {
            Ok(_) => {
                self.in_flight = false;
                self.prepared.insert(p.id());
                Ok(())
            }
            Err(Failure::Lost(status) | Failure::NotSent(status)) => {
                Err(Failure::NotSent(self.die(status)))
            }
            Err(e) => {
                self.in_flight = false;
                Err(e)
            }
        }
    }

    /// Whether the session can take a request (it is marked dead if not).
    /// Does not wait.
    pub(crate) fn is_open(&mut self) -> bool {
        self.check_idle().is_none()
    }

    /// `None` if the session can take a request; otherwise why not (and the
    /// session is dead from now on). Does not wait.
    fn check_idle(&mut self) -> Option<Status> {
        if let Some(status) = &self.dead {
            return Some(status.clone());
        }
        if self.in_flight {
            return Some(self.die(Status::cancelled(
                "an earlier statement on this session was abandoned before its answer arrived",
            )));
        }
        // Look at what has arrived without waiting (nothing should have).
        let mut cx = Context::from_waker(Waker::noop());
        let status = match Pin::new(&mut self.responses).poll_next(&mut cx) {
            Poll::Pending => return None,
            Poll::Ready(Some(Ok(r))) => Status::internal(format!(
                "protocol violation: a response to request {} arrived while none was in flight",
                r.request_id
            )),
            Poll::Ready(Some(Err(status))) => status,
            Poll::Ready(None) => Status::unavailable("the node ended the session"),
        };
        Some(self.die(status))
    }

    /// Reads the answer to request `request_id`.
    async fn answer(&mut self, request_id: u64) -> Result<QueryResult, Failure> {
        let mut columns: Option<Arc<[Column]>> = None;
        let mut rows = Vec::new();
        loop {
            let response = match self.responses.message().await {
                Ok(Some(response)) => response,
                Ok(None) => {
                    return Err(Failure::Lost(Status::unavailable(
                        "the node ended the session before answering",
                    )));
                }
                Err(status) => return Err(Failure::Lost(status)),
            };
            if response.request_id != request_id {
                return Err(violation(format!(
                    "an answer to request {} while request {request_id} was in flight",
                    response.request_id
                )));
            }
            match response.kind {
                Some(session_response::Kind::Columns(description)) => {
                    if columns.is_some() {
                        return Err(violation("a second row description".into()));
                    }
                    columns = Some(
                        description
                            .columns
                            .into_iter()
                            .map(column_from_wire)
                            .collect(),
                    );
                }
                Some(session_response::Kind::Rows(batch)) => {
                    let Some(columns) = &columns else {
                        return Err(violation("rows before their row description".into()));
                    };
                    for row in batch.rows {
                        if row.values.len() != columns.len() {
                            return Err(violation(format!(
                                "a row of {} values under {} columns",
                                row.values.len(),
                                columns.len()
                            )));
                        }
                        let values = row.values.into_iter().map(value_from_wire).collect();
                        rows.push(Row::new(columns.clone(), values));
                    }
                }
                Some(session_response::Kind::Complete(complete)) => {
                    self.txn_state = txn_state(complete.txn_state)?;
                    return Ok(QueryResult {
                        columns: columns.unwrap_or_default(),
                        rows,
                        tag: complete.tag,
                        rows_affected: complete.rows_affected,
                    });
                }
                Some(session_response::Kind::Error(error)) => {
                    self.txn_state = txn_state(error.txn_state)?;
                    return Err(Failure::Sql(sql_error(error)));
                }
                None => return Err(violation("a response without content".into())),
            }
        }
    }

    /// Marks the session dead for `status`, and returns it.
    fn die(&mut self, status: Status) -> Status {
        tracing::debug!(node = %self.node, %status, "session over");
        self.dead = Some(status.clone());
        status
    }

    /// Waits until the node ends the stream (tests use this to make the
    /// driver's view of a closed session deterministic).
    #[cfg(test)]
    pub(crate) async fn wait_until_ended(&mut self) {
        if self.dead.is_some() {
            return;
        }
        let status = match self.responses.message().await {
            Ok(None) => Status::unavailable("the node ended the session"),
            Ok(Some(r)) => Status::internal(format!("unexpected response {r:?}")),
            Err(status) => status,
        };
        self.die(status);
    }
}

/// The node broke the protocol after the request left.
fn violation(what: String) -> Failure {
    Failure::Lost(Status::internal(format!("protocol violation: {what}")))
}

fn txn_state(state: i32) -> Result<TxnState, Failure> {
    TxnState::try_from(state).map_err(|_| violation(format!("unknown transaction state {state}")))
}

/// A statement's error as the caller sees it; detail and hint, if any,
/// become further lines of the message.
fn sql_error(e: pb::SqlError) -> Error {
    let mut message = e.message;
    if !e.detail.is_empty() {
        message.push_str("\nDETAIL: ");
        message.push_str(&e.detail);
    }
    if !e.hint.is_empty() {
        message.push_str("\nHINT: ");
        message.push_str(&e.hint);
    }
    Error::Sql {
        sqlstate: e.sqlstate,
        message,
        retryable: e.retryable,
    }
}
