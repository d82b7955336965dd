//! Rebuilding the store from the WAL, driven by recovery's analysis pass (or
//! by [`RaftLogStore::recover`] when nothing else scans the log).
//!
//! ```text
//!   [checkpoint snapshot] ─▶ load_meta_snapshot (before or after the scan)
//!   iter_from(first_lsn) ─▶ apply(lsn, record) for every record, in LSN order
//!        RaftEntries   index → LSN (payload not cached: reads go to the WAL)
//!        RaftVote / RaftCommitted   later records win
//!        RaftTruncate  drop a suffix      RaftPurge   drop a prefix, last_purged
//!        RaftRemoveGroup   forget the group (a snapshot cannot bring it back)
//!   ─▶ RaftLogStore::from_replay(wal, cache, replay)
//! ```
//!
//! INVARIANT: replaying records in LSN order rebuilds exactly the state the
//! live store had after writing them: the live store applies each write to
//! memory in the same order it queues the record.
//!
//! An entry at or below the group's last purged index is dead and skipped;
//! any other entry replaces the suffix from its index (a later record wins).
//!
//! NB: the retained log is a suffix of the log, and retention may have
//! deleted the records of entries that were dead by then. So while replaying,
//! a group can show a hole (`1 2 3 _ _ 6 7`): a later record in the suffix
//! (purge, truncate or removal) kills one side of it. A hole still there at
//! the end means records are missing: [`RaftLogError::Inconsistent`], from
//! [`RaftLogStore::from_replay`] or [`RaftLogStore::finish_replay`].

use super::codec::RaftRecord;
use super::group::{GroupLog, Location, Slot};
use super::store::State;
use super::{GroupId, LogId, MetaSnapshot, RaftLogError, RaftLogStore};
use crate::wal::{Lsn, Record, Wal};

/// The store's state rebuilt from WAL records, before the store exists.
///
/// Example (recovery's analysis pass):
/// ```ignore
/// let mut replay = RaftLogReplay::new();
/// for item in wal.iter_from(wal.first_lsn())? {
///     let (lsn, record) = item?;
///     replay.apply(lsn, &record)?;          // ignores non-Raft kinds
/// }
/// replay.load_meta_snapshot(&MetaSnapshot::decode(&checkpoint_end.raft_meta)?);
/// let store = RaftLogStore::from_replay(wal, cache_bytes, replay)?;
/// ```
#[derive(Debug, Default)]
pub struct RaftLogReplay {
    state: State,
    records: u64,
}

impl RaftLogReplay {
    /// Nothing replayed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one WAL record in, in LSN order. Returns the group a Raft record
    /// belongs to (analysis marks the tablet dirty for entries); `None` for
    /// kinds this module does not own, which are ignored.
    pub fn apply(&mut self, lsn: Lsn, record: &Record) -> Result<Option<GroupId>, RaftLogError> {
        let group = self.state.apply_record(lsn, record)?;
        self.records += u64::from(group.is_some());
        Ok(group)
    }

    /// See [`RaftLogStore::load_meta_snapshot`].
    pub fn load_meta_snapshot(&mut self, snapshot: &MetaSnapshot) {
        self.state.load_meta(snapshot);
    }

    /// Raft records folded in so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

impl RaftLogStore {
    /// The store rebuilt by `replay`, writing to `wal`.
    ///
    /// Errors: [`RaftLogError::Inconsistent`] if a group's log has a hole:
    /// records are missing from the WAL.
    pub fn from_replay(
        wal: Wal,
        cache_bytes_per_group: usize,
        replay: RaftLogReplay,
    ) -> Result<Self, RaftLogError> {
        replay.state.check_no_holes()?;
        let state = State {
            meta_floor: wal.first_lsn(),
            ..replay.state
        };
        Ok(Self::with_state(wal, cache_bytes_per_group, state))
    }

    /// [`RaftLogReplay::apply`] on a live store (for a recovery pass that
    /// creates the store first). Call it only before the store takes writes,
    /// then [`RaftLogStore::finish_replay`].
    pub fn apply_replayed(
        &self,
        lsn: Lsn,
        record: &Record,
    ) -> Result<Option<GroupId>, RaftLogError> {
        self.lock().apply_record(lsn, record)
    }

    /// Ends a replay done with [`RaftLogStore::apply_replayed`] (and the
    /// snapshot loaded): checks that no group's log is left with a hole.
    pub fn finish_replay(&self) -> Result<(), RaftLogError> {
        self.lock().check_no_holes()
    }

    /// Scans the whole retained WAL and rebuilds the store, over `snapshot`
    /// (the last checkpoint's) if given. For nodes and tests whose recovery
    /// does not scan the log itself.
    pub fn recover(
        wal: Wal,
        cache_bytes_per_group: usize,
        snapshot: Option<&MetaSnapshot>,
    ) -> Result<Self, RaftLogError> {
        let mut replay = RaftLogReplay::new();
        if let Some(snapshot) = snapshot {
            replay.load_meta_snapshot(snapshot);
        }
        for item in wal.iter_from(wal.first_lsn())? {
            let (lsn, record) = item?;
            replay.apply(lsn, &record)?;
        }
        Self::from_replay(wal, cache_bytes_per_group, replay)
    }
}

impl State {
    /// Folds one record in; see the module docs.
    pub(super) fn apply_record(
        &mut self,
        lsn: Lsn,
        record: &Record,
    ) -> Result<Option<GroupId>, RaftLogError> {
        let Some(rec) = RaftRecord::decode(lsn, record)? else {
            return Ok(None);
        };
        let group = match rec {
            RaftRecord::Entry { group, log_id, .. } => {
                replay_entry(self.groups.entry(group).or_default(), lsn, log_id);
                group
            }
            RaftRecord::Vote { group, vote } => {
                let g = self.groups.entry(group).or_default();
                g.vote = Some(vote);
                g.seen.vote = true;
                group
            }
            RaftRecord::Committed { group, committed } => {
                let g = self.groups.entry(group).or_default();
                g.committed = committed;
                g.seen.committed = true;
                group
            }
            RaftRecord::Truncate { group, since } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.truncate_from(since);
                }
                group
            }
            RaftRecord::Purge { group, upto } => {
                let g = self.groups.entry(group).or_default();
                g.purge_upto(upto);
                g.seen.purge = true;
                group
            }
            RaftRecord::RemoveGroup { group } => {
                self.groups.remove(&group);
                self.removed.insert(group);
                group
            }
        };
        Ok(Some(group))
    }
}

/// Indexes one replayed entry; see the module docs.
fn replay_entry(g: &mut GroupLog, lsn: Lsn, log_id: LogId) {
    if g.last_purged.is_some_and(|p| log_id.index <= p.index) {
        return;
    }
    g.truncate_from(log_id.index);
    g.push(Slot {
        log_id,
        at: Location::Durable(lsn),
        payload: None,
    });
}

impl State {
    /// The end-of-replay check: no group's log has a hole.
    pub(super) fn check_no_holes(&self) -> Result<(), RaftLogError> {
        for (&group, g) in &self.groups {
            if let Some((before, after)) = g.first_hole() {
                let lsn = match after.at {
                    Location::Durable(lsn) => Some(lsn),
                    Location::Pending { .. } => None,
                };
                return Err(RaftLogError::Inconsistent {
                    group,
                    lsn,
                    reason: format!(
                        "entry {} follows entry {} after replay: the log has a hole, records are missing",
                        after.log_id.index, before.log_id.index
                    ),
                });
            }
        }
        Ok(())
    }
}
