//! The storage crate's error type. Variants say what the caller should do.

use std::io;

use thiserror::Error;

use spanlite_truetime::Timestamp;

use crate::keycode::KeycodeError;
use crate::wal::WalError;

/// Result alias for storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage layer.
#[derive(Debug, Error)]
pub enum StorageError {
    /// RocksDB reported an error. Disk-level trouble: the node should stop and
    /// recover from its WAL; retrying the same operation rarely helps.
    #[error("RocksDB {op} failed: {source}")]
    RocksDb {
        /// What we asked RocksDB to do.
        op: &'static str,
        /// RocksDB's own error.
        #[source]
        source: rocksdb::Error,
    },

    /// A file-system operation failed (outside the WAL, which has its own errors).
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The node write-ahead log failed; see the inner error.
    #[error(transparent)]
    Wal(#[from] WalError),

    /// The Raft log store failed or found the log inconsistent; see the
    /// inner error.
    #[error(transparent)]
    RaftLog(#[from] crate::raftlog::RaftLogError),

    /// A key or value could not be encoded or decoded.
    #[error(transparent)]
    Keycode(#[from] KeycodeError),

    /// A value stored on disk does not decode: data corruption or a bug. The node
    /// must stop rather than serve it.
    #[error("corrupt {what} in column family {cf}: {reason}")]
    Corrupt {
        /// Which kind of record (e.g. "version value", "intent").
        what: &'static str,
        /// Column family it was read from.
        cf: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A read asked for a timestamp whose versions garbage collection may already
    /// have removed. Read at a later timestamp.
    #[error(
        "read at {ts} is below the garbage-collection watermark {watermark}; read at a later timestamp"
    )]
    BelowGcWatermark {
        /// The requested read timestamp.
        ts: Timestamp,
        /// Versions older than this may be gone.
        watermark: Timestamp,
    },

    /// A transaction tried to write an intent on a key where another transaction
    /// already holds one. The lock table should have prevented this; the writer
    /// must wait for (or resolve) the holder and retry.
    #[error("key already holds an intent of transaction {holder}")]
    IntentConflict {
        /// The transaction that owns the existing intent.
        holder: crate::mvcc::TxnId,
    },

    /// Recovery found the log and the data inconsistent in a way it cannot repair.
    #[error("recovery failed: {0}")]
    Recovery(String),
}

impl StorageError {
    /// True when the same operation may succeed if retried (after waiting for or
    /// resolving a conflicting transaction). Disk and corruption errors are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::IntentConflict { .. })
    }

    /// Wraps a RocksDB error with the operation that failed.
    pub(crate) fn rocks(op: &'static str) -> impl FnOnce(rocksdb::Error) -> StorageError {
        move |source| StorageError::RocksDb { op, source }
    }
}
