//! The leader's transaction book: one [`TxnState`] per transaction it
//! knows in this term, with the transitions the protocol steps make.
//!
//! ```text
//!   event →        lock      prepare    decide    decided     finish   abort(r)
//!   state ↓
//!   (absent)       Active    Prepared   Deciding  ·           ·        Aborted
//!   Active         Active    Prepared   Deciding  ·           absent   Aborted
//!   Prepared       refused   Prepared   refused   ·           absent   refused¹
//!   Deciding       refused   refused    Deciding  Finishing²  absent   refused
//!   Finishing      refused   refused    refused   Finishing   absent³  refused
//!   Aborted        aborted   aborted    aborted   ·           absent   Aborted
//! ```
//! ¹ a prepared transaction is aborted only by resolving it through Raft
//!   (the coordinator's decision, or presumed abort), never locally.
//! ² with participants to tell; absent otherwise (a one-phase commit).
//! ³ once every participant applied the decision (`told`).
//! `·`: not a transition any step makes (refused).
//!
//! INVARIANT: a transaction is in the lock table only while `Active`,
//! `Prepared` or `Deciding`; `Aborted` and absent hold no locks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::twopc::Decision;
use crate::{AbortReason, TxnError};

/// Where one transaction stands on this leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnState {
    /// Took locks here in this term (reads, or the lock phase of a commit).
    Active {
        /// When it last asked for something here (idle sweep).
        last_seen: Instant,
        /// Its commit's locks are all held and its reads validated (the lock
        /// phase is done): a prepare or commit goes straight on.
        locked: bool,
        /// A `TT.now().latest` on this leader taken when it first read
        /// here under locks (after it began): a lower bound for its commit
        /// timestamp that is already in the past when it commits (see
        /// `actions::commit`). `None` if it came first to commit.
        start: Option<Timestamp>,
    },
    /// Prepared here as a 2PC participant, until the decision is applied.
    /// Holds its locks; never wounded.
    Prepared {
        /// The tablet whose log holds (or will hold) the decision.
        coordinator: TabletId,
        /// Its prepare timestamp.
        prepare_ts: Timestamp,
        /// Since when it waits for the decision (the termination protocol
        /// asks the coordinator after a while).
        since: Instant,
        /// Its coordinator is being asked right now.
        asking: bool,
    },
    /// A 2PL participant that only read here finished its lock phase as
    /// such (`actions::prepare::read_lock`): its read locks are held, never
    /// wounded and with no Raft entry, until the decision is told here or
    /// `until` passes (its commit timestamp is below `until`, the end of
    /// this leader's lease when it locked).
    ReadLocked {
        /// The commit timestamp is below this.
        until: Timestamp,
    },
    /// Its commit is being made durable and commit-waited here: a one-phase
    /// commit, or a coordinator's decision. Holds its locks; never wounded.
    Deciding {
        /// The commit timestamp.
        ts: Timestamp,
    },
    /// A coordinator decided it and released its locks; its participants
    /// are being told the decision.
    Finishing {
        /// The decision.
        decision: Decision,
        /// The participants to tell.
        participants: Vec<TabletId>,
        /// Someone is telling them right now.
        telling: bool,
    },
    /// Aborted here; remembered so that late requests of it are refused
    /// rather than granted afresh.
    Aborted {
        /// Why.
        reason: AbortReason,
        /// When (forgotten after the configured memory).
        at: Instant,
    },
}

impl TxnState {
    fn name(&self) -> &'static str {
        match self {
            TxnState::Active { .. } => "active",
            TxnState::Prepared { .. } => "prepared",
            TxnState::ReadLocked { .. } => "read-locked",
            TxnState::Deciding { .. } => "deciding",
            TxnState::Finishing { .. } => "finishing",
            TxnState::Aborted { .. } => "aborted",
        }
    }
}

/// Every transaction the leader knows in this term.
#[derive(Clone, Debug, Default)]
pub struct TxnBook {
    txns: HashMap<TxnId, TxnState>,
}

