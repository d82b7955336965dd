//! One SQL session: its transaction state, its settings, and statement
//! execution.
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
//!
//! Session-level statements handled here: BEGIN [READ ONLY | READ WRITE]
//! [ISOLATION LEVEL …], COMMIT, ROLLBACK, SET TRANSACTION …, SET SESSION
//! CHARACTERISTICS AS TRANSACTION …, `SET name = value`, `SHOW name`,
//! SHOW TABLETS, SHOW NODES, and `AS OF SYSTEM TIME '<RFC 3339>' | '-10s'`
//! after BEGIN, SET TRANSACTION or a SELECT (a read-only snapshot read at
//! that time).

use std::collections::HashMap;

use std::sync::Arc;
use std::time::Instant;

use spanlite_sql::compat::SessionInfo;
use spanlite_sql::sqlparser::ast::{Set, Statement};
use spanlite_sql::{
    DataType, PlanCache, QueryResult, SchemaChange, SqlError, Value, execute, parse, schema_change,
    sqlstate,
};

mod backend;
mod block;
mod block_settings;
mod kv;
mod modes;
mod online;
mod prepared;
mod reset;
mod savepoints;
mod settings;
mod show;
pub use modes::DEFAULT_CONCURRENCY_KEY;

use kv::{Kv, Reading, after, kv};
use savepoints::{Savepoint, savepoint_name};
use settings::{Defaults, setting_value};

use super::interrupt::Interrupt;
use super::schema::{DEFAULT_SCHEMA_LEASE, SchemaCache, SchemaUse};
use super::split::{AsOf, Piece, split};
use spanlite_gateway::{Gateway, GatewayError, Txn, TxnMode, TxnOptions, jitter};

/// Rolls back a transaction whose statement was cancelled, also where the
/// read it abandoned may have queued a lock.
async fn abandon(txn: Txn, reading: Reading) {
    match reading {
        Some((start, end)) => txn.rollback_abandoning(&start, &end).await,
        None => txn.rollback().await,
    }
}

/// What one statement produced.
pub type StatementResult = Result<QueryResult, SqlError>;

/// A gateway error as SQL sees it.
pub(crate) fn sql_error(e: GatewayError) -> SqlError {
    match e {
        GatewayError::Aborted { message, .. } => {
            SqlError::serialization_failure(format!("restart transaction: {message}"))
        }
        GatewayError::Ambiguous(m) => {
            SqlError::statement_completion_unknown(format!("commit outcome unknown: {m}"))
        }
        GatewayError::Unavailable(m) | GatewayError::NotInitialized(m) => SqlError::unavailable(m),
        e @ GatewayError::ReadOnly(_) => SqlError::read_only(e.to_string()),
        GatewayError::Invalid(m) => SqlError::not_supported(m),
        GatewayError::SnapshotTooOld(m) => SqlError::snapshot_too_old(m),
        GatewayError::Failed(m) => SqlError::internal(m),
    }
}

