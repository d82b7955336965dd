//! Participant action: abort. Idempotent.

use spanlite_storage::mvcc::TxnId;
use spanlite_txn::twopc::Decision;

use crate::tablet::TabletError;
use crate::tablet::replica::Replica;

impl Replica {
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
