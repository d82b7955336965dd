//! A tablet leader's transaction state: the lock table, the transaction
//! book and the timestamp clock, in one struct the protocol steps
//! (`crate::actions`) take by `&mut`.
//!
//! ```text
//!   Leader ─┬─ locks: LockState   who holds and waits for what (wound-wait)
//!           ├─ book:  TxnBook     one TxnState per transaction
//!           ├─ clock: TsClock     last assigned, pending, closed timestamp
//!           └─ wakeups            lock waits that ended, for the caller to deliver
//! ```
//!
//! The caller (the server's replica glue, or a scenario test) keeps it
//! behind one mutex: a step runs start to end under it and never waits.
//! When a step must wait for a lock it returns [`Progress::Wait`] with a
//! ticket; the caller waits for that ticket's wakeup and calls the step
//! again (steps are idempotent: a lock already held is granted again).
//! Wounds act at once: a wounded transaction is aborted inside the step
//! that wounded it, so its locks go before the step returns.
//!
//! Time comes in as arguments: `TTInterval`s for timestamps and
//! `Instant`s for idle and in-doubt timeouts; nothing here reads a clock.

mod book;
mod clock;

use std::time::{Duration, Instant};

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

pub use book::{TxnBook, TxnState};
pub use clock::{CommitWaited, TsClock};

use crate::lock::{Acquired, Effects, LockMode, LockState, LockTarget, Refused, Ticket};
use crate::{AbortReason, KeyRange, TxnError};

/// A step's answer when it may have to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress<T> {
    /// Done.
    Done(T),
    /// Waiting for this lock ticket: call the step again once its wakeup
    /// says it was granted.
    Wait(Ticket),
}

/// How a lock wait ended, for the caller to deliver to the waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wakeup {
    /// The ticket.
    pub ticket: Ticket,
    /// Granted, or the waiting transaction was aborted.
    pub outcome: Result<(), AbortReason>,
}

/// Timeouts of a leader's transaction duties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// An `Active` transaction silent this long is aborted (its client
    /// vanished); a prepared one undecided this long asks its coordinator.
    pub idle_timeout: Duration,
    /// How long an abort is remembered (late requests refused).
    pub abort_memory: Duration,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            abort_memory: Duration::from_secs(100),
        }
    }
}

/// One tablet leader's transaction state (see the module docs).
#[derive(Debug)]
pub struct Leader {
    tablet: TabletId,
    range: KeyRange,
    generation: u64,
    /// A split at this key is under way: its right-hand side is refused.
    splitting: Option<Vec<u8>>,
    /// Frozen for a merge at this floor: everything is refused, and no
    /// timestamp above the floor is closed.
    frozen: Option<Timestamp>,
    pub(crate) locks: LockState,
    pub(crate) book: TxnBook,
    pub(crate) clock: TsClock,
    wakeups: Vec<Wakeup>,
    pub(crate) config: LeaderConfig,
}

impl Leader {
    /// The state of a leader of `tablet` owning `range` at `generation`
    /// that starts its term above `floor`, holding nothing yet.
    pub fn new(
        tablet: TabletId,
        range: KeyRange,
        generation: u64,
        floor: Timestamp,
        config: LeaderConfig,
    ) -> Self {
        Self {
            tablet,
            range,
            generation,
            splitting: None,
            frozen: None,
            locks: LockState::new(),
            book: TxnBook::default(),
            clock: TsClock::starting_at(floor),
            wakeups: Vec::new(),
            config,
        }
    }

    /// Takes up what the log left undone when a term starts: prepared
    /// transactions get their locks back (from their records) and wait for
    /// their decision (asking soon: a new term often means a crash);
    /// decisions not yet told to every participant are told again.
    ///
    /// Locks of earlier terms are gone: a transaction that read under them
    /// is refused at commit (`LeaderChanged`).
    pub fn restore(&mut self, records: &crate::twopc::TxnRecords, now: Instant) {
        let asked_at = now.checked_sub(self.config.idle_timeout).unwrap_or(now);
        for (txn, p) in records.all_prepared() {
            self.locks
                .restore_prepared(*txn, p.priority, p.locks.clone());
            // Infallible from an empty book.
            let _ = self
                .book
                .prepare(*txn, p.coordinator, p.prepare_ts, asked_at);
        }
        for (txn, d) in records.all_decided() {
            self.book.decided(*txn, d.decision, d.participants.clone());
        }
    }

