//! The lock table's deterministic core: who holds what, who waits for what,
//! and who gets wounded. No clocks, no tasks: every call returns what it
//! changed ([`Effects`]), so tests replay scenarios exactly (STYLE #11).
//!
//! ```text
//!   acquire(T, target, mode)
//!     ├─ T already holds it (or more) ──────────────────────▶ Granted
//!     ├─ no conflicting holder, no earlier conflicting waiter ▶ Granted
//!     └─ otherwise: wound every conflicting txn (holder or earlier waiter)
//!        that is younger than T and not prepared; T waits ────▶ Waiting(ticket)
//!   release_all(T) / cancel(ticket) ──▶ grant waiters in arrival order
//! ```
//!
//! INVARIANT (wound-wait): a transaction only ever waits for older ones or
//! prepared ones, and prepared ones wait for nobody (they take no new
//! locks), so there is no cycle of waits: no deadlock.
//! INVARIANT (fairness): a waiter is granted only if it conflicts with no
//! holder and with no earlier waiter still waiting (FIFO within
//! compatibility).
//!
//! Cost: every operation touches only the keys involved — a transaction's
//! own locks and waits are indexed by transaction, waiting requests by key
//! — so releasing, listing a transaction's locks and granting waiters are
//! O(log n) per key involved, not O(all locks held). Range locks and range
//! waits (2PL scans) are kept in a list and checked one by one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use super::{LockMode, LockTarget};

/// Identifies one waiting request.
pub type Ticket = u64;

/// What `acquire` decided for the requester.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lock is held now.
    Granted,
    /// The requester waits; the ticket resolves through [`Effects::granted`]
    /// or [`Effects::failed`] of a later call, or is cancelled.
    Waiting(Ticket),
}

/// Changes a call made besides its direct answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Waiting requests granted now.
    pub granted: Vec<Ticket>,
    /// Waiting requests that failed because their transaction was wounded.
    pub failed: Vec<Ticket>,
    /// Transactions wounded now: the caller must abort them (they keep
    /// their locks until it does).
    pub wounded: Vec<TxnId>,
}

/// Why a request was refused outright.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The requester was wounded earlier; it must abort.
    Wounded,
    /// A prepared transaction asked for a new lock (its lock set is fixed).
    Prepared,
}

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

/// What one transaction holds and waits for (an index of the tables).
#[derive(Clone, Debug, Default)]
struct Owned {
    keys: BTreeSet<Vec<u8>>,
    ranges: usize,
    waits: BTreeSet<Ticket>,
}

impl Owned {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges == 0 && self.waits.is_empty()
    }
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
    /// Waiting requests for a key, by key.
    key_waiters: BTreeMap<Vec<u8>, BTreeSet<Ticket>>,
    /// Waiting requests for a range.
    range_waiters: BTreeSet<Ticket>,
    /// Each transaction's locks and waits.
    owned: HashMap<TxnId, Owned>,
    txns: HashMap<TxnId, TxnInfo>,
    next_ticket: Ticket,
}

