//! Participant action: 2PC prepare. Idempotent: a repeated prepare of the
//! same transaction returns the first prepare timestamp.

use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::twopc::{Decision, Prepared};

use crate::raft::{Command, CommandResponse, Mutation};
use crate::tablet::TabletError;
use crate::tablet::replica::{Replica, Stamp, lock};
use crate::tablet::validate::Validation;

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
        validation: &Validation,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.lock_for_commit(txn, priority, &mutations, validation, wait)
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
                    if !self.locks.is_prepared(txn) {
                        // An abort overtook this prepare (the gateway gave
                        // up waiting): its Resolve may have reached the log
                        // first, so undo the intents just written.
                        let _ = self.txn_resolve(txn, Decision::Abort).await;
                        return Err(self.aborted(txn, "aborted while preparing"));
                    }
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
}
