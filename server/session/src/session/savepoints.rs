//! Savepoints: SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT
//! inside an explicit transaction.

use spanlite_sql::SqlError;

use super::block_settings::SavedSettings;
use super::{Session, StatementResult, tag};
use crate::schema::SchemaUse;

/// What ROLLBACK TO SAVEPOINT goes back to.
#[derive(Debug)]
pub(super) struct Savepoint {
    name: String,
    /// The writes buffered when it was set (none in a read-only
    /// transaction).
    writes: Option<spanlite_gateway::WriteMark>,
    schema: SchemaUse,
    /// The settings then.
    settings: SavedSettings,
}

/// A savepoint's name as PostgreSQL folds it.
pub(super) fn savepoint_name(name: &spanlite_sql::sqlparser::ast::Ident) -> String {
    if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    }
}

impl Session {
    /// SAVEPOINT: remembers the transaction's writes (and schema use).
    pub(super) fn savepoint(&mut self, name: &str) -> StatementResult {
        let settings = self.saved_settings();
        let Some(open) = &mut self.open else {
            return Err(SqlError::no_active_transaction(
                "SAVEPOINT can only be used in transaction blocks",
            ));
        };
        let writes = open.txn.read_write().map(|t| t.write_mark());
        open.savepoints.push(Savepoint {
            name: name.to_string(),
            writes,
            schema: open.schema.clone(),
            settings,
        });
        Ok(tag("SAVEPOINT"))
    }

    /// RELEASE SAVEPOINT: forgets it and every later one (their writes
    /// stay).
    pub(super) fn release(&mut self, name: &str) -> StatementResult {
        let Some(open) = &mut self.open else {
            return Err(SqlError::no_active_transaction(
                "RELEASE SAVEPOINT can only be used in transaction blocks",
            ));
        };
        let Some(i) = open.savepoints.iter().rposition(|s| s.name == name) else {
            open.failed = true;
            return Err(SqlError::invalid_savepoint(format!(
                "savepoint \"{name}\" does not exist"
            )));
        };
        open.savepoints.truncate(i);
        Ok(tag("RELEASE"))
    }

    /// ROLLBACK TO SAVEPOINT: undoes the writes since, keeps the savepoint,
    /// forgets later ones, and ends a failed state — unless the transaction
    /// itself was ended on the cluster (then 40001: retry it whole).
    pub(super) fn rollback_to(&mut self, name: &str) -> StatementResult {
        let Some(open) = &mut self.open else {
            return Err(SqlError::no_active_transaction(
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
            ));
        };
        let Some(i) = open.savepoints.iter().rposition(|s| s.name == name) else {
            open.failed = true;
            return Err(SqlError::invalid_savepoint(format!(
                "savepoint \"{name}\" does not exist"
            )));
        };
        if open.dead {
            return Err(SqlError::serialization_failure(
                "restart transaction: it was aborted on the cluster, and a savepoint cannot bring it back",
            ));
        }
        open.savepoints.truncate(i + 1);
        let saved = &open.savepoints[i];
        if let (Some(t), Some(mark)) = (open.txn.read_write(), &saved.writes) {
            t.rollback_writes(mark);
        }
        open.schema = saved.schema.clone();
        open.failed = false;
        let settings = saved.settings.clone();
        self.restore_settings(settings);
        Ok(tag("ROLLBACK"))
    }
}
