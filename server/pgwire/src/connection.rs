//! One PostgreSQL client: startup, then the simple and extended query
//! protocols over one [`Session`].
//!
//! ```text
//!  startup ──▶ ready ──Query──▶ run script ──▶ ready
//!                │
//!                └─Parse/Bind/Describe/Execute…──▶ (error: skip to Sync) ──Sync──▶ ready
//! ```
//!
//! Extended protocol: a portal runs when it is first described or
//! executed, and its result is kept until Execute sends it (or the portal
//! is closed or replaced). A row description needs the result's columns,
//! and only running the statement gives them.
//!
//! HAZARD: Describe of a *statement* cannot run it (its parameters are
//! not bound yet). For a read-only statement (`SELECT`, `VALUES`, `SHOW`,
//! `WITH`) it is run once with every parameter NULL to learn the columns;
//! for anything else the answer is NoData. Clients that prepare a write
//! and then expect rows from it (`INSERT … RETURNING`) are not served.
//!
//! INVARIANT: when the connection ends, however it ends, the session is
//! closed, so an open transaction is rolled back.

use std::collections::HashMap;
use std::sync::Arc;

use spanlite_sql::sqlparser::ast::{CopyTarget, Statement};
use spanlite_sql::zone::with_zone;
use spanlite_sql::{QueryResult, SqlError, Value, Width, sqlstate};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::auth::{Auth, MECHANISM, MECHANISM_PLUS, ScramError, ScramServer};
use super::cancel::BackendKey;
use super::listener::Port;
use super::listener::TlsPeer;
use super::message::{
    FieldDescription, Frontend, MAX_AUTH_MESSAGE, MAX_MESSAGE, Out, ProtocolError, Startup, Target,
    TxnStatus, parse, read_message, read_message_within, read_startup, sasl_initial_response,
};
use super::types;

mod copying;
use spanlite_session::SchemaCache;
use spanlite_session::Session;
use spanlite_sql::password::ScramVerifier;

/// Replies buffered past this many bytes go out even while the client has
/// more requests queued.
const FLUSH_AT: usize = 64 << 10;

/// A statement's text split and parsed at Parse.
type Parsed = Arc<spanlite_session::Prepared>;

/// A statement prepared by Parse.
#[derive(Debug, Clone)]
struct Prepared {
    sql: String,
    param_types: Vec<u32>,
    /// Split and parsed at Parse, for the session to run at each Execute.
    parsed: Parsed,
}

/// A portal made by Bind.
#[derive(Debug)]
struct Portal {
    parsed: Parsed,
    params: Vec<Value>,
    result_formats: Vec<i16>,
    /// The result once the portal ran, and how many rows were sent.
    result: Option<Result<QueryResult, SqlError>>,
    sent: usize,
}

/// The portals of a connection: the unnamed one (what most drivers bind,
/// once per statement run) in a slot of its own, others by name.
#[derive(Debug, Default)]
struct Portals {
    unnamed: Option<Portal>,
    named: HashMap<String, Portal>,
}