/// Runs `stmt` in `txn`, binding tables from the node's schema cache
/// unless the transaction reads at a fixed timestamp (`AS OF`: the
/// catalog at that time is read through it) or changed the schema. A
/// schema change closes the version it replaces first if it is
/// destructive, and raises the version in `txn` (the first change of the
/// transaction does; later ones ride on it).
#[allow(clippy::too_many_arguments)]
async fn run_statement(
    schema: &SchemaCache,
    user: Option<&str>,
    info: &SessionInfo,
    last_values: &mut HashMap<String, i64>,
    advisory: u64,
    txn: &mut Txn,
    options: &TxnOptions,
    used: &mut SchemaUse,
    reading: &mut Reading,
    run: ToRun<'_>,
    params: &[Value],
) -> StatementResult {
    let stmt = run.stmt;
    txn.begin_statement();
    let mut change = schema_change(stmt);
    // A foreign key to a table that existed before this transaction
    // changes that table's DELETE and UPDATE: no transaction bound without
    // it may commit after it.
    if let Statement::CreateTable(create) = stmt
        && change == Some(SchemaChange::Additive)
        && spanlite_sql::foreign_key_parents(create)
            .iter()
            .any(|p| !used.created.contains(p))
    {
        change = Some(SchemaChange::Destructive);
    }
    // An index or ALTER TABLE of a table this transaction created (an
    // ORM's CREATE TABLE, CREATE INDEX, ALTER TABLE … ADD CONSTRAINT in
    // one migration) adds to the schema as the CREATE TABLE did.
    if change == Some(SchemaChange::Destructive)
        && let Some((table, parents)) = spanlite_sql::changed_table(stmt)
        && used.created.contains(&table)
        && parents.iter().all(|p| used.created.contains(p))
    {
        change = Some(SchemaChange::Additive);
    }
    let first_change = change.is_some() && !used.changing;
    if let Some(change) = change {
        if change == SchemaChange::Destructive && used.changing && used.closed.is_none() {
            return Err(SqlError::not_supported(
                "a DROP, CREATE INDEX, ALTER/DROP ROLE or REVOKE after a CREATE TABLE, CREATE ROLE or GRANT in one transaction: run it first, or in a transaction of its own",
            ));
        }
        if first_change && change == SchemaChange::Destructive {
            used.closed = Some(schema.close_version().await?);
        }
        used.changing = true;
    }
    let fixed_time = options.as_of.is_some() || options.staleness.is_some();
    let mut kv = Kv {
        txn,
        reading: Some(reading),
        schema: (!fixed_time).then_some((schema, &mut *used)),
        user,
        session: Some(info),
        last_values: Some(last_values),
        advisory: Some((schema.advisory(), advisory)),
        online: run.online,
    };
    let result = match run.plans {
        Some(plans) => spanlite_sql::execute_cached(&mut kv, stmt, params, plans).await?,
        None => execute(&mut kv, stmt, params).await?,
    };
    if first_change {
        used.raised_from = Some(schema.raise_version(txn, used.closed).await?);
    }
    if let Statement::CreateTable(create) = stmt
        && let Ok(name) = spanlite_sql::object_name_of(&create.name)
    {
        used.created.push(name);
    }
    Ok(result)
}

/// A statement to run and, when it was prepared, where its plan is kept
/// between runs.
#[derive(Clone, Copy, Debug)]
struct ToRun<'a> {
    stmt: &'a Statement,
    plans: Option<&'a PlanCache>,
    /// The first step of an online schema change (CREATE INDEX, ALTER
    /// TABLE outside a transaction block): what it declares is built and
    /// checked by the session after, as this owner.
    online: Option<u64>,
}

/// An explicit transaction and whether a statement in it failed.
#[derive(Debug)]
struct Open {
    txn: Txn,
    options: TxnOptions,
    /// Its wound-wait priority (a retried block's first attempt's).
    priority: spanlite_truetime::Timestamp,
    failed: bool,
    /// A statement in it failed with 40001.
    conflicted: bool,
    /// A statement ran in it (SET TRANSACTION is too late then).
    used: bool,
    /// What its statements took from the schema cache.
    schema: SchemaUse,
    /// Its savepoints, oldest first.
    savepoints: Vec<Savepoint>,
    /// What it changed in the settings (none: nothing yet).
    settings: Option<block_settings::BlockSettings>,
    /// A statement's error ended it on the cluster (a conflict, a cancel,
    /// an unknown outcome): no savepoint brings it back.
    dead: bool,
}

/// True when `e` leaves the transaction unusable on the cluster, not just
/// its statement failed: aborted (40001), outcome unknown (40003),
/// cancelled (57014: its locks were released at once), unreachable, or an
/// internal error.
fn ends_transaction(e: &SqlError) -> bool {
    [
        sqlstate::SERIALIZATION_FAILURE,
        sqlstate::STATEMENT_COMPLETION_UNKNOWN,
        sqlstate::QUERY_CANCELED,
        sqlstate::CONNECTION_FAILURE,
        sqlstate::INTERNAL_ERROR,
    ]
    .contains(&e.code)
}

