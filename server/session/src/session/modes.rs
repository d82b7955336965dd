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
/// every level up to serializable runs serializable; repeatable read and
/// snapshot run snapshot isolation (SI).
pub(super) fn isolation_name(level: &str) -> Option<&'static str> {
    match level.trim().to_lowercase().as_str() {
        "serializable" | "read committed" | "read uncommitted" => Some("serializable"),
        "snapshot" | "repeatable read" => Some("snapshot"),
        _ => None,
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
    /// `default_transaction_isolation` is snapshot, else `concurrency`.
    pub(super) fn default_mode(&self) -> TxnMode {
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
    pub(super) async fn read_cluster_defaults(&mut self) {
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
                "invalid default_concurrency \"{value}\": use '2pl', 'occ', 'ssi' or 'si'"
            ))));
        };
        let put = spanlite_txn::Mutation::Put {
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
    pub(super) fn set_concurrency(&mut self, mode: TxnMode, session: bool) -> StatementResult {
        if session {
            self.set("concurrency", mode.name());
            return Ok(tag("SET"));
        }
        self.set_transaction(&[], false, None, Some(mode))
    }

    /// Applies BEGIN's or SET TRANSACTION's modes: READ ONLY / READ WRITE;
    /// ISOLATION LEVEL SNAPSHOT or REPEATABLE READ runs SI, every other
    /// level the session's serializable mode (stronger than asked is
    /// allowed); `CONCURRENCY 'm'` picks the mode outright.
    pub(super) fn apply_modes(
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
                return Err(SqlError::invalid_parameter(format!(
                    "ISOLATION LEVEL SNAPSHOT runs CONCURRENCY 'si', not '{mode}'"
                )));
            }
            options.mode = mode;
        }
        Ok(())
    }
}
