//! Errors a gateway reports to its client.

use thiserror::Error;

/// Why a gateway request failed.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The request is malformed (e.g. a reserved key); fix it.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The cluster is not initialized yet (no meta tablet known); run
    /// `spanlite init` or wait for this node to join.
    #[error("cluster not initialized or not yet known to this node: {0}")]
    NotInitialized(String),
    /// No replica could serve the request before the deadline (no leader,
    /// no quorum, nodes down); retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The transaction was aborted (wounded, lock timeout, leader change);
    /// retry the whole transaction.
    #[error("transaction aborted: {0}")]
    Aborted(String),
    /// A replica failed in a way retrying will not fix.
    #[error("tablet error: {0}")]
    Failed(String),
}

/// Why a transaction was aborted, for callers that react differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// An older transaction wounded it (wound-wait).
    Wounded,
    /// A lock wait passed its deadline.
    LockTimeout,
    /// A participant voted no or could not prepare.
    PrepareFailed,
    /// The leader holding its locks changed.
    LeaderChanged,
    /// Its client was silent too long.
    Idle,
    /// Anything else (e.g. presumed abort after a coordinator failure).
    Other,
}

impl GatewayError {
    /// Why the transaction was aborted, for `Aborted` errors.
    pub fn abort_reason(&self) -> Option<AbortReason> {
        let GatewayError::Aborted(reason) = self else {
            return None;
        };
        let r = reason.as_str();
        Some(
            if r.contains("prepare failed") || r.contains("prepare refused") {
                AbortReason::PrepareFailed
            } else if r.contains("wounded") {
                AbortReason::Wounded
            } else if r.contains("timed out") || r.contains("deadline") {
                AbortReason::LockTimeout
            } else if r.contains("leader") {
                AbortReason::LeaderChanged
            } else if r.contains("idle") {
                AbortReason::Idle
            } else {
                AbortReason::Other
            },
        )
    }

    /// True when retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Unavailable(_)
                | GatewayError::NotInitialized(_)
                | GatewayError::Aborted(_)
        )
    }
}
