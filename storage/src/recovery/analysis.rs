//! Recovery pass 1: read the log once and rebuild what the node knew.
//!
//! ```text
//!   oldest retained segment ─────────────────────────────────────▶ end of log
//!   │ Raft records → RaftLogStore (entries index, votes, committed, purge)
//!   │ CheckpointEnd → dirty-tablet table, Raft metadata (last complete one)
//! ```
//!
//! The whole retained log is scanned because the Raft log index needs every
//! live entry; checkpoint tables are merged as the scan meets them. A
//! `CheckpointBegin` without its end (crash during a checkpoint) is ignored.

use std::collections::BTreeMap;

use super::records::{self, CheckpointEnd};
use crate::error::Result;
use crate::meta::TabletId;
use crate::raftlog::{MetaSnapshot, RaftLogStore};
use crate::wal::{Lsn, RecordKind, Wal};

/// What analysis rebuilt.
#[derive(Debug)]
pub struct Analysis {
    /// Every Raft group's log, vote, committed index and purge point.
    pub raft: RaftLogStore,
    /// Tablet → recLSN (from the last checkpoint, plus tablets with entries
    /// appended after its begin).
    pub dirty_tablets: BTreeMap<TabletId, Lsn>,
    /// LSN of the last complete checkpoint's end record.
    pub checkpoint: Option<Lsn>,
    /// Records read.
    pub records_scanned: u64,
}

/// Scans the retained log of `wal` and rebuilds the node's tables.
/// `raft_cache_bytes` sizes the Raft log store's per-group entry cache.
pub fn analysis(wal: &Wal, raft_cache_bytes: usize) -> Result<Analysis> {
    let raft = RaftLogStore::new(wal.clone(), raft_cache_bytes);
    let mut dirty_tablets = BTreeMap::new();
    let mut checkpoint = None;
    let mut checkpoint_raft_meta = None;
    // First entry LSN per tablet after each checkpoint begin seen (and, at
    // LSN 0, since the start of the retained log). Only the maps of begins
    // whose end record turns up are used: a checkpoint cut short by a crash
    // flushed nothing we can count on.
    let mut since_begin: Vec<(Lsn, BTreeMap<TabletId, Lsn>)> = vec![(0, BTreeMap::new())];
    let mut complete_begin: Option<Lsn> = None;
    let mut records_scanned = 0;

    for item in wal.iter_from(wal.first_lsn())? {
        let (lsn, record) = item?;
        records_scanned += 1;
        match record.kind {
            RecordKind::RaftEntries => {
                if let Some(tablet) = raft.apply_replayed(lsn, &record)? {
                    for (_, first) in &mut since_begin {
                        first.entry(tablet).or_insert(lsn);
                    }
                }
            }
            RecordKind::RaftVote
            | RecordKind::RaftCommitted
            | RecordKind::RaftTruncate
            | RecordKind::RaftPurge
            | RecordKind::RaftRemoveGroup => {
                raft.apply_replayed(lsn, &record)?;
            }
            RecordKind::CheckpointBegin => since_begin.push((lsn, BTreeMap::new())),
            RecordKind::CheckpointEnd => {
                let end: CheckpointEnd =
                    records::decode("checkpoint end", records::END_FORMAT, lsn, &record.payload)?;
                // This checkpoint's dirty table replaces older ones: it is
                // complete, so everything before its begin that it does not
                // list was flushed.
                dirty_tablets = end.dirty_tablets;
                complete_begin = Some(end.begin_lsn);
                checkpoint = Some(lsn);
                checkpoint_raft_meta = Some(end.raft_meta);
            }
        }
    }
    // Tablets with entries after the last complete checkpoint's begin (or
    // anywhere in the log, without one) may have unflushed effects.
    let threshold = complete_begin.unwrap_or(0);
    if let Some((_, first)) = since_begin.iter().rev().find(|(b, _)| *b <= threshold) {
        for (&tablet, &lsn) in first {
            let slot = dirty_tablets.entry(tablet).or_insert(lsn);
            *slot = (*slot).min(lsn);
        }
    }
    // Votes, committed indexes and purge points whose records were in deleted
    // segments come from the last checkpoint; any record still in the log is
    // newer than the checkpoint's copy (see RaftLogStore::load_meta_snapshot).
    if let Some(meta) = checkpoint_raft_meta {
        raft.load_meta_snapshot(&MetaSnapshot::decode(&meta)?);
    }
    raft.finish_replay()?;
    Ok(Analysis {
        raft,
        dirty_tablets,
        checkpoint,
        records_scanned,
    })
}
