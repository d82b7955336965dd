//! `RESET name`, `RESET ALL`, `SET name TO DEFAULT` and `DISCARD …`: a
//! setting goes back to what the session started with (the cluster's
//! defaults and what the client asked for at startup, such as `PGTZ`),
//! as PostgreSQL's reset values; `DISCARD ALL` — what connection poolers
//! such as PgBouncer run between clients — also forgets the session's
//! prepared statements and portals, sequence values and plans, and
//! releases its advisory locks.

use spanlite_sql::SqlError;
use spanlite_sql::sqlparser::ast::DiscardObject;

use crate::StatementResult;

use super::{Session, tag};

impl Session {
    /// Notes the settings as they are now as their reset values, once:
    /// before the session's first statement runs.
    pub(super) fn keep_reset_values(&mut self) {
        if self.reset_values.is_none() {
            self.reset_values = Some(self.info.settings.clone());
        }
    }

    /// `RESET name` (`all` for every setting): back to its reset value.
    /// 42704 for a name no setting has.
    pub(super) fn reset(&mut self, name: &str) -> StatementResult {
        self.reset_as(name, false)
    }

    /// [`Session::reset`], until the transaction block ends if `local`
    /// (`SET LOCAL name TO DEFAULT`).
    pub(super) fn reset_as(&mut self, name: &str, local: bool) -> StatementResult {
        let name = match name.trim().to_lowercase().as_str() {
            "time zone" => "timezone".to_string(),
            other => other.to_string(),
        };
        let reset = self.reset_values.clone().unwrap_or_default();
        if name == "all" {
            self.change_settings(local, |s| s.clone_from(&reset));
            return Ok(tag("RESET"));
        }
        if !self.info.settings.contains_key(&name) && !name.contains('.') {
            return Err(SqlError::undefined_object(format!(
                "unrecognized configuration parameter \"{name}\""
            )));
        }
        // A custom setting (`my.var`) made since the start has none.
        let value = reset.get(&name);
        self.change_settings(local, |s| match value {
            Some(v) => {
                s.insert(name.clone(), v.clone());
            }
            None => {
                s.remove(&name);
            }
        });
        Ok(tag("RESET"))
    }

    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP` (25001 for ALL inside a
    /// transaction block, as PostgreSQL).
    pub(super) async fn discard(&mut self, what: DiscardObject) -> StatementResult {
        match what {
            DiscardObject::ALL => {
                if self.open.is_some() {
                    return Err(SqlError::active_transaction(
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                self.reset("all")?;
                self.last_values.clear();
                self.parsed.clear();
                self.schema
                    .advisory()
                    .session_ended(self.advisory_session)
                    .await;
                self.sql_prepared.clear();
                self.protocol_statements.clear();
                self.closed.all_statements = true;
                self.closed.portals = true;
                Ok(tag("DISCARD ALL"))
            }
            DiscardObject::PLANS => {
                self.parsed.clear();
                Ok(tag("DISCARD PLANS"))
            }
            DiscardObject::SEQUENCES => {
                self.last_values.clear();
                Ok(tag("DISCARD SEQUENCES"))
            }
            // No temporary tables.
            DiscardObject::TEMP => Ok(tag("DISCARD TEMP")),
        }
    }
}