/// The key range `[start, end)` (empty `end`: to the end) as bounds.
fn bounds(start: &[u8], end: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = if end.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(end.to_vec())
    };
    (Bound::Included(start.to_vec()), upper)
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
                for (_, holders) in self.keys.range(bounds(start, end)) {
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
        let before = before.unwrap_or(Ticket::MAX);
        self.waiters_overlapping(target)
            .into_iter()
            .filter(|t| *t < before)
            .filter_map(|t| self.waiters.get(&t))
            .filter(|w| w.txn != txn && !mode.compatible_with(w.mode))
            .map(|w| w.txn)
            .collect()
    }

    /// The waiting requests whose targets overlap `target`, in order.
    fn waiters_overlapping(&self, target: &LockTarget) -> BTreeSet<Ticket> {
        let mut out: BTreeSet<Ticket> = match target {
            LockTarget::Key(k) => self.key_waiters.get(k).cloned().unwrap_or_default(),
            LockTarget::Range { start, end } => self
                .key_waiters
                .range(bounds(start, end))
                .flat_map(|(_, ts)| ts.iter().copied())
                .collect(),
        };
        out.extend(self.range_waiters.iter().copied().filter(|t| {
            self.waiters
                .get(t)
                .is_some_and(|w| w.target.overlaps(target))
        }));
        out
    }

    fn add_waiter(&mut self, ticket: Ticket, waiter: Waiter) {
        match &waiter.target {
            LockTarget::Key(k) => {
                self.key_waiters
                    .entry(k.clone())
                    .or_default()
                    .insert(ticket);
            }
            LockTarget::Range { .. } => {
                self.range_waiters.insert(ticket);
            }
        }
        self.owned
            .entry(waiter.txn)
            .or_default()
            .waits
            .insert(ticket);
        self.waiters.insert(ticket, waiter);
    }

    fn remove_waiter(&mut self, ticket: Ticket) -> Option<Waiter> {
        let w = self.waiters.remove(&ticket)?;
        match &w.target {
            LockTarget::Key(k) => {
                if let Some(ts) = self.key_waiters.get_mut(k) {
                    ts.remove(&ticket);
                    if ts.is_empty() {
                        self.key_waiters.remove(k);
                    }
                }
            }
            LockTarget::Range { .. } => {
                self.range_waiters.remove(&ticket);
            }
        }
        if let Some(o) = self.owned.get_mut(&w.txn) {
            o.waits.remove(&ticket);
            if o.is_empty() {
                self.owned.remove(&w.txn);
            }
        }
        Some(w)
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
        let owned = self.owned.entry(txn).or_default();
        match target {
            LockTarget::Key(k) => {
                let holders = self.keys.entry(k.clone()).or_default();
                match holders.iter_mut().find(|(h, _)| *h == txn) {
                    // An upgrade replaces the weaker lock.
                    Some(held) => held.1 = held.1.max(mode),
                    None => {
                        holders.push((txn, mode));
                        owned.keys.insert(k);
                    }
                }
            }
            LockTarget::Range { start, end } => {
                owned.ranges += 1;
                self.ranges.push((txn, start, end, mode));
            }
        }
    }

    /// Removes every waiting request of `txn`, reporting them as failed;
    /// adds their targets to `changed`.
    fn fail_waits(&mut self, txn: TxnId, effects: &mut Effects, changed: &mut Vec<LockTarget>) {
        let tickets: Vec<Ticket> = self
            .owned
            .get(&txn)
            .map(|o| o.waits.iter().copied().collect())
            .unwrap_or_default();
        for t in tickets {
            if let Some(w) = self.remove_waiter(t) {
                changed.push(w.target);
            }
            effects.failed.push(t);
        }
    }

    /// Marks `txn` wounded and fails its waits; no effect on a prepared or
    /// already wounded transaction.
    fn wound(&mut self, txn: TxnId, effects: &mut Effects, changed: &mut Vec<LockTarget>) {
        let Some(info) = self.txns.get_mut(&txn) else {
            return;
        };
        if info.prepared || info.wounded {
            return;
        }
        info.wounded = true;
        effects.wounded.push(txn);
        self.fail_waits(txn, effects, changed);
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
        let mut effects = Effects::default();
        if self.admit(txn, priority, &target, mode)? {
            return Ok((Acquired::Granted, effects));
        }
        let mut blockers = self.conflicting_holders(txn, &target, mode);
        blockers.extend(self.conflicting_waiters(txn, &target, mode, None));
        if blockers.is_empty() {
            self.grant(txn, target, mode);
            return Ok((Acquired::Granted, effects));
        }
        let mut blockers: Vec<TxnId> = blockers.into_iter().collect();
        blockers.sort_unstable();
        let mut changed = Vec::new();
        for b in blockers {
            if self.older(txn, b) {
                self.wound(b, &mut effects, &mut changed);
            }
        }
        // Wounding failed waits, which may unblock others (not this one:
        // wounded holders keep their locks until aborted).
        effects.granted.extend(self.grant_waiters(&changed));
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
        self.add_waiter(ticket, Waiter { txn, target, mode });
        Ok((Acquired::Waiting(ticket), effects))
    }

    /// What both ways of asking for a lock check first (registering `txn`
    /// with its priority if it is new): true if it holds the lock already;
    /// refused if it was wounded, or is prepared and asks for a new lock.
    fn admit(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        target: &LockTarget,
        mode: LockMode,
    ) -> Result<bool, Refused> {
        let info = self.txns.entry(txn).or_insert(TxnInfo {
            priority,
            prepared: false,
            wounded: false,
        });
        if info.wounded {
            return Err(Refused::Wounded);
        }
        if self.holds(txn, target, mode) {
            return Ok(true);
        }
        if self.txns.get(&txn).is_some_and(|t| t.prepared) {
            return Err(Refused::Prepared);
        }
        Ok(false)
    }

    /// Takes `mode` on `target` for `txn` only if it can be had at once
    /// (`SELECT … FOR UPDATE SKIP LOCKED` and `NOWAIT`): true when it is
    /// held now; false, with nothing changed, when a holder or an earlier
    /// waiter conflicts. It never waits and never wounds (a younger holder
    /// keeps its lock: the requester goes without instead).
    pub fn try_acquire(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
    ) -> Result<bool, Refused> {
        let fresh = !self.txns.contains_key(&txn);
        if self.admit(txn, priority, &target, mode)? {
            return Ok(true);
        }
        if !self.conflicting_holders(txn, &target, mode).is_empty()
            || !self
                .conflicting_waiters(txn, &target, mode, None)
                .is_empty()
        {
            if fresh {
                // Known only through this call: leave no trace.
                self.txns.remove(&txn);
            }
            return Ok(false);
        }
        self.grant(txn, target, mode);
        Ok(true)
    }

    /// Grants waiting requests in arrival order where possible, among those
    /// that overlap a `changed` target (a lock released or a wait gone
    /// there): no other waiter can have become grantable.
    fn grant_waiters(&mut self, changed: &[LockTarget]) -> Vec<Ticket> {
        let mut granted = Vec::new();
        let mut tickets = BTreeSet::new();
        for target in changed {
            tickets.extend(self.waiters_overlapping(target));
        }
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
                self.remove_waiter(t);
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
        let mut changed = Vec::new();
        let mut effects = Effects::default();
        self.fail_waits(txn, &mut effects, &mut changed);
        if let Some(owned) = self.owned.remove(&txn) {
            for k in owned.keys {
                if let Some(holders) = self.keys.get_mut(&k) {
                    holders.retain(|(h, _)| *h != txn);
                    if holders.is_empty() {
                        self.keys.remove(&k);
                    }
                }
                changed.push(LockTarget::Key(k));
            }
            if owned.ranges > 0 {
                let mut released = Vec::new();
                self.ranges.retain(|(h, s, e, _)| {
                    let mine = *h == txn;
                    if mine {
                        released.push(LockTarget::range(s.clone(), e.clone()));
                    }
                    !mine
                });
                changed.extend(released);
            }
        }
        if !self.is_wounded(txn) {
            self.txns.remove(&txn);
        }
        effects.granted = self.grant_waiters(&changed);
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
        let removed = self.remove_waiter(ticket);
        let was_waiting = removed.is_some();
        let changed: Vec<LockTarget> = removed.into_iter().map(|w| w.target).collect();
        let effects = Effects {
            granted: self.grant_waiters(&changed),
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
        let Some(owned) = self.owned.get(&txn) else {
            return Vec::new();
        };
        let keys = owned.keys.iter().filter_map(|k| {
            let holders = self.keys.get(k)?;
            let (_, m) = holders.iter().find(|(h, _)| *h == txn)?;
            Some((LockTarget::Key(k.clone()), *m))
        });
        let mut out: Vec<(LockTarget, LockMode)> = keys.collect();
        if owned.ranges > 0 {
            out.extend(
                self.ranges
                    .iter()
                    .filter(|(h, ..)| *h == txn)
                    .map(|(_, s, e, m)| (LockTarget::range(s.clone(), e.clone()), *m)),
            );
        }
        out
    }

    /// Every transaction holding or waiting for a lock that overlaps
    /// `target` (a split moving those keys away must end them), sorted.
    pub fn holders_overlapping(&self, target: &LockTarget) -> Vec<TxnId> {
        let mut out: HashSet<TxnId> = HashSet::new();
        let keys: Vec<&Vec<(TxnId, LockMode)>> = match target {
            LockTarget::Key(k) => self.keys.get(k).into_iter().collect(),
            LockTarget::Range { start, end } => self
                .keys
                .range(bounds(start, end))
                .map(|(_, h)| h)
                .collect(),
        };
        for holders in keys {
            out.extend(holders.iter().map(|(h, _)| *h));
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
        self.owned.get(&txn).is_some_and(|o| !o.waits.is_empty())
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
