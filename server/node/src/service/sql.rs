//! The gRPC `SqlService`: one bidirectional stream per session. Each
//! `Query` is answered, statement by statement, with its columns, its rows
//! in batches and a `CommandComplete`, or with one `SqlError` (after which
//! the rest of that query's statements are skipped). A client that goes
//! away mid-transaction has it rolled back. A `Cancel` naming the query
//! running ends it with 57014 (the session reads requests while a query
//! runs, see [`Running`]). A client that goes away while a query runs has
//! it cancelled too.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;

use spanlite_proto::common;
use spanlite_proto::sql::sql_service_server::SqlService;
use spanlite_proto::sql::{
    self as wire, CommandComplete, RowBatch, RowDescription, SessionRequest, SessionResponse,
    StartSession, TxnState, session_request, session_response,
};
use spanlite_sql::{DataType, QueryResult, SqlError, Value};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use spanlite_directory::call_stream::stopped;
use spanlite_session::SchemaCache;
use spanlite_session::Session;

/// Rows per `RowBatch`.
const BATCH: usize = 256;

/// The SQL service of a node.
#[derive(Clone, Debug)]
pub struct SqlGrpc {
    schema: Arc<SchemaCache>,
    /// Becomes true when the node stops: every session ends (rolled back).
    stopping: tokio::sync::watch::Receiver<bool>,
    /// TLS with client certificates: a session needs a certificate or a
    /// password.
    secure: bool,
    /// Derives the verifiers unknown users' passwords fail against.
    secret: [u8; 32],
}

impl SqlGrpc {
    /// The service over `gateway`; sessions end when `stopping` turns true.
    pub fn new(
        schema: Arc<SchemaCache>,
        stopping: tokio::sync::watch::Receiver<bool>,
        secure: bool,
    ) -> Self {
        Self {
            schema,
            stopping,
            secure,
            secret: rand::random(),
        }
    }

    /// Who a session starting with `start` runs as, from the caller's
    /// client certificate (`peer`, verified by TLS), its password, or (on
    /// an insecure node, without a password) its word, and whether it is
    /// a superuser. The role must exist and may log in.
    async fn authenticate(
        &self,
        peer: Option<&str>,
        start: &StartSession,
    ) -> Result<(String, bool), Status> {
        use spanlite_directory::tls::NODE_NAME;
        use spanlite_sql::access::ADMIN;
        let asked = (!start.user.is_empty()).then_some(start.user.as_str());
        let (user, by_password) = match peer {
            // A node is the cluster itself.
            Some(NODE_NAME) => (asked.unwrap_or(ADMIN), false),
            Some(name) => {
                if asked.is_some_and(|a| a != name) {
                    return Err(Status::permission_denied(format!(
                        "the certificate of {name:?} cannot start a session as {:?}",
                        start.user
                    )));
                }
                (name, false)
            }
            None if self.secure && start.password.is_empty() => {
                return Err(Status::unauthenticated(
                    "a client certificate of this cluster's CA or a password is required",
                ));
            }
            None => (asked.unwrap_or(ADMIN), !start.password.is_empty()),
        };
        let role = self
            .schema
            .login_role(user, by_password)
            .await
            .map_err(|e| Status::unavailable(format!("reading role {user:?}: {}", e.message)))?;
        if by_password {
            let verifier = role
                .as_ref()
                .and_then(|r| r.password.as_deref())
                .and_then(spanlite_sql::password::ScramVerifier::parse)
                .unwrap_or_else(|| {
                    spanlite_sql::password::ScramVerifier::unmatchable(user, &self.secret)
                });
            let password = start.password.clone();
            // PBKDF2 is thousands of hashes: off the reactor threads.
            let ok = tokio::task::spawn_blocking(move || verifier.matches(&password))
                .await
                .unwrap_or(false);
            if !ok {
                return Err(Status::unauthenticated(format!(
                    "password authentication failed for user \"{user}\" (SQLSTATE 28P01)"
                )));
            }
        }
        match role {
            None => Err(Status::permission_denied(format!(
                "role \"{user}\" does not exist (SQLSTATE 28000)"
            ))),
            Some(r) if !r.login => Err(Status::permission_denied(format!(
                "role \"{user}\" is not permitted to log in (SQLSTATE 28000)"
            ))),
            Some(r) => Ok((user.to_string(), r.superuser)),
        }
    }
}

