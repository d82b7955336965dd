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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_sql::sqlparser::ast::{
    Expr, Set, Statement, TransactionAccessMode, TransactionIsolationLevel, TransactionMode,
};
use spanlite_sql::sqlparser::dialect::PostgreSqlDialect;
use spanlite_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use spanlite_sql::{
    BoxFuture, DataType, KvTxn, Pairs, QueryResult, SqlError, Value, execute, parse,
};
use spanlite_truetime::Timestamp;

use super::interrupt::{Interrupt, canceled};
use crate::gateway::{Gateway, GatewayError, Txn, TxnMode, TxnOptions};

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

/// A gateway transaction as the SQL executor sees it; with a slot, the
/// key range of the read in flight is kept there while it is (so a
/// cancelled statement can release what that read may have locked).
struct Kv<'a>(&'a mut Txn, Option<&'a mut Reading>);

/// The key range `[start, end)` of a read in flight.
type Reading = Option<(Vec<u8>, Vec<u8>)>;

fn kv(txn: &mut Txn) -> Kv<'_> {
    Kv(txn, None)
}

impl Kv<'_> {
    fn note(&mut self, reading: Reading) {
        if let Some(slot) = &mut self.1 {
            **slot = reading;
        }
    }
}

/// `key`'s successor: `[key, after(key))` holds `key` alone.
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

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
        Box::pin(async move {
            self.note(Some((key.to_vec(), after(key))));
            let r = self.0.get(key).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn get_for_update<'a>(
        &'a mut self,
        key: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, SqlError>> {
        Box::pin(async move {
            self.note(Some((key.to_vec(), after(key))));
            let r = self.0.get_for_update(key).await.map_err(sql_error);
            self.note(None);
            r
        })
    }

    fn scan<'a>(
        &'a mut self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> BoxFuture<'a, Result<Pairs, SqlError>> {
        Box::pin(async move {
            self.note(Some((start.to_vec(), end.to_vec())));
            let r = self.0.scan(start, end).await.map_err(sql_error);
            self.note(None);
            r
        })
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
    options: TxnOptions,
    failed: bool,
    /// A statement ran in it (SET TRANSACTION is too late then).
    used: bool,
}

/// How long an implicit transaction is retried on 40001.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Settings every session starts with (what PostgreSQL clients ask for).
const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("concurrency", "2pl"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "serializable"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("integer_datetimes", "on"),
    ("server_encoding", "UTF8"),
    ("server_version", "16.0 (Spanlite 0.1)"),
    ("standard_conforming_strings", "on"),
    ("timezone", "UTC"),
    ("transaction_isolation", "serializable"),
];

/// A SQL session on a gateway.
#[derive(Debug)]
pub struct Session {
    gateway: Gateway,
    open: Option<Open>,
    settings: BTreeMap<String, String>,
    /// The cluster's `default_concurrency` was read (at the first request).
    cluster_defaults_read: bool,
    interrupt: Arc<Interrupt>,
}

/// Where `SET CLUSTER SETTING default_concurrency` keeps its value (on the
/// meta tablet, with the rest of the system keys).
const DEFAULT_CONCURRENCY_KEY: &[u8] = b"\x00settings/default_concurrency";

/// The isolation names `default_transaction_isolation` takes, as shown:
/// every level up to serializable runs serializable; repeatable read and
/// snapshot run snapshot isolation (SI).
fn isolation_name(level: &str) -> Option<&'static str> {
    match level.trim().to_lowercase().as_str() {
        "serializable" | "read committed" | "read uncommitted" => Some("serializable"),
        "snapshot" | "repeatable read" => Some("snapshot"),
        _ => None,
    }
}

fn tag(t: &str) -> QueryResult {
    QueryResult {
        tag: t.to_string(),
        ..QueryResult::default()
    }
}

/// When a read-only transaction reads: `AS OF SYSTEM TIME` values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AsOf {
    At(Timestamp),
    Ago(Duration),
}

impl AsOf {
    fn parse(s: &str) -> Result<AsOf, SqlError> {
        let bad = |why: String| SqlError {
            code: "22007",
            message: format!("AS OF SYSTEM TIME '{s}': {why}"),
        };
        if let Some(ago) = s.trim().strip_prefix('-') {
            let d = humantime::parse_duration(ago.trim()).map_err(|e| bad(e.to_string()))?;
            return Ok(AsOf::Ago(d));
        }
        Timestamp::parse_rfc3339(s.trim())
            .map(AsOf::At)
            .map_err(|e| {
                bad(format!(
                    "{e} (use RFC 3339, or a negative interval like '-10s')"
                ))
            })
    }