impl Portals {
    fn get(&self, name: &str) -> Option<&Portal> {
        if name.is_empty() {
            self.unnamed.as_ref()
        } else {
            self.named.get(name)
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Portal> {
        if name.is_empty() {
            self.unnamed.as_mut()
        } else {
            self.named.get_mut(name)
        }
    }

    fn insert(&mut self, name: String, portal: Portal) {
        if name.is_empty() {
            self.unnamed = Some(portal);
        } else {
            self.named.insert(name, portal);
        }
    }

    fn remove(&mut self, name: &str) -> Option<Portal> {
        if name.is_empty() {
            self.unnamed.take()
        } else {
            self.named.remove(name)
        }
    }
}

/// One client connection and its session.
#[derive(Debug)]
pub struct Connection<S> {
    stream: BufReader<super::hangup::ReadAhead<S>>,
    out: Out,
    session: Session,
    stopping: watch::Receiver<bool>,
    statements: HashMap<String, Prepared>,
    portals: Portals,
    /// After an error in the extended protocol: skip until Sync.
    skipping: bool,
    /// The port's shared state (authentication, cancellation).
    port: Arc<Port>,
    /// This session's key, once registered for cancellation.
    key: Option<BackendKey>,
    /// The TLS session's channel binding and client certificate, over TLS.
    tls: Option<TlsPeer>,
    /// The reported settings' values as the client last heard them
    /// (ParameterStatus), and the session's settings version then.
    reported: (Vec<String>, u64),
}

/// The settings a client is told of at startup and whenever they change
/// (PostgreSQL 15's, in its order).
const REPORTED: [&str; 13] = [
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
];

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection on `stream` with a new session on `gateway`; it ends
    /// when `stopping` turns true.
    pub fn new(
        stream: S,
        schema: Arc<SchemaCache>,
        stopping: watch::Receiver<bool>,
        port: Arc<Port>,
        tls: Option<TlsPeer>,
    ) -> Self {
        Self {
            stream: BufReader::new(super::hangup::ReadAhead::new(stream)),
            out: Out::default(),
            session: Session::on(schema),
            stopping,
            statements: HashMap::new(),
            portals: Portals::default(),
            skipping: false,
            port,
            key: None,
            tls,
            reported: (Vec::new(), 0),
        }
    }

    /// The client's address (`pg_stat_activity`).
    pub fn with_client(mut self, addr: std::net::SocketAddr) -> Self {
        self.session.set_client(addr);
        self
    }

    /// Serves the client until it leaves, breaks the protocol, or the node
    /// stops; then closes the session (rolling back an open transaction).
    pub async fn run(mut self) {
        let result = self.serve().await;
        match &result {
            Ok(()) => {}
            Err(ProtocolError::Malformed(m)) => {
                tracing::debug!("pgwire: closing a connection: {m}");
                self.out.error("FATAL", sqlstate::PROTOCOL_VIOLATION, m);
                let _ = self.flush().await;
            }
            Err(ProtocolError::AuthFailed(m)) => {
                tracing::info!("pgwire: {m}");
                self.out.error("FATAL", sqlstate::INVALID_PASSWORD, m);
                let _ = self.flush().await;
            }
            Err(ProtocolError::NotAuthorized(m)) => {
                tracing::info!("pgwire: {m}");
                self.out
                    .error("FATAL", sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, m);
                let _ = self.flush().await;
            }
            Err(ProtocolError::Unavailable(m)) => {
                tracing::info!("pgwire: {m}");
                self.out.error("FATAL", sqlstate::CONNECTION_FAILURE, m);
                let _ = self.flush().await;
            }
            Err(ProtocolError::BadSetting(m)) => {
                tracing::info!("pgwire: {m}");
                self.out
                    .error("FATAL", sqlstate::INVALID_PARAMETER_VALUE, m);
                let _ = self.flush().await;
            }
            Err(ProtocolError::Io(e)) => tracing::debug!("pgwire: connection ended: {e}"),
        }
        if let Some(key) = self.key {
            self.port.cancels.forget(key);
        }
        self.session.close().await;
        let _ = self.stream.get_mut().shutdown().await;
    }

    async fn serve(&mut self) -> Result<(), ProtocolError> {
        let timeout = self.port.limits.login_timeout;
        match tokio::time::timeout(timeout, self.startup()).await {
            Ok(started) => {
                if !started? {
                    return Ok(());
                }
            }
            Err(_) => {
                return Err(ProtocolError::Malformed(format!(
                    "canceling authentication due to timeout ({timeout:?})"
                )));
            }
        }
        loop {
            // Replies go out when the client has nothing more queued for us
            // (as PostgreSQL does): a pipelined Bind, Execute, Sync gets
            // its answers in one write, not one per message. A client
            // waits for answers only after a whole message it sent (Sync,
            // Flush, a simple Query), so bytes still buffered here mean
            // more requests to serve first (up to a bound on what waits).
            if self.stream.buffer().is_empty() || self.out.buf.len() >= FLUSH_AT {
                self.flush().await?;
            }
            // A message already read whole (the Execute and Sync after a
            // Bind) is served with no wait to arm: the client is not idle
            // and there is nothing to race. Shutdown is still checked.
            let buffered = if *self.stopping.borrow() {
                None
            } else {
                self.buffered_message().transpose()?
            };
            let msg = match buffered {
                Some(msg) => msg,
                None => match self.wait_message().await? {
                    Some(msg) => msg,
                    None => return Ok(()),
                },
            };
            if self.skipping && !matches!(msg, Frontend::Sync | Frontend::Terminate) {
                continue;
            }
            if self.serve_message(msg).await? {
                return Ok(());
            }
        }
    }

    /// The next message from the socket, racing the idle-in-transaction
    /// timeout and shutdown; `None` when the connection ends (the client
    /// left, or an error was sent for either of those).
    async fn wait_message(&mut self) -> Result<Option<Frontend>, ProtocolError> {
        // A transaction left open and idle past the session's
        // idle_in_transaction_session_timeout ends the connection (and
        // so the transaction, with its locks), as in PostgreSQL.
        let idle_limit = if self.session.in_transaction() {
            self.session.idle_in_transaction_timeout()
        } else {
            None
        };
        let idle_timer = async {
            match idle_limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let stopping = &mut self.stopping;
        let terminated = self.session.terminated();
        tokio::select! {
            next = read_message(&mut self.stream) => next,
            () = terminated => {
                self.out.error(
                    "FATAL",
                    sqlstate::ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command",
                );
                self.flush().await?;
                Ok(None)
            }
            () = idle_timer => {
                self.out.error(
                    "FATAL",
                    sqlstate::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                    "terminating connection due to idle-in-transaction timeout",
                );
                self.flush().await?;
                Ok(None)
            }
            () = super::listener::stopped(stopping) => {
                self.out.error(
                    "FATAL",
                    sqlstate::ADMIN_SHUTDOWN,
                    "terminating connection: the node is shutting down",
                );
                self.flush().await?;
                Ok(None)
            }
        }
    }

    /// The next message if the read buffer holds all of it, parsed in
    /// place; `None` if more must be read (or its header is bad:
    /// `read_message` reports that).
    fn buffered_message(&mut self) -> Option<Result<Frontend, ProtocolError>> {
        let buf = self.stream.buffer();
        let header: [u8; 4] = buf.get(1..5)?.try_into().ok()?;
        let len = usize::try_from(i32::from_be_bytes(header))
            .ok()
            .filter(|len| (4..=MAX_MESSAGE).contains(len))?;
        let body = buf.get(5..1 + len)?;
        let msg = parse(buf[0], body);
        std::pin::Pin::new(&mut self.stream).consume(1 + len);
        Some(msg)
    }

    /// Serves one message after login; true when the session ends.
    async fn serve_message(&mut self, msg: Frontend) -> Result<bool, ProtocolError> {
        match msg {
            Frontend::Query(sql) => {
                self.simple_query(&sql).await?;
                self.ready();
            }
            // Left over from a COPY that already failed: ignored, as
            // PostgreSQL does.
            Frontend::CopyData(_) | Frontend::CopyDone | Frontend::CopyFail(_) => {}
            Frontend::Parse {
                name,
                sql,
                mut param_types,
            } => {
                // Undeclared parameters get the types their uses show
                // (`k = $1` with k an INT: int8), so drivers bind them
                // as such; the rest stay unknown (described as text).
                let count = param_types.len().max(max_placeholder(&sql));
                param_types.resize(count, 0);
                if param_types.contains(&0) {
                    let inferred = self.session.param_types(&sql, count).await;
                    for (declared, ty) in param_types.iter_mut().zip(inferred) {
                        if *declared == 0 && ty.is_some() {
                            *declared = types::oid_of(ty).0;
                        }
                    }
                }
                let parsed = self.session.prepare(&sql);
                if !name.is_empty() {
                    self.session.note_protocol_statement(&name, true);
                }
                self.statements.insert(
                    name,
                    Prepared {
                        sql,
                        param_types,
                        parsed,
                    },
                );
                self.out.parse_complete();
            }
            Frontend::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => match self.bind(&statement, &param_formats, &params) {
                Ok((parsed, params)) => {
                    self.portals.insert(
                        portal,
                        Portal {
                            parsed,
                            params,
                            result_formats,
                            result: None,
                            sent: 0,
                        },
                    );
                    self.out.bind_complete();
                }
                Err(e) => self.extended_error(&e),
            },
            Frontend::Describe(Target::Portal, name) => self.describe_portal(&name).await,
            Frontend::Describe(Target::Statement, name) => self.describe_statement(&name).await,
            Frontend::Execute { portal, max_rows } => self.execute(&portal, max_rows).await,
            Frontend::Close(target, name) => {
                match target {
                    Target::Statement => {
                        self.session.note_protocol_statement(&name, false);
                        drop(self.statements.remove(&name));
                    }
                    Target::Portal => drop(self.portals.remove(&name)),
                }
                self.out.close_complete();
            }
            Frontend::Sync => {
                self.skipping = false;
                self.portals.remove("");
                self.ready();
            }
            Frontend::Flush => self.flush().await?,
            Frontend::Terminate => return Ok(true),
            Frontend::Password(_) => {
                return Err(ProtocolError::Malformed(
                    "a password message outside authentication".to_string(),
                ));
            }
            Frontend::Other(kind) => {
                return Err(ProtocolError::Malformed(format!(
                    "unsupported message type {:?}",
                    char::from(kind)
                )));
            }
        }
        Ok(false)
    }

    async fn flush(&mut self) -> Result<(), ProtocolError> {
        if !self.out.buf.is_empty() {
            self.stream.get_mut().write_all(&self.out.buf).await?;
            self.out.buf.clear();
        }
        Ok(())
    }

    /// Reads the startup packet(s); false if the client is to be dropped
    /// without a session (a cancel request).
    async fn startup(&mut self) -> Result<bool, ProtocolError> {
        let params = loop {
            match read_startup(&mut self.stream).await? {
                Startup::Ssl | Startup::GssEnc => {
                    self.out.refuse_encryption();
                    self.flush().await?;
                }
                Startup::Cancel(key) => {
                    let cancelled = self.port.cancels.cancel(key);
                    tracing::debug!(pid = key.pid, cancelled, "pgwire: cancel request");
                    return Ok(false);
                }
                Startup::Start(params) => break params,
            }
        };
        let app = params
            .iter()
            .find(|(k, _)| k == "application_name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.session.set("application_name", &app);
        let user = params
            .iter()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let database = params
            .iter()
            .find(|(k, _)| k == "database")
            .map_or_else(|| user.clone(), |(_, v)| v.clone());
        self.log_in(&user).await?;
        self.out.authentication_ok();
        let key = self.port.cancels.register(self.session.interrupt());
        self.key = Some(key);
        self.session.set_connection(&database, i64::from(key.pid));
        // A time zone asked for in the startup packet (libpq's PGTZ,
        // JDBC's JVM zone), checked as SET checks it.
        if let Some((_, zone)) = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("timezone"))
            && let Err(e) = self.session.set_time_zone(zone)
        {
            return Err(ProtocolError::BadSetting(e.message));
        }
        // What PostgreSQL 15 reports at startup, in its order.
        let mut values = Vec::with_capacity(REPORTED.len());
        for name in REPORTED {
            let value = self.session.setting(name).unwrap_or("").to_string();
            self.out.parameter_status(name, &value);
            values.push(value);
        }
        self.reported = (values, self.session.settings_version());
        self.out.backend_key_data(key);
        self.ready();
        Ok(true)
    }

    /// Logs the client in as `user` (see [`super::auth`]): by a client
    /// certificate for `user`, by the role's password, or (trust) on its
    /// word; then the role must exist and may log in. `Err` ends the
    /// connection: 28P01 for a password not proven (whether or not the
    /// user exists), 28000 for a role that may not log in.
    async fn log_in(&mut self, user: &str) -> Result<(), ProtocolError> {
        if user.is_empty() {
            return Err(ProtocolError::NotAuthorized(
                "no PostgreSQL user name specified in startup packet".to_string(),
            ));
        }
        let certified = self
            .tls
            .as_ref()
            .is_some_and(|t| t.client_name.as_deref() == Some(user));
        let by_password = self.port.auth == Auth::Password && !certified;
        let role = self
            .session
            .schema()
            .login_role(user, by_password)
            .await
            .map_err(|e| {
                ProtocolError::Unavailable(format!("reading role \"{user}\": {}", e.message))
            })?;
        if by_password {
            let verifier = role
                .as_ref()
                .and_then(|r| r.password.as_deref())
                .and_then(ScramVerifier::parse)
                .unwrap_or_else(|| ScramVerifier::unmatchable(user, &self.port.secret));
            self.scram(&verifier, user).await?;
        }
        match role {
            None => Err(ProtocolError::NotAuthorized(format!(
                "role \"{user}\" does not exist"
            ))),
            Some(r) if !r.login => Err(ProtocolError::NotAuthorized(format!(
                "role \"{user}\" is not permitted to log in"
            ))),
            Some(r) => {
                self.session.set_user(user);
                self.session.set_superuser(r.superuser);
                Ok(())
            }
        }
    }

    /// The SCRAM-SHA-256 exchange (see [`super::auth`]), with channel
    /// binding offered over TLS; `Err` ends the connection (FATAL 28P01 on
    /// a wrong password).
    async fn scram(&mut self, verifier: &ScramVerifier, user: &str) -> Result<(), ProtocolError> {
        let failed = || {
            ProtocolError::AuthFailed(format!(
                "password authentication failed for user \"{user}\""
            ))
        };
        let scram_error = |e: ScramError| match e {
            ScramError::Malformed(m) => ProtocolError::Malformed(m),
            ScramError::WrongPassword => failed(),
        };
        let binding = self.tls.as_ref().map(|t| t.end_point.clone());
        if binding.is_some() {
            self.out.authentication_sasl(&[MECHANISM_PLUS, MECHANISM]);
        } else {
            self.out.authentication_sasl(&[MECHANISM]);
        }
        self.flush().await?;
        let body = self.password_message().await?;
        let (mechanism, first) = sasl_initial_response(&body)?;
        let mut server = ScramServer::new(
            verifier,
            &mechanism,
            binding.as_deref().map(Vec::as_slice),
            rand::random(),
        )
        .map_err(scram_error)?;
        let server_first = server.client_first(&first).map_err(scram_error)?;
        self.out
            .authentication_sasl_step(false, server_first.as_bytes());
        self.flush().await?;
        let last = self.password_message().await?;
        let server_final = server.client_final(&last).map_err(scram_error)?;
        self.out
            .authentication_sasl_step(true, server_final.as_bytes());
        Ok(())
    }

    /// The next message, which must be a password message. NB: psql
    /// without a password closes its first connection here, asks for one
    /// and connects again: that is an I/O end, not an attempt that failed.
    async fn password_message(&mut self) -> Result<Vec<u8>, ProtocolError> {
        match read_message_within(&mut self.stream, MAX_AUTH_MESSAGE).await? {
            Some(Frontend::Password(body)) => Ok(body),
            Some(_) => Err(ProtocolError::Malformed(
                "expected a SASL response message".to_string(),
            )),
            None => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
        }
    }

    fn status(&self) -> TxnStatus {
        match (self.session.in_transaction(), self.session.failed()) {
            (false, _) => TxnStatus::Idle,
            (true, false) => TxnStatus::InBlock,
            (true, true) => TxnStatus::Failed,
        }
    }

    /// ReadyForQuery (after a `DEALLOCATE` or `DISCARD ALL`, with the
    /// statements and portals they close closed), after a ParameterStatus for
    /// each reported setting
    /// that changed since the client last heard of it (`SET TIME ZONE`,
    /// `SET application_name`, …), as PostgreSQL sends them.
    fn ready(&mut self) {
        // DEALLOCATE and DISCARD ALL close statements (and portals) here too.
        let closed = self.session.take_closed();
        if closed.all_statements {
            self.statements.retain(|name, _| name.is_empty());
        }
        for name in &closed.statements {
            self.statements.remove(name);
        }
        if closed.portals {
            self.portals = Portals::default();
        }
        if self.session.settings_version() != self.reported.1 {
            for (i, name) in REPORTED.iter().enumerate() {
                let value = self.session.setting(name).unwrap_or("");
                if self.reported.0.get(i).is_some_and(|v| v != value) {
                    self.out.parameter_status(name, value);
                    self.reported.0[i] = value.to_string();
                }
            }
            self.reported.1 = self.session.settings_version();
        }
        self.out.ready_for_query(self.status());
    }

    /// Runs `sql` in the session (cancelled if the client hangs up
    /// meanwhile: [`super::hangup`]).
    async fn run_sql(&mut self, sql: &str, params: &[Value]) -> Vec<Result<QueryResult, SqlError>> {
        let interrupt = self.session.interrupt();
        let work = self.session.run_with(sql, params);
        super::hangup::watching(&mut self.stream, &interrupt, work).await
    }

    async fn simple_query(&mut self, sql: &str) -> Result<(), ProtocolError> {
        // COPY moves data in messages of its own: the port runs it.
        if first_word_is(sql, "copy")
            && let Ok((mut statements, inline_given)) =
                spanlite_sql::parse(sql).map(|s| (s, true)).or_else(|_| {
                    // The parser takes `COPY … FROM STDIN` with its data
                    // inline (as in a pg_dump script): here the data comes
                    // in CopyData messages, so it is given none.
                    let text = format!("{};\n\\.\n", sql.trim_end().trim_end_matches(';'));
                    spanlite_sql::parse(&text).map(|s| (s, false))
                })
            && statements.len() == 1
            && let Some(Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                values,
            }) = statements.pop()
        {
            let r = if !legacy_options.is_empty() || (inline_given && !values.is_empty()) {
                Err(SqlError::not_supported(
                    "COPY with pre-9.0 options or inline data",
                ))
            } else {
                match (to, target) {
                    // Boxed: the session's statement futures are large, and
                    // these nest them a level deeper than a query does.
                    (false, CopyTarget::Stdin) => Box::pin(self.copy_in(source, &options)).await?,
                    (true, CopyTarget::Stdout) => Box::pin(self.copy_out(source, &options)).await?,
                    _ => Err(SqlError::not_supported(
                        "COPY to or from a file or program on the server: use STDIN/STDOUT (psql's \\copy)",
                    )),
                }
            };
            match r {
                Ok(n) => self.out.command_complete(&format!("COPY {n}")),
                Err(e) => self.out.error("ERROR", e.code, &e.message),
            }
            return Ok(());
        }
        for result in self.run_sql(sql, &[]).await {
            match result {
                Ok(r) if r.tag == "EMPTY" && r.columns.is_empty() => self.out.empty_query(),
                Ok(r) => {
                    if !r.columns.is_empty() {
                        self.out.row_description(&fields(&r, &[]));
                    }
                    for row in &r.rows {
                        self.data_row(row, &[], &r.declared);
                    }
                    self.out.command_complete(&pg_tag(&r.tag));
                }
                Err(e) => {
                    tracing::debug!(code = e.code, "pgwire: statement failed: {}", e.message);
                    self.out.error("ERROR", e.code, &e.message)
                }
            }
        }
        Ok(())
    }

    /// A DataRow (timestamps with time zone as text in the session's zone).
    fn data_row(&mut self, row: &[Value], formats: &[i16], declared: &[Option<Width>]) {
        let values: Vec<Option<Vec<u8>>> = with_zone(self.session.time_zone(), || {
            row.iter()
                .enumerate()
                .map(|(i, v)| {
                    let declared = declared.get(i).copied().flatten();
                    types::encode_declared(v, format_of(formats, i), declared)
                })
                .collect()
        });
        self.out.data_row(&values);
    }

    fn extended_error(&mut self, e: &SqlError) {
        tracing::debug!(code = e.code, "pgwire: statement failed: {}", e.message);
        self.out.error("ERROR", e.code, &e.message);
        self.skipping = true;
    }

    /// The SQL and parameter values of a Bind.
    fn bind(
        &self,
        statement: &str,
        formats: &[i16],
        raw: &[Option<Vec<u8>>],
    ) -> Result<(Parsed, Vec<Value>), SqlError> {
        let prepared = self.statements.get(statement).ok_or_else(|| {
            SqlError::invalid_statement_name(format!(
                "prepared statement {statement:?} does not exist"
            ))
        })?;
        if formats.len() > 1 && formats.len() != raw.len() {
            return Err(SqlError::protocol_violation(format!(
                "bind has {} parameter formats for {} parameters",
                formats.len(),
                raw.len()
            )));
        }
        let params = with_zone(self.session.time_zone(), || {
            raw.iter()
                .enumerate()
                .map(|(i, v)| {
                    let oid = prepared.param_types.get(i).copied().unwrap_or(0);
                    types::decode_param(v.as_deref(), format_of(formats, i), oid)
                })
                .collect::<Result<_, _>>()
        })?;
        Ok((prepared.parsed.clone(), params))
    }

    /// Runs portal `name` unless it ran already; its result stays in it.
    async fn run_portal(&mut self, name: &str) -> Result<(), SqlError> {
        let Some(portal) = self.portals.get(name) else {
            return Err(SqlError::invalid_cursor_name(format!(
                "portal {name:?} does not exist"
            )));
        };
        if portal.result.is_some() {
            return Ok(());
        }
        let (parsed, params) = (portal.parsed.clone(), portal.params.clone());
        let interrupt = self.session.interrupt();
        let work = self.session.run_prepared(&parsed, &params);
        let result = first(super::hangup::watching(&mut self.stream, &interrupt, work).await);
        if let Some(portal) = self.portals.get_mut(name) {
            portal.result = Some(result);
        }
        Ok(())
    }

    async fn describe_portal(&mut self, name: &str) {
        if let Err(e) = self.run_portal(name).await {
            return self.extended_error(&e);
        }
        let Some(portal) = self.portals.get(name) else {
            return;
        };
        match &portal.result {
            Some(Ok(r)) if !r.columns.is_empty() => {
                let f = fields(r, &portal.result_formats);
                self.out.row_description(&f);
            }
            Some(Err(e)) => {
                let e = e.clone();
                self.extended_error(&e);
            }
            _ => self.out.no_data(),
        }
    }

    async fn describe_statement(&mut self, name: &str) {
        let Some(prepared) = self.statements.get(name).cloned() else {
            return self.extended_error(&SqlError::invalid_statement_name(format!(
                "prepared statement {name:?} does not exist"
            )));
        };
        let count = prepared
            .param_types
            .len()
            .max(max_placeholder(&prepared.sql));
        let declared: Vec<u32> = (0..count)
            .map(|i| match prepared.param_types.get(i) {
                Some(&t) if t != 0 => t,
                _ => types::TEXT,
            })
            .collect();
        self.out.parameter_description(&declared);
        if self.session.failed() {
            return self.out.no_data();
        }
        if !is_read_only(&prepared.sql) {
            // A write is described by its RETURNING list, if it has one.
            return match self.session.returning_columns(&prepared.sql, count).await {
                Some(columns) => {
                    let r = QueryResult {
                        declared: Vec::new(),
                        columns,
                        ..QueryResult::default()
                    };
                    self.out.row_description(&fields(&r, &[]))
                }
                None => self.out.no_data(),
            };
        }
        // Run to learn its columns, doing nothing it would do to other
        // sessions, sequences or locks (its Execute does that).
        let nulls = vec![Value::Null; count];
        let interrupt = self.session.interrupt();
        let work = self.session.run_describing(&prepared.sql, &nulls);
        let described = super::hangup::watching(&mut self.stream, &interrupt, work).await;
        match first(described) {
            Ok(r) if !r.columns.is_empty() => self.out.row_description(&fields(&r, &[])),
            _ => self.out.no_data(),
        }
    }

    async fn execute(&mut self, name: &str, max_rows: i32) {
        if let Err(e) = self.run_portal(name).await {
            return self.extended_error(&e);
        }
        let Some(portal) = self.portals.get_mut(name) else {
            return;
        };
        let result = match &portal.result {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                let e = e.clone();
                return self.extended_error(&e);
            }
            None => return,
        };
        if result.tag == "EMPTY" && result.columns.is_empty() {
            self.out.empty_query();
            return;
        }
        let limit = usize::try_from(max_rows)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(usize::MAX);
        let end = portal.sent.saturating_add(limit).min(result.rows.len());
        let formats = portal.result_formats.clone();
        let rows: Vec<Vec<Value>> = result.rows[portal.sent..end].to_vec();
        let declared = result.declared.clone();
        let done = end == result.rows.len();
        let tag = pg_tag(&result.tag);
        portal.sent = end;
        for row in &rows {
            self.data_row(row, &formats, &declared);
        }
        if done {
            self.out.command_complete(&tag);
        } else {
            self.out.portal_suspended();
        }
    }
}

