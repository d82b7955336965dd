//! What a checkpoint carries for the Raft logs, and what retention may delete.
//!
//! ```text
//!   WAL:  … [V7 old] [E7.40] … [V7 new] … ▲ covers_below  [E9.3] [CkptEnd{snapshot}]
//!                                         │ meta_snapshot() taken here (under the mutex)
//!   retention may delete below min(oldest live entry, covers_below of the last snapshot)
//! ```
//!
//! Votes, committed ids and purge points are written once and may sit in old
//! segments. A checkpoint carries a [`MetaSnapshot`] of them so those segments
//! can go; recovery loads the last checkpoint's snapshot and replays the
//! retained log over it ([`RaftLogStore::load_meta_snapshot`]).
//!
//! INVARIANT: the retained log is a suffix of the log, and a Raft record only
//! affects earlier records. So replaying the suffix over the snapshot gives
//! the right state as long as (1) every live entry is in the suffix and (2)
//! every record below the suffix is reflected in the snapshot.
//! [`RaftLogStore::min_lsn_needed`] guarantees both.
//!
//! HAZARD: a record queued after the snapshot but before the checkpoint end
//! record gets an LSN below the end record. Deleting up to the end record
//! could drop it (a lost vote breaks Raft). Hence `covers_below`, and hence
//! `min_lsn_needed` counts the last snapshot's `covers_below`.

use super::store::State;
use super::{GroupMeta, MetaSnapshot, RaftLogStore};
use crate::wal::Lsn;

impl RaftLogStore {
    /// Every group's vote, committed id, last purged id and last id, for the
    /// checkpoint end record ([`MetaSnapshot::encode`]).
    ///
    /// Side effect: from now on [`RaftLogStore::min_lsn_needed`] allows
    /// deleting below the snapshot's `covers_below`. Precondition for acting
    /// on that: this snapshot is durable in a checkpoint end record.
    pub fn meta_snapshot(&self) -> MetaSnapshot {
        let mut state = self.lock();
        // Under the mutex: every Raft record queued so far is reflected in
        // memory, and every record queued later gets an LSN at or above the
        // durable end.
        let covers_below = self.wal().durable_lsn();
        state.meta_floor = covers_below;
        let mut groups: Vec<GroupMeta> = state
            .groups
            .iter()
            .map(|(&group, g)| GroupMeta {
                group,
                vote: g.vote.clone(),
                committed: g.committed,
                last_purged: g.last_purged,
                last: g.log_state().last,
            })
            .collect();
        groups.sort_by_key(|m| m.group);
        MetaSnapshot {
            covers_below,
            groups,
        }
    }

    /// Loads a checkpoint's snapshot. Call it before replaying the retained
    /// log or after it: either way, a value set by a record wins over the
    /// snapshot's (the last record of a field in the retained log is its
    /// latest value), and a group removed by a record stays removed.
    pub fn load_meta_snapshot(&self, snapshot: &MetaSnapshot) {
        self.lock().load_meta(snapshot);
    }

    /// Smallest LSN the store still needs: its oldest live entry, or the
    /// `covers_below` of the last [`RaftLogStore::meta_snapshot`] (the WAL's
    /// first LSN at creation if none was taken), whichever is lower. `None`
    /// when the store holds no group at all.
    ///
    /// Retention deletes below the minimum of this and the other users'
    /// needs, after the checkpoint carrying the snapshot is durable.
    pub fn min_lsn_needed(&self) -> Option<Lsn> {
        let state = self.lock();
        if state.groups.is_empty() {
            return None;
        }
        let oldest_entry = state.groups.values().filter_map(|g| g.oldest_lsn()).min();
        Some(oldest_entry.map_or(state.meta_floor, |l| l.min(state.meta_floor)))
    }
}

impl State {
    /// See [`RaftLogStore::load_meta_snapshot`].
    pub(super) fn load_meta(&mut self, snapshot: &MetaSnapshot) {
        for meta in &snapshot.groups {
            if self.removed.contains(&meta.group) {
                continue;
            }
            let g = self.groups.entry(meta.group).or_default();
            if !g.seen.vote {
                g.vote.clone_from(&meta.vote);
            }
            if !g.seen.committed {
                g.committed = meta.committed;
            }
            if let Some(purged) = meta.last_purged.filter(|_| !g.seen.purge) {
                g.purge_upto(purged);
            }
        }
    }
}
