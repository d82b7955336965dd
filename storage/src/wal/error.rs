//! Errors of the node WAL. Every variant says what the caller should do.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::Lsn;

/// What can go wrong in the WAL. `Clone`, so that one failure can be handed to
/// every waiter of a group commit (the OS error is shared behind an `Arc`).
#[derive(Debug, Error, Clone)]
pub enum WalError {
    /// A file-system operation failed while opening, reading or removing
    /// segments (not while appending: that is [`WalError::Failed`]). Check the
    /// disk and the permissions of the WAL directory; appends may still work.
    #[error("WAL I/O error while {context}: {source}")]
    Io {
        /// What we were doing, naming the file.
        context: String,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },

    /// A record that is not the torn tail of the log is damaged, or the
    /// segment chain has a gap. The node must stop with this message: its log
    /// cannot be trusted and skipping the record could lose acknowledged data.
    #[error("WAL corruption in {} at offset {offset}: {reason}; the node must stop", segment.display())]
    Corruption {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged record within the segment.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// A write or fsync failed (disk full, EIO). The WAL refuses every later
    /// append: after a failed fsync the kernel may have dropped dirty pages
    /// ("fsyncgate"), so what is on disk is unknown. Restart the node; recovery
    /// reads what actually reached the disk.
    #[error("WAL failed and refuses appends until the node restarts and recovers: {cause}")]
    Failed {
        /// The error that failed the WAL.
        #[source]
        cause: Arc<io::Error>,
    },

    /// The WAL was closed before this request was written. Nothing of it is
    /// in the log.
    #[error("WAL is closed")]
    Closed,

    /// The LSN lies below the oldest retained segment: its segment was deleted
    /// after a checkpoint. The caller asked for data it had released.
    #[error("LSN {lsn} is below the oldest retained LSN {first}")]
    Truncated {
        /// The requested LSN.
        lsn: Lsn,
        /// The first LSN still in the log.
        first: Lsn,
    },

    /// The LSN is at or past the durable end of the log. Wait for the append
    /// that writes it to complete, then retry.
    #[error("LSN {lsn} is not in the durable log (durable end {durable})")]
    NotDurable {
        /// The requested LSN.
        lsn: Lsn,
        /// The durable end of the log.
        durable: Lsn,
    },

    /// A record payload is larger than the format allows (`u32::MAX` bytes).
    /// Split it; the WAL itself is unaffected.
    #[error("WAL record payload of {len} bytes is larger than 4 GiB - 1")]
    RecordTooLarge {
        /// The payload length.
        len: usize,
    },

    /// Another `Wal` (in this or another process) has this directory open.
    /// Close it first: two writers would interleave and corrupt the log.
    #[error("WAL directory {} is locked by another open WAL", dir.display())]
    Locked {
        /// The WAL directory.
        dir: PathBuf,
    },
}

impl WalError {
    /// True when the same call may succeed later without a restart: only a
    /// read of an LSN that is not durable yet.
    pub fn is_retryable(&self) -> bool {
        matches!(self, WalError::NotDurable { .. })
    }

    /// True when the node must stop and recover (or an operator must look at
    /// the disk) before the log can be used again.
    pub fn must_restart(&self) -> bool {
        matches!(self, WalError::Failed { .. } | WalError::Corruption { .. })
    }

    /// Wraps an OS error with what we were doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> WalError {
        let context = context.into();
        move |source| WalError::Io {
            context,
            source: Arc::new(source),
        }
    }
}
