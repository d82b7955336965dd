//! Recovery pass 2: repeat history.
//!
//! ```text
//!   tablet 7 log:  … 40 41 42 43 44 45 46 │ 47 48     (committed = 46)
//!   flushed data:  applied index (pageLSN) = 42
//!   redo:                      43 44 45 46 re-applied, each batch with its index
//! ```
//!
//! For every tablet, the committed Raft entries after its applied index are
//! applied again through the [`EntryApplier`] — the same code the live state
//! machine runs, so redo produces the same batches. Entries of undecided
//! transactions (their intents) are re-applied like any other: their
//! outcome is decided through Raft (docs/wal.md, "Why there is no undo
//! pass").
//!
//! Entries after the committed index are left to Raft: the leader will say
//! whether they commit.

use crate::engine::{Engine, WriteBatch};
use crate::error::{Result, StorageError};
use crate::meta::{self, TabletId};
use crate::raftlog::{LogEntry, RaftLogStore};

/// Turns a committed Raft entry into engine writes: the tablet state machine.
pub trait EntryApplier {
    /// Adds the effects of `entry` of `tablet` to `batch`. Must be
    /// deterministic: redo relies on producing the same batch again. The
    /// caller adds the applied index to the batch.
    fn apply(&mut self, tablet: TabletId, entry: &LogEntry, batch: &mut WriteBatch) -> Result<()>;

    /// False when the node does not host `tablet` yet although its Raft log
    /// has entries: a tablet born of a split whose parent's split entry was
    /// not yet known committed when the node stopped. Redo leaves it alone;
    /// the live path starts it when the parent applies the split again.
    fn hosts(&mut self, _tablet: TabletId) -> Result<bool> {
        Ok(true)
    }
}

/// What redo did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedoReport {
    /// Tablets that had entries to re-apply.
    pub tablets_redone: usize,
    /// Entries re-applied.
    pub entries_redone: u64,
}

/// Re-applies committed entries past each tablet's applied index.
pub fn redo(
    engine: &dyn Engine,
    raft: &RaftLogStore,
    applier: &mut dyn EntryApplier,
) -> Result<RedoReport> {
    let mut report = RedoReport::default();
    for tablet in raft.groups() {
        let Some(committed) = raft.read_committed(tablet).map(|c| c.index) else {
            continue;
        };
        // NB: openraft's first entry (the initial membership) has index 0,
        // so "nothing applied" is not "index 0 applied": with nothing
        // applied, redo starts at the first entry the log holds.
        let stored = meta::stored_applied_index(engine, tablet)?;
        let first = stored.map_or(0, |applied| applied + 1);
        if committed < first || !applier.hosts(tablet)? {
            continue;
        }
        if let Some(purged) = raft.log_state(tablet).last_purged
            && purged.index >= first
        {
            return Err(StorageError::Recovery(format!(
                "tablet {tablet}: entries up to {} were purged from the Raft log but only those before \
                     {first} are in flushed data; the purge-after-flush invariant was broken",
                purged.index
            )));
        }
        let entries = raft.entries(tablet, first..=committed)?;
        let mut expected = match (stored, entries.first()) {
            (None, Some(e)) => e.log_id.index,
            _ => first,
        };
        for entry in &entries {
            if entry.log_id.index != expected {
                return Err(StorageError::Recovery(format!(
                    "tablet {tablet}: committed entry {expected} is missing from the Raft log (found {})",
                    entry.log_id.index
                )));
            }
            let mut batch = WriteBatch::new();
            applier.apply(tablet, entry, &mut batch)?;
            meta::set_applied_index(&mut batch, tablet, entry.log_id.index)?;
            engine.write(batch)?;
            expected += 1;
            report.entries_redone += 1;
        }
        if expected <= committed {
            return Err(StorageError::Recovery(format!(
                "tablet {tablet}: committed entries {expected}..={committed} are missing from the Raft log"
            )));
        }
        report.tablets_redone += 1;
    }
    Ok(report)
}
