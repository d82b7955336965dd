//! The lock table as it was before it indexed locks by transaction and
//! waits by key: every operation scans everything. Kept (tests only) as the
//! reference the indexed table must agree with, operation by operation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

pub use crate::lock::{Acquired, Effects, Refused, Ticket};
use crate::lock::{LockMode, LockTarget};

#[derive(Clone, Debug)]
struct TxnInfo {
    priority: Timestamp,
    prepared: bool,
    wounded: bool,
}

#[derive(Clone, Debug)]
struct Waiter {
    txn: TxnId,
    target: LockTarget,
    mode: LockMode,
}

/// The lock table's state.
#[derive(Debug, Default)]
pub struct LockState {
    /// Key locks: key → holders.
    keys: BTreeMap<Vec<u8>, Vec<(TxnId, LockMode)>>,
    /// Range locks: (holder, start, end, mode).
    ranges: Vec<(TxnId, Vec<u8>, Vec<u8>, LockMode)>,
    /// Waiting requests in arrival order.
    waiters: BTreeMap<Ticket, Waiter>,
    txns: HashMap<TxnId, TxnInfo>,
    next_ticket: Ticket,
}

impl LockState {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when `a` is older (higher priority) than `b`; ties broken by id.
    fn older(&self, a: TxnId, b: TxnId) -> bool {
        let pa = self.txns.get(&a).map(|t| t.priority);
        let pb = self.txns.get(&b).map(|t| t.priority);
        (pa, a) < (pb, b)
    }

    /// Other transactions holding locks on `target` incompatible with `mode`.
    fn conflicting_holders(
        &self,
        txn: TxnId,
        target: &LockTarget,
        mode: LockMode,
    ) -> HashSet<TxnId> {
        let mut out = HashSet::new();
        let mut check = |holder: TxnId, held: LockMode| {
            if holder != txn && !mode.compatible_with(held) {
                out.insert(holder);
            }
        };
        match target {
            LockTarget::Key(k) => {
                for &(h, m) in self.keys.get(k).into_iter().flatten() {
                    check(h, m);
                }
            }
            LockTarget::Range { start, end } => {
                let upper = if end.is_empty() {
                    Bound::Unbounded
                } else {
                    Bound::Excluded(end.clone())
                };
                for (_, holders) in self.keys.range((Bound::Included(start.clone()), upper)) {
                    for &(h, m) in holders {
                        check(h, m);
                    }
                }
            }
        }
        for (h, s, e, m) in &self.ranges {
            if target.overlaps(&LockTarget::range(s.clone(), e.clone())) {
                check(*h, *m);
            }
        }
        out
    }

    /// Other transactions waiting (before `before`, if given) for targets
    /// overlapping `target` in an incompatible mode.
    fn conflicting_waiters(
        &self,
        txn: TxnId,
        target: &LockTarget,
        mode: LockMode,
        before: Option<Ticket>,
    ) -> HashSet<TxnId> {
        self.waiters
            .range(..before.unwrap_or(Ticket::MAX))
            .filter(|(_, w)| {
                w.txn != txn && !mode.compatible_with(w.mode) && w.target.overlaps(target)
            })
            .map(|(_, w)| w.txn)
            .collect()
    }

    fn holds(&self, txn: TxnId, target: &LockTarget, mode: LockMode) -> bool {
        match target {
            LockTarget::Key(k) => self
                .keys
                .get(k)
                .is_some_and(|hs| hs.iter().any(|&(h, m)| h == txn && m.covers(mode))),
            LockTarget::Range { start, end } => self
                .ranges
                .iter()
                .any(|(h, s, e, m)| *h == txn && s == start && e == end && m.covers(mode)),
        }
    }

