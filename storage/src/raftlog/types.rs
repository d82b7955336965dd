//! Raft log types, mirroring openraft 0.9 without depending on it.
//!
//! | here | openraft 0.9 (`C::NodeId = u64`) |
//! |---|---|
//! | [`LogId`] `{ term, node, index }` | `LogId<u64> { leader_id: LeaderId { term, node_id }, index }` |
//! | [`LogEntry`] `{ log_id, payload }` | `Entry<C>`, serialised by the adapter into `payload` |
//! | [`LogState`] | `LogState<C> { last_purged_log_id, last_log_id }` |
//! | vote: opaque [`Bytes`] | `Vote<u64>`, serialised by the adapter |

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::wal::Lsn;

/// A Raft group: one per tablet replica set.
pub type GroupId = u64;

/// Identifies a log entry: the term and node of the leader that created it,
/// and its position in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogId {
    /// Term of the leader that created the entry.
    pub term: u64,
    /// Node id of that leader.
    pub node: u64,
    /// Position in the log.
    pub index: u64,
}

/// One log entry. The payload is opaque here: the openraft adapter stores the
/// serialised openraft entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's id.
    pub log_id: LogId,
    /// The serialised entry.
    pub payload: Bytes,
}

/// openraft's `LogState`: the last purged id and the last id in the log.
///
/// INVARIANT: `last` is the last entry's id, or `last_purged` when no entry
/// is left (as openraft requires).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// The last purged entry's id.
    pub last_purged: Option<LogId>,
    /// The last entry's id, or `last_purged` if no entry is left.
    pub last: Option<LogId>,
}

/// One group's metadata, as carried by a checkpoint: the values whose records
/// may live in WAL segments that the checkpoint lets retention delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupMeta {
    /// The group.
    pub group: GroupId,
    /// The saved vote (opaque, serialised by the adapter).
    pub vote: Option<Bytes>,
    /// The saved committed log id.
    pub committed: Option<LogId>,
    /// The last purged log id.
    pub last_purged: Option<LogId>,
    /// The last log id (informational: entries always come from the log).
    pub last: Option<LogId>,
}

/// Every group's metadata at one moment ([`crate::raftlog::RaftLogStore::meta_snapshot`]).
///
/// INVARIANT: it reflects every Raft record with an LSN below `covers_below`;
/// records from `covers_below` on may be newer than it. So, once it is durable
/// in a checkpoint, segments below `covers_below` no longer hold metadata that
/// exists nowhere else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaSnapshot {
    /// See the invariant above.
    pub covers_below: Lsn,
    /// One entry per group, ordered by group id.
    pub groups: Vec<GroupMeta>,
}
