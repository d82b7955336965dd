//! Payloads of the recovery-owned WAL record kinds: checkpoints, transaction
//! records and compensation log records (CLRs).
//!
//! Every payload is `[format: u8 = 1][postcard body]`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use super::TxnTable;
use crate::error::{Result, StorageError};
use crate::meta::TabletId;
use crate::mvcc::TxnId;
use crate::wal::Lsn;

const FORMAT_V1: u8 = 1;

/// Encodes a record payload.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>> {
    let mut out = vec![FORMAT_V1];
    let body = postcard::to_stdvec(value)
        .map_err(|e| StorageError::Recovery(format!("cannot encode {what}: {e}")))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a record payload; a bad payload in a CRC-valid record is corruption.
pub fn decode<T: DeserializeOwned>(what: &'static str, lsn: Lsn, bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body).map_err(|e| {
            StorageError::Recovery(format!("{what} record at LSN {lsn} does not decode: {e}"))
        }),
        Some((v, _)) => Err(StorageError::Recovery(format!(
            "{what} record at LSN {lsn} has unknown format {v}"
        ))),
        None => Err(StorageError::Recovery(format!(
            "{what} record at LSN {lsn} is empty"
        ))),
    }
}

/// `CheckpointBegin`: a fuzzy checkpoint starts; nothing else is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBegin {
    /// Wall-clock time, for humans reading the log.
    pub started: Timestamp,
}

/// `CheckpointEnd`: the checkpoint's tables, written after RocksDB's atomic
/// flush completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEnd {
    /// LSN of the matching `CheckpointBegin`.
    pub begin_lsn: Lsn,
    /// Dirty-tablet table: tablet → recLSN, the LSN of the first Raft entry
    /// applied to it that may not be in flushed data.
    pub dirty_tablets: BTreeMap<TabletId, Lsn>,
    /// Transactions not ended at checkpoint time.
    pub txn_table: TxnTable,
    /// The Raft log store's per-group metadata (votes, committed, purged), so
    /// deleting old segments never loses a vote (encoded by `crate::raftlog`).
    pub raft_meta: Vec<u8>,
}

/// What a transaction did, as logged on this node (record kind `Txn`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The transaction.
    pub txn: TxnId,
    /// Its previous record on this node (the backward chain undo walks).
    pub prev_lsn: Option<Lsn>,
    /// What happened.
    pub body: TxnRecordBody,
}

/// The body of a [`TxnRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnRecordBody {
    /// The transaction started here; `coordinator` when this node coordinates.
    Begin {
        /// True when this node coordinates it (presumed abort applies).
        coordinator: bool,
        /// Opaque details for the transaction layer.
        detail: Vec<u8>,
    },
    /// It wrote intents on these keys of `tablet`; undo removes them.
    Write {
        /// The tablet written.
        tablet: TabletId,
        /// User keys that now hold its intents.
        keys: Vec<Vec<u8>>,
    },
    /// Prepared as a participant.
    Prepared {
        /// Prepare timestamp.
        prepare_ts: Timestamp,
    },
    /// Commit decision.
    Committed {
        /// Commit timestamp.
        commit_ts: Timestamp,
    },
    /// Abort decision (undo follows).
    Aborted,
    /// Finished: every participant knows the outcome and every intent here is
    /// resolved. Analysis forgets the transaction.
    End,
}

/// A compensation log record: one undo step, done (record kind `Clr`).
///
/// INVARIANT: a CLR is never undone. Its `undo_next_lsn` tells a later undo
/// where to continue, so undo after a crash during undo does no step twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clr {
    /// The transaction being rolled back.
    pub txn: TxnId,
    /// The `Write` record this CLR compensates.
    pub undone_lsn: Lsn,
    /// The next record to undo (the undone record's `prev_lsn`).
    pub undo_next_lsn: Option<Lsn>,
    /// The tablet and keys whose intents were removed (redo repeats this).
    pub tablet: TabletId,
    /// The keys.
    pub keys: Vec<Vec<u8>>,
}
