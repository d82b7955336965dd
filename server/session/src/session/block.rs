//! The explicit transaction block: BEGIN, SET TRANSACTION inside it,
//! COMMIT and ROLLBACK, and the wound-wait priority a client's retry of a
//! block keeps.
//!
//! Under wound-wait the older transaction wins a lock, so a transaction
//! that begins afresh after every serialization failure is the youngest
//! each time and can lose to newer ones again and again (4 clients
//! incrementing one row: one of them aborted 20 times in a row). A
//! statement outside a block is retried inside the session at its first
//! attempt's priority (`Session::attempts`); a block is retried by the
//! client, which PostgreSQL's protocol does not tell apart from a new
//! transaction. So, as Spanner does for a transaction retried in the same
//! session, the block a session begins after one that ended in a
//! serialization failure (40001) keeps that one's priority: it ages and
//! wins, instead of starving. Only the next BEGIN takes it, within
//! [`RETRY_PRIORITY_KEPT`].

use std::time::{Duration, Instant};

use spanlite_sql::sqlparser::ast::TransactionMode;
use spanlite_sql::{SqlError, sqlstate};
use spanlite_truetime::Timestamp;

use super::{Open, Session, StatementResult, sql_error, tag};
use crate::split::AsOf;
use spanlite_gateway::TxnMode;

/// How long after a block's serialization failure the session's next
/// BEGIN still takes its priority: as long as the session goes on
/// retrying a statement outside a block (`Gateway::retry`'s deadline).
pub(super) const RETRY_PRIORITY_KEPT: Duration = Duration::from_secs(30);

/// The priority of a block that ended in a serialization failure, and
/// when it ended.
#[derive(Clone, Copy, Debug)]
pub(super) struct RetryPriority {
    priority: Timestamp,
    at: Instant,
}

impl Session {
    pub(super) fn begin(
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
        let priority = self
            .retry_priority
            .take()
            .filter(|r| r.at.elapsed() < RETRY_PRIORITY_KEPT)
            .map_or_else(|| self.gateway.priority_now(), |r| r.priority);
        let txn = self
            .gateway
            .begin_at_priority(&options, priority)
            .map_err(sql_error)?;
        self.open = Some(Open {
            txn,
            options,
            priority,
            failed: false,
            conflicted: false,
            used: false,
            schema: Default::default(),
            savepoints: Vec::new(),
            dead: false,
            settings: None,
        });
        Ok(tag("BEGIN"))
    }

    pub(super) fn set_transaction(
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
            self.set("default_transaction_read_only", v);
            self.set_default_mode(options.mode, false);
            return Ok(tag("SET"));
        }
        let Some(open) = &mut self.open else {
            // PostgreSQL warns and does nothing outside a transaction.
            return Ok(tag("SET"));
        };
        if open.used {
            open.failed = true;
            return Err(SqlError::active_transaction(
                "SET TRANSACTION must be called before any query",
            ));
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
        match self.gateway.begin_at_priority(&options, open.priority) {
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

    pub(super) async fn commit(&mut self) -> StatementResult {
        let Some(open) = self.open.take() else {
            // PostgreSQL warns and succeeds.
            return Ok(tag("COMMIT"));
        };
        let (priority, conflicted, failed) = (open.priority, open.conflicted, open.failed);
        let result = if failed {
            open.txn.rollback().await;
            Ok(tag("ROLLBACK"))
        } else {
            self.schema
                .commit(open.txn, &open.schema)
                .await
                .map(|()| tag("COMMIT"))
        };
        self.block_settings_ended(open.settings, !failed && result.is_ok());
        let aborted = result
            .as_ref()
            .is_err_and(|e| e.code == sqlstate::SERIALIZATION_FAILURE);
        self.block_ended(priority, conflicted || aborted);
        self.transaction_ended().await;
        result
    }

    /// ROLLBACK (of the whole block).
    pub(super) async fn rollback(&mut self) {
        if let Some(open) = self.open.take() {
            let (priority, conflicted) = (open.priority, open.conflicted);
            open.txn.rollback().await;
            self.block_settings_ended(open.settings, false);
            self.block_ended(priority, conflicted);
        }
    }

    /// A block begun at `priority` ended, in a serialization failure if
    /// `conflicted`: the next BEGIN keeps its priority then.
    fn block_ended(&mut self, priority: Timestamp, conflicted: bool) {
        self.retry_priority = conflicted.then(|| RetryPriority {
            priority,
            at: Instant::now(),
        });
    }
}