    fn apply(self, options: &mut TxnOptions) {
        options.read_only = true;
        match self {
            AsOf::At(ts) => options.as_of = Some(ts),
            AsOf::Ago(d) => options.staleness = Some(d),
        }
    }
}

/// One statement's text and its `AS OF SYSTEM TIME`, cut out of the text.
#[derive(Debug, PartialEq)]
struct Piece {
    text: String,
    as_of: Option<AsOf>,
    /// `CONCURRENCY '<mode>'` of a BEGIN or SET TRANSACTION, cut out.
    concurrency: Option<TxnMode>,
}

/// Byte offsets of a tokenizer location (1-based line and column in
/// characters) in `sql`.
fn byte_offsets(sql: &str) -> Vec<Vec<usize>> {
    let mut lines = vec![Vec::new()];
    for (i, c) in sql.char_indices() {
        if let Some(line) = lines.last_mut() {
            line.push(i);
        }
        if c == '\n' {
            lines.push(Vec::new());
        }
    }
    lines
}

/// Splits `sql` into the texts of its statements, at top-level
/// semicolons (not those in strings or comments); what a client sends one
/// by one.
pub fn split_statements(sql: &str) -> Result<Vec<String>, SqlError> {
    Ok(pieces(sql, false)?.into_iter().map(|p| p.text).collect())
}

/// Splits `sql` into statements at top-level semicolons and cuts out
/// `AS OF SYSTEM TIME '…'` clauses.
fn split(sql: &str) -> Result<Vec<Piece>, SqlError> {
    pieces(sql, true)
}

fn pieces(sql: &str, cut_as_of: bool) -> Result<Vec<Piece>, SqlError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    let lines = byte_offsets(sql);
    let offset = |t: &TokenWithSpan, end: bool| -> usize {
        let loc = if end { t.span.end } else { t.span.start };
        let line = usize::try_from(loc.line).unwrap_or(0);
        let col = usize::try_from(loc.column).unwrap_or(0);
        line.checked_sub(1)
            .and_then(|l| lines.get(l))
            .and_then(|l| {
                col.checked_sub(1)
                    .map(|c| l.get(c).copied().unwrap_or(sql.len()))
            })
            .unwrap_or(sql.len())
    };
    let mut pieces = Vec::new();
    let mut chunk: Vec<&TokenWithSpan> = Vec::new();
    let mut flush = |chunk: &mut Vec<&TokenWithSpan>| -> Result<(), SqlError> {
        let significant: Vec<&&TokenWithSpan> = chunk
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        if significant.is_empty() {
            chunk.clear();
            return Ok(());
        }
        let start = offset(significant[0], false);
        let end = offset(significant[significant.len() - 1], true);
        let mut text = sql.get(start..end).unwrap_or_default().to_string();
        let mut as_of = None;
        let word = |t: &TokenWithSpan, w: &str| matches!(&t.token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
        for i in 0..significant.len() {
            if !cut_as_of {
                break;
            }
            let s = &significant[i..];
            if s.len() >= 5
                && word(s[0], "as")
                && word(s[1], "of")
                && word(s[2], "system")
                && word(s[3], "time")
            {
                let Token::SingleQuotedString(value) = &s[4].token else {
                    return Err(SqlError::syntax("AS OF SYSTEM TIME takes a quoted time"));
                };
                if as_of.is_some() {
                    return Err(SqlError::syntax("AS OF SYSTEM TIME given twice"));
                }
                as_of = Some(AsOf::parse(value)?);
                let (cut_start, cut_end) =
                    (offset(s[0], false) - start, offset(s[4], true) - start);
                text.replace_range(cut_start..cut_end, "");
                break;
            }
        }
        let mut concurrency = None;
        // BEGIN, START TRANSACTION, SET TRANSACTION and SET SESSION
        // CHARACTERISTICS (not `SET concurrency = …`, a setting).
        let opens = match significant.as_slice() {
            [first, ..] if word(first, "begin") || word(first, "start") => true,
            [first, second, ..] if word(first, "set") => {
                word(second, "transaction") || word(second, "session")
            }
            _ => false,
        };
        if cut_as_of && opens {
            for i in 0..significant.len() {
                let s = &significant[i..];
                if !word(s[0], "concurrency") {
                    continue;
                }
                let value_at = if s.get(1).is_some_and(|t| t.token == Token::Eq) {
                    2
                } else {
                    1
                };
                let value = match s.get(value_at).map(|t| &t.token) {
                    Some(Token::SingleQuotedString(v)) => v.clone(),
                    Some(Token::Word(w)) => w.value.clone(),
                    Some(Token::Number(n, _)) => n.clone(),
                    _ => {
                        return Err(SqlError::syntax(
                            "CONCURRENCY takes a quoted mode: '2pl', 'occ', 'ssi' or 'si'",
                        ));
                    }
                };
                let mode = TxnMode::parse(&value).ok_or_else(|| SqlError {
                    code: "22023",
                    message: format!(
                        "invalid concurrency \"{value}\": use '2pl', 'occ', 'ssi' or 'si'"
                    ),
                })?;
                // Positions shift if AS OF was cut before: find the clause
                // again in the text.
                let (from, to) = (offset(s[0], false), offset(s[value_at], true));
                let clause = sql.get(from..to).unwrap_or_default();
                if let Some(at) = text.find(clause) {
                    text.replace_range(at..at + clause.len(), "");
                }
                concurrency = Some(mode);
                break;
            }
        }
        pieces.push(Piece {
            text: text.trim().to_string(),
            as_of,
            concurrency,
        });
        chunk.clear();
        Ok(())
    };
    for t in &tokens {
        if t.token == Token::SemiColon {
            flush(&mut chunk)?;
        } else {
            chunk.push(t);
        }
    }
    flush(&mut chunk)?;
    Ok(pieces)
}

