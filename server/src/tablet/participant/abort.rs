//! Participant action: abort. Idempotent.

use spanlite_storage::mvcc::TxnId;
use spanlite_txn::twopc::Decision;

use crate::tablet::TabletError;
use crate::tablet::replica::{Replica, lock};

impl Replica {
    /// Aborts `txn` here, whether it only read (locks released) or
    /// prepared (intents removed through Raft). Idempotent. `fence`: see
    /// `AbortRequest.fence` (the abort is remembered for
    /// `ABORT_MEMORY` idle timeouts and later requests are refused).
    pub async fn txn_abort(&self, txn: TxnId, fence: bool) -> Result<(), TabletError> {
        // Only the leader knows what the transaction holds here.
        self.check_serving()?;
        if self.maybe_prepared(txn) {
            self.txn_resolve(txn, Decision::Abort).await
        } else if fence {
            // A request of it may still be on its way: remember the abort
            // (first, so a lock granted meanwhile is seen by `take_lock`'s
            // check, or released here) rather than forget the transaction.
            lock(&self.txns).note_aborted(txn, "rolled back by its client".to_string());
            self.locks.release_all(txn);
            Ok(())
        } else {
            self.txn_finish(txn);
            Ok(())
        }
    }
}
