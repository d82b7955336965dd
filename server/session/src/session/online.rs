//! CREATE INDEX outside a transaction block, built online
//! (`spanlite_sql::online`): declared in one transaction, its entries
//! written batch by batch in short transactions of their own while writers
//! go on, then made readable. A build that fails or is cancelled drops
//! the index again; a session that vanishes mid-build leaves it declared
//! and unread (as PostgreSQL leaves an INVALID index after a failed
//! `CREATE INDEX CONCURRENTLY`): DROP INDEX removes it, and the next
//! CREATE INDEX on the table finishes it.

use std::time::Instant;

use spanlite_sql::sqlparser::ast::{CreateIndex, Statement};
use spanlite_sql::{KvTxn, SqlError, online};

use super::{Kv, Session, StatementResult, after, sql_error};
use crate::schema::SchemaUse;
use spanlite_gateway::jitter;

/// Rows per backfill transaction: each locks this many rows for as long
/// as it takes to write their entries.
const BACKFILL_BATCH: usize = 500;

/// What a schema change of a build does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The built indexes become readable.
    Finish,
    /// The indexes being built are dropped.
    Abandon,
}

impl Session {
    /// Runs `stmt` (`create`) online: see the module comment.
    pub(super) async fn create_index_online(
        &mut self,
        stmt: &Statement,
        create: &CreateIndex,
    ) -> StatementResult {
        let declared = self.implicit(stmt, &[], None, None, true).await?;
        let table = spanlite_sql::object_name_of(&create.table_name)?;
        match self.build_indexes(&table).await {
            Ok(()) => Ok(declared),
            Err(e) => {
                // Nothing half-built stays: the index goes again (even
                // after a cancel, which ended only the build).
                let deadline = self.deadline.take();
                self.interrupt.clear();
                if let Err(cleanup) = self.build_step(&table, Step::Abandon).await {
                    tracing::warn!(table, "dropping an index whose build failed: {cleanup}");
                }
                self.deadline = deadline;
                Err(e)
            }
        }
    }

    /// Writes the entries of the rows of `table` in its indexes being
    /// built, then makes them readable.
    async fn build_indexes(&mut self, table: &str) -> Result<(), SqlError> {
        let def = {
            let mut txn = self
                .gateway
                .begin_with(&self.default_options())
                .map_err(sql_error)?;
            let def = super::kv(&mut txn).table_def(table).await;
            txn.rollback().await;
            match def? {
                Some(d) => d,
                None => return Ok(()),
            }
        };
        if !def.indexes.iter().any(|i| i.building) {
            return Ok(());
        }
        let (mut cursor, end) = def.key_range();
        loop {
            // A fresh snapshot per batch (after the declaration): a row
            // there since before it is seen unless deleted since.
            let mut snapshot = self.gateway.read_only();
            let pairs = self
                .interrupt
                .race(self.deadline, async {
                    snapshot
                        .scan(&cursor, &end, BACKFILL_BATCH)
                        .await
                        .map_err(sql_error)
                })
                .await?;
            let Some((last, _)) = pairs.last() else {
                break;
            };
            cursor = after(last);
            let keys: Vec<Vec<u8>> = pairs.into_iter().map(|(k, _)| k).collect();
            if !self.backfill(table, &keys).await? {
                // Dropped meanwhile: nothing to finish.
                return Ok(());
            }
            if keys.len() < BACKFILL_BATCH {
                break;
            }
        }
        self.build_step(table, Step::Finish).await
    }

    /// One batch's entries, in a transaction of its own (retried on
    /// conflicts as a statement is). False when nothing is being built
    /// any more.
    async fn backfill(&mut self, table: &str, keys: &[Vec<u8>]) -> Result<bool, SqlError> {
        let start = Instant::now();
        let mut retry = self.gateway.retry();
        let options = self.default_options();
        loop {
            let mut txn = self
                .gateway
                .begin_at_priority(&options, retry.priority())
                .map_err(sql_error)?;
            let mut used = SchemaUse::default();
            let written = {
                let mut kv = Kv::bound(&mut txn, &self.schema, &mut used);
                self.interrupt
                    .race(self.deadline, online::backfill_rows(&mut kv, table, keys))
                    .await
            };
            let result = match written {
                Ok(more) => self.schema.commit(txn, &used).await.map(|()| more),
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() => self.pause_to_retry(&mut retry, start, e).await?,
                other => return other,
            }
        }
    }

    /// Finishes or abandons the builds of `table` as a destructive schema
    /// change: no transaction bound against the version before commits
    /// after it.
    async fn build_step(&mut self, table: &str, step: Step) -> Result<(), SqlError> {
        let start = Instant::now();
        let mut retry = self.gateway.retry();
        let options = self.default_options();
        loop {
            let closed = self
                .interrupt
                .race(self.deadline, self.schema.close_version())
                .await?;
            let mut txn = self
                .gateway
                .begin_at_priority(&options, retry.priority())
                .map_err(sql_error)?;
            let mut used = SchemaUse::default();
            used.changing = true;
            used.closed = Some(closed);
            let changed = {
                let mut kv = Kv::bound(&mut txn, &self.schema, &mut used);
                match step {
                    Step::Finish => online::finish_index_builds(&mut kv, table).await,
                    Step::Abandon => online::abandon_index_builds(&mut kv, table).await,
                }
            };
            let changed = match changed {
                Ok(()) => self.schema.raise_version(&mut txn, Some(closed)).await,
                failed => failed,
            };
            let result = match changed {
                Ok(()) => self.schema.commit(txn, &used).await,
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(e) if e.is_retryable() => {
                    let Some(pause) = retry.next(start.elapsed(), jitter()) else {
                        return Err(e);
                    };
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }
}