    /// The tablet.
    pub fn tablet(&self) -> TabletId {
        self.tablet
    }

    /// The range as this leader serves it.
    pub fn range(&self) -> &KeyRange {
        &self.range
    }

    /// The range and generation after a split was applied.
    pub fn set_range(&mut self, range: KeyRange, generation: u64) {
        self.range = range;
        self.generation = self.generation.max(generation);
        // A frozen leader stays frozen whatever its range.
        self.splitting = self.frozen.map(|_| self.range.start.clone());
    }

    /// Frozen for a merge (or a freeze under way) with this floor: every
    /// key is refused from now on (see `actions::merge`).
    pub fn set_frozen(&mut self, floor: Option<Timestamp>) {
        self.frozen = floor;
        self.splitting = floor.map(|_| self.range.start.clone());
        if let Some(floor) = floor {
            self.clock.raise(floor);
        }
    }

    /// The floor of the freeze, if frozen (or freezing).
    pub fn frozen(&self) -> Option<Timestamp> {
        self.frozen
    }

    /// The transaction book (read-only).
    pub fn book(&self) -> &TxnBook {
        &self.book
    }

    /// The timestamp clock (read-only).
    pub fn clock(&self) -> &TsClock {
        &self.clock
    }

    /// The lock table (read-only).
    pub fn locks(&self) -> &LockState {
        &self.locks
    }

    /// Lock waits that ended since the last call, to deliver.
    pub fn take_wakeups(&mut self) -> Vec<Wakeup> {
        std::mem::take(&mut self.wakeups)
    }

    /// Refuses a request routed with a descriptor older than this leader's
    /// range (`0`: the sender does not know; not checked).
    pub fn check_generation(&self, generation: u64) -> Result<(), TxnError> {
        if generation != 0 && generation < self.generation {
            return Err(TxnError::WrongTablet(format!(
                "routed with generation {generation}; tablet {} is at {}",
                self.tablet, self.generation
            )));
        }
        Ok(())
    }

    /// Refuses a key this leader does not serve (outside its range, or on
    /// the right of a split under way).
    pub fn check_key(&self, key: &[u8]) -> Result<(), TxnError> {
        let moving = self
            .splitting
            .as_ref()
            .is_some_and(|at| key >= at.as_slice());
        if !self.range.contains(key) || moving {
            return Err(TxnError::WrongTablet(format!(
                "tablet {} serves {}",
                self.tablet, self.range
            )));
        }
        Ok(())
    }

    /// Refuses a target this leader does not wholly serve.
    pub fn check_target(&self, target: &LockTarget) -> Result<(), TxnError> {
        match target {
            LockTarget::Key(k) => self.check_key(k),
            LockTarget::Range { start, end } => {
                let own = &self.range;
                let inside = start >= &own.start
                    && (own.end.is_empty() || (!end.is_empty() && end <= &own.end));
                let moving = self
                    .splitting
                    .as_ref()
                    .is_some_and(|at| end.is_empty() || end.as_slice() > at.as_slice());
                if !inside || moving {
                    return Err(TxnError::WrongTablet(format!(
                        "tablet {} serves {}",
                        self.tablet, self.range
                    )));
                }
                Ok(())
            }
        }
    }

    /// Turns what the lock table did into wakeups, and aborts the
    /// transactions it wounded (their locks go now).
    fn absorb(&mut self, effects: Effects, now: Instant) {
        let mut queue = vec![effects];
        while let Some(effects) = queue.pop() {
            for ticket in effects.granted {
                self.wakeups.push(Wakeup {
                    ticket,
                    outcome: Ok(()),
                });
            }
            for ticket in effects.failed {
                self.wakeups.push(Wakeup {
                    ticket,
                    outcome: Err(AbortReason::Wounded),
                });
            }
            for txn in effects.wounded {
                if matches!(self.book.abort(txn, AbortReason::Wounded, now), Ok(true)) {
                    queue.push(self.locks.forget(txn));
                }
            }
        }
    }

