//! A fake node: a real gRPC `SqlService` on 127.0.0.1 (port 0) whose
//! answers a test scripts, and which records every statement it receives.
//!
//! The fake keeps each session's transaction state the way a node does
//! (`BEGIN` opens, `COMMIT`/`ROLLBACK` close, an error inside a transaction
//! fails it), so the driver sees realistic `txn_state`s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use spanlite_proto::sql::sql_service_server::{SqlService, SqlServiceServer};
use spanlite_proto::sql::{
    self as pb, CommandComplete, RowBatch, RowDescription, SessionRequest, SessionResponse,
    TxnState, session_request, session_response,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use crate::value::{SqlType, Value};
use crate::wire::{value_from_wire, value_to_wire};

/// How the fake answers one statement.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// Columns and rows; tag `SELECT n`.
    Rows(Vec<(&'static str, SqlType)>, Vec<Vec<Value>>),
    /// Success with this tag and rows affected.
    Done(&'static str, u64),
    /// A `SqlError`.
    Fail {
        sqlstate: &'static str,
        retryable: bool,
    },
    /// Ends the session's stream without answering (a crash mid-statement).
    HangUp,
}

impl Reply {
    /// A serialization failure (SQLSTATE 40001, retryable).
    pub(crate) fn conflict() -> Reply {
        Reply::Fail {
            sqlstate: "40001",
            retryable: true,
        }
    }
}

/// A statement as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Received {
    /// Which session (1, 2, … in the order the fake opened them).
    pub(crate) session: usize,
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

/// The test's script: the reply to a statement, or `None` for the default
/// (`BEGIN`/`COMMIT`/`ROLLBACK` succeed, `SELECT` returns no rows, anything
/// else affects one row).
type Script = Arc<dyn Fn(&str) -> Option<Reply> + Send + Sync>;

/// A running fake node; stops when dropped.
pub(crate) struct FakeNode {
    /// `127.0.0.1:<port>`.
    pub(crate) addr: String,
    received: Arc<Mutex<Vec<Received>>>,
    hang_up: watch::Sender<bool>,
    closed: watch::Receiver<Vec<usize>>,
    server: JoinHandle<()>,
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeNode {
    /// A node answering every statement by default.
    pub(crate) async fn start() -> FakeNode {
        FakeNode::scripted(|_| None).await
    }

    /// A node answering statements as `script` says.
    pub(crate) async fn scripted(
        script: impl Fn(&str) -> Option<Reply> + Send + Sync + 'static,
    ) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (hang_up, hang_up_rx) = watch::channel(false);
        let (closed_tx, closed) = watch::channel(Vec::new());
        let service = FakeService {
            script: Arc::new(script),
            received: received.clone(),
            sessions: Arc::new(AtomicUsize::new(0)),
            hang_up: hang_up_rx,
            closed: Arc::new(closed_tx),
        };
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(SqlServiceServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        FakeNode {
            addr,
            received,
            hang_up,
            closed,
            server,
        }
    }

    /// Every statement received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The SQL of every statement received so far, in order.
    pub(crate) fn sql(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.sql).collect()
    }

    /// Ends every session's stream, as a node shutting down does.
    pub(crate) fn hang_up_all(&self) {
        self.hang_up.send_replace(true);
    }

    /// Waits until the fake has seen session `session`'s stream end.
    pub(crate) async fn wait_closed(&self, session: usize) {
        self.closed
            .clone()
            .wait_for(|closed| closed.contains(&session))
            .await
            .unwrap();
    }
}

/// An address where nothing listens (a port that was free a moment ago).
pub(crate) async fn dead_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

#[derive(Clone)]
struct FakeService {
    script: Script,
    received: Arc<Mutex<Vec<Received>>>,
    sessions: Arc<AtomicUsize>,
    hang_up: watch::Receiver<bool>,
    closed: Arc<watch::Sender<Vec<usize>>>,
}

#[tonic::async_trait]
impl SqlService for FakeService {
    type SessionStream = ReceiverStream<Result<SessionResponse, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<SessionRequest>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let session = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = mpsc::channel(16);
        let service = self.clone();
        tokio::spawn(async move {
            service.serve(session, request.into_inner(), tx).await;
            service.closed.send_modify(|closed| closed.push(session));
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl FakeService {
    async fn serve(
        &self,
        session: usize,
        mut requests: Streaming<SessionRequest>,
        tx: mpsc::Sender<Result<SessionResponse, Status>>,
    ) {
        let mut state = TxnState::Idle;
        let mut hang_up = self.hang_up.clone();
        // Prepared statements by id, as a node keeps them per session.
        let mut prepared: std::collections::HashMap<u64, String> = Default::default();
        loop {
            let request = tokio::select! {
                r = requests.message() => r,
                _ = hang_up.wait_for(|h| *h) => return,
            };
            let query = match request {
                Ok(Some(SessionRequest {
                    kind: Some(session_request::Kind::Query(q)),
                })) => q,
                Ok(Some(SessionRequest {
                    kind: Some(session_request::Kind::Prepare(p)),
                })) => {
                    // Recorded as `PREPARE <sql>`; always accepted.
                    self.received.lock().unwrap().push(Received {
                        session,
                        sql: format!("PREPARE {}", p.sql),
                        params: Vec::new(),
                    });
                    prepared.insert(p.statement_id, p.sql);
                    let kinds = answer(Reply::Done("PREPARE", 0), "PREPARE", &mut state);
                    for kind in kinds.into_iter().flatten() {
                        let response = SessionResponse {
                            request_id: p.request_id,
                            kind: Some(kind),
                        };
                        if tx.send(Ok(response)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Ok(Some(_)) => continue, // StartSession
                Ok(None) | Err(_) => return,
            };
            // A prepared statement run by id is recorded as `EXECUTE <sql>`.
            let sql = match query.statement_id {
                0 => query.sql.clone(),
                id => prepared.get(&id).cloned().unwrap_or_default(),
            };
            self.received.lock().unwrap().push(Received {
                session,
                sql: if query.statement_id == 0 {
                    sql.clone()
                } else {
                    format!("EXECUTE {sql}")
                },
                params: query.params.into_iter().map(value_from_wire).collect(),
            });
            let reply = (self.script)(&sql).unwrap_or_else(|| default_reply(&sql));
            let Some(kinds) = answer(reply, &sql, &mut state) else {
                return;
            };
            for kind in kinds {
                let response = SessionResponse {
                    request_id: query.request_id,
                    kind: Some(kind),
                };
                if tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn default_reply(sql: &str) -> Reply {
    let word = sql.split_whitespace().next().unwrap_or("").to_uppercase();
    match word.as_str() {
        "BEGIN" => Reply::Done("BEGIN", 0),
        "COMMIT" => Reply::Done("COMMIT", 0),
        "ROLLBACK" => Reply::Done("ROLLBACK", 0),
        "SELECT" => Reply::Rows(vec![], vec![]),
        _ => Reply::Done("OK", 1),
    }
}

/// The responses for `reply`, updating the session's transaction state as
/// a node would; `None` to hang up.
fn answer(reply: Reply, sql: &str, state: &mut TxnState) -> Option<Vec<session_response::Kind>> {
    let word = sql.split_whitespace().next().unwrap_or("").to_uppercase();
    let ok = !matches!(reply, Reply::Fail { .. });
    *state = match (word.as_str(), ok) {
        ("BEGIN", true) => TxnState::InTransaction,
        ("COMMIT" | "ROLLBACK", _) => TxnState::Idle,
        (_, false) if *state != TxnState::Idle => TxnState::Failed,
        _ => *state,
    };
    let complete = |tag: String, rows_affected| {
        session_response::Kind::Complete(CommandComplete {
            tag,
            rows_affected,
            txn_state: *state as i32,
            commit_ts: None,
        })
    };
    Some(match reply {
        Reply::Rows(columns, rows) => vec![
            session_response::Kind::Columns(RowDescription {
                columns: columns
                    .iter()
                    .map(|(name, t)| pb::Column {
                        name: name.to_string(),
                        r#type: sql_type_to_wire(*t) as i32,
                    })
                    .collect(),
            }),
            session_response::Kind::Rows(RowBatch {
                rows: rows
                    .iter()
                    .map(|r| pb::Row {
                        values: r.iter().map(value_to_wire).collect(),
                    })
                    .collect(),
            }),
            complete(format!("SELECT {}", rows.len()), rows.len() as u64),
        ],
        Reply::Done(tag, n) => vec![complete(tag.to_string(), n)],
        Reply::Fail {
            sqlstate,
            retryable,
        } => vec![session_response::Kind::Error(pb::SqlError {
            sqlstate: sqlstate.to_string(),
            message: format!("scripted failure {sqlstate}"),
            detail: String::new(),
            hint: String::new(),
            retryable,
            txn_state: *state as i32,
        })],
        Reply::HangUp => return None,
    })
}

fn sql_type_to_wire(t: SqlType) -> pb::SqlType {
    match t {
        SqlType::Unknown => pb::SqlType::Unspecified,
        SqlType::Bool => pb::SqlType::Bool,
        SqlType::Int => pb::SqlType::Int,
        SqlType::Float => pb::SqlType::Float,
        SqlType::Text => pb::SqlType::Text,
        SqlType::Bytes => pb::SqlType::Bytes,
        SqlType::Timestamp => pb::SqlType::Timestamp,
    }
}
