//! Raft log storage for many groups on the node WAL (DESIGN.md §3, §4).
//!
//! One [`RaftLogStore`] per node holds the logs of every Raft group (one per
//! tablet) on it, all in the one node WAL: every entry, vote, committed id,
//! truncation, purge and group removal is a WAL record, so one group commit
//! makes many groups' writes durable with one fsync.
//!
//! ```text
//!   group 7: │ 1 │ 2 │ 3 │ 4 │              node WAL (LSN →)
//!   group 9: │ 1 │ 2 │        ──▶  [E7.1][E9.1][E7.2][V9][E7.3][E9.2][T7≥4][E7.4'] …
//!   per group, in memory: index → LSN of its RaftEntries record
//!                         + recent payloads (≤ cache_bytes_per_group; older ones
//!                           are read back with Wal::read_at)
//!                         + vote, committed, last_purged
//! ```
//!
//! - One record per entry, so an entry is read back by LSN alone.
//! - Semantics are openraft 0.9 storage-v2's (`RaftLogStorage`,
//!   `RaftLogReader`); [`RaftLogStore`] has the mapping table. This module
//!   does not depend on openraft: the adapter lives with the replication code.
//! - Recovery rebuilds the store by replaying the WAL ([`RaftLogReplay`] +
//!   [`RaftLogStore::from_replay`], or [`RaftLogStore::apply_replayed`] +
//!   [`RaftLogStore::finish_replay`]) over the last checkpoint's
//!   [`MetaSnapshot`]; retention keeps what [`RaftLogStore::min_lsn_needed`]
//!   says.
//!
//! INVARIANT: a group's log has no hole: indexes are consecutive from the
//! first live entry to the last (appends that would break this are refused).
//! INVARIANT: per group, WAL order = the order writes were applied to memory
//! (records are queued under the store's mutex).
//! INVARIANT: an entry's payload stays cached until its record is durable.
//!
//! Lock ordering: the store's mutex, then the WAL's queue lock. The WAL writer
//! thread takes the store's mutex (completion callbacks) holding no WAL lock.
//! The mutex is never held across an `.await`, a WAL read or an fsync.
//!
//! Not here: snapshots (the state machine streams those), the openraft
//! adapter, membership, compaction of the payload cache across groups.

mod codec;
mod durable;
mod error;
mod group;
mod meta;
mod replay;
mod store;
#[cfg(test)]
mod tests;
mod types;

pub use durable::Durable;
pub use error::RaftLogError;
pub use replay::RaftLogReplay;
pub use store::RaftLogStore;
pub use types::{GroupId, GroupMeta, LogEntry, LogId, LogState, MetaSnapshot};
