//! Recovery pass 3: roll back the losers.
//!
//! ```text
//!  T7: Begin ◀── Write(k1) ◀── Write(k2) ◀── Aborted ◀── CLR(k2) ◀── CLR(k1) ◀── End
//!        ▲          ▲  prev       ▲                      │undo-next   │undo-next
//!        │          └─────────────┼──────────────────────┘            │
//!        └────────────────────────┴───────────────────────────────────┘
//! ```
//!
//! For each loser, undo logs `Aborted` (once), then walks back from its
//! undo-next LSN: each `Write` is compensated through the [`UndoTarget`] and a
//! CLR is logged pointing at the record before it. A crash at any point
//! leaves a log from which analysis computes where to continue; no write is
//! compensated twice, and compensating is idempotent anyway.
//!
//! Losers: `Active` and `Aborted` transactions, and transactions this node
//! coordinated that never logged a commit decision (presumed abort).
//! Prepared participants are *in doubt* and left alone; `Committed` ones are
//! *decided*; both are reported for the transaction layer.

use super::records::{self, Clr, TxnRecord, TxnRecordBody};
use super::{TxnLog, TxnState, TxnTable};
use crate::engine::WriteBatch;
use crate::error::{Result, StorageError};
use crate::meta::TabletId;
use crate::mvcc::{Mvcc, TxnId};
use crate::wal::{Record, RecordKind, Wal};

/// Where undo sends compensation: the node removes a loser's intents.
///
/// The server implements this by proposing intent removal through the
/// tablet's Raft group; [`MvccUndo`] applies it to a local engine.
pub trait UndoTarget {
    /// Removes `txn`'s intents on `keys` of `tablet`. Must be idempotent.
    fn undo_write(&mut self, txn: TxnId, tablet: TabletId, keys: &[Vec<u8>]) -> Result<()>;
}

/// Undo straight into local MVCC storage (tests, single-replica tablets).
#[derive(Debug)]
pub struct MvccUndo<'a>(pub &'a Mvcc);

impl UndoTarget for MvccUndo<'_> {
    fn undo_write(&mut self, txn: TxnId, _tablet: TabletId, keys: &[Vec<u8>]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for key in keys {
            self.0.abort_intent(&mut batch, key, txn)?;
        }
        self.0.apply(batch)
    }
}

/// What undo did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// Transactions rolled back and ended.
    pub undone: Vec<TxnId>,
    /// CLRs written.
    pub clrs_written: u64,
    /// Prepared participants waiting for their coordinator's decision.
    pub in_doubt: Vec<TxnId>,
    /// Transactions with a logged commit decision not yet ended.
    pub decided: Vec<TxnId>,
}

/// True when undo must roll `state` back.
fn is_loser(state: TxnState, coordinator: bool) -> bool {
    match state {
        TxnState::Active | TxnState::Aborted => true,
        // Presumed abort: a coordinator with no commit decision.
        TxnState::Prepared { .. } => coordinator,
        TxnState::Committed { .. } => false,
    }
}

/// Rolls back every loser in `txns` (removing them from it), logging through
/// `log` and compensating through `target`.
pub fn undo(
    wal: &Wal,
    log: &TxnLog,
    txns: &mut TxnTable,
    target: &mut dyn UndoTarget,
) -> Result<UndoReport> {
    let mut report = UndoReport::default();
    let ids: Vec<TxnId> = txns.txns.keys().copied().collect();
    for txn in ids {
        let Some(entry) = txns.txns.get(&txn).cloned() else {
            continue;
        };
        if !is_loser(entry.state, entry.coordinator) {
            match entry.state {
                TxnState::Prepared { .. } => report.in_doubt.push(txn),
                _ => report.decided.push(txn),
            }
            continue;
        }
        if entry.state != TxnState::Aborted {
            log.log_blocking(txn, TxnRecordBody::Aborted)?;
        }
        let mut next = entry.undo_next_lsn;
        while let Some(lsn) = next {
            let record = wal.read_at(lsn)?;
            if record.kind != RecordKind::Txn {
                return Err(StorageError::Recovery(format!(
                    "undo chain of {txn} reached a {:?} record at LSN {lsn}",
                    record.kind
                )));
            }
            let rec: TxnRecord = records::decode("txn", lsn, &record.payload)?;
            if rec.txn != txn {
                return Err(StorageError::Recovery(format!(
                    "undo chain of {txn} reached a record of {} at LSN {lsn}",
                    rec.txn
                )));
            }
            if let TxnRecordBody::Write { tablet, keys } = &rec.body {
                target.undo_write(txn, *tablet, keys)?;
                let clr = Clr {
                    txn,
                    undone_lsn: lsn,
                    undo_next_lsn: rec.prev_lsn,
                    tablet: *tablet,
                    keys: keys.clone(),
                };
                wal.append_blocking(vec![Record::new(
                    RecordKind::Clr,
                    records::encode("clr", &clr)?,
                )])?;
                report.clrs_written += 1;
            }
            next = rec.prev_lsn;
        }
        log.log_blocking(txn, TxnRecordBody::End)?;
        txns.txns.remove(&txn);
        report.undone.push(txn);
    }
    Ok(report)
}
