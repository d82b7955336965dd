//! The participant side of two-phase commit (DESIGN.md §6) on a tablet
//! leader: prepare, resolve (commit or abort), and abort. Each is
//! idempotent: a repeated prepare returns the first prepare timestamp, a
//! repeated resolve or abort does nothing.
//!
//! ```text
//!   prepare(w) ──▶ X locks on w ──▶ prepared ──▶ Raft: Prepare{intents, locks, coordinator} @ p
//!   resolve(d) ──▶ Raft: Resolve{d} ──▶ intents → versions @ s (or gone) ──▶ release locks
//!   in doubt   ──▶ (reaper) ask the coordinator tablet ──▶ resolve(answer)
//! ```

use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::twopc::{Decision, Prepared};

use super::TabletError;
use super::replica::{Replica, Stamp, lock};
use crate::raft::{Command, CommandResponse, Mutation};

impl Replica {
    /// Prepares `txn` here for two-phase commit coordinated by the tablet
    /// `coordinator`: takes the write locks, then replicates the intents
    /// and the prepare record (with every lock it holds here, read locks
    /// included, so a new leader takes them again). Returns the prepare
    /// timestamp. A transaction with no writes here (it only read) prepares
    /// too: its read locks must last until the decision.
    pub async fn txn_prepare(
        &self,
        txn: TxnId,
        priority: Timestamp,
        coordinator: TabletId,
        mutations: Vec<Mutation>,
        has_reads: bool,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.lock_for_commit(txn, priority, &mutations, has_reads, wait)
            .await?;
        let record = |prepare_ts| Prepared {
            prepare_ts,
            priority,
            coordinator,
            writes: mutations
                .iter()
                .map(|m| match m {
                    Mutation::Put { key, value } => (key.clone(), Some(value.clone())),
                    Mutation::Delete { key } => (key.clone(), None),
                })
                .collect(),
            locks: self.locks.held_by(txn),
        };
        let (_, pending) = match self
            .submit(Stamp::AtLeast(Timestamp::MIN), |ts| Command::Prepare {
                txn,
                record: record(ts),
            })
            .await
        {
            Ok(p) => p,
            // Nothing was proposed.
            Err(e) => return Err(self.aborted(txn, format!("prepare failed: {e}"))),
        };
        match pending.await {
            Ok(resp) => match resp.data {
                CommandResponse::Prepared { ts } => {
                    lock(&self.txns)
                        .prepared
                        .insert(txn, (coordinator, Instant::now()));
                    Ok(ts)
                }
                CommandResponse::PrepareRefused { reason } => {
                    Err(self.aborted(txn, format!("prepare refused: {reason}")))
                }
                CommandResponse::WrongTablet => {
                    self.txn_finish(txn);
                    Err(TabletError::WrongTablet {
                        tablet: self.tablet,
                        range: self.range().to_string(),
                    })
                }
                other => Err(self.aborted(txn, format!("prepare answered {other:?}"))),
            },
            Err(e @ TabletError::NotLeader { .. }) => {
                // Not appended: nothing prepared.
                self.txn_finish(txn);
                Err(e)
            }
            Err(e) => {
                // Maybe prepared: keep the locks; the coordinator's abort,
                // or the termination protocol, resolves it.
                lock(&self.txns)
                    .prepared
                    .insert(txn, (coordinator, Instant::now()));
                Err(e)
            }
        }
    }

    /// True when `txn` is (or may be) prepared here.
    fn maybe_prepared(&self, txn: TxnId) -> bool {
        lock(&self.txns).prepared.contains_key(&txn) || self.locks.is_prepared(txn)
    }

    /// Applies the outcome of `txn` here (the coordinator's decision): its
    /// intents become versions at the commit timestamp, or are removed;
    /// then its locks are released. Idempotent.
    pub async fn txn_resolve(&self, txn: TxnId, decision: Decision) -> Result<(), TabletError> {
        self.check_serving()?;
        if self.maybe_prepared(txn) {
            let (_, pending) = self
                .submit(Stamp::Carried, |_| Command::Resolve { txn, decision })
                .await?;
            pending.await?;
        }
        self.txn_finish(txn);
        Ok(())
    }

    /// Aborts `txn` here, whether it only read (locks released) or
    /// prepared (intents removed through Raft). Idempotent.
    pub async fn txn_abort(&self, txn: TxnId) -> Result<(), TabletError> {
        // Only the leader knows what the transaction holds here.
        self.check_serving()?;
        if self.maybe_prepared(txn) {
            self.txn_resolve(txn, Decision::Abort).await
        } else {
            self.txn_finish(txn);
            Ok(())
        }
    }
}
