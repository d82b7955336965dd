//! What a transaction step refuses with. Each variant tells the caller what
//! to do; the server maps them to its tablet errors one to one.

use spanlite_truetime::{Timestamp, TrueTimeError};
use thiserror::Error;

use crate::AbortReason;

/// Why a step did not go ahead.
#[derive(Debug, Error)]
pub enum TxnError {
    /// The transaction is aborted (now or earlier): retry it whole.
    #[error("transaction aborted: {reason}{}", detail_suffix(detail))]
    Aborted {
        /// The classification every layer acts on.
        reason: AbortReason,
        /// What exactly happened, for people (a key, a timestamp).
        detail: String,
    },
    /// The commit may or may not have taken effect (it was proposed, then
    /// replication failed). Not an abort: the client must find out (read
    /// back) before retrying. SQLSTATE 40003.
    #[error("commit outcome unknown: {0}")]
    Ambiguous(String),
    /// The key is not (or no longer) this tablet's: a split moved it, one
    /// is under way, or the request was routed with a stale descriptor.
    /// Route again.
    #[error("key outside the tablet's range, or a stale route: {0}")]
    WrongTablet(String),
    /// A read timestamp beyond what this leader can vouch for before its
    /// lease ends; retry in a moment (or refuse a read that far ahead).
    #[error("read timestamp {ts} is beyond this leader's lease (it may serve up to {limit})")]
    FutureRead {
        /// The timestamp asked for.
        ts: Timestamp,
        /// The limit now.
        limit: Timestamp,
    },
    /// The request is wrong as asked (not retryable).
    #[error("{0}")]
    Refused(String),
    /// The node cannot vouch for time; retry later or elsewhere.
    #[error("clock unsynchronized: {0}")]
    Clock(#[from] TrueTimeError),
    /// Local storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] spanlite_storage::StorageError),
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl TxnError {
    /// An abort with no more to say than its reason.
    pub fn aborted(reason: AbortReason) -> Self {
        TxnError::Aborted {
            reason,
            detail: String::new(),
        }
    }

    /// An abort with details.
    pub fn aborted_because(reason: AbortReason, detail: impl Into<String>) -> Self {
        TxnError::Aborted {
            reason,
            detail: detail.into(),
        }
    }

    /// The abort reason, for aborts.
    pub fn abort_reason(&self) -> Option<AbortReason> {
        match self {
            TxnError::Aborted { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}
