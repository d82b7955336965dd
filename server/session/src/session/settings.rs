//! The session's settings: what `SET` (and `SET LOCAL`, in a block) may
//! change, and the [`Defaults`] every statement reads from them.

use spanlite_gateway::TxnMode;
use spanlite_sql::SqlError;
use spanlite_sql::sqlparser::ast::{
    ContextModifier, Expr, ObjectName, TransactionIsolationLevel, TransactionMode,
};
use spanlite_sql::zone::Zone;

use super::modes::isolation_name;
use super::{Session, StatementResult, tag};

/// The settings every statement consults, as of their last change.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Defaults {
    /// `default_transaction_read_only`.
    pub(super) read_only: bool,
    /// `default_transaction_isolation` and `concurrency`.
    pub(super) mode: TxnMode,
    /// `statement_timeout` (none when 0 or unreadable).
    pub(super) timeout: Option<std::time::Duration>,
    /// `idle_in_transaction_session_timeout` (likewise).
    pub(super) idle_in_transaction: Option<std::time::Duration>,
    /// `TimeZone`.
    pub(super) zone: Zone,
}

/// The text of a SET value: a string literal's contents, or the
/// expression as written.
pub(super) fn setting_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            spanlite_sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

impl Session {
    /// The value of setting `name` (as `SHOW name` gives it).
    pub fn setting(&self, name: &str) -> Option<&str> {
        let settings = &self.info.settings;
        // Names are stored lowercase; the server's own lookups are already
        // (no copy for them).
        if name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
            settings.get(&name.to_lowercase())
        } else {
            settings.get(name)
        }
        .map(String::as_str)
    }

    /// Sets `name` to `value` (as `SET name = value` does: in a
    /// transaction block, undone if it rolls back).
    pub fn set(&mut self, name: &str, value: &str) {
        self.set_as(name, value, false);
    }

    /// Sets `name` to `value`, until the transaction block ends if `local`
    /// (`SET LOCAL`; nothing outside a block).
    pub(super) fn set_as(&mut self, name: &str, value: &str, local: bool) {
        let name = name.to_lowercase();
        self.change_settings(local, |s| {
            s.insert(name.clone(), value.to_string());
        });
    }

    /// A number that changes whenever a setting may have (the PostgreSQL
    /// port reports the ones clients follow then).
    pub fn settings_version(&self) -> u64 {
        self.settings_version
    }

    /// Reads [`Defaults`] from the settings again (after any change).
    pub(super) fn read_defaults(&mut self) {
        self.settings_version += 1;
        self.defaults = Defaults {
            read_only: self.setting("default_transaction_read_only") == Some("on"),
            mode: self.default_mode(),
            timeout: self
                .setting("statement_timeout")
                .and_then(|v| crate::interrupt::duration_setting(v).ok().flatten()),
            idle_in_transaction: self
                .setting("idle_in_transaction_session_timeout")
                .and_then(|v| crate::interrupt::duration_setting(v).ok().flatten()),
            zone: self
                .setting("timezone")
                .and_then(|v| Zone::setting(v).ok())
                .map_or(Zone::UTC, |(zone, _)| zone),
        };
    }

    /// The session's time zone (`TimeZone`).
    pub fn time_zone(&self) -> Zone {
        self.defaults.zone
    }

    /// Sets `TimeZone` to what `value` names (22023 when it names no
    /// zone), as `SET TIME ZONE value` does.
    pub fn set_time_zone(&mut self, value: &str) -> Result<(), SqlError> {
        self.set_time_zone_as(value, false)
    }

    /// [`Session::set_time_zone`], until the block ends if `local`.
    pub(super) fn set_time_zone_as(&mut self, value: &str, local: bool) -> Result<(), SqlError> {
        let (_, name) = Zone::setting(value)?;
        self.set_as("timezone", &name, local);
        Ok(())
    }

    /// `idle_in_transaction_session_timeout` as a duration (none when off).
    pub fn idle_in_transaction_timeout(&self) -> Option<std::time::Duration> {
        self.defaults.idle_in_transaction
    }

    /// `SET [SESSION | LOCAL] name = value` (also `TO DEFAULT`).
    pub(super) fn assign(
        &mut self,
        scope: Option<ContextModifier>,
        variable: &ObjectName,
        values: &[Expr],
    ) -> StatementResult {
        let local = matches!(scope, Some(ContextModifier::Local));
        let name = variable.to_string().to_lowercase();
        if let Err(e) = spanlite_sql::compat::check_settable(&name) {
            return self.failing(e);
        }
        let value = values
            .iter()
            .map(setting_value)
            .collect::<Vec<_>>()
            .join(", ");
        if value.eq_ignore_ascii_case("default") {
            let r = self.reset_as(&name, local);
            if r.is_err() {
                self.fail();
            }
            return r.map(|_| tag("SET"));
        }
        match name.as_str() {
            "default_transaction_isolation" | "transaction_isolation" => {
                let Some(level) = isolation_name(&value) else {
                    return self.failing(SqlError::invalid_parameter(format!(
                        "invalid value for parameter \"{name}\": \"{value}\""
                    )));
                };
                if name == "transaction_isolation" {
                    let level = match level {
                        "snapshot" => TransactionIsolationLevel::Snapshot,
                        "read committed" => TransactionIsolationLevel::ReadCommitted,
                        _ => TransactionIsolationLevel::Serializable,
                    };
                    return self.set_transaction(
                        &[TransactionMode::IsolationLevel(level)],
                        false,
                        None,
                        None,
                    );
                }
                self.set_default_isolation(level, local);
            }
            "statement_timeout" | "idle_in_transaction_session_timeout" => {
                if let Err(e) = crate::interrupt::duration_setting(&value) {
                    return self.failing(SqlError::invalid_parameter(format!(
                        "invalid value for parameter \"{name}\": {e}"
                    )));
                }
                self.set_as(&name, &value, local);
            }
            "timezone" | "time zone" => {
                if let Err(e) = self.set_time_zone_as(&value, local) {
                    return self.failing(e);
                }
            }
            "concurrency" => {
                let Some(mode) = TxnMode::parse(&value) else {
                    return self.failing(SqlError::invalid_parameter(format!(
                        "invalid concurrency \"{value}\": use '2pl', 'occ', 'ssi', 'si' or 'rc'"
                    )));
                };
                self.set_default_mode(mode, local);
            }
            _ => {
                self.set_as(&name, &value, local);
            }
        }
        Ok(tag("SET"))
    }
}