    /// Takes `mode` on `target` for `txn` (which the book must let take
    /// locks): granted now, or a ticket to wait for.
    pub(crate) fn acquire(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
        now: Instant,
    ) -> Result<Progress<()>, TxnError> {
        self.book.lock(txn, now)?;
        match self.locks.acquire(txn, priority, target, mode) {
            Ok((acquired, effects)) => {
                self.absorb(effects, now);
                match acquired {
                    Acquired::Granted => Ok(Progress::Done(())),
                    Acquired::Waiting(ticket) => {
                        // The holders it wounded are gone already: its own
                        // wait may have ended within this call.
                        match self.wakeups.iter().position(|w| w.ticket == ticket) {
                            Some(i) => match self.wakeups.remove(i).outcome {
                                Ok(()) => Ok(Progress::Done(())),
                                Err(reason) => Err(self.abort(txn, reason, now)),
                            },
                            None => Ok(Progress::Wait(ticket)),
                        }
                    }
                }
            }
            Err(Refused::Wounded) => Err(self.abort(txn, AbortReason::Wounded, now)),
            Err(Refused::Prepared) => Err(TxnError::Refused(format!(
                "{txn} is prepared here and cannot take new locks"
            ))),
        }
    }

    /// Takes every lock of `targets` in order; the first that must wait
    /// makes the whole call wait.
    pub(crate) fn acquire_all<'a>(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        targets: impl IntoIterator<Item = (&'a LockTarget, LockMode)>,
        now: Instant,
    ) -> Result<Progress<()>, TxnError> {
        for (target, mode) in targets {
            if let Progress::Wait(ticket) =
                self.acquire(txn, priority, target.clone(), mode, now)?
            {
                return Ok(Progress::Wait(ticket));
            }
        }
        Ok(Progress::Done(()))
    }

    /// Takes each of `targets` in `mode` that can be had at once, in
    /// order, and returns the indexes of those that could not (`SKIP
    /// LOCKED`, `NOWAIT`): it never waits and never wounds.
    pub(crate) fn try_acquire_each(
        &mut self,
        txn: TxnId,
        priority: Timestamp,
        targets: &[LockTarget],
        mode: LockMode,
        now: Instant,
    ) -> Result<Vec<usize>, TxnError> {
        self.book.lock(txn, now)?;
        let mut busy = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            match self.locks.try_acquire(txn, priority, target.clone(), mode) {
                Ok(true) => {}
                Ok(false) => busy.push(i),
                Err(Refused::Wounded) => return Err(self.abort(txn, AbortReason::Wounded, now)),
                Err(Refused::Prepared) => {
                    return Err(TxnError::Refused(format!(
                        "{txn} is prepared here and cannot take new locks"
                    )));
                }
            }
        }
        Ok(busy)
    }

    /// Aborts `txn` here for `reason` (unless it prepared or is being
    /// decided: then only a decision ends it) and releases its locks.
    /// Returns the error its request should get.
    pub fn abort(&mut self, txn: TxnId, reason: AbortReason, now: Instant) -> TxnError {
        match self.book.abort(txn, reason, now) {
            Ok(release) => {
                if release {
                    let effects = self.locks.forget(txn);
                    self.absorb(effects, now);
                }
                let reason = self.book.aborted(txn).unwrap_or(reason);
                TxnError::aborted(reason)
            }
            Err(e) => e,
        }
    }

    /// Gives up the wait of `ticket` (`txn`'s): at its deadline the
    /// transaction is aborted (`LockTimeout`); a waiter that went away
    /// (`timed_out == false`) only leaves the queue. Returns true when the
    /// lock was granted meanwhile (the caller keeps it).
    pub fn cancel_wait(
        &mut self,
        txn: TxnId,
        ticket: Ticket,
        timed_out: bool,
        now: Instant,
    ) -> bool {
        let (was_waiting, effects) = self.locks.cancel(ticket);
        self.absorb(effects, now);
        if was_waiting && timed_out {
            self.abort(txn, AbortReason::LockTimeout, now);
        }
        !was_waiting && self.book.is_active(txn)
    }

    /// Ends `txn` here: releases its locks and forgets it (its client
    /// finished it, or its decision was applied here).
    pub fn finish(&mut self, txn: TxnId, now: Instant) {
        self.book.finish(txn);
        let effects = self.locks.forget(txn);
        self.absorb(effects, now);
    }

    /// Marks a split at `at` under way (see `actions::split`).
    pub(crate) fn set_splitting(&mut self, at: Option<Vec<u8>>) {
        self.splitting = at;
    }
}
