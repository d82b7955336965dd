//! Payloads of the recovery-owned WAL record kinds: checkpoints.
//!
//! Every payload is `[format: u8][postcard body]`: 1 for `CheckpointBegin`,
//! 2 for `CheckpointEnd` (format 1 carried a transaction table, gone with
//! the undo pass; a log holding one is refused, not misread).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spanlite_truetime::Timestamp;

use crate::error::{Result, StorageError};
use crate::meta::TabletId;
use crate::wal::Lsn;

/// Format of `CheckpointBegin` payloads.
pub const BEGIN_FORMAT: u8 = 1;
/// Format of `CheckpointEnd` payloads (1 had a transaction table).
pub const END_FORMAT: u8 = 2;

/// Encodes a record payload in `format`.
pub fn encode<T: Serialize>(what: &'static str, format: u8, value: &T) -> Result<Vec<u8>> {
    let mut out = vec![format];
    let body = postcard::to_stdvec(value)
        .map_err(|e| StorageError::Recovery(format!("cannot encode {what}: {e}")))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a record payload written in `format`; a bad payload in a
/// CRC-valid record is corruption.
pub fn decode<T: DeserializeOwned>(
    what: &'static str,
    format: u8,
    lsn: Lsn,
    bytes: &[u8],
) -> Result<T> {
    match bytes.split_first() {
        Some((f, body)) if *f == format => postcard::from_bytes(body).map_err(|e| {
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
    /// The Raft log store's per-group metadata (votes, committed, purged), so
    /// deleting old segments never loses a vote (encoded by `crate::raftlog`).
    pub raft_meta: Vec<u8>,
}
