//! The three passes in order, and the report the node logs at start.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use super::{DirtyTablets, EntryApplier, TxnLog, TxnTable, UndoTarget, analysis, redo, undo};
use crate::engine::Engine;
use crate::error::Result;
use crate::mvcc::{Mvcc, TxnId};
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
    /// CLRs repeated by redo.
    pub clrs_redone: u64,
    /// Prepared participants waiting for their coordinators.
    pub txns_in_doubt: Vec<TxnId>,
    /// Transactions with a commit decision still to be finished.
    pub txns_decided: Vec<TxnId>,
    /// Losers rolled back.
    pub txns_undone: Vec<TxnId>,
    /// CLRs written by undo.
    pub clrs_written: u64,
    /// Wall time of the three passes.
    pub duration: Duration,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovery: {} records scanned from checkpoint {}; torn tail {}; redo {} entries on {} tablets, {} CLRs; \
             undo {} txns with {} CLRs; {} in doubt, {} decided; {:?}",
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
            self.clrs_redone,
            self.txns_undone.len(),
            self.clrs_written,
            self.txns_in_doubt.len(),
            self.txns_decided.len(),
            self.duration,
        )
    }
}

/// What the node runs with after recovery.
#[derive(Debug)]
pub struct Recovered {
    /// The Raft log store, rebuilt.
    pub raft: RaftLogStore,
    /// Transactions still open (in doubt or decided), for the txn layer.
    pub txns: TxnTable,
    /// The transaction log, with the chains of open transactions.
    pub txn_log: TxnLog,
    /// The dirty-tablet table as analysis found it.
    pub dirty: DirtyTablets,
    /// The report to log.
    pub report: RecoveryReport,
}

/// Runs analysis, redo and undo over an opened WAL and engine.
pub fn recover(
    wal: &Wal,
    opened: &OpenReport,
    engine: &dyn Engine,
    mvcc: &Mvcc,
    applier: &mut dyn EntryApplier,
    undo_target: &mut dyn UndoTarget,
    raft_cache_bytes: usize,
) -> Result<Recovered> {
    let started = Instant::now();
    let found = analysis(wal, raft_cache_bytes)?;
    let redone = redo(engine, mvcc, &found.raft, &found.clrs, applier)?;
    let mut txns = found.txns;
    let last_lsns: HashMap<TxnId, Lsn> =
        txns.txns.iter().map(|(id, t)| (*id, t.last_lsn)).collect();
    let txn_log = TxnLog::new(wal.clone(), last_lsns);
    let undone = undo(wal, &txn_log, &mut txns, undo_target)?;
    let report = RecoveryReport {
        torn_tail: opened.torn_tail.clone(),
        records_scanned: found.records_scanned,
        checkpoint: found.checkpoint,
        tablets_redone: redone.tablets_redone,
        entries_redone: redone.entries_redone,
        clrs_redone: redone.clrs_redone,
        txns_in_doubt: undone.in_doubt,
        txns_decided: undone.decided,
        txns_undone: undone.undone,
        clrs_written: undone.clrs_written,
        duration: started.elapsed(),
    };
    let dirty: BTreeMap<_, _> = found.dirty_tablets;
    Ok(Recovered {
        raft: found.raft,
        txns,
        txn_log,
        dirty: DirtyTablets::new(dirty),
        report,
    })
}
