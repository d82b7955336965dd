//! How a session picks a transaction's concurrency control (README,
//! "Isolation modes"): BEGIN's and SET TRANSACTION's modes, the session's
//! `concurrency` and `default_transaction_isolation` settings, and the
//! cluster's `default_concurrency` (stored on the meta tablet, read when a
//! session starts).

use spanlite_sql::sqlparser::ast::{
    TransactionAccessMode, TransactionIsolationLevel, TransactionMode,
};
use spanlite_sql::{DataType, SqlError, Value};

use super::show::rows;
use super::{Session, StatementResult, sql_error, tag};
use spanlite_gateway::{TxnMode, TxnOptions};

/// Where `SET CLUSTER SETTING default_concurrency` keeps its value (on the
/// meta tablet, with the rest of the system keys).
/// Where `SET CLUSTER SETTING default_concurrency` is kept (meta tablet).
pub const DEFAULT_CONCURRENCY_KEY: &[u8] = b"\x00settings/default_concurrency";

/// The isolation names `default_transaction_isolation` takes, as shown:
/// serializable runs the session's serializable mode; repeatable read and
/// snapshot run snapshot isolation (SI); read committed and read
/// uncommitted run read committed (RC), as in PostgreSQL.
pub(super) fn isolation_name(level: &str) -> Option<&'static str> {
    match level.trim().to_lowercase().as_str() {
        "serializable" => Some("serializable"),
        "snapshot" | "repeatable read" => Some("snapshot"),
        "read committed" | "read uncommitted" => Some("read committed"),
        _ => None,
    }
}

/// The isolation level a mode runs at, as SHOW TRANSACTION ISOLATION LEVEL
/// says it.
pub(super) fn level_of(mode: TxnMode) -> &'static str {
    match mode {
        TxnMode::Snapshot => "snapshot",
        TxnMode::ReadCommitted => "read committed",
        TxnMode::TwoPhaseLocking | TxnMode::Optimistic | TxnMode::SerializableSnapshot => {
            "serializable"
        }
    }
}

impl Session {
    /// The session's serializable concurrency control (`SET concurrency`).
    pub(super) fn serializable_default(&self) -> TxnMode {
        self.setting("concurrency")
            .and_then(TxnMode::parse)
            .filter(|m| m.is_serializable())
            .unwrap_or_default()
    }

    /// The mode of a transaction that does not choose: SI when
    /// `default_transaction_isolation` is snapshot, RC when it is read
    /// committed, else `concurrency`.
    pub(super) fn default_mode(&self) -> TxnMode {
        match self.setting("default_transaction_isolation") {
            Some("snapshot") => TxnMode::Snapshot,
            Some("read committed") => TxnMode::ReadCommitted,
            _ => match self.setting("concurrency").and_then(TxnMode::parse) {
                Some(m) if !m.is_serializable() => m,
                _ => self.serializable_default(),
            },
        }
    }

    /// Makes `mode` the session's default: `concurrency` and
    /// `default_transaction_isolation` agree afterwards (a serializable
    /// level keeps the session's serializable mode).
    pub(super) fn set_default_mode(&mut self, mode: TxnMode, local: bool) {
        self.set_as("concurrency", mode.name(), local);
        self.set_as("default_transaction_isolation", level_of(mode), local);
    }

    /// `SET default_transaction_isolation = level` (a name
    /// [`isolation_name`] gave): a serializable level puts back a
    /// serializable `concurrency` if a weaker one was set.
    pub(super) fn set_default_isolation(&mut self, level: &str, local: bool) {
        self.set_as("default_transaction_isolation", level, local);
        if level == "serializable"
            && self
                .setting("concurrency")
                .and_then(TxnMode::parse)
                .is_some_and(|m| !m.is_serializable())
        {
            self.set_as("concurrency", TxnMode::default().name(), local);
        }
    }

