//! Errors of tablet operations. Each variant tells the caller what to do.

use thiserror::Error;

use crate::raft::NodeId;
use spanlite_storage::meta::TabletId;

/// Why a tablet replica did not serve a request.
#[derive(Debug, Error)]
pub enum TabletError {
    /// This replica is not the leader (or not yet serving as one): retry at
    /// the hinted leader, or refresh the route.
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

    /// The key does not belong to the tablet: refresh the route.
    #[error("tablet {tablet}: key is outside its range {range}")]
    WrongTablet {
        /// The tablet.
        tablet: TabletId,
        /// Its range.
        range: String,
    },

    /// The node cannot vouch for time right now; retry later or elsewhere.
    #[error("clock unsynchronized: {0}")]
    ClockUnsynchronized(String),

    /// The key has a provisional write of an undecided transaction; retry
    /// once it is resolved.
    #[error("tablet {tablet}: key is locked by an undecided transaction")]
    Locked {
        /// The tablet.
        tablet: TabletId,
    },

    /// Replication failed (no quorum in time, shutting down, storage error
    /// in Raft); the operation may or may not have taken effect if it was a
    /// write. Retry.
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

    /// The transaction was aborted here (wounded by an older one, a lock
    /// wait timed out, or the leader that held its locks changed); retry the
    /// whole transaction.
    #[error("tablet {tablet}: transaction aborted: {reason}")]
    TxnAborted {
        /// The tablet.
        tablet: TabletId,
        /// Why.
        reason: String,
    },

    /// A transaction's commit may or may not have taken effect (replication
    /// failed after the entry was proposed). Not retried automatically:
    /// the client must find out (e.g. read back) before retrying.
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
}
