//! Participant action: applying the coordinator's decision. Idempotent:
//! resolving a transaction with nothing prepared here only releases what
//! it holds.

use spanlite_storage::mvcc::TxnId;
use spanlite_txn::twopc::Decision;

use crate::raft::Command;
use crate::tablet::TabletError;
use crate::tablet::replica::{Replica, Stamp, lock};

impl Replica {
    /// True when `txn` is (or may be) prepared here.
    pub(super) fn maybe_prepared(&self, txn: TxnId) -> bool {
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
}