/// The first result of a one-statement run.
fn first(results: Vec<Result<QueryResult, SqlError>>) -> Result<QueryResult, SqlError> {
    results
        .into_iter()
        .next()
        .unwrap_or_else(|| Ok(QueryResult::default()))
}

/// Format code `i` of a format list (none: text; one: for all).
fn format_of(formats: &[i16], i: usize) -> i16 {
    match formats {
        [] => 0,
        [f] => *f,
        fs => fs.get(i).copied().unwrap_or(0),
    }
}

fn fields(r: &QueryResult, formats: &[i16]) -> Vec<FieldDescription> {
    r.columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            let declared = r.declared.get(i).copied().flatten();
            let (type_oid, type_size) = types::oid_of_declared(*ty, declared);
            FieldDescription {
                name: name.clone(),
                type_oid,
                type_size,
                format: format_of(formats, i),
            }
        })
        .collect()
}

/// PostgreSQL's command tags where they differ from the session's:
/// `INSERT n` is `INSERT 0 n` (the 0 is an obsolete OID).
pub fn pg_tag(tag: &str) -> String {
    match tag.strip_prefix("INSERT ") {
        Some(n) if n.parse::<u64>().is_ok() => format!("INSERT 0 {n}"),
        _ => tag.to_string(),
    }
}

/// The highest `$n` in `sql` (0 if none). NB: `$n` inside string literals
/// counts too; a harmless over-estimate for ParameterDescription.
fn max_placeholder(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Ok(n) = sql[start..j].parse::<usize>() {
                max = max.max(n.min(u16::MAX as usize));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    max
}

/// Whether running `sql` cannot write: a single SELECT, VALUES, SHOW or
/// WITH … SELECT (a data-modifying WITH is not supported by the engine).
/// True when the first word of `sql` is `word` (any case).
fn first_word_is(sql: &str, word: &str) -> bool {
    sql.trim_start()
        .get(..word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
        && sql
            .trim_start()
            .as_bytes()
            .get(word.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric())
}

fn is_read_only(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(first.as_str(), "select" | "values" | "show" | "with") && !sql.contains(';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_placeholders_and_read_only_texts() {
        assert_eq!(pg_tag("INSERT 3"), "INSERT 0 3");
        assert_eq!(pg_tag("UPDATE 3"), "UPDATE 3");
        assert_eq!(max_placeholder("select $1, $12 from t where a = $3"), 12);
        assert!(is_read_only(" SELECT 1"));
        assert!(!is_read_only("insert into t values (1)"));
    }
}
