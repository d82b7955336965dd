//! Leader leases as the replica keeps them: the pure lease state
//! (`spanlite_txn::lease`, where the argument for disjoint leases is) fed
//! from openraft's metrics, and consulted by the Raft service before a
//! vote request reaches openraft.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::{RaftMetrics, ServerState};
use spanlite_txn::lease::{Lease, VoteDecision};
use tokio::sync::watch;

pub use spanlite_txn::lease::LeaseView;

use crate::raft::{Node, NodeId};

/// A replica's lease, shared by its metrics watcher, its requests and the
/// node's Raft service.
#[derive(Clone, Debug)]
pub struct LeaseTracker {
    lease: Arc<Mutex<Lease>>,
}

impl LeaseTracker {
    /// A tracker granting leases of `duration` past each quorum ack; it
    /// must be shorter than the election timeout's minimum.
    pub fn new(duration: Duration) -> Self {
        Self {
            lease: Arc::new(Mutex::new(Lease::new(duration))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current view.
    pub fn view(&self) -> LeaseView {
        self.lock().view()
    }

    /// Folds one metrics update, observed at `now`, into the lease.
    pub fn observe(&self, me: NodeId, m: &RaftMetrics<NodeId, Node>, now: Instant) {
        let is_leader = m.state == ServerState::Leader && m.current_leader == Some(me);
        let acked_at = m
            .millis_since_quorum_ack
            .and_then(|ms| now.checked_sub(Duration::from_millis(ms)));
        self.lock()
            .observe(m.current_term, is_leader, m.current_leader, acked_at);
    }

    /// A candidate asks this replica's vote in `term`: false to refuse it
    /// (the lease holds); true to let openraft decide, after which this
    /// replica no longer serves in older terms.
    pub fn vote_allowed(&self, term: u64) -> bool {
        self.lock().on_vote_request(term, Instant::now()) == VoteDecision::Pass
    }

    /// Runs until the metrics channel closes (the Raft group shut down),
    /// calling `on_term` with each new term in which this replica leads.
    pub async fn follow(
        self,
        me: NodeId,
        mut metrics: watch::Receiver<RaftMetrics<NodeId, Node>>,
        on_term: impl Fn(u64) + Send,
    ) {
        let mut led_term = None;
        loop {
            let (term, leads) = {
                let m = metrics.borrow_and_update();
                self.observe(me, &m, Instant::now());
                let v = self.view();
                (v.term, v.is_leader)
            };
            if leads && led_term != Some(term) {
                led_term = Some(term);
                on_term(term);
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn metrics(
        state: ServerState,
        leader: Option<NodeId>,
        acked_ms_ago: Option<u64>,
    ) -> RaftMetrics<NodeId, Node> {
        let mut m = RaftMetrics::new_initial(1);
        m.state = state;
        m.current_term = 3;
        m.current_leader = leader;
        m.millis_since_quorum_ack = acked_ms_ago;
        m.replication = Some(BTreeMap::new());
        m
    }

    #[test]
    fn the_lease_follows_openraft_metrics() {
        let t = LeaseTracker::new(Duration::from_millis(600));
        let now = Instant::now() + Duration::from_secs(5);
        t.observe(1, &metrics(ServerState::Leader, Some(1), Some(100)), now);
        assert!(t.view().holds_at(now + Duration::from_millis(499)));
        assert!(!t.view().holds_at(now + Duration::from_millis(500)));
        // Leader state but the metrics name another leader: not ours.
        t.observe(1, &metrics(ServerState::Leader, Some(2), Some(0)), now);
        assert!(!t.view().holds_at(now));
        t.observe(1, &metrics(ServerState::Follower, Some(2), Some(0)), now);
        assert_eq!(t.view().leader, Some(2));
    }
}