/// The text of a SET value: a string literal's contents, or the
/// expression as written.
fn setting_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            spanlite_sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

fn rows(columns: &[(&str, DataType)], rows: Vec<Vec<Value>>, verb: &str) -> QueryResult {
    let n = rows.len() as u64;
    QueryResult {
        columns: columns
            .iter()
            .map(|(c, t)| (c.to_string(), Some(*t)))
            .collect(),
        rows,
        tag: format!("{verb} {n}"),
        rows_affected: n,
    }
}

/// A key as people read it: printable bytes as they are, others escaped.
/// A tablet boundary as people read it: `/table/accounts/26` for the row
/// of `accounts` whose integer key is 26, `/catalog`, `/index/…`, or the
/// escaped bytes; `names` maps table ids to names. An empty start is the
/// beginning of the key space, an empty end its end.
fn show_key(k: &[u8], start: bool, names: &BTreeMap<u32, String>) -> String {
    let escaped = |b: &[u8]| -> String {
        b.iter()
            .flat_map(|c| std::ascii::escape_default(*c))
            .map(char::from)
            .collect()
    };
    let table = |id: &[u8]| -> Option<String> {
        let id = u32::from_be_bytes(id.try_into().ok()?);
        Some(names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
    };
    match k {
        [] if start => "-∞".to_string(),
        [] => "+∞".to_string(),
        [0x00, ..] => format!("/system/{}", escaped(&k[1..])),
        [0x01] => "/user".to_string(),
        [0x02, b'c', name @ ..] => format!("/catalog/{}", escaped(name)),
        [0x02, ..] => "/catalog".to_string(),
        [0x03, rest @ ..] if rest.len() >= 4 => {
            let name = table(&rest[..4]).unwrap_or_default();
            match &rest[4..] {
                [] => format!("/table/{name}"),
                // An integer key (keycode: big-endian, sign bit flipped).
                [b0, more @ ..] if more.len() == 7 => {
                    let mut be = [0u8; 8];
                    be[0] = b0 ^ 0x80;
                    be[1..].copy_from_slice(more);
                    format!("/table/{name}/{}", i64::from_be_bytes(be))
                }
                pk => format!("/table/{name}/{}", escaped(pk)),
            }
        }
        [0x04, rest @ ..] if rest.len() >= 8 => format!(
            "/index/{}/{}/{}",
            table(&rest[..4]).unwrap_or_default(),
            u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
            escaped(&rest[8..])
        ),
        other => escaped(other),
    }
}

impl Session {
    /// A session on `gateway`, outside any transaction.
    pub fn new(gateway: Gateway) -> Self {
        Self {
            gateway,
            open: None,
            cluster_defaults_read: false,
            settings: DEFAULT_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            interrupt: Arc::default(),
        }
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

    /// The value of setting `name` (as `SHOW name` gives it).
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(&name.to_lowercase()).map(String::as_str)
    }

    /// Sets `name` to `value` (as `SET name = value` does).
    pub fn set(&mut self, name: &str, value: &str) {
        self.settings.insert(name.to_lowercase(), value.to_string());
    }

    /// Runs the statements of `sql` in order; stops at the first error.
    pub async fn run(&mut self, sql: &str) -> Vec<StatementResult> {
        self.run_with(sql, &[]).await
    }

    /// Runs the statements of `sql` with `params` for `$1`, `$2`, …; stops
    /// at the first error. Text without statements gives one empty result
    /// (tag `EMPTY`), so every request gets an answer.
    pub async fn run_with(&mut self, sql: &str, params: &[Value]) -> Vec<StatementResult> {
        self.interrupt.clear();
        let pieces = match split(sql) {
            Ok(p) => p,
            Err(e) => {
                self.fail();
                return vec![Err(e)];
            }
        };
        self.read_cluster_defaults().await;
        let mut out = Vec::new();
        for piece in pieces {
            let plain = piece
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let special = match (piece.concurrency, plain.as_str()) {
                (Some(mode), "set transaction") if !self.failed() => {
                    Some(self.set_concurrency(mode, false))
                }
                (Some(mode), "set session characteristics as transaction") if !self.failed() => {
                    Some(self.set_concurrency(mode, true))
                }
                (None, _) if !self.failed() => self.cluster_setting(&plain).await,
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
            let statements = match parse(&piece.text) {
                Ok(s) => s,
                Err(e) => {
                    self.fail();
                    out.push(Err(e));
                    break;
                }
            };
            let mut stop = false;
            for stmt in &statements {
                let r = self
                    .statement(stmt, params, piece.as_of, piece.concurrency)
                    .await;
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

    fn default_options(&self) -> TxnOptions {
        TxnOptions {
            read_only: self.setting("default_transaction_read_only") == Some("on"),
            mode: self.default_mode(),
            ..TxnOptions::default()
        }
    }

    /// The session's serializable concurrency control (`SET concurrency`).
    fn serializable_default(&self) -> TxnMode {
        self.setting("concurrency")
            .and_then(TxnMode::parse)
            .filter(|m| m.is_serializable())
            .unwrap_or_default()
    }

    /// The mode of a transaction that does not choose: SI when
    /// `default_transaction_isolation` is snapshot, else `concurrency`.
    fn default_mode(&self) -> TxnMode {
        if self.setting("default_transaction_isolation") == Some("snapshot")
            || self.setting("concurrency") == Some("si")
        {
            TxnMode::Snapshot
        } else {
            self.serializable_default()
        }
    }

    /// Reads the cluster's default concurrency once per session; it
    /// applies unless the session chose its own.
    async fn read_cluster_defaults(&mut self) {
        if self.cluster_defaults_read {
            return;
        }
        self.cluster_defaults_read = true;
        if let Ok(Some(v)) = self.gateway.get(DEFAULT_CONCURRENCY_KEY).await
            && let Some(mode) = std::str::from_utf8(&v).ok().and_then(TxnMode::parse)
            && self.setting("concurrency") == Some("2pl")
        {
            self.set("concurrency", mode.name());
        }
    }

    /// `SET CLUSTER SETTING name = value` and `SHOW CLUSTER SETTING name`
    /// (`text` lower-cased, spaces collapsed); `None` for other statements.
    async fn cluster_setting(&mut self, text: &str) -> Option<StatementResult> {
        let unknown = |name: &str| SqlError {
            code: "42704",
            message: format!(
                "unrecognized cluster setting \"{name}\" (there is one: default_concurrency)"
            ),
        };
        if let Some(name) = text.strip_prefix("show cluster setting ") {
            let name = name.trim();
            if name != "default_concurrency" {
                return Some(Err(unknown(name)));
            }
            let value = match self.gateway.get(DEFAULT_CONCURRENCY_KEY).await {
                Ok(v) => v
                    .and_then(|v| String::from_utf8(v).ok())
                    .unwrap_or_else(|| TxnMode::default().name().to_string()),
                Err(e) => return Some(Err(sql_error(e))),
            };
            return Some(Ok(rows(
                &[("default_concurrency", DataType::Text)],
                vec![vec![Value::Text(value)]],
                "SHOW",
            )));
        }
        let rest = text.strip_prefix("set cluster setting ")?;
        let (name, value) = rest
            .split_once('=')
            .or_else(|| rest.split_once(" to "))
            .map(|(n, v)| (n.trim(), v.trim().trim_matches('\'')))
            .unwrap_or((rest.trim(), ""));
        if name != "default_concurrency" {
            return Some(Err(unknown(name)));
        }
        let Some(mode) = TxnMode::parse(value) else {
            return Some(Err(SqlError {
                code: "22023",
                message: format!(
                    "invalid default_concurrency \"{value}\": use '2pl', 'occ', 'ssi' or 'si'"
                ),
            }));
        };
        let put = crate::raft::Mutation::Put {
            key: DEFAULT_CONCURRENCY_KEY.to_vec(),
            value: mode.name().as_bytes().to_vec(),
        };
        Some(match self.gateway.write(put).await {
            Ok(_) => {
                // This session follows it too (others from their next start).
                self.set("concurrency", mode.name());
                Ok(tag("SET CLUSTER SETTING"))
            }
            Err(e) => Err(sql_error(e)),
        })
    }

    /// `SET TRANSACTION CONCURRENCY 'm'` (or `SET SESSION CHARACTERISTICS
    /// AS TRANSACTION CONCURRENCY 'm'` when `session`).
    fn set_concurrency(&mut self, mode: TxnMode, session: bool) -> StatementResult {
        if session {
            self.set("concurrency", mode.name());
            return Ok(tag("SET"));
        }
        self.set_transaction(&[], false, None, Some(mode))
    }

    async fn statement(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        as_of: Option<AsOf>,
        concurrency: Option<TxnMode>,
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
            Statement::Rollback { .. } => {
                if let Some(open) = self.open.take() {
                    open.txn.rollback().await;
                }
                Ok(tag("ROLLBACK"))
            }
            _ if self.failed() => Err(SqlError {
                code: "25P02",
                message: "current transaction is aborted, commands ignored until end of transaction block".into(),
            }),
            Statement::Set(Set::SetTransaction {
                modes,
                session,
                snapshot: None,
            }) => self.set_transaction(modes, *session, as_of, concurrency),
            Statement::Set(Set::SingleAssignment {
                variable, values, ..
            }) => {
                let name = variable.to_string().to_lowercase();
                let value = values.iter().map(setting_value).collect::<Vec<_>>().join(", ");
                match name.as_str() {
                    "default_transaction_isolation" | "transaction_isolation" => {
                        let Some(level) = isolation_name(&value) else {
                            return self.failing(SqlError {
                                code: "22023",
                                message: format!(
                                    "invalid value for parameter \"{name}\": \"{value}\""
                                ),
                            });
                        };
                        if name == "transaction_isolation" {
                            let level = if level == "snapshot" {
                                TransactionIsolationLevel::Snapshot
                            } else {
                                TransactionIsolationLevel::Serializable
                            };
                            return self.set_transaction(
                                &[TransactionMode::IsolationLevel(level)],
                                false,
                                None,
                                None,
                            );
                        }
                        self.settings.insert(name, level.to_string());
                    }
                    "concurrency" => {
                        let Some(mode) = TxnMode::parse(&value) else {
                            return self.failing(SqlError {
                                code: "22023",
                                message: format!(
                                    "invalid concurrency \"{value}\": use '2pl', 'occ', 'ssi' or 'si'"
                                ),
                            });
                        };
                        self.settings.insert(name, mode.name().to_string());
                    }
                    _ => {
                        self.settings.insert(name, value);
                    }
                }
                Ok(tag("SET"))
            }
            Statement::Set(Set::SetTimeZone { value, .. }) => {
                self.settings.insert("timezone".into(), setting_value(value));
                Ok(tag("SET"))
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
            Statement::Query(_) if as_of.is_some() && self.open.is_some() => {
                self.failing(SqlError::not_supported(
                    "AS OF SYSTEM TIME on a statement inside a transaction: use BEGIN … AS OF SYSTEM TIME",
                ))
            }
            _ => match &mut self.open {
                Some(open) => {
                    open.used = true;
                    let mut reading = None;
                    let r = self
                        .interrupt
                        .race(execute(
                            &mut Kv(&mut open.txn, Some(&mut reading)),
                            stmt,
                            params,
                        ))
                        .await;
                    if r.is_err() {
                        open.failed = true;
                    }
                    if r.as_ref().is_err_and(|e| e.code == canceled().code) {
                        // Release the locks now, not at ROLLBACK: the block
                        // stays failed on a fresh transaction that does
                        // nothing (as after SET TRANSACTION).
                        if let Ok(fresh) = self.gateway.begin_with(&open.options) {
                            let old = std::mem::replace(&mut open.txn, fresh);
                            abandon(old, reading).await;
                        }
                    }
                    r
                }
                None => self.implicit(stmt, params, as_of).await,
            },
        }
    }

    fn failing(&mut self, e: SqlError) -> StatementResult {
        self.fail();
        Err(e)
    }

    /// Applies BEGIN's or SET TRANSACTION's modes: READ ONLY / READ WRITE;
    /// ISOLATION LEVEL SNAPSHOT or REPEATABLE READ runs SI, every other
    /// level the session's serializable mode (stronger than asked is
    /// allowed); `CONCURRENCY 'm'` picks the mode outright.
    fn apply_modes(
        &self,
        options: &mut TxnOptions,
        modes: &[TransactionMode],
        concurrency: Option<TxnMode>,
    ) -> Result<(), SqlError> {
        let mut snapshot_asked = false;
        for m in modes {
            match m {
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                    options.read_only = true;
                }
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                    options.read_only = false;
                }
                TransactionMode::IsolationLevel(
                    TransactionIsolationLevel::Snapshot | TransactionIsolationLevel::RepeatableRead,
                ) => {
                    options.mode = TxnMode::Snapshot;
                    snapshot_asked = true;
                }
                TransactionMode::IsolationLevel(_) => {
                    if options.mode == TxnMode::Snapshot {
                        options.mode = self.serializable_default();
                    }
                }
            }
        }
        if let Some(mode) = concurrency {
            if snapshot_asked && mode.is_serializable() {
                return Err(SqlError {
                    code: "22023",
                    message: format!(
                        "ISOLATION LEVEL SNAPSHOT runs CONCURRENCY 'si', not '{mode}'"
                    ),
                });
            }
            options.mode = mode;
        }
        Ok(())
    }

    fn begin(
        &mut self,
        modes: &[TransactionMode],
        as_of: Option<AsOf>,
        concurrency: Option<TxnMode>,
    ) -> StatementResult {
        if self.open.is_some() {
            // PostgreSQL warns ("there is already a transaction in
            // progress") and carries on with the open transaction.
            return Ok(tag("BEGIN"));
        }
        let mut options = self.default_options();
        self.apply_modes(&mut options, modes, concurrency)?;
        if let Some(a) = as_of {
            a.apply(&mut options);
        }
        let txn = self.gateway.begin_with(&options).map_err(sql_error)?;
        self.open = Some(Open {
            txn,
            options,
            failed: false,
            used: false,
        });
        Ok(tag("BEGIN"))
    }

    fn set_transaction(
        &mut self,
        modes: &[TransactionMode],
        session: bool,
        as_of: Option<AsOf>,
        concurrency: Option<TxnMode>,
    ) -> StatementResult {
        if session {
            let mut options = self.default_options();
            self.apply_modes(&mut options, modes, concurrency)?;
            let v = if options.read_only { "on" } else { "off" };
            self.settings
                .insert("default_transaction_read_only".into(), v.into());
            if options.mode == TxnMode::Snapshot {
                self.settings
                    .insert("default_transaction_isolation".into(), "snapshot".into());
            } else {
                self.settings.insert(
                    "default_transaction_isolation".into(),
                    "serializable".into(),
                );
                self.settings
                    .insert("concurrency".into(), options.mode.name().into());
            }
            return Ok(tag("SET"));
        }
        let Some(open) = &mut self.open else {
            // PostgreSQL warns and does nothing outside a transaction.
            return Ok(tag("SET"));
        };
        if open.used {
            open.failed = true;
            return Err(SqlError {
                code: "25001",
                message: "SET TRANSACTION must be called before any query".into(),
            });
        }
        let mut options = open.options.clone();
        let applied = self.apply_modes(&mut options, modes, concurrency);
        let Some(open) = &mut self.open else {
            return Ok(tag("SET"));
        };
        if let Err(e) = applied {
            open.failed = true;
            return Err(e);
        }
        if let Some(a) = as_of {
            a.apply(&mut options);
        }
        match self.gateway.begin_with(&options) {
            Ok(txn) => {
                // Nothing ran in the old one: dropping it releases nothing.
                open.txn = txn;
                open.options = options;
                Ok(tag("SET"))
            }
            Err(e) => {
                open.failed = true;
                Err(sql_error(e))
            }
        }
    }

    async fn show(&mut self, name: &str) -> StatementResult {
        match name {
            "tablets" => self.show_tablets().await,
            "nodes" => self.show_nodes().await,
            "all" => Ok(rows(
                &[("name", DataType::Text), ("setting", DataType::Text)],
                self.settings
                    .iter()
                    .map(|(k, v)| vec![Value::Text(k.clone()), Value::Text(v.clone())])
                    .collect(),
                "SHOW",
            )),
            "transaction isolation level" | "transaction_isolation" => {
                let mode = self
                    .open
                    .as_ref()
                    .map_or_else(|| self.default_mode(), |o| o.options.mode);
                let level = if mode == TxnMode::Snapshot {
                    "snapshot"
                } else {
                    "serializable"
                };
                Ok(rows(
                    &[("transaction_isolation", DataType::Text)],
                    vec![vec![Value::Text(level.into())]],
                    "SHOW",
                ))
            }
            "transaction_concurrency" => {
                let mode = self
                    .open
                    .as_ref()
                    .map_or_else(|| self.default_mode(), |o| o.options.mode);
                Ok(rows(
                    &[("transaction_concurrency", DataType::Text)],
                    vec![vec![Value::Text(mode.name().into())]],
                    "SHOW",
                ))
            }
            other => match self.settings.get(other) {
                Some(v) => Ok(rows(
                    &[(other, DataType::Text)],
                    vec![vec![Value::Text(v.clone())]],
                    "SHOW",
                )),
                None => Err(SqlError {
                    code: "42704",
                    message: format!("unrecognized configuration parameter \"{other}\""),
                }),
            },
        }
    }

    async fn show_tablets(&self) -> StatementResult {
        self.gateway.refresh().await.map_err(sql_error)?;
        let names: BTreeMap<u32, String> = {
            let options = TxnOptions {
                read_only: true,
                ..TxnOptions::default()
            };
            let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
            spanlite_sql::tables(&mut kv(&mut txn))
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect()
        };
        let cache = self.gateway.cache();
        let tablets = cache
            .tablets()
            .into_iter()
            .map(|d| {
                let replicas = d
                    .replicas
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                vec![
                    Value::Int(d.id as i64),
                    Value::Text(show_key(&d.range.start, true, &names)),
                    Value::Text(show_key(&d.range.end, false, &names)),
                    Value::Text(replicas),
                    cache
                        .leader(d.id)
                        .map_or(Value::Null, |l| Value::Int(l as i64)),
                    Value::Int(d.generation as i64),
                ]
            })
            .collect();
        Ok(rows(
            &[
                ("tablet_id", DataType::Int),
                ("start_key", DataType::Text),
                ("end_key", DataType::Text),
                ("replicas", DataType::Text),
                ("leader", DataType::Int),
                ("generation", DataType::Int),
            ],
            tablets,
            "SHOW",
        ))
    }

    async fn show_nodes(&self) -> StatementResult {
        self.gateway.refresh().await.map_err(sql_error)?;
        let cache = self.gateway.cache();
        let tablets = cache.tablets();
        let nodes = cache
            .nodes()
            .into_iter()
            .map(|(id, addr)| {
                let replicas = tablets.iter().filter(|d| d.replicas.contains(&id)).count();
                let leads = tablets
                    .iter()
                    .filter(|d| cache.leader(d.id) == Some(id))
                    .count();
                vec![
                    Value::Int(id as i64),
                    Value::Text(addr),
                    Value::Int(replicas as i64),
                    Value::Int(leads as i64),
                ]
            })
            .collect();
        Ok(rows(
            &[
                ("node_id", DataType::Int),
                ("address", DataType::Text),
                ("replicas", DataType::Int),
                ("leaders_known", DataType::Int),
            ],
            nodes,
            "SHOW",
        ))
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
    async fn implicit(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        as_of: Option<AsOf>,
    ) -> StatementResult {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(2);
        let mut options = self.default_options();
        if let Some(a) = as_of {
            a.apply(&mut options);
        }
        // A lone SELECT is a strong read-only read: lock-free at a
        // timestamp after everything committed before it (as in Spanner),
        // so it neither blocks nor is blocked by transactions in progress.
        if let Statement::Query(q) = stmt
            && q.locks.is_empty()
        {
            options.read_only = true;
        }
        loop {
            let mut txn = self.gateway.begin_with(&options).map_err(sql_error)?;
            let mut reading = None;
            let executed = self
                .interrupt
                .race(execute(&mut Kv(&mut txn, Some(&mut reading)), stmt, params))
                .await;
            // NB: the commit is not raced: once sent, its outcome is the
            // transaction's, and a cancel must not make it ambiguous.
            let result = match executed {
                Ok(r) => txn.commit().await.map(|_| r).map_err(sql_error),
                Err(e) if e.code == canceled().code => {
                    abandon(txn, reading).await;
                    Err(e)
                }
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() && start.elapsed() + backoff < RETRY_FOR => {
                    self.interrupt
                        .race(async {
                            tokio::time::sleep(backoff).await;
                            Ok(())
                        })
                        .await?;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(sql: &str) -> Vec<(String, Option<AsOf>)> {
        split(sql)
            .unwrap()
            .into_iter()
            .map(|p| (p.text, p.as_of))
            .collect()
    }

    #[test]
    fn tablet_boundaries_read_as_tables_and_keys() {
        let names = BTreeMap::from([(1, "accounts".to_string())]);
        let mut row = vec![0x03, 0, 0, 0, 1];
        row.extend_from_slice(&(26i64 as u64 ^ (1 << 63)).to_be_bytes());
        assert_eq!(show_key(&row, true, &names), "/table/accounts/26");
        let mut neg = vec![0x03, 0, 0, 0, 1];
        neg.extend_from_slice(&((-3i64) as u64 ^ (1 << 63)).to_be_bytes());
        assert_eq!(show_key(&neg, true, &names), "/table/accounts/-3");
        assert_eq!(show_key(&[0x03, 0, 0, 0, 9], true, &names), "/table/#9");
        assert_eq!(show_key(&[], true, &names), "-∞");
        assert_eq!(show_key(&[], false, &names), "+∞");
        assert_eq!(show_key(&[0x01], true, &names), "/user");
        assert_eq!(show_key(b"\x02cab", true, &names), "/catalog/ab");
    }

    #[test]
    fn split_cuts_statements_and_as_of_clauses() {
        assert_eq!(
            pieces("SELECT 'a;b'; SELECT 2 ;\n  "),
            vec![("SELECT 'a;b'".into(), None), ("SELECT 2".into(), None)]
        );
        assert_eq!(
            pieces("SELECT * FROM t AS OF SYSTEM TIME '-10s' WHERE x = 'it''s'"),
            vec![(
                "SELECT * FROM t  WHERE x = 'it''s'".into(),
                Some(AsOf::Ago(Duration::from_secs(10)))
            )]
        );
        assert_eq!(
            pieces("BEGIN AS OF SYSTEM TIME '2026-11-23T10:00:00Z';\nSELECT 'é'"),
            vec![
                (
                    "BEGIN".into(),
                    Some(AsOf::At(
                        Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
                    ))
                ),
                ("SELECT 'é'".into(), None)
            ]
        );
        assert!(pieces("  ; -- nothing\n").is_empty());
        assert_eq!(
            split("SELECT 1 AS OF SYSTEM TIME 'yesterday'")
                .unwrap_err()
                .code,
            "22007"
        );
        assert_eq!(
            split("SELECT 1 AS OF SYSTEM TIME 5").unwrap_err().code,
            "42601"
        );
        assert_eq!(split("SELECT 'unterminated").unwrap_err().code, "42601");
    }
}