    /// Reads the cluster's default concurrency once per session; it
    /// applies unless the session chose its own.
    pub(super) async fn read_cluster_defaults(&mut self) {
        if self.cluster_defaults_read {
            return;
        }
        self.cluster_defaults_read = true;
        if let Ok(Some(v)) = self.gateway.get(DEFAULT_CONCURRENCY_KEY).await
            && let Some(mode) = std::str::from_utf8(&v).ok().and_then(TxnMode::parse)
            && self.setting("concurrency") == Some("2pl")
            && self.setting("default_transaction_isolation") == Some("serializable")
        {
            self.set_default_mode(mode, false);
        }
    }

    /// `SET CLUSTER SETTING name = value` and `SHOW CLUSTER SETTING name`
    /// (`text` lower-cased, spaces collapsed); `None` for other statements.
    pub(super) async fn cluster_setting(&mut self, text: &str) -> Option<StatementResult> {
        let unknown = |name: &str| {
            SqlError::undefined_object(format!(
                "unrecognized cluster setting \"{name}\" (there is one: default_concurrency)"
            ))
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
            return Some(Err(SqlError::invalid_parameter(format!(
                "invalid default_concurrency \"{value}\": use '2pl', 'occ', 'ssi', 'si' or 'rc'"
            ))));
        };
        let put = spanlite_txn::Mutation::Put {
            key: DEFAULT_CONCURRENCY_KEY.to_vec(),
            value: mode.name().as_bytes().to_vec(),
        };
        Some(match self.gateway.write(put).await {
            Ok(_) => {
                // This session follows it too (others from their next start).
                self.set_default_mode(mode, false);
                Ok(tag("SET CLUSTER SETTING"))
            }
            Err(e) => Err(sql_error(e)),
        })
    }

    /// `SET TRANSACTION CONCURRENCY 'm'` (or `SET SESSION CHARACTERISTICS
    /// AS TRANSACTION CONCURRENCY 'm'` when `session`).
    pub(super) fn set_concurrency(&mut self, mode: TxnMode, session: bool) -> StatementResult {
        if session {
            self.set_default_mode(mode, false);
            return Ok(tag("SET"));
        }
        self.set_transaction(&[], false, None, Some(mode))
    }

    /// Applies BEGIN's or SET TRANSACTION's modes: READ ONLY / READ WRITE;
    /// ISOLATION LEVEL SNAPSHOT or REPEATABLE READ runs SI, READ COMMITTED
    /// or READ UNCOMMITTED runs RC, SERIALIZABLE the session's serializable
    /// mode; `CONCURRENCY 'm'` picks the mode outright (it must agree with a
    /// weaker level asked for in the same statement).
    pub(super) fn apply_modes(
        &self,
        options: &mut TxnOptions,
        modes: &[TransactionMode],
        concurrency: Option<TxnMode>,
    ) -> Result<(), SqlError> {
        let mut weaker_asked: Option<TxnMode> = None;
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
                    weaker_asked = Some(TxnMode::Snapshot);
                }
                TransactionMode::IsolationLevel(
                    TransactionIsolationLevel::ReadCommitted
                    | TransactionIsolationLevel::ReadUncommitted,
                ) => {
                    options.mode = TxnMode::ReadCommitted;
                    weaker_asked = Some(TxnMode::ReadCommitted);
                }
                TransactionMode::IsolationLevel(_) => {
                    if !options.mode.is_serializable() {
                        options.mode = self.serializable_default();
                    }
                    weaker_asked = None;
                }
            }
        }
        if let Some(mode) = concurrency {
            if let Some(weaker) = weaker_asked
                && mode != weaker
            {
                return Err(SqlError::invalid_parameter(format!(
                    "ISOLATION LEVEL {} runs CONCURRENCY '{weaker}', not '{mode}'",
                    level_of(weaker).to_uppercase()
                )));
            }
            options.mode = mode;
        }
        Ok(())
    }
}
