//! The openraft type configuration and the tablet commands (log entry
//! payloads) with their responses.
//!
//! INVARIANT: commands are deterministic. Anything that is not (a timestamp,
//! a decision) is chosen by the leader before proposing and carried inside
//! the command, so every replica applying the same log reaches the same state.

use serde::{Deserialize, Serialize};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use spanlite_txn::twopc::{Decision, Prepared};

/// A node's id, fixed at first start (`--node-id`).
pub type NodeId = u64;

/// Where a Raft peer listens (its advertised gRPC address).
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// openraft's type configuration for every tablet's Raft group.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);

/// A Raft handle of one tablet replica.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry of a tablet's Raft group.
pub type Entry = openraft::Entry<TypeConfig>;
/// openraft's log id with our node id type.
pub type RaftLogId = openraft::LogId<NodeId>;
/// openraft's vote with our node id type.
pub type RaftVote = openraft::Vote<NodeId>;
/// openraft's storage error with our node id type.
pub type RaftStorageError = openraft::StorageError<NodeId>;
/// A membership with its log id, as the state machine stores it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;

/// One write of a [`Command::Write`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// Store `value` under `key`.
    Put {
        /// The key (order-preserving encoding; inside the tablet's range).
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key` (a tombstone version).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Mutation {
    /// The key written.
    pub fn key(&self) -> &[u8] {
        match self {
            Mutation::Put { key, .. } | Mutation::Delete { key } => key,
        }
    }
}

/// What a tablet's Raft log carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Committed writes at a timestamp the leader chose (raw KV and the
    /// one-phase commit of a single-tablet transaction; one atomic batch).
    Write {
        /// The commit timestamp of every mutation, chosen by the leader.
        ts: Timestamp,
        /// The writes, applied in order.
        mutations: Vec<Mutation>,
    },
    /// Split the tablet at `at`: it keeps `[start, at)`, and the new tablet
    /// `right` owns `[at, end)` with the same replicas (DESIGN.md §2).
    Split {
        /// First key of the right-hand tablet; strictly inside the range.
        at: Vec<u8>,
        /// The new tablet's id, chosen by the proposer.
        right: spanlite_storage::meta::TabletId,
    },
    /// 2PC phase one on a participant: intents for `record.writes` and the
    /// durable prepare record (its locks, its coordinator) at
    /// `record.prepare_ts`.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// What to keep until the outcome is known.
        record: Prepared,
    },
    /// A participant applies the outcome: intents become versions at the
    /// commit timestamp, or vanish. No-op when nothing is prepared.
    Resolve {
        /// The transaction.
        txn: TxnId,
        /// The coordinator's decision.
        decision: Decision,
    },
    /// The coordinator tablet records the outcome (the first decision for a
    /// transaction wins) and, on commit, writes its own share at the commit
    /// timestamp.
    Decide {
        /// The transaction.
        txn: TxnId,
        /// Commit at a timestamp, or abort.
        decision: Decision,
        /// The other participants (to tell them, or a new leader to).
        participants: Vec<TabletId>,
        /// The coordinator tablet's own writes.
        writes: Vec<Mutation>,
    },
    /// Drops decision records every participant has applied.
    Forget {
        /// The transactions.
        txns: Vec<TxnId>,
    },
    /// The leader's promise that no later entry carries a timestamp `≤ ts`:
    /// advances followers' safe time on an idle tablet.
    SafeTime {
        /// The promised floor.
        ts: Timestamp,
    },
    /// The leader's first entry after winning an election: its lease begins
    /// and no later entry carries a timestamp ≤ `floor` (DESIGN.md §3).
    LeaseStart {
        /// The new leader.
        leader: NodeId,
        /// `TT.now().latest` at election, and above every timestamp in the log.
        floor: Timestamp,
    },
}

impl Command {
    /// The highest timestamp the command carries (for the `s_max` rule).
    pub fn max_ts(&self) -> Timestamp {
        match self {
            Command::Write { ts, .. } | Command::SafeTime { ts } => *ts,
            Command::LeaseStart { floor, .. } => *floor,
            Command::Prepare { record, .. } => record.prepare_ts,
            Command::Resolve { decision, .. } | Command::Decide { decision, .. } => {
                decision.commit_ts().unwrap_or(Timestamp::MIN)
            }
            Command::Split { .. } | Command::Forget { .. } => Timestamp::MIN,
        }
    }
}

/// What applying a log entry returns to the proposer.
///
/// openraft needs one response per entry, blank and membership entries
/// included: those get [`CommandResponse::None`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// Nothing to report (blank, membership or lease entries).
    #[default]
    None,
    /// The writes were applied at `ts`.
    Written {
        /// Their commit timestamp.
        ts: Timestamp,
    },
    /// Nothing was applied: a key lies outside the tablet's range (it was
    /// split after the write was proposed). Route again.
    WrongTablet,
    /// The tablet was split; the new tablet owns `range`.
    Split {
        /// The new tablet.
        right: spanlite_storage::meta::TabletId,
        /// Its range.
        range: crate::directory::KeyRange,
    },
    /// The split was refused: `at` is not strictly inside the range (or the
    /// range changed since it was proposed, or transactions are prepared).
    SplitRefused,
    /// Prepared (now or by an earlier copy of the request) at `ts`.
    Prepared {
        /// The prepare timestamp recorded.
        ts: Timestamp,
    },
    /// The prepare was refused; nothing was recorded.
    PrepareRefused {
        /// Why.
        reason: String,
    },
    /// The recorded decision (the first one proposed, maybe not this one).
    Decided {
        /// The outcome.
        decision: Decision,
    },
}
