//! Online schema changes (`spanlite_sql::online`): CREATE INDEX, and a
//! one-operation ALTER TABLE that adds a constraint, outside a transaction
//! block. The statement declares the index or constraint in one
//! transaction (as work pending under an owner of its own); the rows there
//! were are then indexed and checked batch by batch in short transactions
//! of their own while writers go on; a last schema change makes the index
//! readable and the constraint valid. A change that fails or is cancelled
//! drops what it declared; a session that vanishes mid-change leaves it
//! declared (as PostgreSQL leaves an INVALID index after a failed `CREATE
//! INDEX CONCURRENTLY`, or a NOT VALID constraint): DROP INDEX or DROP
//! CONSTRAINT removes it.

use std::time::Instant;

use spanlite_sql::sqlparser::ast::{
    AlterTableOperation, CreateIndex, ObjectName, RenameTableNameKind, Statement,
};
use spanlite_sql::{KvTxn, SqlError, online};

use super::{Kv, Session, StatementResult, after, sql_error};
use crate::schema::SchemaUse;
use spanlite_gateway::jitter;

/// Rows per batch transaction: each locks this many rows for as long as
/// it takes to index and check them.
const BACKFILL_BATCH: usize = 500;

/// What the last schema change of an online change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The built indexes become readable, the checked constraints valid.
    Finish,
    /// What the change declared is dropped.
    Abandon,
}

impl Session {
    /// Runs `stmt` (`create`) online: see the module comment.
    pub(super) async fn create_index_online(
        &mut self,
        stmt: &Statement,
        create: &CreateIndex,
    ) -> StatementResult {
        let table = spanlite_sql::object_name_of(&create.table_name)?;
        self.online_change(stmt, &table).await
    }

    /// Runs ALTER TABLE `name` `operations` (`stmt`) online where it adds
    /// a constraint alone; see the module comment.
    pub(super) async fn alter_table_online(
        &mut self,
        stmt: &Statement,
        name: &ObjectName,
        operations: &[AlterTableOperation],
    ) -> StatementResult {
        let mut table = spanlite_sql::object_name_of(name)?;
        for op in operations {
            if let AlterTableOperation::RenameTable {
                table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
            } = op
            {
                table = spanlite_sql::object_name_of(to)?;
            }
        }
        self.online_change(stmt, &table).await
    }

    /// Runs `stmt` as the first step of an online change of `table`, then
    /// the rest of the change.
    async fn online_change(&mut self, stmt: &Statement, table: &str) -> StatementResult {
        let owner = online::new_owner();
        let declared = self.implicit(stmt, &[], None, None, Some(owner)).await?;
        match self.complete(table, owner).await {
            Ok(()) => Ok(declared),
            Err(e) => {
                // Nothing half-built stays: what was declared goes again
                // (even after a cancel, which ended only the change).
                let deadline = self.deadline.take();
                self.interrupt.clear();
                if let Err(cleanup) = self.final_step(table, owner, Step::Abandon).await {
                    tracing::warn!(table, "undoing a schema change that failed: {cleanup}");
                }
                self.deadline = deadline;
                Err(e)
            }
        }
    }

    /// Indexes and checks the rows of `table` for the work `owner`
    /// declared there, then finishes it.
    async fn complete(&mut self, table: &str, owner: u64) -> Result<(), SqlError> {
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
        if !def.pending.iter().any(|p| p.owner == owner) {
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
            if !self.process(table, owner, &keys).await? {
                // Dropped meanwhile: nothing to finish.
                return Ok(());
            }
            if keys.len() < BACKFILL_BATCH {
                break;
            }
        }
        self.final_step(table, owner, Step::Finish).await
    }

    /// One batch, in a transaction of its own (retried on conflicts as a
    /// statement is). False when `owner` has nothing left there.
    async fn process(
        &mut self,
        table: &str,
        owner: u64,
        keys: &[Vec<u8>],
    ) -> Result<bool, SqlError> {
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
                    .race(
                        self.deadline,
                        online::process_rows(&mut kv, table, owner, keys),
                    )
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

    /// Finishes or abandons `owner`'s change of `table` as a destructive
    /// schema change: no transaction bound against the version before
    /// commits after it.
    async fn final_step(&mut self, table: &str, owner: u64, step: Step) -> Result<(), SqlError> {
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
                    Step::Finish => online::finish(&mut kv, table, owner).await,
                    Step::Abandon => online::abandon(&mut kv, table, owner).await,
                }
            };
            let changed = match changed {
                Ok(()) => self
                    .schema
                    .raise_version(&mut txn, Some(closed))
                    .await
                    .map(|from| used.raised_from = Some(from)),
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
