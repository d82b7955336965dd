//! The two passes in order, and the report the node logs at start.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::{DirtyTablets, EntryApplier, analysis, redo};
use crate::engine::Engine;
use crate::error::Result;
use crate::raftlog::RaftLogStore;
use crate::wal::{Lsn, OpenReport, TornTail, Wal};

/// What recovery found and did; the node logs it at start (its `Display` is
/// one line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn tail the WAL truncated on open.
    pub torn_tail: Option<TornTail>,
    /// WAL records read by analysis.
    pub records_scanned: u64,
    /// LSN of the checkpoint recovery started from.
    pub checkpoint: Option<Lsn>,
    /// Tablets with entries re-applied.
    pub tablets_redone: usize,
    /// Raft entries re-applied.
    pub entries_redone: u64,
    /// Wall time of the two passes.
    pub duration: Duration,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovery: {} records scanned from checkpoint {}; torn tail {}; redo {} entries on {} tablets; {:?}",
            self.records_scanned,
            self.checkpoint
                .map_or("none".to_string(), |l| format!("at LSN {l}")),
            self.torn_tail
                .as_ref()
                .map_or("none".to_string(), |t| format!(
                    "{} bytes at {}:{}",
                    t.bytes_dropped,
                    t.segment.display(),
                    t.offset
                )),
            self.entries_redone,
            self.tablets_redone,
            self.duration,
        )
    }
}

/// What the node runs with after recovery.
#[derive(Debug)]
pub struct Recovered {
    /// The Raft log store, rebuilt.
    pub raft: RaftLogStore,
    /// The dirty-tablet table as analysis found it.
    pub dirty: DirtyTablets,
    /// The report to log.
    pub report: RecoveryReport,
}

/// Runs analysis and redo over an opened WAL and engine.
pub fn recover(
    wal: &Wal,
    opened: &OpenReport,
    engine: &dyn Engine,
    applier: &mut dyn EntryApplier,
    raft_cache_bytes: usize,
) -> Result<Recovered> {
    let started = Instant::now();
    let found = analysis(wal, raft_cache_bytes)?;
    let redone = redo(engine, &found.raft, applier)?;
    let report = RecoveryReport {
        torn_tail: opened.torn_tail.clone(),
        records_scanned: found.records_scanned,
        checkpoint: found.checkpoint,
        tablets_redone: redone.tablets_redone,
        entries_redone: redone.entries_redone,
        duration: started.elapsed(),
    };
    let dirty: BTreeMap<_, _> = found.dirty_tablets;
    Ok(Recovered {
        raft: found.raft,
        dirty: DirtyTablets::new(dirty),
        report,
    })
}