/// A value on the wire. The wire has no date or decimal kind: a DATE or
/// NUMERIC goes as its text, which a statement casts back on assignment; a
/// TIMESTAMPTZ goes as the point in time it is.
pub fn value_to_wire(v: &Value) -> wire::Value {
    use wire::value::Kind;
    wire::Value {
        kind: Some(match v {
            Value::Null => Kind::Null(true),
            Value::Bool(b) => Kind::Bool(*b),
            Value::Int(i) => Kind::Int(*i),
            Value::Float(x) => Kind::Float(*x),
            Value::Text(s) => Kind::Text(s.clone()),
            Value::Bytes(b) => Kind::Bytes(b.clone()),
            Value::Timestamp(t) | Value::TimestampTz(t) => Kind::Timestamp(common::Timestamp {
                nanos: t.as_nanos(),
            }),
            Value::Date(_)
            | Value::Numeric(_)
            | Value::Uuid(_)
            | Value::Jsonb(_)
            | Value::Time(_)
            | Value::Interval(_)
            | Value::Enum(_)
            | Value::Array(_) => Kind::Text(v.to_string()),
        }),
    }
}

/// A value from the wire.
pub fn value_from_wire(v: &wire::Value) -> Value {
    use wire::value::Kind;
    match &v.kind {
        None | Some(Kind::Null(_)) => Value::Null,
        Some(Kind::Bool(b)) => Value::Bool(*b),
        Some(Kind::Int(i)) => Value::Int(*i),
        Some(Kind::Float(x)) => Value::Float(*x),
        Some(Kind::Text(s)) => Value::Text(s.clone()),
        Some(Kind::Bytes(b)) => Value::Bytes(b.clone()),
        Some(Kind::Timestamp(t)) => {
            Value::Timestamp(spanlite_truetime::Timestamp::from_nanos(t.nanos))
        }
    }
}

fn type_to_wire(t: Option<DataType>) -> wire::SqlType {
    match t {
        None => wire::SqlType::Unspecified,
        Some(DataType::Bool) => wire::SqlType::Bool,
        Some(DataType::Int) => wire::SqlType::Int,
        Some(DataType::Float) => wire::SqlType::Float,
        Some(DataType::Text) => wire::SqlType::Text,
        Some(DataType::Bytes) => wire::SqlType::Bytes,
        Some(DataType::Timestamp | DataType::TimestampTz) => wire::SqlType::Timestamp,
        Some(
            DataType::Date
            | DataType::Numeric
            | DataType::Uuid
            | DataType::Jsonb
            | DataType::Time
            | DataType::Interval
            | DataType::Enum(_)
            | DataType::Array(_),
        ) => wire::SqlType::Text,
    }
}

fn state(session: &Session) -> TxnState {
    match (session.in_transaction(), session.failed()) {
        (false, _) => TxnState::Idle,
        (true, false) => TxnState::InTransaction,
        (true, true) => TxnState::Failed,
    }
}

fn responses(
    request_id: u64,
    result: Result<QueryResult, SqlError>,
    session: &Session,
) -> Vec<SessionResponse> {
    let msg = |kind| SessionResponse {
        request_id,
        kind: Some(kind),
    };
    match result {
        Ok(r) => {
            let mut out = Vec::new();
            if !r.columns.is_empty() {
                out.push(msg(session_response::Kind::Columns(RowDescription {
                    columns: r
                        .columns
                        .iter()
                        .map(|(name, ty)| wire::Column {
                            name: name.clone(),
                            r#type: type_to_wire(*ty) as i32,
                        })
                        .collect(),
                })));
                for chunk in r.rows.chunks(BATCH) {
                    out.push(msg(session_response::Kind::Rows(RowBatch {
                        rows: chunk
                            .iter()
                            .map(|row| wire::Row {
                                values: row.iter().map(value_to_wire).collect(),
                            })
                            .collect(),
                    })));
                }
            }
            out.push(msg(session_response::Kind::Complete(CommandComplete {
                tag: r.tag,
                rows_affected: r.rows_affected,
                txn_state: state(session) as i32,
                commit_ts: None,
            })));
            out
        }
        Err(e) => vec![msg(session_response::Kind::Error(wire::SqlError {
            sqlstate: e.code.to_string(),
            message: e.message.clone(),
            detail: String::new(),
            hint: String::new(),
            retryable: e.is_retryable(),
            txn_state: state(session) as i32,
        }))],
    }
}

