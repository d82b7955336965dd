//! Errors a gateway reports to its client.

use spanlite_txn::AbortReason;
use thiserror::Error;

/// Why a gateway request failed.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The request is malformed (e.g. a reserved key); fix it.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A write or a locking read in a read-only transaction.
    #[error("{0} in a read-only transaction")]
    ReadOnly(String),
    /// The cluster is not initialized yet (no meta tablet known); run
    /// `spanlite init` or wait for this node to join.
    #[error("cluster not initialized or not yet known to this node: {0}")]
    NotInitialized(String),
    /// No replica could serve the request before the deadline (no leader,
    /// no quorum, nodes down); retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The transaction was aborted; retry the whole transaction.
    #[error("transaction aborted: {message}")]
    Aborted {
        /// Why, as every layer acts on it.
        reason: AbortReason,
        /// What happened, for people.
        message: String,
    },
    /// A commit was sent and its outcome is unknown (it may have taken
    /// effect): find out before retrying. SQLSTATE 40003.
    #[error("commit outcome unknown: {0}")]
    Ambiguous(String),
    /// A read below a tablet's garbage-collection watermark: its versions
    /// may be gone. SQLSTATE 72000.
    #[error("snapshot too old: {0}")]
    SnapshotTooOld(String),
    /// A replica failed in a way retrying will not fix.
    #[error("tablet error: {0}")]
    Failed(String),
}

impl GatewayError {
    /// An abort for `reason`, with what happened.
    pub fn aborted(reason: AbortReason, message: impl Into<String>) -> Self {
        GatewayError::Aborted {
            reason,
            message: message.into(),
        }
    }

    /// Why the transaction was aborted, for `Aborted` errors.
    pub fn abort_reason(&self) -> Option<AbortReason> {
        match self {
            GatewayError::Aborted { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// True when retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Unavailable(_)
                | GatewayError::NotInitialized(_)
                | GatewayError::Aborted { .. }
        )
    }
}
