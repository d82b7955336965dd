//! Errors of tablet operations. Each variant tells the caller what to do.

use spanlite_storage::meta::TabletId;
use spanlite_txn::{AbortReason, TxnError};
use thiserror::Error;

use crate::raft::NodeId;

/// Why a tablet replica did not serve a request.
#[derive(Debug, Error)]
pub enum TabletError {
    /// This replica is not the leader (or not yet serving as one), or, for
    /// a follower read, its safe time is behind: retry at the hinted
    /// leader, or refresh the route.
    #[error("tablet {tablet}: this replica is not the leader{}", hint(*leader, leader_addr))]
    NotLeader {
        /// The tablet.
        tablet: TabletId,
        /// The leader this replica believes in, if any.
        leader: Option<NodeId>,
        /// Its address, if known.
        leader_addr: Option<String>,
    },

    /// This node hosts no replica of the tablet: refresh the route.
    #[error("tablet {0} has no replica on this node")]
    NotFound(TabletId),

    /// The key does not belong to the tablet (or a split is moving it, or
    /// the request was routed with an older descriptor): refresh the route.
    #[error("tablet {tablet}: {reason}")]
    WrongTablet {
        /// The tablet.
        tablet: TabletId,
        /// What did not match.
        reason: String,
    },

    /// The node cannot vouch for time right now; retry later or elsewhere.
    #[error("clock unsynchronized: {0}")]
    ClockUnsynchronized(String),

    /// Replication failed (no quorum in time, shutting down, storage error
    /// in Raft) before anything was committed; retry.
    #[error("tablet {tablet}: replication failed: {message}")]
    Replication {
        /// The tablet.
        tablet: TabletId,
        /// What openraft said.
        message: String,
    },

    /// The request cannot be done as asked (e.g. a split key outside the
    /// range); not retryable.
    #[error("tablet {tablet}: {reason}")]
    Refused {
        /// The tablet.
        tablet: TabletId,
        /// Why.
        reason: String,
    },

    /// The transaction was aborted here; retry the whole transaction.
    #[error(
        "tablet {tablet}: transaction aborted: {reason}{}",
        detail_suffix(detail)
    )]
    Aborted {
        /// The tablet.
        tablet: TabletId,
        /// Why, as every layer acts on it.
        reason: AbortReason,
        /// What exactly happened, for people.
        detail: String,
    },

    /// A transaction's commit may or may not have taken effect (replication
    /// failed after the entry was proposed, or commit wait could not
    /// finish). Not retried automatically: the client must find out (e.g.
    /// read back) before retrying. SQLSTATE 40003.
    #[error("tablet {tablet}: commit outcome unknown: {message}")]
    Ambiguous {
        /// The tablet.
        tablet: TabletId,
        /// What failed.
        message: String,
    },

    /// Local storage failed; not retryable on this node.
    #[error("tablet {tablet}: storage error: {source}")]
    Storage {
        /// The tablet.
        tablet: TabletId,
        /// The storage error.
        #[source]
        source: spanlite_storage::StorageError,
    },
}

fn hint(leader: Option<NodeId>, addr: &Option<String>) -> String {
    match (leader, addr) {
        (Some(id), Some(a)) => format!("; try node {id} at {a}"),
        (Some(id), None) => format!("; try node {id}"),
        _ => "; no leader known".to_string(),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl TabletError {
    /// True when the same request may succeed if retried (here, elsewhere
    /// or after a route refresh).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            TabletError::Storage { .. }
                | TabletError::Refused { .. }
                | TabletError::Ambiguous { .. }
        )
    }

    /// An abort with no more to say than its reason.
    pub fn aborted(tablet: TabletId, reason: AbortReason) -> Self {
        TabletError::Aborted {
            tablet,
            reason,
            detail: String::new(),
        }
    }

    /// A protocol step's refusal on `tablet`.
    pub fn from_txn(tablet: TabletId, e: TxnError) -> Self {
        match e {
            TxnError::Aborted { reason, detail } => TabletError::Aborted {
                tablet,
                reason,
                detail,
            },
            TxnError::Ambiguous(message) => TabletError::Ambiguous { tablet, message },
            TxnError::WrongTablet(reason) => TabletError::WrongTablet { tablet, reason },
            e @ TxnError::FutureRead { .. } => TabletError::Refused {
                tablet,
                reason: e.to_string(),
            },
            TxnError::Refused(reason) => TabletError::Refused { tablet, reason },
            TxnError::Clock(e) => TabletError::ClockUnsynchronized(e.to_string()),
            TxnError::Storage(source) => TabletError::Storage { tablet, source },
        }
    }
}
