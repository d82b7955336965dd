//! Deterministic 2PC scenarios: the records of a coordinator tablet and two
//! participant tablets driven through lost, duplicated and reordered
//! messages and crashes (a crash keeps the records: they are replicated
//! state, and a new leader starts from them).

use std::collections::VecDeque;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use super::*;

const COORD: TabletId = 1;
const P1: TabletId = 2;
const P2: TabletId = 3;

fn ts(n: u64) -> Timestamp {
    Timestamp::from_nanos(n)
}

fn txn(n: u128) -> TxnId {
    TxnId(n)
}

fn prepared(at: u64, key: &str) -> Prepared {
    Prepared {
        prepare_ts: ts(at),
        priority: ts(1),
        coordinator: COORD,
        writes: vec![crate::Mutation::Put {
            key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
        }],
        locks: vec![(
            LockTarget::key(key.as_bytes().to_vec()),
            LockMode::Exclusive,
        )],
    }
}

/// Messages between the tablets of one transaction.
#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Prepare {
        to: TabletId,
        at: u64,
        key: &'static str,
    },
    Vote {
        from: TabletId,
        ts: Option<Timestamp>,
    },
    Resolve {
        to: TabletId,
        decision: Decision,
    },
}

/// Three tablets' records and a network that can lose and duplicate.
#[derive(Default)]
struct Sim {
    coord: TxnRecords,
    parts: BTreeMap<TabletId, TxnRecords>,
    net: VecDeque<Msg>,
    votes: BTreeMap<TabletId, Option<Timestamp>>,
    /// Each participant's applied outcome, in order (to catch a double apply).
    applied: Vec<(TabletId, Decision)>,
}

impl Sim {
    fn new() -> Self {
        let mut s = Sim::default();
        s.parts.insert(P1, TxnRecords::new());
        s.parts.insert(P2, TxnRecords::new());
        s
    }

    /// A fresh simulation where both participants prepared (at `at1`
    /// and `at2`) and voted.
    fn prepared_on_both(at1: u64, at2: u64) -> Self {
        let mut s = Sim::new();
        s.prepare(P1, at1, "a");
        s.prepare(P2, at2, "b");
        s.run();
        s
    }

    /// Sends a prepare of `key` to `to` (delivered by [`Sim::run`]).
    fn prepare(&mut self, to: TabletId, at: u64, key: &'static str) {
        self.net.push_back(Msg::Prepare { to, at, key });
    }

    fn deliver(&mut self, m: Msg) {
        match m {
            Msg::Prepare { to, at, key } => {
                let vote = match self
                    .parts
                    .get_mut(&to)
                    .map(|r| r.prepare(txn(7), prepared(at, key)))
                {
                    Some(PrepareOutcome::Prepared(t) | PrepareOutcome::AlreadyPrepared(t)) => {
                        Some(t)
                    }
                    _ => None,
                };
                self.net.push_back(Msg::Vote { from: to, ts: vote });
            }
            Msg::Vote { from, ts } => {
                self.votes.insert(from, ts);
            }
            Msg::Resolve { to, decision } => self.resolve(to, decision),
        }
    }

    fn resolve(&mut self, to: TabletId, decision: Decision) {
        if let Some(r) = self.parts.get_mut(&to)
            && r.resolve(txn(7)).is_some()
        {
            self.applied.push((to, decision));
        }
    }

    fn run(&mut self) {
        while let Some(m) = self.net.pop_front() {
            self.deliver(m);
        }
    }

    /// The coordinator decides from the votes it has (a missing or "no"
    /// vote aborts), as its leader would.
    fn decide(&mut self, now_latest: Timestamp) -> Decision {
        let all_yes = [P1, P2]
            .iter()
            .all(|p| self.votes.get(p).copied().flatten().is_some());
        let decision = if all_yes {
            let min = self.votes.values().flatten().copied().max().unwrap();
            let now = spanlite_truetime::TTInterval {
                earliest: now_latest,
                latest: now_latest,
            };
            let mut clock = crate::leader::TsClock::default();
            Decision::Commit(clock.assign(min, now.latest, ts(0)).unwrap())
        } else {
            Decision::Abort
        };
        self.coord.decide(txn(7), decision, vec![P1, P2]).0
    }

    /// A participant in doubt asks the coordinator tablet (termination
    /// protocol), as its reaper would.
    fn ask(&mut self, p: TabletId, coordinator_deciding: bool) -> Option<Decision> {
        let answer = match self.coord.status(txn(7), coordinator_deciding) {
            StatusAnswer::Known(d) => d,
            StatusAnswer::Pending => return None,
            StatusAnswer::RecordAbort => self.coord.decide(txn(7), Decision::Abort, vec![]).0,
        };
        self.resolve(p, answer);
        Some(answer)
    }

    fn in_doubt(&self) -> Vec<TabletId> {
        self.parts
            .iter()
            .filter(|(_, r)| r.prepared(txn(7)).is_some())
            .map(|(p, _)| *p)
            .collect()
    }
}

