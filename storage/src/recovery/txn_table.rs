//! The transaction table: what recovery must know about each transaction
//! that has not ended on this node.
//!
//! ```text
//!   TxnState machine (per node)           undo decides by state:
//!
//!   Active ──prepare──▶ Prepared          Active    → loser: roll back (CLRs)
//!     │                   │               Prepared  → in doubt: keep intents,
//!     │ abort      commit │ abort                      re-lock, ask coordinator
//!     ▼                   ▼               Committed → decided: finish the commit
//!   Aborted ◀──────── Committed?          Aborted   → loser: finish rolling back
//!     │                   │               (End record: forgotten)
//!     └──── End ──────────┘
//! ```
//!
//! Presumed abort: a transaction this node coordinated that never logged a
//! commit decision is `Active` or `Prepared`-as-coordinator here, and is
//! rolled back — nobody was ever told it committed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use crate::mvcc::TxnId;
use crate::wal::Lsn;

/// Where a transaction stands in this node's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// Writing; no prepare or decision logged.
    Active,
    /// Prepared as a participant at `prepare_ts`; the outcome is the
    /// coordinator's to tell.
    Prepared {
        /// The participant's prepare timestamp.
        prepare_ts: Timestamp,
    },
    /// Commit decided (logged) at `commit_ts`; some participants may not know.
    Committed {
        /// The commit timestamp.
        commit_ts: Timestamp,
    },
    /// Abort decided, or rollback under way.
    Aborted,
}

/// One transaction's row in the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnEntry {
    /// State as of `last_lsn`.
    pub state: TxnState,
    /// True when this node coordinates the transaction (presumed abort applies).
    pub coordinator: bool,
    /// LSN of the transaction's first record on this node (WAL retention).
    pub first_lsn: Lsn,
    /// LSN of its most recent record.
    pub last_lsn: Lsn,
    /// Next record undo must compensate (ARIES `UndoNxtLSN`); `None` when
    /// nothing is left to undo.
    pub undo_next_lsn: Option<Lsn>,
    /// Opaque details owned by the transaction layer (participants, keys
    /// locked, …). Storage keeps and returns them untouched.
    pub detail: Vec<u8>,
}

/// Format version of [`TxnTable`] inside checkpoint records.
pub const TXN_TABLE_VERSION: u16 = 1;

/// Every transaction that has not ended on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnTable {
    /// Format of this table; readers reject versions they do not know.
    pub version: u16,
    /// The rows, by transaction id.
    pub txns: BTreeMap<TxnId, TxnEntry>,
}

impl Default for TxnTable {
    /// An empty table of the current version (as [`TxnTable::new`]).
    fn default() -> Self {
        Self::new()
    }
}

impl TxnTable {
    /// An empty table of the current version.
    pub fn new() -> Self {
        Self {
            version: TXN_TABLE_VERSION,
            txns: BTreeMap::new(),
        }
    }

    /// Smallest `first_lsn` of any transaction: the WAL must keep it.
    pub fn min_first_lsn(&self) -> Option<Lsn> {
        self.txns.values().map(|t| t.first_lsn).min()
    }
}
