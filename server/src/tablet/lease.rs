//! Leader leases (DESIGN.md §3).
//!
//! A leader may serve reads and assign timestamps only while it holds a
//! lease: until `quorum_ack + duration`, where `quorum_ack` is the latest
//! moment a quorum of voters is known to have accepted it (openraft's
//! `millis_since_quorum_ack`, measured from when the acknowledged request was
//! *sent*).
//!
//! ```text
//!  old leader:  ──send──┬──────── lease (duration) ────────┤
//!  voter:               └recv── refuses votes for election_max ──┤
//!  new leader:                                                    └─elected── LeaseStart applied ── serves
//! ```
//!
//! Why successive leases are disjoint: a voter that acknowledged the old
//! leader's request refuses to vote for anyone else until `election_max`
//! after it received that request (openraft's vote lease), and any quorum
//! that elects a new leader shares a voter with the quorum that acked the
//! old one. So a new leader is elected no sooner than
//! `send + election_max > send + duration`: the old lease has ended. The new
//! leader then serves only after its `LeaseStart` entry is applied, so it has
//! applied every entry of earlier terms too.
//!
//! HAZARD: this compares durations measured on different machines' monotonic
//! clocks; it holds while their rates differ by less than
//! `(election_max - duration) / election_max` (with the defaults, 60%, far
//! above any real drift bound).
//! HAZARD: a process pause longer than the lease (GC, SIGSTOP) between a
//! lease check and the action it guards lets a stale leader act once; reads
//! check the lease after reading, too, to narrow that window.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::raft::{Node, NodeId};

/// What the lease tracker knows about this replica's leadership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// Current Raft term.
    pub term: u64,
    /// This replica leads in `term`.
    pub is_leader: bool,
    /// The leader of `term` as known here.
    pub leader: Option<NodeId>,
    /// The lease is valid until then (leaders only).
    pub valid_until: Option<Instant>,
}

impl LeaseView {
    /// True when this replica leads and its lease holds at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        self.is_leader && self.valid_until.is_some_and(|until| now < until)
    }
}

/// Follows a replica's Raft metrics and keeps its lease up to date.
#[derive(Clone, Debug)]
pub struct LeaseTracker {
    view: Arc<Mutex<LeaseView>>,
    duration: Duration,
}

impl LeaseTracker {
    /// A tracker granting leases of `duration` past each quorum ack; it must
    /// be shorter than the election timeout's minimum.
    pub fn new(duration: Duration) -> Self {
        Self {
            view: Arc::default(),
            duration,
        }
    }

    /// The current view.
    pub fn view(&self) -> LeaseView {
        *self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds one metrics update, observed at `now`, into the view.
    pub fn observe(&self, me: NodeId, m: &RaftMetrics<NodeId, Node>, now: Instant) {
        let is_leader = m.state == ServerState::Leader && m.current_leader == Some(me);
        let valid_until = if is_leader {
            m.millis_since_quorum_ack
                .and_then(|ms| now.checked_sub(Duration::from_millis(ms)))
                .map(|acked| acked + self.duration)
        } else {
            None
        };
        *self.view.lock().unwrap_or_else(PoisonError::into_inner) = LeaseView {
            term: m.current_term,
            is_leader,
            leader: m.current_leader,
            valid_until,
        };
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
    fn lease_runs_from_the_quorum_ack_for_its_duration() {
        let t = LeaseTracker::new(Duration::from_millis(600));
        let now = Instant::now() + Duration::from_secs(5);
        t.observe(1, &metrics(ServerState::Leader, Some(1), Some(100)), now);
        let v = t.view();
        assert!(v.holds_at(now));
        assert!(v.holds_at(now + Duration::from_millis(499)));
        assert!(
            !v.holds_at(now + Duration::from_millis(500)),
            "acked 100 ms ago + 600 ms"
        );
    }

    #[test]
    fn no_quorum_ack_no_lease() {
        let t = LeaseTracker::new(Duration::from_millis(600));
        let now = Instant::now();
        t.observe(1, &metrics(ServerState::Leader, Some(1), None), now);
        assert!(!t.view().holds_at(now));
    }

    #[test]
    fn followers_and_stale_leaders_hold_no_lease() {
        let t = LeaseTracker::new(Duration::from_millis(600));
        let now = Instant::now() + Duration::from_secs(5);
        t.observe(1, &metrics(ServerState::Follower, Some(2), Some(0)), now);
        assert!(!t.view().holds_at(now));
        assert_eq!(t.view().leader, Some(2));
        // Leader state but the metrics name another leader: not ours.
        t.observe(1, &metrics(ServerState::Leader, Some(2), Some(0)), now);
        assert!(!t.view().holds_at(now));
    }
}
