//! What a tablet's Raft log carries (its commands) and what applying one
//! answers the proposer.
//!
//! INVARIANT: commands are deterministic. Anything that is not (a
//! timestamp, a decision, a floor) is chosen by the leader's step before
//! proposing and carried inside the command, so every replica applying the
//! same log — and recovery's redo — reaches the same state.

use serde::{Deserialize, Serialize};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::twopc::{Decision, Prepared};
use crate::{KeyRange, Mutation};

/// A node's id, fixed at first start (`--node-id`).
pub type NodeId = u64;

/// One entry's command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Committed writes at a timestamp the leader chose (the one-phase
    /// commit of a single-tablet transaction; one atomic batch).
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
        right: TabletId,
        /// No timestamp at or below this was handed out for the moved keys
        /// by the parent's leader (its last assigned, reads included): the
        /// new tablet's leaders start above it.
        floor: Timestamp,
        /// The left tablet's descriptor generation after the split (the
        /// new tablet's is 1); requests routed with an older one are
        /// refused.
        left_generation: u64,
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
    /// The leader's first entry after winning an election: its lease begins
    /// and no later entry carries a timestamp ≤ `floor` (DESIGN.md §3).
    LeaseStart {
        /// The new leader.
        leader: NodeId,
        /// `TT.now().latest` at election, and above every timestamp in the log.
        floor: Timestamp,
    },
    /// Freezes the tablet for a merge into its left neighbour `into`
    /// (DESIGN.md §2, merges): from this entry on it applies no write,
    /// prepare, decision, split or merge, and its leaders serve nothing.
    /// Refused while anything is prepared or decided here.
    Freeze {
        /// The left neighbour that will take the range over.
        into: TabletId,
        /// No timestamp at or below this was handed out here (reads and
        /// closed timestamps included): the left neighbour's leaders start
        /// above it for these keys.
        floor: Timestamp,
    },
    /// Takes over the range of the frozen right neighbour `right`,
    /// `[at, end)`: this tablet then owns `[start, end)`. Every replica of
    /// `right` (on the same nodes, `voters`) applied its freeze before
    /// this was proposed, so its data is already in every node's engine.
    Merge {
        /// The frozen right neighbour.
        right: TabletId,
        /// Its first key: must be this tablet's end.
        at: Vec<u8>,
        /// Its end: this tablet's new end.
        end: Vec<u8>,
        /// The right neighbour's freeze floor.
        floor: Timestamp,
        /// This tablet's descriptor generation after the merge.
        generation: u64,
        /// The voters both groups must have (checked when applied).
        voters: Vec<NodeId>,
    },
    /// Gives up the merge of the right neighbour `right` frozen at `floor`
    /// (a replica of it stopped answering before the merge): from this
    /// entry on, `Merge{right, floor}` is refused here, so the right
    /// neighbour may unfreeze. Answered `AlreadyMerged` if it came too late.
    AbandonMerge {
        /// The frozen right neighbour.
        right: TabletId,
        /// Its freeze's floor (which freeze is given up).
        floor: Timestamp,
    },
    /// Ends the freeze into `into` at `floor`: its left neighbour abandoned
    /// the merge. The tablet serves again.
    Unfreeze {
        /// The left neighbour.
        into: TabletId,
        /// The freeze's floor.
        floor: Timestamp,
    },
    /// Several one-phase commits in one entry, applied in order exactly as
    /// that many `Write` entries would be, each answered on its own
    /// ([`CommandResponse::Each`]). The leader batches the commits that
    /// queued while its group's last entry was being made durable: openraft
    /// 0.9 appends one client write at a time and waits for its fsync, so
    /// one entry per commit capped a tablet at one commit per fsync.
    Writes {
        /// Each commit's timestamp and writes, in proposal order.
        writes: Vec<(Timestamp, Vec<Mutation>)>,
    },
}

impl Command {
    /// The highest timestamp the command carries (Spanner's `s_max`: a new
    /// leader's timestamps exceed every one in its log).
    pub fn max_ts(&self) -> Timestamp {
        match self {
            Command::Write { ts, .. } => *ts,
            Command::Writes { writes } => writes
                .iter()
                .map(|(ts, _)| *ts)
                .max()
                .unwrap_or(Timestamp::MIN),
            Command::LeaseStart { floor, .. }
            | Command::Split { floor, .. }
            | Command::Freeze { floor, .. }
            | Command::Merge { floor, .. }
            | Command::AbandonMerge { floor, .. }
            | Command::Unfreeze { floor, .. } => *floor,
            Command::Prepare { record, .. } => record.prepare_ts,
            Command::Resolve { decision, .. } | Command::Decide { decision, .. } => {
                decision.commit_ts().unwrap_or(Timestamp::MIN)
            }
            Command::Forget { .. } => Timestamp::MIN,
        }
    }
}

/// What applying a command returns to the proposer. Blank and membership
/// entries of the Raft group answer [`CommandResponse::None`] too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// Nothing to report.
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
        right: TabletId,
        /// Its range.
        range: KeyRange,
    },
    /// The split was refused: `at` is not strictly inside the range (or the
    /// range changed since it was proposed, transactions are prepared, or a
    /// membership change is in progress).
    SplitRefused,
    /// The tablet is frozen for a merge into `into` (now or earlier).
    Frozen {
        /// The left neighbour.
        into: TabletId,
    },
    /// The freeze was refused: something is prepared or decided here, a
    /// membership change is in progress, or it is frozen for another merge.
    FreezeRefused,
    /// The merge was applied: this tablet now owns `range`.
    Merged {
        /// Its new range.
        range: KeyRange,
    },
    /// The merge was refused: the ranges are not adjacent any more, this
    /// tablet is frozen, the voters differ, or it was abandoned.
    MergeRefused,
    /// The merge is abandoned: it will never be applied here.
    MergeAbandoned,
    /// Too late to abandon: the merge was applied here.
    AlreadyMerged,
    /// The tablet is not frozen (any more).
    Unfrozen,
    /// Prepared (now or by an earlier copy of the request) at `ts`.
    Prepared {
        /// The prepare timestamp recorded.
        ts: Timestamp,
    },
    /// The prepare was refused (another prepared transaction's intent on a
    /// key); nothing was recorded.
    PrepareRefused {
        /// Who holds the intent.
        holder: TxnId,
    },
    /// The recorded decision (the first one proposed, maybe not this one).
    Decided {
        /// The outcome.
        decision: Decision,
    },
    /// The answers to a [`Command::Writes`], one per commit, in order.
    Each(Vec<CommandResponse>),
}
