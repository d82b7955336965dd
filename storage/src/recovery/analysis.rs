//! Recovery pass 1: read the log once and rebuild what the node knew.
//!
//! ```text
//!   oldest retained segment ─────────────────────────────────────▶ end of log
//!   │ Raft records → RaftLogStore (entries index, votes, committed, purge)
//!   │ CheckpointEnd → dirty-tablet and transaction tables (last complete one)
//!   │ Txn / Clr     → transaction table, undo-next LSNs, CLRs for redo
//! ```
//!
//! The whole retained log is scanned because the Raft log index needs every
//! live entry; checkpoint tables are merged as the scan meets them. A
//! `CheckpointBegin` without its end (crash during a checkpoint) is ignored.
//!
//! Merge rule for a checkpoint's transaction table (it is fuzzy: taken while
//! records kept arriving): a row wins over what the scan built only if its
//! `last_lsn` is newer, and never resurrects a transaction whose `End` the
//! scan saw after that row's `last_lsn`.

use std::collections::{BTreeMap, HashMap};

use super::records::{self, CheckpointEnd, Clr, TxnRecord, TxnRecordBody};
use super::{TxnEntry, TxnState, TxnTable};
use crate::error::{Result, StorageError};
use crate::meta::TabletId;
use crate::mvcc::TxnId;
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
    /// Transactions not ended.
    pub txns: TxnTable,
    /// Every CLR in the retained log, in LSN order (redo repeats them).
    pub clrs: Vec<(Lsn, Clr)>,
    /// LSN of the last complete checkpoint's end record.
    pub checkpoint: Option<Lsn>,
    /// Records read.
    pub records_scanned: u64,
}

/// Scans the retained log of `wal` and rebuilds the node's tables.
/// `raft_cache_bytes` sizes the Raft log store's per-group entry cache.
pub fn analysis(wal: &Wal, raft_cache_bytes: usize) -> Result<Analysis> {
    let raft = RaftLogStore::new(wal.clone(), raft_cache_bytes);
    let mut txns = TxnTable::new();
    let mut ended: HashMap<TxnId, Lsn> = HashMap::new();
    let mut clrs = Vec::new();
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
                let end: CheckpointEnd = records::decode("checkpoint end", lsn, &record.payload)?;
                if end.txn_table.version != super::TXN_TABLE_VERSION {
                    return Err(StorageError::Recovery(format!(
                        "checkpoint at LSN {lsn} has transaction table version {}, this build reads {}",
                        end.txn_table.version,
                        super::TXN_TABLE_VERSION
                    )));
                }
                // This checkpoint's dirty table replaces older ones: it is
                // complete, so everything before its begin that it does not
                // list was flushed.
                dirty_tablets = end.dirty_tablets;
                complete_begin = Some(end.begin_lsn);
                for (txn, row) in end.txn_table.txns {
                    if ended.get(&txn).is_some_and(|&e| e > row.last_lsn) {
                        continue;
                    }
                    if txns
                        .txns
                        .get(&txn)
                        .is_none_or(|ours| ours.last_lsn < row.last_lsn)
                    {
                        txns.txns.insert(txn, row);
                    }
                }
                checkpoint = Some(lsn);
                checkpoint_raft_meta = Some(end.raft_meta);
            }
            RecordKind::Txn => {
                let rec: TxnRecord = records::decode("txn", lsn, &record.payload)?;
                apply_txn_record(&mut txns, &mut ended, lsn, rec);
            }
            RecordKind::Clr => {
                let clr: Clr = records::decode("clr", lsn, &record.payload)?;
                if let Some(row) = txns.txns.get_mut(&clr.txn) {
                    row.undo_next_lsn = clr.undo_next_lsn;
                    row.last_lsn = lsn;
                    row.state = TxnState::Aborted;
                }
                clrs.push((lsn, clr));
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
        txns,
        clrs,
        checkpoint,
        records_scanned,
    })
}

/// Folds one transaction record into the table.
fn apply_txn_record(
    txns: &mut TxnTable,
    ended: &mut HashMap<TxnId, Lsn>,
    lsn: Lsn,
    rec: TxnRecord,
) {
    if let TxnRecordBody::End = rec.body {
        txns.txns.remove(&rec.txn);
        ended.insert(rec.txn, lsn);
        return;
    }
    let row = txns.txns.entry(rec.txn).or_insert_with(|| TxnEntry {
        state: TxnState::Active,
        coordinator: false,
        first_lsn: lsn,
        last_lsn: lsn,
        undo_next_lsn: None,
        detail: Vec::new(),
    });
    row.last_lsn = lsn;
    match rec.body {
        TxnRecordBody::Begin {
            coordinator,
            detail,
        } => {
            row.coordinator = coordinator;
            row.detail = detail;
            row.undo_next_lsn = Some(lsn);
        }
        TxnRecordBody::Write { .. } => row.undo_next_lsn = Some(lsn),
        TxnRecordBody::Prepared { prepare_ts } => {
            row.state = TxnState::Prepared { prepare_ts };
            row.undo_next_lsn = Some(lsn);
        }
        TxnRecordBody::Committed { commit_ts } => row.state = TxnState::Committed { commit_ts },
        // Undo continues from where it was; the Aborted record's prev_lsn
        // chain leads back to the writes.
        TxnRecordBody::Aborted => {
            if row.state != TxnState::Aborted {
                row.undo_next_lsn = Some(lsn);
            }
            row.state = TxnState::Aborted;
        }
        TxnRecordBody::End => {}
    }
}