fn refused(txn: TxnId, state: &TxnState, what: &str) -> TxnError {
    match state {
        TxnState::Aborted { reason, .. } => TxnError::aborted(*reason),
        other => TxnError::Refused(format!("{txn} is {} here: cannot {what}", other.name())),
    }
}

impl TxnBook {
    /// The state of `txn`, if known.
    pub fn get(&self, txn: TxnId) -> Option<&TxnState> {
        self.txns.get(&txn)
    }

    /// Every transaction and its state.
    pub fn iter(&self) -> impl Iterator<Item = (&TxnId, &TxnState)> {
        self.txns.iter()
    }

    /// True when `txn` took locks here in this term and is still running.
    pub fn is_active(&self, txn: TxnId) -> bool {
        matches!(self.txns.get(&txn), Some(TxnState::Active { .. }))
    }

    /// True when `txn` holds prepared-or-deciding locks here (it cannot be
    /// wounded, and its locks block a split).
    pub fn is_committing(&self, txn: TxnId) -> bool {
        matches!(
            self.txns.get(&txn),
            Some(
                TxnState::Prepared { .. } | TxnState::ReadLocked { .. } | TxnState::Deciding { .. }
            )
        )
    }

    /// `txn` asks for a lock (`lock` transition): absent or `Active` becomes
    /// `Active` as of `now`. Refused otherwise (aborted: with its reason).
    pub fn lock(&mut self, txn: TxnId, now: Instant) -> Result<(), TxnError> {
        match self.txns.get_mut(&txn) {
            None => {
                self.txns.insert(
                    txn,
                    TxnState::Active {
                        last_seen: now,
                        locked: false,
                        start: None,
                    },
                );
                Ok(())
            }
            Some(TxnState::Active { last_seen, .. }) => {
                *last_seen = now;
                Ok(())
            }
            Some(other) => Err(refused(txn, other, "take locks")),
        }
    }

    /// Notes `latest` (a `TT.now().latest` taken on this leader while
    /// serving `txn`'s read) as its start bound here, unless it has one
    /// (`Active` only: the first read's stays).
    pub fn note_start(&mut self, txn: TxnId, latest: Timestamp) {
        if let Some(TxnState::Active { start, .. }) = self.txns.get_mut(&txn) {
            start.get_or_insert(latest);
        }
    }

    /// The start bound of `txn` here (see [`TxnState::Active`]).
    pub fn start(&self, txn: TxnId) -> Option<Timestamp> {
        match self.txns.get(&txn) {
            Some(TxnState::Active { start, .. }) => *start,
            _ => None,
        }
    }

    /// The lock phase of `txn`'s commit is done here (`Active` only).
    pub fn note_locked(&mut self, txn: TxnId) {
        if let Some(TxnState::Active { locked, .. }) = self.txns.get_mut(&txn) {
            *locked = true;
        }
    }

    /// True when the lock phase of `txn`'s commit is done here.
    pub fn is_locked(&self, txn: TxnId) -> bool {
        matches!(
            self.txns.get(&txn),
            Some(TxnState::Active { locked: true, .. })
        )
    }

    /// `read_lock` transition: `Active` after its lock phase becomes
    /// `ReadLocked` until `until`; a repeated one keeps the first.
    pub fn read_lock(&mut self, txn: TxnId, until: Timestamp) -> Result<Timestamp, TxnError> {
        match self.txns.get(&txn) {
            Some(TxnState::Active { locked: true, .. }) => {
                self.txns.insert(txn, TxnState::ReadLocked { until });
                Ok(until)
            }
            Some(TxnState::ReadLocked { until }) => Ok(*until),
            Some(other) => Err(refused(txn, other, "hold its read locks for a decision")),
            None => Err(TxnError::Refused(format!(
                "{txn} holds no locks here to keep for a decision"
            ))),
        }
    }

