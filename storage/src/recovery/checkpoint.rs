//! Fuzzy checkpoints: bound recovery time and free old WAL segments.
//!
//! ```text
//!  append CheckpointBegin ─▶ swap dirty-tablet table ─▶ RocksDB atomic flush
//!        ─▶ append CheckpointEnd{begin, dirty tablets, raft meta}
//!        ─▶ delete segments below min(recLSNs, live Raft entries, begin)
//! ```
//!
//! Fuzzy: writes keep flowing during the checkpoint. A tablet that applies an
//! entry after the swap lands in the new table with that entry's LSN, so it is
//! listed dirty even if the flush happened to include it — conservative, never
//! wrong. If the flush fails, the swapped-out table is merged back.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use spanlite_truetime::{Clock, SystemClock};

use super::records::{self, CheckpointBegin, CheckpointEnd};
use crate::engine::Engine;
use crate::error::Result;
use crate::meta::TabletId;
use crate::raftlog::RaftLogStore;
use crate::wal::{Lsn, Record, RecordKind, Wal};

/// The dirty-tablet table: tablets with applied entries that may not be in
/// flushed data, each with its recLSN (the LSN of the first such entry).
#[derive(Debug, Default)]
pub struct DirtyTablets {
    map: Mutex<BTreeMap<TabletId, Lsn>>,
}

impl DirtyTablets {
    /// A table seeded with what recovery found.
    pub fn new(initial: BTreeMap<TabletId, Lsn>) -> Self {
        Self {
            map: Mutex::new(initial),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TabletId, Lsn>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the state machine after applying an entry (stored at `lsn`)
    /// to `tablet`: records the recLSN if the tablet was clean.
    pub fn note_applied(&self, tablet: TabletId, lsn: Lsn) {
        self.lock().entry(tablet).or_insert(lsn);
    }

    /// A copy of the table.
    pub fn snapshot(&self) -> BTreeMap<TabletId, Lsn> {
        self.lock().clone()
    }

    fn take(&self) -> BTreeMap<TabletId, Lsn> {
        std::mem::take(&mut *self.lock())
    }

    fn merge_back(&self, old: BTreeMap<TabletId, Lsn>) {
        let mut map = self.lock();
        for (tablet, lsn) in old {
            let slot = map.entry(tablet).or_insert(lsn);
            *slot = (*slot).min(lsn);
        }
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointReport {
    /// LSN of the begin record.
    pub begin_lsn: Lsn,
    /// LSN of the end record.
    pub end_lsn: Lsn,
    /// Segments wholly below this LSN were deleted.
    pub retention_lsn: Lsn,
    /// Number of segments deleted.
    pub segments_removed: usize,
    /// Tablets listed dirty in the end record.
    pub dirty_tablets: usize,
    /// Wall time taken.
    pub duration: Duration,
}

/// Takes a fuzzy checkpoint (blocking: it waits for a RocksDB flush and two
/// WAL fsyncs; call it from a blocking thread).
pub fn checkpoint(
    wal: &Wal,
    engine: &dyn Engine,
    raft: &RaftLogStore,
    dirty: &DirtyTablets,
) -> Result<CheckpointReport> {
    let started = Instant::now();
    let begin = CheckpointBegin {
        started: SystemClock::new().now(),
    };
    let begin_lsn = wal
        .append_blocking(vec![Record::new(
            RecordKind::CheckpointBegin,
            records::encode("checkpoint begin", records::BEGIN_FORMAT, &begin)?,
        )])?
        .lsns[0];

    let flushed_dirty = dirty.take();
    if let Err(e) = engine.flush() {
        dirty.merge_back(flushed_dirty);
        return Err(e);
    }
    let dirty_tablets = dirty.snapshot();
    let end = CheckpointEnd {
        begin_lsn,
        dirty_tablets: dirty_tablets.clone(),
        raft_meta: raft.meta_snapshot().encode()?,
    };
    let end_lsn = wal
        .append_blocking(vec![Record::new(
            RecordKind::CheckpointEnd,
            records::encode("checkpoint end", records::END_FORMAT, &end)?,
        )])?
        .lsns[0];

    let retention_lsn = [
        dirty_tablets.values().min().copied(),
        raft.min_lsn_needed(),
        // NB: never past the begin record, whatever the tables say.
        Some(begin_lsn),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(begin_lsn);
    let segments_removed = wal.remove_segments_below(retention_lsn)?;
    Ok(CheckpointReport {
        begin_lsn,
        end_lsn,
        retention_lsn,
        segments_removed,
        dirty_tablets: dirty_tablets.len(),
        duration: started.elapsed(),
    })
}
