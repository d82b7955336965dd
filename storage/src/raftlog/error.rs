//! Errors of the Raft log store. Every variant says what the caller should do.

use thiserror::Error;

use super::GroupId;
use crate::wal::{Lsn, WalError};

/// What can go wrong in the Raft log store.
#[derive(Debug, Error)]
pub enum RaftLogError {
    /// The node WAL refused or failed the operation; see
    /// [`WalError::must_restart`]. Report it to openraft as a storage error.
    #[error(transparent)]
    Wal(#[from] WalError),

    /// An append would leave a hole in the log or overwrite entries. openraft
    /// never does this: truncate the conflicting suffix first (or purge past
    /// the log when installing a snapshot). Nothing was changed.
    #[error(
        "group {group}: appended entry {got} does not follow the log, whose next index is {expected}"
    )]
    NotContiguous {
        /// The group.
        group: GroupId,
        /// The index the next entry must have.
        expected: u64,
        /// The index it had.
        got: u64,
    },

    /// A record or checkpoint snapshot does not decode. The node must stop:
    /// the log holds something this build cannot read.
    #[error("{what}{} does not decode: {source}", at(*lsn))]
    Decode {
        /// What we were decoding.
        what: &'static str,
        /// LSN of the record, if it came from one.
        lsn: Option<Lsn>,
        /// postcard's error.
        #[source]
        source: postcard::Error,
    },

    /// A record or snapshot has a format version this build does not know
    /// (`None`: it is empty). Run a build that knows it.
    #[error("{what}{} has unknown format version {version:?}", at(*lsn))]
    UnknownFormat {
        /// What we were decoding.
        what: &'static str,
        /// LSN of the record, if it came from one.
        lsn: Option<Lsn>,
        /// The version byte found.
        version: Option<u8>,
    },

    /// A value could not be encoded (a bug: our types always encode).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What we were encoding.
        what: &'static str,
        /// postcard's error.
        #[source]
        source: postcard::Error,
    },

    /// The WAL and the store disagree (a hole in a replayed log, a record that
    /// is not the entry the index points at). The node must stop and an
    /// operator must look at the log.
    #[error("group {group}{}: {reason}", at(*lsn))]
    Inconsistent {
        /// The group.
        group: GroupId,
        /// The record involved, if any.
        lsn: Option<Lsn>,
        /// What is wrong.
        reason: String,
    },
}

fn at(lsn: Option<Lsn>) -> String {
    lsn.map_or(String::new(), |l| format!(" at LSN {l}"))
}

impl RaftLogError {
    /// True when the same call may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RaftLogError::Wal(e) if e.is_retryable())
    }

    /// True when the node must stop and recover (or an operator must look at
    /// the log) before the store can be used again.
    pub fn must_restart(&self) -> bool {
        match self {
            RaftLogError::Wal(e) => e.must_restart(),
            RaftLogError::NotContiguous { .. } => false,
            RaftLogError::Decode { .. }
            | RaftLogError::UnknownFormat { .. }
            | RaftLogError::Encode { .. }
            | RaftLogError::Inconsistent { .. } => true,
        }
    }
}
