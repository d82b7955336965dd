//! Appending transaction records with their backward chain.

use std::collections::HashMap;
use std::sync::Mutex;

use super::records::{self, TxnRecord, TxnRecordBody};
use crate::error::Result;
use crate::mvcc::TxnId;
use crate::wal::{Lsn, Record, RecordKind, Wal};

/// Writes `Txn` records, linking each to the transaction's previous record
/// (`prev_lsn`) so undo can walk a transaction backwards.
///
/// NB: records of one transaction must be logged by one task at a time (the
/// transaction layer serialises a transaction's steps anyway); the chain is
/// read and extended under a mutex that is never held across an await.
#[derive(Debug)]
pub struct TxnLog {
    wal: Wal,
    last: Mutex<HashMap<TxnId, Lsn>>,
}

impl TxnLog {
    /// A transaction log writing into `wal`. `last_lsns` seeds the chains of
    /// transactions recovery found still open.
    pub fn new(wal: Wal, last_lsns: HashMap<TxnId, Lsn>) -> Self {
        Self {
            wal,
            last: Mutex::new(last_lsns),
        }
    }

    fn prev(&self, txn: TxnId) -> Option<Lsn> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&txn)
            .copied()
    }

    fn record(&self, txn: TxnId, body: TxnRecordBody) -> Result<(Record, bool)> {
        let end = matches!(body, TxnRecordBody::End);
        let rec = TxnRecord {
            txn,
            prev_lsn: self.prev(txn),
            body,
        };
        Ok((
            Record::new(RecordKind::Txn, records::encode("txn", &rec)?),
            end,
        ))
    }

    fn remember(&self, txn: TxnId, lsn: Lsn, end: bool) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if end {
            last.remove(&txn);
        } else {
            last.insert(txn, lsn);
        }
    }

    /// Logs `body` for `txn`; returns its LSN once durable.
    pub async fn log(&self, txn: TxnId, body: TxnRecordBody) -> Result<Lsn> {
        let (record, end) = self.record(txn, body)?;
        let ack = self.wal.append(vec![record]).await?;
        let lsn = ack.lsns[0];
        self.remember(txn, lsn, end);
        Ok(lsn)
    }

    /// [`TxnLog::log`] for callers outside async code (recovery).
    pub fn log_blocking(&self, txn: TxnId, body: TxnRecordBody) -> Result<Lsn> {
        let (record, end) = self.record(txn, body)?;
        let ack = self.wal.append_blocking(vec![record])?;
        let lsn = ack.lsns[0];
        self.remember(txn, lsn, end);
        Ok(lsn)
    }
}