/// Settings every session starts with (what PostgreSQL clients ask for).
const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("concurrency", "2pl"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "serializable"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("in_hot_standby", "off"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "on"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", "16.0 (Spanlite 0.1)"),
    ("server_version_num", "160000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "serializable"),
];

/// A SQL session on a gateway.
#[derive(Debug)]
pub struct Session {
    gateway: Gateway,
    schema: Arc<SchemaCache>,
    open: Option<Open>,
    /// The session's database, backend id and settings (what the session
    /// functions and `pg_settings` show).
    info: SessionInfo,
    /// The cluster's `default_concurrency` was read (at the first request).
    cluster_defaults_read: bool,
    interrupt: Arc<Interrupt>,
    /// When the running statement passes `statement_timeout`.
    deadline: Option<tokio::time::Instant>,
    /// Statement text → it split and parsed: a client that sends the same
    /// text again (a prepared statement executed many times, a loop) is
    /// not split or parsed again. Cleared when it reaches
    /// [`PARSE_CACHE_ENTRIES`].
    parsed: std::collections::HashMap<String, Arc<Prepared>>,
    /// Who the session runs as (`root` unless the port that logged the
    /// client in says otherwise).
    user: Option<String>,
    /// The values `nextval` last gave, by sequence (`currval`).
    last_values: HashMap<String, i64>,
    /// What the settings say for every statement, read from them when
    /// one changes (not looked up by name per statement).
    defaults: Defaults,
    /// The session's number among the node's advisory lock holders.
    advisory_session: u64,
    /// The last block's priority if it ended in 40001 (`block`).
    retry_priority: Option<block::RetryPriority>,
    /// Counts changes of the settings ([`Session::settings_version`]).
    settings_version: u64,
    /// The settings as the session's first statement found them: what
    /// `RESET` goes back to.
    reset_values: Option<std::collections::BTreeMap<String, String>>,
    /// What the port must close after this statement (`DEALLOCATE`,
    /// `DISCARD ALL`).
    closed: prepared::Closed,
    /// `PREPARE`'s statements, by name.
    sql_prepared: HashMap<String, prepared::SqlPrepared>,
    /// The port's named statements (one namespace with `PREPARE`'s).
    protocol_statements: std::collections::HashSet<String>,
    /// What its node's `pg_stat_activity` shows of it (once a port gave
    /// it a pid).
    backend: Option<Arc<backend::Slot>>,
    /// The client's address and port, if the port knows them.
    client: Option<(String, i64)>,
    /// Who runs its statements, as of a settings version.
    caller: Option<(u64, Arc<spanlite_sql::backends::Caller>)>,
    /// Its statements run only to be described ([`Session::run_describing`]).
    describing: bool,
    /// Its role is a superuser ([`Session::set_superuser`]).
    superuser: bool,
}

/// Parsed statement texts a session keeps.
const PARSE_CACHE_ENTRIES: usize = 256;

/// A SQL text split into statements and parsed, once ([`Session::prepare`]):
/// what a PostgreSQL Parse or a driver's `prepare` keeps, and what a
/// session keeps for every text it ran. Parsing depends on the text alone
/// (not on the schema), so it never goes stale; binding happens at each
/// run, against the schema then.
#[derive(Debug)]
pub struct Prepared {
    /// The pieces, or why the text does not split (an unterminated
    /// string, a misplaced clause): reported when it runs.
    pieces: Result<Vec<PreparedPiece>, SqlError>,
}

#[derive(Debug)]
struct PreparedPiece {
    piece: Piece,
    /// The text in lower case with single spaces (session commands).
    plain: String,
    /// Its statements, or its syntax error (reported when reached: the
    /// pieces before it run first).
    statements: Result<Vec<Statement>, SqlError>,
    /// One kept plan per statement.
    plans: Vec<PlanCache>,
    /// Each statement's kind and fingerprint (statistics).
    fingerprints: Vec<(&'static str, String)>,
}

impl Prepared {
    /// Its first error (it does not split, or a piece does not parse), as
    /// running it would report.
    pub fn error(&self) -> Option<&SqlError> {
        match &self.pieces {
            Err(e) => Some(e),
            Ok(pieces) => pieces.iter().find_map(|p| p.statements.as_ref().err()),
        }
    }

    /// How many of its statements have a plan kept for their next run.
    pub fn plans_kept(&self) -> usize {
        self.pieces.as_ref().map_or(0, |pieces| {
            pieces
                .iter()
                .flat_map(|p| &p.plans)
                .filter(|c| c.is_filled())
                .count()
        })
    }

    fn of(sql: &str) -> Prepared {
        let pieces = split(sql).map(|pieces| {
            pieces
                .into_iter()
                .map(|piece| {
                    let statements = parse(&piece.text);
                    let count = statements.as_ref().map_or(0, Vec::len);
                    let fingerprints = statements.as_ref().map_or_else(
                        |_| Vec::new(),
                        |s| {
                            s.iter()
                                .map(|s| (crate::kind_of(s), crate::fingerprint(s)))
                                .collect()
                        },
                    );
                    PreparedPiece {
                        fingerprints,
                        plain: piece
                            .text
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .to_lowercase(),
                        statements,
                        plans: (0..count).map(|_| PlanCache::default()).collect(),
                        piece,
                    }
                })
                .collect()
        });
        Prepared { pieces }
    }
}

fn tag(t: &str) -> QueryResult {
    QueryResult {
        declared: Vec::new(),
        tag: t.to_string(),
        ..QueryResult::default()
    }
}

impl Drop for Session {
    /// A session dropped without [`Session::close`] (a connection task
    /// that ended abruptly) still releases its advisory locks.
    fn drop(&mut self) {
        self.unregister_backend();
        let locks = self.schema.advisory().clone();
        if !locks.holds_any(self.advisory_session) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let session = self.advisory_session;
            runtime.spawn(async move { locks.session_ended(session).await });
        }
    }
}

impl Session {
    /// A session on `gateway`, outside any transaction, with a schema
    /// cache of its own that has no clock: its statements read the catalog
    /// through their transactions (tools and tests; a node's sessions share
    /// the node's cache: [`Session::on`]).
    pub fn new(gateway: Gateway) -> Self {
        Self::on(SchemaCache::new(gateway, None, DEFAULT_SCHEMA_LEASE))
    }

    /// A session on the node whose schema cache is `schema`.
    pub fn on(schema: Arc<SchemaCache>) -> Self {
        let mut session = Self {
            gateway: schema.gateway().clone(),
            schema,
            open: None,
            cluster_defaults_read: false,
            info: SessionInfo {
                database: "spanlite".into(),
                backend_pid: 0,
                settings: DEFAULT_SETTINGS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                changed: Default::default(),
            },
            interrupt: Arc::default(),
            deadline: None,
            parsed: std::collections::HashMap::new(),
            user: Some(spanlite_sql::access::ADMIN.to_string()),
            last_values: HashMap::new(),
            defaults: Defaults::default(),
            advisory_session: 0,
            retry_priority: None,
            settings_version: 0,
            reset_values: None,
            closed: prepared::Closed::default(),
            sql_prepared: HashMap::new(),
            protocol_statements: std::collections::HashSet::new(),
            backend: None,
            client: None,
            caller: None,
            describing: false,
            superuser: true,
        };
        session.advisory_session = session.schema.advisory().new_session();
        session.read_defaults();
        session
    }

    /// Runs the session's statements as `user` (checked against its
    /// privileges); the port that logged the client in sets it.
    pub fn set_user(&mut self, user: &str) {
        self.user = Some(user.to_string());
        self.set("session_authorization", user);
    }

    /// Whether the session's role is a superuser (`is_superuser`, and who
    /// may signal other sessions); the port that logged the client in sets
    /// it, and no statement can.
    pub fn set_superuser(&mut self, superuser: bool) {
        self.superuser = superuser;
        self.set("is_superuser", if superuser { "on" } else { "off" });
    }

    /// The database the client asked for and the id it knows the session
    /// by (`current_database()`, `pg_backend_pid()`); the port sets them at
    /// startup. Every database name reaches the same data.
    pub fn set_connection(&mut self, database: &str, backend_pid: i64) {
        self.info.database = database.to_string();
        self.info.backend_pid = backend_pid;
        self.unregister_backend();
        if backend_pid != 0 {
            self.register_backend(backend_pid);
        }
    }

    /// The node's schema cache the session binds against.
    pub fn schema(&self) -> &Arc<SchemaCache> {
        &self.schema
    }

    /// The user the session runs as.
    pub fn user(&self) -> &str {
        self.user.as_deref().unwrap_or(spanlite_sql::access::ADMIN)
    }

    /// The handle that cancels this session's running statement (see
    /// [`Interrupt`]): the statement fails with 57014; inside BEGIN …
    /// COMMIT the transaction is rolled back at once and the block is
    /// failed (only ROLLBACK helps), as in PostgreSQL.
    pub fn interrupt(&self) -> Arc<Interrupt> {
        self.interrupt.clone()
    }

    /// Every table's definition, read in a read-only transaction.
    pub async fn tables(&self) -> Result<Vec<spanlite_sql::TableDef>, SqlError> {
        let options = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
        spanlite_sql::tables(&mut kv(&mut txn)).await
    }

    /// The definition of table `name`, read in a read-only transaction.
    pub async fn table(&self, name: &str) -> Result<Option<spanlite_sql::TableDef>, SqlError> {
        let options = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
        let tables = spanlite_sql::tables(&mut kv(&mut txn)).await?;
        Ok(tables.into_iter().find(|t| t.name == name))
    }

    /// The columns `sql` returns when it is one INSERT, UPDATE or DELETE
    /// with RETURNING (with `count` parameters), for a client's Describe.
    pub async fn returning_columns(
        &self,
        sql: &str,
        count: usize,
    ) -> Option<Vec<(String, Option<DataType>)>> {
        let pieces = split(sql).ok()?;
        let [piece] = pieces.as_slice() else {
            return None;
        };
        let statements = parse(&piece.text).ok()?;
        let [stmt] = statements.as_slice() else {
            return None;
        };
        let options = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let mut txn = self.gateway.begin_with(&options).ok()?;
        spanlite_sql::returning_columns(&mut kv(&mut txn), stmt, count)
            .await
            .ok()
            .flatten()
    }

    /// The types the `count` parameters of statement `sql` must have, as
    /// far as their uses show (read in a read-only snapshot of the
    /// catalog); `None` where nothing says or the statement does not bind.
    pub async fn param_types(&self, sql: &str, count: usize) -> Vec<Option<DataType>> {
        let unknown = vec![None; count];
        let Ok(pieces) = split(sql) else {
            return unknown;
        };
        let [piece] = pieces.as_slice() else {
            return unknown;
        };
        let Ok(statements) = parse(&piece.text) else {
            return unknown;
        };
        let [stmt] = statements.as_slice() else {
            return unknown;
        };
        let options = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let Ok(mut txn) = self.gateway.begin_with(&options) else {
            return unknown;
        };
        spanlite_sql::param_types(&mut kv(&mut txn), stmt, count)
            .await
            .unwrap_or(unknown)
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
        self.run_with(sql, &[]).await
    }

    /// Runs the statements of `sql` with `params` for `$1`, `$2`, …; stops
    /// at the first error. Text without statements gives one empty result
    /// (tag `EMPTY`), so every request gets an answer.
    pub async fn run_with(&mut self, sql: &str, params: &[Value]) -> Vec<StatementResult> {
        let prepared = self.prepare(sql);
        self.run_prepared(&prepared, params).await
    }

    /// `sql` split and parsed, from the session's cache when it was seen
    /// before; errors in it are reported when it runs.
    pub fn prepare(&mut self, sql: &str) -> Arc<Prepared> {
        if let Some(p) = self.parsed.get(sql) {
            return p.clone();
        }
        let p = Arc::new(Prepared::of(sql));
        if self.parsed.len() >= PARSE_CACHE_ENTRIES {
            self.parsed.clear();
        }
        self.parsed.insert(sql.to_string(), p.clone());
        p
    }

    /// Runs the statements of `prepared` with `params` for `$1`, `$2`, …,
    /// as [`Session::run_with`] runs a text.
    pub async fn run_prepared(
        &mut self,
        prepared: &Prepared,
        params: &[Value],
    ) -> Vec<StatementResult> {
        self.interrupt.clear();
        let pieces = match &prepared.pieces {
            Ok(p) => p,
            Err(e) => {
                self.fail();
                return vec![Err(e.clone())];
            }
        };
        self.read_cluster_defaults().await;
        self.keep_reset_values();
        let mut out = Vec::new();
        for p in pieces {
            let piece = &p.piece;
            let special = match (piece.concurrency, p.plain.as_str()) {
                (Some(mode), "set transaction") if !self.failed() => {
                    Some(self.set_concurrency(mode, false))
                }
                (Some(mode), "set session characteristics as transaction") if !self.failed() => {
                    Some(self.set_concurrency(mode, true))
                }
                // RESET, which the SQL parser does not take.
                (None, plain) if !self.failed() && plain.starts_with("reset ") => {
                    Some(self.reset(&plain["reset ".len()..]))
                }
                (None, plain) if !self.failed() => self.cluster_setting(plain).await,
                _ => None,
            };
            if let Some(r) = special {
                let stop = r.is_err();
                if stop {
                    self.fail();
                }
                out.push(r);
                if stop {
                    break;
                }
                continue;
            }
            let statements = match &p.statements {
                Ok(s) => s,
                Err(e) => {
                    self.fail();
                    out.push(Err(e.clone()));
                    break;
                }
            };
            let mut stop = false;
            for (i, stmt) in statements.iter().enumerate() {
                // statement_timeout counts from each statement's start.
                self.deadline = self
                    .defaults
                    .timeout
                    .map(|d| tokio::time::Instant::now() + d);
                let started = Instant::now();
                self.statement_started(&piece.text);
                // In the session's time zone (as it is when it starts), run
                // by the session's role.
                let zone = self.defaults.zone;
                let caller = self.caller();
                let r = spanlite_sql::zone::scoped(
                    zone,
                    spanlite_sql::backends::scoped(
                        caller,
                        self.statement(
                            stmt,
                            params,
                            piece.as_of,
                            piece.concurrency,
                            p.plans.get(i),
                        ),
                    ),
                )
                .await;
                if let Some((kind, fingerprint)) = p.fingerprints.get(i) {
                    self.schema
                        .stats()
                        .record(kind, fingerprint, started.elapsed(), r.is_ok());
                }
                // What set_config changed (when the statement succeeded).
                let changes = self.info.take_changes();
                if r.is_ok() && !self.describing {
                    for c in changes {
                        self.change_settings(c.local, |s| {
                            s.insert(c.name.clone(), c.value.clone());
                        });
                    }
                }
                stop = r.is_err();
                out.push(r);
                if stop {
                    break;
                }
            }
            if stop {
                break;
            }
        }
        if out.is_empty() {
            out.push(Ok(tag("EMPTY")));
        }
        self.statements_ended();
        out
    }

    fn fail(&mut self) {
        if let Some(open) = &mut self.open {
            open.failed = true;
        }
    }

    /// Ends the session: an open transaction is rolled back, and the
    /// advisory locks it held are released.
    pub async fn close(&mut self) {
        if let Some(open) = self.open.take() {
            open.txn.rollback().await;
            self.block_settings_ended(open.settings, false);
        }
        self.unregister_backend();
        self.schema
            .advisory()
            .session_ended(self.advisory_session)
            .await;
    }

    /// The session's transaction ended: its transaction-level advisory
    /// locks are released.
    async fn transaction_ended(&self) {
        self.schema
            .advisory()
            .transaction_ended(self.advisory_session)
            .await;
    }

    fn default_options(&self) -> TxnOptions {
        TxnOptions {
            read_only: self.defaults.read_only,
            mode: self.defaults.mode,
            ..TxnOptions::default()
        }
    }

    async fn statement(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        as_of: Option<AsOf>,
        concurrency: Option<TxnMode>,
        plans: Option<&PlanCache>,
    ) -> StatementResult {
        let sets_modes = matches!(
            stmt,
            Statement::StartTransaction { .. } | Statement::Set(Set::SetTransaction { .. })
        );
        if concurrency.is_some() && !sets_modes {
            return self.failing(SqlError::syntax(
                "CONCURRENCY goes with BEGIN or SET TRANSACTION",
            ));
        }
        let as_of_allowed = matches!(
            stmt,
            Statement::StartTransaction { .. }
                | Statement::Query(_)
                | Statement::Set(Set::SetTransaction { session: false, .. })
        );
        if as_of.is_some() && !as_of_allowed {
            return self.failing(SqlError::syntax(
                "AS OF SYSTEM TIME goes with BEGIN, SET TRANSACTION or a SELECT",
            ));
        }
        match stmt {
            Statement::StartTransaction { modes, .. } => self.begin(modes, as_of, concurrency),
            Statement::Commit { .. } => self.commit().await,
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => self.rollback_to(&savepoint_name(name)),
            Statement::Rollback { .. } => {
                self.rollback().await;
                self.transaction_ended().await;
                Ok(tag("ROLLBACK"))
            }
            _ if self.failed() => Err(SqlError::in_failed_transaction("current transaction is aborted, commands ignored until end of transaction block")),
            Statement::Savepoint { name } => self.savepoint(&savepoint_name(name)),
            Statement::ReleaseSavepoint { name } => self.release(&savepoint_name(name)),
            Statement::Set(Set::SetTransaction {
                modes,
                session,
                snapshot: None,
            }) => self.set_transaction(modes, *session, as_of, concurrency),
            Statement::Set(Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            }) => self.assign(*scope, variable, values),
            Statement::Set(Set::SetTimeZone { local, value }) => {
                let value = setting_value(value);
                // LOCAL and DEFAULT: the zone the session started in.
                if ["local", "default"].contains(&value.to_lowercase().as_str()) {
                    return self.reset_as("timezone", *local).map(|_| tag("SET"));
                }
                if let Err(e) = self.set_time_zone_as(&value, *local) {
                    return self.failing(e);
                }
                Ok(tag("SET"))
            }
            Statement::Prepare {
                name,
                data_types,
                statement,
            } => {
                let r = self.sql_prepare(name, data_types, statement);
                if r.is_err() {
                    self.fail();
                }
                r
            }
            Statement::Execute {
                name: Some(name),
                parameters,
                immediate: false,
                into,
                using,
                ..
            } if into.is_empty() && using.is_empty() => {
                let r = self.sql_execute(name, parameters, params).await;
                if r.is_err() {
                    self.fail();
                }
                r
            }
            Statement::Deallocate { name, .. } => {
                let r = self.sql_deallocate(name);
                if r.is_err() {
                    self.fail();
                }
                r
            }
            Statement::Discard { object_type } => {
                let r = self.discard(*object_type).await;
                if r.is_err() {
                    self.fail();
                }
                r
            }
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" ");
                let r = self.show(&name).await;
                if r.is_err() {
                    self.fail();
                }
                r
            }
            Statement::Vacuum(_) if self.open.is_some() => self.failing(
                SqlError::active_transaction("VACUUM cannot run inside a transaction block"),
            ),
            Statement::Query(_) if as_of.is_some() && self.open.is_some() => {
                self.failing(SqlError::not_supported(
                    "AS OF SYSTEM TIME on a statement inside a transaction: use BEGIN … AS OF SYSTEM TIME",
                ))
            }
            _ => match &mut self.open {
                Some(open) => {
                    open.used = true;
                    let mut reading = None;
                    let schema = &*self.schema;
                    let deadline = self.deadline;
                    let r = self
                        .interrupt
                        .race(deadline, run_statement(
                            schema,
                            self.user.as_deref(),
                            &self.info,
                            &mut self.last_values,
                            self.advisory_session,
                            &mut open.txn,
                            &open.options,
                            &mut open.schema,
                            &mut reading,
                            ToRun {
                                stmt,
                                plans,
                                online: None,
                            },
                            params,
                        ))
                        .await;
                    if let Err(e) = &r {
                        open.failed = true;
                        open.dead |= ends_transaction(e);
                        open.conflicted |= e.code == sqlstate::SERIALIZATION_FAILURE;
                    }
                    if r.as_ref().is_err_and(|e| e.code == sqlstate::QUERY_CANCELED) {
                        // Release the locks now, not at ROLLBACK: the block
                        // stays failed on a fresh transaction that does
                        // nothing (as after SET TRANSACTION).
                        let fresh = self.gateway.begin_at_priority(&open.options, open.priority);
                        if let Ok(fresh) = fresh {
                            let old = std::mem::replace(&mut open.txn, fresh);
                            abandon(old, reading).await;
                        }
                    }
                    r
                }
                None => match stmt {
                    Statement::CreateIndex(create) => self.create_index_online(stmt, create).await,
                    Statement::AlterTable {
                        name, operations, ..
                    } => self.alter_table_online(stmt, name, operations).await,
                    _ => self.implicit(stmt, params, as_of, plans, None).await,
                },
            },
        }
    }

    fn failing(&mut self, e: SqlError) -> StatementResult {
        self.fail();
        Err(e)
    }

    /// Waits out `retry`'s next backoff before another attempt (a cancel
    /// or the statement timeout ends the wait); `e` when attempts are up.
    async fn pause_to_retry(
        &self,
        retry: &mut spanlite_txn::retry::Retry,
        start: Instant,
        e: SqlError,
    ) -> Result<(), SqlError> {
        let Some(pause) = retry.next(start.elapsed(), jitter()) else {
            return Err(e);
        };
        self.interrupt
            .race(self.deadline, async {
                tokio::time::sleep(pause).await;
                Ok(())
            })
            .await
    }

    /// One statement in its own transaction (see [`Session::attempts`]);
    /// its transaction-level advisory locks go when it ends.
    async fn implicit(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        as_of: Option<AsOf>,
        plans: Option<&PlanCache>,
        online: Option<u64>,
    ) -> StatementResult {
        let result = self.attempts(stmt, params, as_of, plans, online).await;
        self.transaction_ended().await;
        result
    }

    /// One statement in its own transaction, retried on 40001.
    async fn attempts(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        as_of: Option<AsOf>,
        plans: Option<&PlanCache>,
        online: Option<u64>,
    ) -> StatementResult {
        let start = Instant::now();
        // Every attempt keeps the first one's priority, so a retried
        // statement ages and wins wound-wait instead of starving.
        let mut retry = self.gateway.retry();
        let mut options = self.default_options();
        if let Some(a) = as_of {
            a.apply(&mut options);
        }
        // A lone SELECT is a strong read-only read: lock-free at a
        // timestamp after everything committed before it (as in Spanner),
        // so it neither blocks nor is blocked by transactions in progress.
        // Its first point read may take its tablet's last commit timestamp
        // (LastTS: no wait for writes in flight there); should a tablet it
        // reads next have a newer commit, it is retried without.
        if let Statement::Query(q) = stmt
            && spanlite_sql::reads_only(q)
        {
            options.read_only = true;
            options.last_ts = options.as_of.is_none() && options.staleness.is_none();
        }
        loop {
            let mut txn = self
                .gateway
                .begin_at_priority(&options, retry.priority())
                .map_err(sql_error)?;
            let mut reading = None;
            let mut used = SchemaUse::default();
            let executed = self
                .interrupt
                .race(
                    self.deadline,
                    run_statement(
                        &self.schema,
                        self.user.as_deref(),
                        &self.info,
                        &mut self.last_values,
                        self.advisory_session,
                        &mut txn,
                        &options,
                        &mut used,
                        &mut reading,
                        ToRun {
                            stmt,
                            plans,
                            online,
                        },
                        params,
                    ),
                )
                .await;
            // NB: the commit is not raced: once sent, its outcome is the
            // transaction's, and a cancel must not make it ambiguous.
            let result = match executed {
                Ok(r) => self.schema.commit(txn, &used).await.map(|()| r),
                Err(e) if e.code == sqlstate::QUERY_CANCELED => {
                    abandon(txn, reading).await;
                    Err(e)
                }
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() => {
                    options.last_ts = false;
                    self.pause_to_retry(&mut retry, start, e).await?;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ambiguous_commit_is_40003_and_an_abort_40001() {
        let e = sql_error(GatewayError::Ambiguous("no reply".to_string()));
        assert_eq!(e.code, "40003");
        assert!(!e.is_retryable(), "an ambiguous commit must not be retried");
        let e = sql_error(GatewayError::aborted(
            spanlite_txn::AbortReason::Wounded,
            "wounded",
        ));
        assert_eq!(e.code, "40001");
        assert!(e.is_retryable());
    }
}