/// Prepared statements a session keeps at most.
const MAX_PREPARED: usize = 10_000;

/// Prepares `sql` in `session` under the client's `id` (kept in
/// `prepared`): a syntax error is reported now, as PostgreSQL's Parse does.
fn prepare(
    session: &mut Session,
    prepared: &mut HashMap<u64, Arc<spanlite_session::Prepared>>,
    id: u64,
    sql: &str,
) -> Result<QueryResult, SqlError> {
    if id == 0 {
        return Err(SqlError::protocol_violation(
            "a prepared statement needs a non-zero id",
        ));
    }
    if prepared.len() >= MAX_PREPARED && !prepared.contains_key(&id) {
        return Err(SqlError::invalid_parameter(format!(
            "a session keeps at most {MAX_PREPARED} prepared statements"
        )));
    }
    let p = session.prepare(sql);
    if let Some(e) = p.error() {
        return Err(e.clone());
    }
    prepared.insert(id, p);
    Ok(QueryResult {
        declared: Vec::new(),
        tag: "PREPARE".to_string(),
        ..QueryResult::default()
    })
}

/// A session's answers, sent a request at a time and read a message at a
/// time: all the messages of one answer (columns, rows, completion) are
/// ready together when the encoder polls, so they leave in one HTTP/2
/// frame — one write, one wake-up of the client — rather than racing the
/// encoder message by message.
struct Answers {
    rx: mpsc::Receiver<Vec<Result<SessionResponse, Status>>>,
    ready: std::vec::IntoIter<Result<SessionResponse, Status>>,
}

impl tokio_stream::Stream for Answers {
    type Item = Result<SessionResponse, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        loop {
            if let Some(next) = self.ready.next() {
                return std::task::Poll::Ready(Some(next));
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(answer) => self.ready = answer.into_iter(),
                None => return std::task::Poll::Ready(None),
            }
        }
    }
}

type SessionStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<SessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl SqlService for SqlGrpc {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<SessionRequest>>,
    ) -> Result<Response<SessionStream>, Status> {
        let peer = spanlite_directory::tls::peer_name(&request);
        let mut requests = request.into_inner();
        // The first message says who the session is for: it is checked
        // before the call is answered.
        let start = match requests.next().await {
            Some(Ok(SessionRequest {
                kind: Some(session_request::Kind::Start(start)),
            })) => start,
            Some(Err(status)) => return Err(status),
            _ => {
                return Err(Status::failed_precondition(
                    "the first message of a session must be `start`",
                ));
            }
        };
        let (user, superuser) = self.authenticate(peer.as_deref(), &start).await?;
        let (tx, rx) = mpsc::channel::<Vec<Result<SessionResponse, Status>>>(16);
        let mut session = Session::on(self.schema.clone());
        session.set_user(&user);
        session.set_superuser(superuser);
        let mut stopping = self.stopping.clone();
        let interrupt = session.interrupt();
        tokio::spawn(async move {
            // Statements the client prepared, by its ids.
            let mut prepared: HashMap<u64, Arc<spanlite_session::Prepared>> = HashMap::new();
            // Requests read while a query ran (a client may send ahead).
            let mut queued = VecDeque::new();
            // The client is done sending, or its stream broke.
            let mut input_done = false;
            loop {
                let request = match queued.pop_front() {
                    Some(request) => request,
                    None if input_done => break,
                    None => {
                        let next = tokio::select! {
                            next = requests.next() => next,
                            () = stopped(&mut stopping) => {
                                let _ = tx
                                    .send(vec![Err(Status::unavailable("the node is shutting down"))])
                                    .await;
                                break;
                            }
                        };
                        // The stream ended or failed.
                        let Some(Ok(request)) = next else { break };
                        request
                    }
                };
                match request.kind {
                    Some(session_request::Kind::Start(_)) => {
                        let _ = tx
                            .send(vec![Err(Status::failed_precondition(
                                "a session starts once",
                            ))])
                            .await;
                        break;
                    }
                    Some(session_request::Kind::Prepare(p)) => {
                        let result = prepare(&mut session, &mut prepared, p.statement_id, &p.sql);
                        let answer = responses(p.request_id, result, &session)
                            .into_iter()
                            .map(Ok)
                            .collect();
                        if tx.send(answer).await.is_err() {
                            session.close().await;
                            return;
                        }
                    }
                    // No query runs: nothing to cancel.
                    Some(session_request::Kind::Cancel(_)) => {}
                    Some(session_request::Kind::Query(q)) => {
                        let results = Running {
                            request_id: q.request_id,
                            requests: &mut requests,
                            queued: &mut queued,
                            input_done: &mut input_done,
                            interrupt: &interrupt,
                            answers: &tx,
                        }
                        .run(query(&mut session, &prepared, &q))
                        .await;
                        let answer = results
                            .into_iter()
                            .flat_map(|result| responses(q.request_id, result, &session))
                            .map(Ok)
                            .collect();
                        if tx.send(answer).await.is_err() {
                            session.close().await;
                            return;
                        }
                    }
                    None => {
                        let _ = tx
                            .send(vec![Err(Status::invalid_argument(
                                "an empty session request",
                            ))])
                            .await;
                        break;
                    }
                }
            }
            // The client went away (or broke the protocol): roll back.
            session.close().await;
        });
        let mut response = Response::new(Box::pin(Answers {
            rx,
            ready: Vec::new().into_iter(),
        }) as SessionStream);
        response.metadata_mut().insert(
            spanlite_proto::sql::SESSION_FEATURES_HEADER,
            tonic::metadata::MetadataValue::from_static(spanlite_proto::sql::SESSION_FEATURES),
        );
        Ok(response)
    }
}