    fn grant(&mut self, txn: TxnId, target: LockTarget, mode: LockMode) {
        match target {
            LockTarget::Key(k) => {
                let holders = self.keys.entry(k).or_default();
                match holders.iter_mut().find(|(h, _)| *h == txn) {
                    // An upgrade replaces the weaker lock.
                    Some(held) => held.1 = held.1.max(mode),
                    None => holders.push((txn, mode)),
                }
            }
            LockTarget::Range { start, end } => self.ranges.push((txn, start, end, mode)),
        }
    }

    /// Removes every waiting request of `txn`, reporting them as failed.
    fn fail_waits(&mut self, txn: TxnId, effects: &mut Effects) {
        let tickets: Vec<Ticket> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.txn == txn)
            .map(|(t, _)| *t)
            .collect();
        for t in tickets {
            self.waiters.remove(&t);
            effects.failed.push(t);
        }
    }

    /// Marks `txn` wounded and fails its waits; no effect on a prepared or
    /// already wounded transaction.
    fn wound(&mut self, txn: TxnId, effects: &mut Effects) {
        let Some(info) = self.txns.get_mut(&txn) else {
            return;
        };
        if info.prepared || info.wounded {
            return;
        }
        info.wounded = true;
        effects.wounded.push(txn);
        self.fail_waits(txn, effects);
    }

    /// Asks for `mode` on `target` for `txn` with wound-wait `priority`
    /// (its begin time: smaller is older and wins).
    pub fn acquire(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
    ) -> Result<(Acquired, Effects), Refused> {
        let info = self.txns.entry(txn).or_insert(TxnInfo {
            priority,
            prepared: false,
            wounded: false,
        });
        if info.wounded {
            return Err(Refused::Wounded);
        }
        let mut effects = Effects::default();
        if self.holds(txn, &target, mode) {
            return Ok((Acquired::Granted, effects));
        }
        if self.txns.get(&txn).is_some_and(|t| t.prepared) {
            return Err(Refused::Prepared);
        }
        let mut blockers = self.conflicting_holders(txn, &target, mode);
        blockers.extend(self.conflicting_waiters(txn, &target, mode, None));
        if blockers.is_empty() {
            self.grant(txn, target, mode);
            return Ok((Acquired::Granted, effects));
        }
        let mut blockers: Vec<TxnId> = blockers.into_iter().collect();
        blockers.sort_unstable();
        for b in blockers {
            if self.older(txn, b) {
                self.wound(b, &mut effects);
            }
        }
        // Wounding failed waits, which may unblock others (not this one:
        // wounded holders keep their locks until aborted).
        effects.granted.extend(self.grant_waiters());
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        // Re-check: the wounds may have removed every blocking waiter and
        // no holder conflicts.
        if self.conflicting_holders(txn, &target, mode).is_empty()
            && self
                .conflicting_waiters(txn, &target, mode, None)
                .is_empty()
        {
            self.grant(txn, target, mode);
            return Ok((Acquired::Granted, effects));
        }
        self.waiters.insert(ticket, Waiter { txn, target, mode });
        Ok((Acquired::Waiting(ticket), effects))
    }

    /// Grants waiting requests in arrival order where possible.
    fn grant_waiters(&mut self) -> Vec<Ticket> {
        let mut granted = Vec::new();
        let tickets: Vec<Ticket> = self.waiters.keys().copied().collect();
        for t in tickets {
            let Some(w) = self.waiters.get(&t).cloned() else {
                continue;
            };
            if self
                .conflicting_holders(w.txn, &w.target, w.mode)
                .is_empty()
                && self
                    .conflicting_waiters(w.txn, &w.target, w.mode, Some(t))
                    .is_empty()
            {
                self.waiters.remove(&t);
                self.grant(w.txn, w.target, w.mode);
                granted.push(t);
            }
        }
        granted
    }

    /// Releases every lock and wait of `txn` (commit or abort) and grants
    /// whoever can go now.
    ///
    /// INVARIANT: a wounded transaction stays marked wounded after its locks
    /// are released (until [`LockState::forget`]), so a request of it that
    /// races with its abort is refused rather than granted afresh.
    pub fn release_all(&mut self, txn: TxnId) -> Effects {
        self.keys.retain(|_, holders| {
            holders.retain(|(h, _)| *h != txn);
            !holders.is_empty()
        });
        self.ranges.retain(|(h, ..)| *h != txn);
        let mut effects = Effects::default();
        self.fail_waits(txn, &mut effects);
        if !self.is_wounded(txn) {
            self.txns.remove(&txn);
        }
        effects.granted = self.grant_waiters();
        effects
    }

    /// Releases everything of `txn` and forgets it entirely, wounded or not
    /// (its client has finished it).
    pub fn forget(&mut self, txn: TxnId) -> Effects {
        let effects = self.release_all(txn);
        self.txns.remove(&txn);
        effects
    }

    /// Gives up a wait (deadline passed). Returns `false` if the ticket was
    /// no longer waiting (granted or failed meanwhile).
    pub fn cancel(&mut self, ticket: Ticket) -> (bool, Effects) {
        let was_waiting = self.waiters.remove(&ticket).is_some();
        let effects = Effects {
            granted: self.grant_waiters(),
            ..Effects::default()
        };
        (was_waiting, effects)
    }

    /// `txn` prepared: it can no longer be wounded, and takes no new locks.
    pub fn mark_prepared(&mut self, txn: TxnId, priority: Timestamp) {
        self.txns
            .entry(txn)
            .or_insert(TxnInfo {
                priority,
                prepared: false,
                wounded: false,
            })
            .prepared = true;
    }

    /// Re-takes the locks of a prepared transaction from its durable
    /// prepare record (a new leader, or a restart): granted unconditionally,
    /// since the record proves no one else can hold conflicting ones.
    pub fn restore_prepared(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        locks: impl IntoIterator<Item = (LockTarget, LockMode)>,
    ) {
        self.mark_prepared(txn, priority);
        for (target, mode) in locks {
            self.grant(txn, target, mode);
        }
    }

    /// Every lock `txn` holds (what a prepare record must keep).
    pub fn held_by(&self, txn: TxnId) -> Vec<(LockTarget, LockMode)> {
        let keys = self.keys.iter().flat_map(|(k, holders)| {
            holders
                .iter()
                .filter(move |(h, _)| *h == txn)
                .map(move |(_, m)| (LockTarget::Key(k.clone()), *m))
        });
        let ranges = self
            .ranges
            .iter()
            .filter(|(h, ..)| *h == txn)
            .map(|(_, s, e, m)| (LockTarget::range(s.clone(), e.clone()), *m));
        keys.chain(ranges).collect()
    }

    /// Every transaction holding or waiting for a lock that overlaps
    /// `target` (a split moving those keys away must end them), sorted.
    pub fn holders_overlapping(&self, target: &LockTarget) -> Vec<TxnId> {
        let mut out: HashSet<TxnId> = HashSet::new();
        for (k, holders) in &self.keys {
            if target.overlaps(&LockTarget::Key(k.clone())) {
                out.extend(holders.iter().map(|(h, _)| *h));
            }
        }
        for (h, s, e, _) in &self.ranges {
            if target.overlaps(&LockTarget::range(s.clone(), e.clone())) {
                out.insert(*h);
            }
        }
        out.extend(
            self.waiters
                .values()
                .filter(|w| w.target.overlaps(target))
                .map(|w| w.txn),
        );
        let mut out: Vec<TxnId> = out.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// True when `txn` has a request waiting for a lock.
    pub fn is_waiting(&self, txn: TxnId) -> bool {
        self.waiters.values().any(|w| w.txn == txn)
    }

    /// True when `txn` prepared here.
    pub fn is_prepared(&self, txn: TxnId) -> bool {
        self.txns.get(&txn).is_some_and(|t| t.prepared)
    }

    /// True when `txn` was wounded (it must abort).
    pub fn is_wounded(&self, txn: TxnId) -> bool {
        self.txns.get(&txn).is_some_and(|t| t.wounded)
    }

    /// Number of waiting requests.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }
}