#[test]
fn both_vote_yes_and_every_participant_applies_the_commit_once() {
    let mut s = Sim::prepared_on_both(10, 20);
    let d = s.decide(ts(15));
    assert_eq!(d, Decision::Commit(ts(20)), "s ≥ every prepare timestamp");
    // The resolve to P2 is duplicated.
    for m in [
        Msg::Resolve {
            to: P1,
            decision: d,
        },
        Msg::Resolve {
            to: P2,
            decision: d,
        },
        Msg::Resolve {
            to: P2,
            decision: d,
        },
    ] {
        s.net.push_back(m);
    }
    s.run();
    assert_eq!(s.applied, vec![(P1, d), (P2, d)]);
    assert!(s.in_doubt().is_empty());
}

#[test]
fn duplicated_prepare_keeps_the_first_timestamp() {
    let mut s = Sim::new();
    s.prepare(P1, 10, "a");
    s.prepare(P1, 30, "a");
    s.run();
    assert_eq!(s.votes[&P1], Some(ts(10)));
    assert_eq!(
        s.parts[&P1].prepared(txn(7)).map(|p| p.prepare_ts),
        Some(ts(10))
    );
}

#[test]
fn a_prepare_on_a_key_with_a_foreign_intent_votes_no() {
    let mut r = TxnRecords::new();
    assert_eq!(
        r.prepare(txn(1), prepared(5, "k")),
        PrepareOutcome::Prepared(ts(5))
    );
    assert!(matches!(
        r.prepare(txn(2), prepared(6, "k")),
        PrepareOutcome::Refused(_)
    ));
    assert_eq!(
        r.prepare(txn(3), prepared(6, "other")),
        PrepareOutcome::Prepared(ts(6))
    );
    assert_eq!(r.min_prepare_ts(), Some(ts(5)));
}

#[test]
fn participant_crashing_before_voting_aborts_the_transaction_and_its_late_prepare_is_cleaned_up() {
    let mut s = Sim::new();
    s.prepare(P1, 10, "a");
    // P2 crashed before voting: its prepare is lost.
    s.run();
    assert_eq!(s.decide(ts(15)), Decision::Abort);
    s.net.push_back(Msg::Resolve {
        to: P1,
        decision: Decision::Abort,
    });
    s.net.push_back(Msg::Resolve {
        to: P2,
        decision: Decision::Abort,
    });
    s.run();
    // The lost prepare turns up late (replayed by a restarted gateway):
    // P2 is now in doubt, asks, and learns the recorded abort.
    s.prepare(P2, 12, "b");
    s.run();
    assert_eq!(s.in_doubt(), vec![P2]);
    assert_eq!(s.ask(P2, false), Some(Decision::Abort));
    assert!(s.in_doubt().is_empty());
    assert!(s.applied.iter().all(|(_, d)| *d == Decision::Abort));
}

#[test]
fn participant_crashing_after_voting_learns_the_commit_from_the_coordinator() {
    let mut s = Sim::prepared_on_both(10, 11);
    let d = s.decide(ts(12));
    // P2 crashed after voting: the resolve sent to it is lost. Its record
    // survives (replicated); the new leader is in doubt and asks.
    s.net.push_back(Msg::Resolve {
        to: P1,
        decision: d,
    });
    s.run();
    assert_eq!(s.in_doubt(), vec![P2]);
    assert_eq!(s.ask(P2, false), Some(d));
    assert_eq!(s.applied, vec![(P1, d), (P2, d)]);
}

#[test]
fn coordinator_crashing_before_deciding_means_presumed_abort_and_a_late_commit_loses() {
    let mut s = Sim::prepared_on_both(10, 11);
    // The coordinator's leader crashed before deciding: its successor has no
    // record and is not deciding, so a participant's question records abort.
    assert_eq!(s.ask(P1, false), Some(Decision::Abort));
    // The old leader's commit proposal lands in the log after: first wins.
    assert_eq!(s.decide(ts(12)), Decision::Abort);
    assert_eq!(s.ask(P2, false), Some(Decision::Abort));
    assert!(s.in_doubt().is_empty());
}

#[test]
fn coordinator_crashing_after_deciding_keeps_the_commit() {
    let mut s = Sim::prepared_on_both(10, 11);
    let d = s.decide(ts(12));
    assert!(matches!(d, Decision::Commit(_)));
    // Crash: nobody was told. The new coordinator leader answers from the log.
    assert_eq!(s.ask(P1, false), Some(d));
    assert_eq!(s.ask(P2, false), Some(d));
    // A duplicated presumed-abort attempt cannot change the decision.
    assert_eq!(s.coord.decide(txn(7), Decision::Abort, vec![]).0, d);
}

#[test]
fn a_participant_asking_while_the_coordinator_decides_is_told_to_wait() {
    let mut s = Sim::new();
    s.prepare(P1, 10, "a");
    s.run();
    assert_eq!(s.ask(P1, true), None);
    assert_eq!(s.in_doubt(), vec![P1]);
}

#[test]
fn forgotten_decisions_are_gone_and_forgetting_twice_is_harmless() {
    let mut r = TxnRecords::new();
    r.decide(txn(1), Decision::Commit(ts(5)), vec![P1]);
    assert_eq!(r.forget(&[txn(1), txn(2)]), vec![txn(1)]);
    assert!(r.forget(&[txn(1)]).is_empty());
    assert_eq!(r.all_decided().count(), 0);
}
