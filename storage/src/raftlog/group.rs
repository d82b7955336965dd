//! One group's in-memory log: entry index → where the entry lives, a bounded
//! cache of recent payloads, and the group's vote, committed id and purge
//! point.
//!
//! ```text
//!   index:     41   42   43   44   45   46   47   48
//!   location:  LSN  LSN  LSN  LSN  LSN  LSN  pend pend   pend = queued, not durable
//!   payload:    -    -    -    -   ███  ███  ███  ███    ███ = cached
//!                                  ▲ evict_from: eviction goes oldest first
//! ```
//!
//! INVARIANT: a live store's log has no hole (appends are checked). Only
//! replay may leave holes for a while — see `replay.rs` — and checks that
//! none is left at the end.
//! INVARIANT: a pending slot always has its payload (it cannot be read back
//! from the WAL yet); eviction stops at the first pending slot.
//! INVARIANT: LSNs grow with the index (an entry at index `i` is only ever
//! added when no entry at or above `i` is left), so the first slot holds the
//! group's smallest LSN.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

use super::{GroupId, LogEntry, LogId, LogState, RaftLogError};
use crate::wal::Lsn;

/// Where an entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Location {
    /// Durable in the WAL at this LSN.
    Durable(Lsn),
    /// Queued by append number `append`; its LSN will be at least `floor`
    /// (the durable end when it was queued).
    Pending { append: u64, floor: Lsn },
}

/// One entry of the index.
#[derive(Clone, Debug)]
pub(super) struct Slot {
    pub log_id: LogId,
    pub at: Location,
    /// The payload, while cached.
    pub payload: Option<Bytes>,
}

/// Which metadata a record has set since the store was created, so that a
/// checkpoint snapshot only fills in the rest (see `meta.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Seen {
    pub vote: bool,
    pub committed: bool,
    pub purge: bool,
}

/// One group's log and metadata.
#[derive(Debug, Default)]
pub(super) struct GroupLog {
    slots: BTreeMap<u64, Slot>,
    /// Payload bytes cached.
    cached_bytes: usize,
    /// Eviction cursor: no cached, durable slot lies below it.
    evict_from: u64,
    pub vote: Option<Bytes>,
    pub committed: Option<LogId>,
    pub last_purged: Option<LogId>,
    pub seen: Seen,
}

impl GroupLog {
    /// openraft's log state.
    pub fn log_state(&self) -> LogState {
        let last = self
            .slots
            .last_key_value()
            .map(|(_, s)| s.log_id)
            .or(self.last_purged);
        LogState {
            last_purged: self.last_purged,
            last,
        }
    }

    /// The index the next appended entry must have; `None` when the log is
    /// empty and was never purged (any start is fine).
    pub fn next_index(&self) -> Option<u64> {
        match (self.slots.last_key_value(), self.last_purged) {
            (Some((&index, _)), _) => Some(index + 1),
            (None, Some(p)) => Some(p.index + 1),
            (None, None) => None,
        }
    }

    /// Checks that `entries` are consecutive and follow the log.
    pub fn check_append(&self, group: GroupId, entries: &[LogEntry]) -> Result<(), RaftLogError> {
        let Some(head) = entries.first() else {
            return Ok(());
        };
        let start = self.next_index().unwrap_or(head.log_id.index);
        for (expected, e) in (start..).zip(entries) {
            if e.log_id.index != expected {
                return Err(RaftLogError::NotContiguous {
                    group,
                    expected,
                    got: e.log_id.index,
                });
            }
        }
        Ok(())
    }

    /// Adds an entry. Precondition: no entry at or above its index is left
    /// (it follows the log, or replay truncated first).
    pub fn push(&mut self, slot: Slot) {
        self.cached_bytes += slot.payload.as_ref().map_or(0, Bytes::len);
        if let Some(old) = self.slots.insert(slot.log_id.index, slot) {
            self.cached_bytes -= old.payload.map_or(0, |p| p.len());
        }
    }

    /// The slot of `index`, if present.
    pub fn get(&self, index: u64) -> Option<&Slot> {
        self.slots.get(&index)
    }

    /// Slots with indexes in `range`, in order.
    pub fn range(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = &Slot> {
        let lo = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        // NB: BTreeMap::range panics on an inverted range; callers may pass one.
        let (lo, hi) = if lo < hi { (lo, hi) } else { (0, 0) };
        self.slots.range(lo..hi).map(|(_, s)| s)
    }

    /// Removes entries with index ≥ `since` (a conflicting suffix).
    pub fn truncate_from(&mut self, since: u64) {
        let removed = self.slots.split_off(&since);
        self.uncache(removed);
        self.evict_from = self.evict_from.min(since);
    }

    /// Removes entries with index ≤ `upto.index` and remembers `upto` as the
    /// last purged id. A purge behind the current one changes nothing.
    pub fn purge_upto(&mut self, upto: LogId) {
        if self.last_purged.is_some_and(|p| p.index >= upto.index) {
            return;
        }
        let keep = self.slots.split_off(&upto.index.saturating_add(1));
        let removed = std::mem::replace(&mut self.slots, keep);
        self.uncache(removed);
        self.evict_from = self.evict_from.max(upto.index.saturating_add(1));
        self.last_purged = Some(upto);
    }

    fn uncache(&mut self, removed: BTreeMap<u64, Slot>) {
        self.cached_bytes -= removed
            .into_values()
            .filter_map(|s| s.payload)
            .map(|p| p.len())
            .sum::<usize>();
    }

    /// Records the LSNs of append number `append`, whose entries start at
    /// `first_index`. Slots truncated (or replaced) meanwhile are left alone.
    pub fn mark_durable(&mut self, append: u64, first_index: u64, lsns: &[Lsn]) {
        for (index, &lsn) in (first_index..).zip(lsns) {
            if let Some(slot) = self.slots.get_mut(&index)
                && matches!(slot.at, Location::Pending { append: a, .. } if a == append)
            {
                slot.at = Location::Durable(lsn);
            }
        }
    }

    /// Drops cached payloads of durable entries, oldest first, until the cache
    /// fits `budget` bytes or the next one is pending.
    pub fn evict(&mut self, budget: usize) {
        for (&index, slot) in self.slots.range_mut(self.evict_from..) {
            if self.cached_bytes <= budget || matches!(slot.at, Location::Pending { .. }) {
                break;
            }
            if let Some(p) = slot.payload.take() {
                self.cached_bytes -= p.len();
            }
            self.evict_from = index + 1;
        }
    }

    /// Smallest LSN holding a live entry of this group (a lower bound for a
    /// pending one).
    pub fn oldest_lsn(&self) -> Option<Lsn> {
        self.slots.first_key_value().map(|(_, s)| match s.at {
            Location::Durable(lsn) => lsn,
            Location::Pending { floor, .. } => floor,
        })
    }

    /// The first hole in the log, as the slots on either side of it.
    pub fn first_hole(&self) -> Option<(&Slot, &Slot)> {
        let mut iter = self.slots.values();
        let mut prev = iter.next()?;
        for slot in iter {
            if slot.log_id.index != prev.log_id.index + 1 {
                return Some((prev, slot));
            }
            prev = slot;
        }
        None
    }

    /// Payload bytes cached (tests).
    #[cfg(test)]
    pub fn cached_bytes(&self) -> usize {
        self.cached_bytes
    }
}