    /// `ReadLocked` transactions whose `until` is at or below `earliest`
    /// (every later timestamp here is above it, so no decision can need
    /// their locks any more), sorted.
    pub fn read_locks_expired(&self, earliest: Timestamp) -> Vec<TxnId> {
        let mut out: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, s)| matches!(s, TxnState::ReadLocked { until } if *until <= earliest))
            .map(|(t, _)| *t)
            .collect();
        out.sort_unstable();
        out
    }

    /// `prepare` transition: `Active` (or absent) becomes `Prepared`; a
    /// repeated prepare keeps the first one.
    pub fn prepare(
        &mut self,
        txn: TxnId,
        coordinator: TabletId,
        prepare_ts: Timestamp,
        now: Instant,
    ) -> Result<(), TxnError> {
        match self.txns.get(&txn) {
            None | Some(TxnState::Active { .. }) => {
                self.txns.insert(
                    txn,
                    TxnState::Prepared {
                        coordinator,
                        prepare_ts,
                        since: now,
                        asking: false,
                    },
                );
                Ok(())
            }
            Some(TxnState::Prepared { .. }) => Ok(()),
            Some(other) => Err(refused(txn, other, "prepare")),
        }
    }

    /// `decide` transition: `Active` (or absent) becomes `Deciding` at `ts`.
    pub fn decide(&mut self, txn: TxnId, ts: Timestamp) -> Result<(), TxnError> {
        match self.txns.get(&txn) {
            None | Some(TxnState::Active { .. }) => {
                self.txns.insert(txn, TxnState::Deciding { ts });
                Ok(())
            }
            Some(other) => Err(refused(txn, other, "decide")),
        }
    }

    /// `decided` transition of a coordinator: `Deciding` becomes
    /// `Finishing` when there are participants to tell a decision, and is
    /// forgotten otherwise. A new leader restoring an unfinished decision
    /// goes from absent to `Finishing`.
    pub fn decided(&mut self, txn: TxnId, decision: Decision, participants: Vec<TabletId>) {
        if participants.is_empty() {
            self.txns.remove(&txn);
            return;
        }
        match self.txns.get(&txn) {
            None | Some(TxnState::Deciding { .. }) => {
                self.txns.insert(
                    txn,
                    TxnState::Finishing {
                        decision,
                        participants,
                        telling: false,
                    },
                );
            }
            Some(_) => {}
        }
    }

    /// Marks the participants of a `Finishing` transaction as being told;
    /// returns them, or `None` if someone is telling them already.
    pub fn start_telling(&mut self, txn: TxnId) -> Option<(Decision, Vec<TabletId>)> {
        match self.txns.get_mut(&txn) {
            Some(TxnState::Finishing {
                decision,
                participants,
                telling,
            }) if !*telling => {
                *telling = true;
                Some((*decision, participants.clone()))
            }
            _ => None,
        }
    }

    /// Telling the participants of `txn` ended: `all` of them applied the
    /// decision (`told`: forgotten; returns true), or it stopped early (back
    /// to `Finishing`, to be told again).
    pub fn told(&mut self, txn: TxnId, all: bool) -> bool {
        match self.txns.get_mut(&txn) {
            Some(TxnState::Finishing { telling, .. }) => {
                if all {
                    self.txns.remove(&txn);
                } else {
                    *telling = false;
                }
                all
            }
            _ => false,
        }
    }

    /// `abort` transition: absent or `Active` becomes `Aborted` (true: its
    /// locks must be released); `Aborted` stays (false). A transaction that
    /// prepared or is being decided is refused: only a decision ends it.
    pub fn abort(
        &mut self,
        txn: TxnId,
        reason: AbortReason,
        now: Instant,
    ) -> Result<bool, TxnError> {
        match self.txns.get(&txn) {
            None | Some(TxnState::Active { .. }) => {
                self.txns.insert(txn, TxnState::Aborted { reason, at: now });
                Ok(true)
            }
            Some(TxnState::Aborted { .. }) => Ok(false),
            Some(other) => Err(refused(txn, other, "abort")),
        }
    }

    /// `finish` transition: forgets `txn` whatever its state (its client
    /// finished it, or its decision was applied here).
    pub fn finish(&mut self, txn: TxnId) -> Option<TxnState> {
        self.txns.remove(&txn)
    }

    /// The reason `txn` was aborted here, if it was.
    pub fn aborted(&self, txn: TxnId) -> Option<AbortReason> {
        match self.txns.get(&txn) {
            Some(TxnState::Aborted { reason, .. }) => Some(*reason),
            _ => None,
        }
    }

    /// Forgets aborts older than `memory` at `now`.
    pub fn expire_aborts(&mut self, now: Instant, memory: Duration) {
        self.txns.retain(|_, s| match s {
            TxnState::Aborted { at, .. } => now.saturating_duration_since(*at) < memory,
            _ => true,
        });
    }

    /// `Active` transactions silent for longer than `idle` at `now`.
    pub fn idle(&self, now: Instant, idle: Duration) -> Vec<TxnId> {
        let mut out: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, s)| {
                matches!(s, TxnState::Active { last_seen, .. }
                    if now.saturating_duration_since(*last_seen) > idle)
            })
            .map(|(t, _)| *t)
            .collect();
        out.sort_unstable();
        out
    }

    /// Prepared transactions undecided for longer than `after` whose
    /// coordinator nobody is asking: marks them asked (from `now`) and
    /// returns them with their coordinators.
    pub fn in_doubt(&mut self, now: Instant, after: Duration) -> Vec<(TxnId, TabletId)> {
        let mut out = Vec::new();
        for (txn, s) in &mut self.txns {
            if let TxnState::Prepared {
                coordinator,
                since,
                asking,
                ..
            } = s
                && !*asking
                && now.saturating_duration_since(*since) > after
            {
                *asking = true;
                *since = now;
                out.push((*txn, *coordinator));
            }
        }
        out.sort_unstable();
        out
    }

    /// Asking the coordinator of prepared `txn` ended without an answer.
    pub fn asked(&mut self, txn: TxnId) {
        if let Some(TxnState::Prepared { asking, .. }) = self.txns.get_mut(&txn) {
            *asking = false;
        }
    }

    /// Transactions prepared here (their records belong to this tablet).
    pub fn prepared(&self) -> impl Iterator<Item = TxnId> + '_ {
        self.txns
            .iter()
            .filter(|(_, s)| matches!(s, TxnState::Prepared { .. }))
            .map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> TxnId {
        TxnId(n)
    }

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    /// A book with `txn` in the state named `from`.
    fn book_in(from: &str, now: Instant) -> TxnBook {
        let mut b = TxnBook::default();
        match from {
            "absent" => {}
            "active" => b.lock(t(1), now).unwrap(),
            "prepared" => b.prepare(t(1), 9, ts(5), now).unwrap(),
            "deciding" => b.decide(t(1), ts(5)).unwrap(),
            "finishing" => {
                b.decide(t(1), ts(5)).unwrap();
                b.decided(t(1), Decision::Commit(ts(5)), vec![7]);
            }
            "aborted" => {
                b.abort(t(1), AbortReason::Wounded, now).unwrap();
            }
            other => panic!("no state {other}"),
        }
        b
    }

    fn state(b: &TxnBook) -> &'static str {
        b.get(t(1)).map_or("absent", TxnState::name)
    }

    const STATES: [&str; 6] = [
        "absent",
        "active",
        "prepared",
        "deciding",
        "finishing",
        "aborted",
    ];

    /// Runs `event` from every state and checks the module table's column.
    fn column(event: impl Fn(&mut TxnBook, Instant) -> bool, expected: [&str; 6]) {
        let now = Instant::now();
        for (from, want) in STATES.into_iter().zip(expected) {
            let mut b = book_in(from, now);
            let ok = event(&mut b, now);
            let got = if ok { state(&b) } else { "refused" };
            assert_eq!(got, want, "from {from}");
        }
    }

    #[test]
    fn lock_transitions() {
        column(
            |b, now| b.lock(t(1), now).is_ok(),
            [
                "active", "active", "refused", "refused", "refused", "refused",
            ],
        );
    }

    #[test]
    fn an_aborted_transaction_asking_for_a_lock_hears_its_reason() {
        let now = Instant::now();
        let mut b = book_in("aborted", now);
        let err = b.lock(t(1), now).unwrap_err();
        assert_eq!(err.abort_reason(), Some(AbortReason::Wounded));
    }

    #[test]
    fn prepare_transitions() {
        column(
            |b, now| b.prepare(t(1), 9, ts(6), now).is_ok(),
            [
                "prepared", "prepared", "prepared", "refused", "refused", "refused",
            ],
        );
    }

    #[test]
    fn decide_transitions() {
        column(
            |b, _| b.decide(t(1), ts(6)).is_ok(),
            [
                "deciding", "deciding", "refused", "refused", "refused", "refused",
            ],
        );
    }

    #[test]
    fn decided_transitions() {
        // With participants to tell.
        column(
            |b, _| {
                b.decided(t(1), Decision::Commit(ts(6)), vec![7]);
                true
            },
            [
                "finishing",
                "active",
                "prepared",
                "finishing",
                "finishing",
                "aborted",
            ],
        );
        // A one-phase commit (nobody to tell) is forgotten.
        let mut b = book_in("deciding", Instant::now());
        b.decided(t(1), Decision::Commit(ts(6)), Vec::new());
        assert_eq!(state(&b), "absent");
    }

    #[test]
    fn finish_transitions() {
        column(
            |b, _| {
                b.finish(t(1));
                true
            },
            ["absent"; 6],
        );
    }

    #[test]
    fn abort_transitions() {
        column(
            |b, now| b.abort(t(1), AbortReason::Idle, now).is_ok(),
            [
                "aborted", "aborted", "refused", "refused", "refused", "aborted",
            ],
        );
        // The first reason is kept.
        let now = Instant::now();
        let mut b = book_in("aborted", now);
        assert!(!b.abort(t(1), AbortReason::Idle, now).unwrap());
        assert_eq!(b.aborted(t(1)), Some(AbortReason::Wounded));
    }

    #[test]
    fn told_transitions() {
        let now = Instant::now();
        let mut b = book_in("finishing", now);
        assert_eq!(
            b.start_telling(t(1)),
            Some((Decision::Commit(ts(5)), vec![7]))
        );
        assert_eq!(b.start_telling(t(1)), None, "someone is telling already");
        assert!(!b.told(t(1), false));
        assert_eq!(state(&b), "finishing");
        assert!(b.start_telling(t(1)).is_some(), "told again later");
        assert!(b.told(t(1), true));
        assert_eq!(state(&b), "absent");
    }

    #[test]
    fn idle_and_in_doubt_sweeps_go_by_time() {
        let start = Instant::now();
        let mut b = TxnBook::default();
        b.lock(t(1), start).unwrap();
        b.prepare(t(2), 9, ts(5), start).unwrap();
        let later = start + Duration::from_secs(11);
        assert_eq!(b.idle(later, Duration::from_secs(10)), vec![t(1)]);
        assert!(b.idle(later, Duration::from_secs(12)).is_empty());
        assert_eq!(b.in_doubt(later, Duration::from_secs(10)), vec![(t(2), 9)]);
        assert!(
            b.in_doubt(later, Duration::from_secs(10)).is_empty(),
            "asked once at a time"
        );
        b.asked(t(2));
        assert!(
            b.in_doubt(later + Duration::from_secs(11), Duration::from_secs(10))
                .len()
                == 1
        );
    }

    #[test]
    fn aborts_are_remembered_for_a_while() {
        let start = Instant::now();
        let mut b = TxnBook::default();
        b.abort(t(1), AbortReason::RolledBack, start).unwrap();
        b.expire_aborts(start + Duration::from_secs(5), Duration::from_secs(10));
        assert_eq!(b.aborted(t(1)), Some(AbortReason::RolledBack));
        b.expire_aborts(start + Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(b.aborted(t(1)), None);
    }
}