/// Runs query `q`: its `begin` first if it has one, then its text or the
/// statement it names.
async fn query(
    session: &mut Session,
    prepared: &HashMap<u64, Arc<spanlite_session::Prepared>>,
    q: &wire::Query,
) -> Vec<spanlite_session::StatementResult> {
    let params: Vec<Value> = q.params.iter().map(value_from_wire).collect();
    if !q.begin.is_empty()
        && let Some(refused) = begin(session, &q.begin).await
    {
        // The query would run outside a transaction.
        return vec![Err(refused)];
    }
    match q.statement_id {
        0 => session.run_with(&q.sql, &params).await,
        id => match prepared.get(&id).cloned() {
            Some(p) => session.run_prepared(&p, &params).await,
            None => vec![Err(SqlError::invalid_statement_name(format!(
                "prepared statement {id} does not exist in this session"
            )))],
        },
    }
}

/// What a session watches while one of its queries runs: the client's
/// requests (a `Cancel` naming the query cancels it; others wait their
/// turn) and its answers' stream (a client that reads no more answers —
/// its stream reset, its connection broken — went away: the query is
/// cancelled rather than left to wait for locks and commit for nobody; a
/// client that only finished sending still reads, and its queries run).
struct Running<'a> {
    request_id: u64,
    requests: &'a mut Streaming<SessionRequest>,
    queued: &'a mut VecDeque<SessionRequest>,
    input_done: &'a mut bool,
    interrupt: &'a spanlite_session::Interrupt,
    answers: &'a mpsc::Sender<Vec<Result<SessionResponse, Status>>>,
}

impl Running<'_> {
    async fn run<T>(self, work: impl std::future::Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let mut gone = false;
        loop {
            tokio::select! {
                // NB: the query is polled first, so it has started (and
                // cleared the session's last cancel) before a cancel is
                // read.
                biased;
                out = &mut work => return out,
                next = self.requests.next(), if !*self.input_done => match next {
                    Some(Ok(SessionRequest {
                        kind: Some(session_request::Kind::Cancel(cancel)),
                    })) => {
                        if cancel.request_id == self.request_id {
                            self.interrupt.request();
                        }
                    }
                    Some(Ok(request)) => self.queued.push_back(request),
                    Some(Err(_)) | None => *self.input_done = true,
                },
                () = self.answers.closed(), if !gone => {
                    gone = true;
                    self.interrupt.request();
                }
            }
        }
    }
}

/// Runs a query's `begin` statement: `None` when it opened a transaction,
/// else why the query must not run (it would run outside one).
async fn begin(session: &mut Session, sql: &str) -> Option<SqlError> {
    if session.in_transaction() {
        return Some(SqlError::active_transaction(
            "a query that begins a transaction was sent inside one",
        ));
    }
    if let Some(Err(e)) = session
        .run_with(sql, &[])
        .await
        .into_iter()
        .find(Result::is_err)
    {
        return Some(e);
    }
    if !session.in_transaction() {
        return Some(SqlError::protocol_violation(format!(
            "{sql:?} did not open a transaction"
        )));
    }
    None
}
