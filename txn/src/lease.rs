//! Leader leases (DESIGN.md §3), as pure state: what the Raft group last
//! reported, and what this replica did with votes.
//!
//! A leader may serve reads and assign timestamps only while it holds a
//! lease: until `quorum_ack + duration`, where `quorum_ack` is the latest
//! moment a quorum of voters is known to have accepted it (measured from
//! when the acknowledged request was *sent*).
//!
//! ```text
//!  old leader:  ──send──┬──────── lease (duration) ────────┤  refuses votes ──┤
//!  voter:               └recv── refuses votes for election_max ──┤
//!  new leader:                                                    └─elected── LeaseStart applied ── serves
//! ```
//!
//! Why successive leases are disjoint: a voter that acknowledged the old
//! leader's request refuses to vote for anyone else until `election_max`
//! after it received that request (Raft's vote lease), and any quorum that
//! elects a new leader shares a voter with the quorum that acked the old
//! one. That shared voter may be the old leader itself: so a replica
//! holding a lease refuses every vote ([`Lease::on_vote_request`]), and once
//! it lets one through it stops serving at once, before the Raft group
//! reports the new term (the report comes asynchronously). So a new leader
//! is elected no sooner than `send + election_max > send + duration`: the
//! old lease has ended.
//!
//! HAZARD: this compares durations measured on different machines'
//! monotonic clocks; it holds while their rates differ by less than
//! `(election_max - duration) / election_max`.
//! HAZARD: a process pause longer than the lease (GC, SIGSTOP) between a
//! lease check and the action it guards lets a stale leader act once;
//! reads check the lease after reading, too, to narrow that window.

use std::time::{Duration, Instant};

use crate::command::NodeId;

/// What the lease state says about leadership.
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

    /// How much of the lease is left at `now` (zero when none is held).
    pub fn remaining_at(&self, now: Instant) -> Duration {
        match self.valid_until {
            Some(until) if self.is_leader => until.saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }
}

/// What to do with a vote request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteDecision {
    /// Refuse it without asking Raft: this replica holds a lease.
    Refuse,
    /// Let Raft decide; this replica stops serving in terms below it.
    Pass,
}

/// A replica's lease state.
#[derive(Clone, Debug)]
pub struct Lease {
    duration: Duration,
    view: LeaseView,
    /// The highest term this replica let a vote through for: no lease of
    /// an older term counts any more.
    vote_floor: u64,
}

impl Lease {
    /// Leases of `duration` past each quorum ack; it must be shorter than
    /// the election timeout's minimum.
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            view: LeaseView::default(),
            vote_floor: 0,
        }
    }

    /// The current view.
    pub fn view(&self) -> LeaseView {
        let mut v = self.view;
        if v.term < self.vote_floor {
            v.is_leader = false;
            v.valid_until = None;
        }
        v
    }

    /// Folds a report of the Raft group: `term`, whether this replica
    /// leads it, the leader it knows, and when a quorum last acknowledged
    /// this leader (leaders only).
    pub fn observe(
        &mut self,
        term: u64,
        is_leader: bool,
        leader: Option<NodeId>,
        acked_at: Option<Instant>,
    ) {
        self.view = LeaseView {
            term,
            is_leader,
            leader,
            valid_until: if is_leader {
                acked_at.map(|at| at + self.duration)
            } else {
                None
            },
        };
    }

    /// A candidate asks for this replica's vote in `term` at `now`.
    pub fn on_vote_request(&mut self, term: u64, now: Instant) -> VoteDecision {
        if self.view().holds_at(now) {
            return VoteDecision::Refuse;
        }
        self.vote_floor = self.vote_floor.max(term);
        VoteDecision::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_runs_from_the_quorum_ack_for_its_duration() {
        let mut l = Lease::new(Duration::from_millis(600));
        let now = Instant::now();
        l.observe(3, true, Some(1), Some(now));
        assert!(l.view().holds_at(now + Duration::from_millis(599)));
        assert!(!l.view().holds_at(now + Duration::from_millis(600)));
        l.observe(3, true, Some(1), None);
        assert!(!l.view().holds_at(now), "no quorum ack, no lease");
        l.observe(3, false, Some(2), Some(now));
        assert!(!l.view().holds_at(now), "followers hold none");
    }

    #[test]
    fn a_leader_holding_its_lease_refuses_votes_and_stops_once_it_passes_one() {
        let mut l = Lease::new(Duration::from_millis(600));
        let now = Instant::now();
        l.observe(3, true, Some(1), Some(now));
        assert_eq!(l.on_vote_request(4, now), VoteDecision::Refuse);
        assert!(l.view().holds_at(now));
        let later = now + Duration::from_millis(700);
        assert_eq!(l.on_vote_request(4, later), VoteDecision::Pass);
        // A late report of the old term (quorum acks of term 3) must not
        // bring the lease back.
        l.observe(3, true, Some(1), Some(later));
        assert!(!l.view().holds_at(later));
        l.observe(5, true, Some(1), Some(later));
        assert!(l.view().holds_at(later), "a later term leads again");
    }
}
