//! Why a transaction ends without committing, as one enum from the step
//! that decides it to the client: the tablet answers with it (the proto
//! enum `AbortReason`), the gateway keeps it, SQL maps it to a SQLSTATE.
//! No layer classifies an abort by reading its message.
//!
//! | reason            | decided by                         | SQLSTATE |
//! |-------------------|------------------------------------|----------|
//! | `Wounded`         | lock table: an older txn needed it  | 40001    |
//! | `LockTimeout`     | a lock wait passed its deadline     | 40001    |
//! | `LeaderChanged`   | the leader holding its locks changed| 40001    |
//! | `Idle`            | reap: its client went silent        | 40001    |
//! | `RolledBack`      | its client (a fenced abort)         | 40001    |
//! | `ReadChanged`     | validate: a read span changed       | 40001    |
//! | `WriteConflict`   | validate: first committer wins      | 40001    |
//! | `IntentConflict`  | apply: another txn's intent on a key| 40001    |
//! | `PresumedAbort`   | coordinator: abort recorded first   | 40001    |
//! | `TabletMoved`     | a tablet it used split or moved     | 40001    |
//! | `Unresolved`      | an intent did not resolve in time   | 40001    |
//! | `PrepareFailed`   | gateway: a participant unavailable  | 40001    |
//! | `SchemaChanged`   | commit: past its schema lease       | 40001    |
//! | `SnapshotBehind`  | read: a commit above its LastTS snapshot | 40001 |
//! | `ReadLocksExpired`| commit: past a read-only participant's lease | 40001 |
//!
//! An *ambiguous* outcome is not an abort: the commit may have happened.
//! It has its own kind everywhere (`TxnError::Ambiguous`, the wire's
//! `Ambiguous`, the gateway's `Ambiguous`) and SQLSTATE [`AMBIGUOUS`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// SQLSTATE of every abort: serialization failure, retry the transaction.
pub use spanlite_sqlstate::SERIALIZATION_FAILURE;

/// SQLSTATE of an ambiguous commit: statement completion unknown. The
/// client must find out (read back) before retrying.
pub use spanlite_sqlstate::STATEMENT_COMPLETION_UNKNOWN as AMBIGUOUS;

/// Why a transaction was aborted (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AbortReason {
    /// An older transaction needed one of its locks (wound-wait).
    Wounded,
    /// A lock wait passed its deadline.
    LockTimeout,
    /// The leader that held its locks changed; what it read may be stale.
    LeaderChanged,
    /// Its client was silent too long; its locks were released.
    Idle,
    /// Its client rolled it back (a fenced abort, remembered here).
    RolledBack,
    /// Optimistic validation: something it read changed since.
    ReadChanged,
    /// SSI/SI: a key it writes was committed after its snapshot.
    WriteConflict,
    /// Its prepare met another prepared transaction's intent.
    IntentConflict,
    /// Its coordinator recorded an abort before any decision (a
    /// participant in doubt asked first).
    PresumedAbort,
    /// A tablet it used split or moved during the transaction.
    TabletMoved,
    /// An undecided transaction's intent it had to read did not resolve in
    /// time.
    Unresolved,
    /// A participant could not be prepared (unavailable, or it refused).
    PrepareFailed,
    /// Its commit timestamp would fall at or after the end of the schema
    /// lease its statements were bound under (`commit_before`): the schema
    /// may have changed by then.
    SchemaChanged,
    /// A read-only transaction's snapshot is the last commit timestamp of
    /// the tablet it read first (LastTS); a tablet it read next already
    /// shows a commit above it, which may have finished before the
    /// transaction began. Retried at a fresh strong timestamp.
    SnapshotBehind,
    /// Its commit timestamp would not be below the end of the lease under
    /// which a tablet it only read holds its read locks (`read_locks_until`).
    ReadLocksExpired,
}

impl AbortReason {
    /// Every reason, in the order of the module table.
    pub const ALL: [AbortReason; 15] = [
        AbortReason::Wounded,
        AbortReason::LockTimeout,
        AbortReason::LeaderChanged,
        AbortReason::Idle,
        AbortReason::RolledBack,
        AbortReason::ReadChanged,
        AbortReason::WriteConflict,
        AbortReason::IntentConflict,
        AbortReason::PresumedAbort,
        AbortReason::TabletMoved,
        AbortReason::Unresolved,
        AbortReason::PrepareFailed,
        AbortReason::SchemaChanged,
        AbortReason::SnapshotBehind,
        AbortReason::ReadLocksExpired,
    ];

    /// A short stable name (metrics labels, logs).
    pub fn name(self) -> &'static str {
        match self {
            AbortReason::Wounded => "wounded",
            AbortReason::LockTimeout => "lock_timeout",
            AbortReason::LeaderChanged => "leader_changed",
            AbortReason::Idle => "idle",
            AbortReason::RolledBack => "rolled_back",
            AbortReason::ReadChanged => "read_changed",
            AbortReason::WriteConflict => "write_conflict",
            AbortReason::IntentConflict => "intent_conflict",
            AbortReason::PresumedAbort => "presumed_abort",
            AbortReason::TabletMoved => "tablet_moved",
            AbortReason::Unresolved => "unresolved",
            AbortReason::PrepareFailed => "prepare_failed",
            AbortReason::SchemaChanged => "schema_changed",
            AbortReason::SnapshotBehind => "snapshot_behind",
            AbortReason::ReadLocksExpired => "read_locks_expired",
        }
    }

    /// Every abort may succeed when the whole transaction is retried.
    pub fn is_retryable(self) -> bool {
        true
    }

    /// The SQLSTATE a SQL client sees.
    pub fn sqlstate(self) -> &'static str {
        SERIALIZATION_FAILURE
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AbortReason::Wounded => "wounded by an older transaction",
            AbortReason::LockTimeout => "a lock wait timed out",
            AbortReason::LeaderChanged => {
                "the leader holding its locks changed; its reads may be stale"
            }
            AbortReason::Idle => "idle too long: its client went silent",
            AbortReason::RolledBack => "rolled back by its client",
            AbortReason::ReadChanged => "validation failed: something it read changed",
            AbortReason::WriteConflict => {
                "validation failed: write-write conflict (first committer wins)"
            }
            AbortReason::IntentConflict => "prepare refused: another transaction's intent",
            AbortReason::PresumedAbort => {
                "presumed abort: its coordinator recorded an abort before a decision"
            }
            AbortReason::TabletMoved => "a tablet it used split or moved",
            AbortReason::Unresolved => "an undecided transaction's intent did not resolve in time",
            AbortReason::PrepareFailed => "a participant could not prepare",
            AbortReason::SchemaChanged => {
                "the schema lease its statements were bound under ended before its commit"
            }
            AbortReason::ReadLocksExpired => {
                "a tablet it only read holds its read locks under a lease that ends before its commit timestamp"
            }
            AbortReason::SnapshotBehind => {
                "its snapshot (the first tablet's last commit) is older than a commit on a tablet it read next"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_distinct_name_and_is_a_serialization_failure() {
        let names: std::collections::BTreeSet<_> =
            AbortReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), AbortReason::ALL.len());
        for r in AbortReason::ALL {
            assert!(r.is_retryable());
            assert_eq!(r.sqlstate(), "40001");
        }
        assert_eq!(AMBIGUOUS, "40003");
    }
}
