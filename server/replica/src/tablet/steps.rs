//! Running the protocol steps of `spanlite_txn` on a replica: the leader
//! state behind its mutex, lock waits as futures, and delivering the
//! wakeups a step causes.
//!
//! A step never waits; when it returns a ticket, [`Replica::run_step`]
//! waits for that ticket's wakeup (granted: run the step again; the
//! transaction aborted: fail), at most until the request's deadline (the
//! transaction is then aborted: `LockTimeout`). The wait has a drop guard:
//! a waiter that goes away takes its ticket out of the queue, so it never
//! blocks the waiters behind it.

use std::collections::HashMap;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use spanlite_storage::mvcc::TxnId;
use spanlite_txn::AbortReason;
use spanlite_txn::TxnError;
use spanlite_txn::leader::{Leader, Progress};
use spanlite_txn::lock::Ticket;
use tokio::sync::oneshot;

use super::error::TabletError;
use super::replica::Replica;

/// The leader's transaction state and who waits on it.
#[derive(Debug)]
pub struct Core {
    /// The protocol state (locks, book, timestamps).
    pub leader: Leader,
    /// Lock waits in progress.
    waiters: HashMap<Ticket, oneshot::Sender<Result<(), AbortReason>>>,
    /// The term whose `LeaseStart` this replica applied as leader.
    pub serving_term: Option<u64>,
    /// Handing leadership off: refuse to serve until a new leader is elected.
    pub stepping_down: bool,
    /// Decisions every participant applied: to drop from the records.
    pub forgettable: Vec<TxnId>,
}

impl Core {
    /// A core over `leader`, serving no term yet.
    pub fn new(leader: Leader) -> Self {
        Self {
            leader,
            waiters: HashMap::new(),
            serving_term: None,
            stepping_down: false,
            forgettable: Vec::new(),
        }
    }

    /// Starts serving `term` with a fresh leader state: every wait of the
    /// previous one fails (its senders are dropped: `LeaderChanged`).
    /// Refused (returns `false`, nothing changes) if a later term is already
    /// served: the starts of two terms can finish out of order (each waits
    /// out its log's timestamps), and the older one must not take over —
    /// the replica would then never serve, as its serving term would lag
    /// its lease's (seen in the Jepsen-style test: a leader stuck "not
    /// serving" for good).
    pub fn start_term(&mut self, term: u64, leader: Leader) -> bool {
        if self.serving_term.is_some_and(|t| t > term) {
            return false;
        }
        self.leader = leader;
        self.waiters.clear();
        self.forgettable.clear();
        self.serving_term = Some(term);
        true
    }

    fn deliver(&mut self) {
        for w in self.leader.take_wakeups() {
            if let Some(tx) = self.waiters.remove(&w.ticket) {
                let _ = tx.send(w.outcome);
            }
        }
    }
}

/// Takes a ticket out of the queue if its waiter goes away.
struct WaitGuard<'a> {
    replica: &'a Replica,
    txn: TxnId,
    ticket: Ticket,
    armed: bool,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let (txn, ticket) = (self.txn, self.ticket);
            self.replica.with_core(|core| {
                core.waiters.remove(&ticket);
                core.leader.cancel_wait(txn, ticket, false, Instant::now());
            });
        }
    }
}

impl Replica {
    pub(super) fn core_lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the core, then delivers the wakeups it caused and wakes
    /// snapshot readers if pending timestamps changed.
    pub(super) fn with_core<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        let (out, changed) = {
            let mut core = self.core_lock();
            let before = (
                core.leader.clock().pending(),
                core.leader.clock().last_visible(),
            );
            let out = f(&mut core);
            core.deliver();
            let after = (
                core.leader.clock().pending(),
                core.leader.clock().last_visible(),
            );
            (out, before != after)
        };
        if changed {
            self.visible.notify_waiters();
        }
        out
    }

    /// Runs `step` for `txn` until it is done, waiting for the locks it
    /// asks for, at most `wait` in all.
    pub(super) async fn run_step<T>(
        &self,
        txn: TxnId,
        wait: Duration,
        mut step: impl FnMut(&mut Leader, Instant) -> Result<Progress<T>, TxnError>,
    ) -> Result<T, TabletError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut waited_since: Option<Instant> = None;
        loop {
            let waiting = self.with_core(|core| match step(&mut core.leader, Instant::now())? {
                Progress::Done(t) => Ok(Err(t)),
                Progress::Wait(ticket) => {
                    let (tx, rx) = oneshot::channel();
                    core.waiters.insert(ticket, tx);
                    Ok(Ok((ticket, rx)))
                }
            });
            let (ticket, rx) = match waiting.map_err(|e| self.txn_error(e))? {
                Err(done) => {
                    if let Some(since) = waited_since {
                        self.metrics.note_lock_wait(since.elapsed());
                    }
                    return Ok(done);
                }
                Ok(w) => w,
            };
            waited_since.get_or_insert_with(Instant::now);
            let mut guard = WaitGuard {
                replica: self,
                txn,
                ticket,
                armed: true,
            };
            let outcome = tokio::time::timeout_at(deadline, rx).await;
            guard.armed = false;
            match outcome {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(reason))) => {
                    self.metrics.note_abort(reason);
                    return Err(TabletError::aborted(self.tablet, reason));
                }
                // The leader state was replaced (a new term).
                Ok(Err(_)) => {
                    self.metrics.note_abort(AbortReason::LeaderChanged);
                    return Err(TabletError::aborted(
                        self.tablet,
                        AbortReason::LeaderChanged,
                    ));
                }
                Err(_) => {
                    let granted = self.with_core(|core| {
                        core.waiters.remove(&ticket);
                        core.leader.cancel_wait(txn, ticket, true, Instant::now())
                    });
                    if granted {
                        continue;
                    }
                    self.metrics.note_abort(AbortReason::LockTimeout);
                    return Err(TabletError::Aborted {
                        tablet: self.tablet,
                        reason: AbortReason::LockTimeout,
                        detail: format!("waited {wait:?}"),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanlite_truetime::Timestamp;
    use spanlite_txn::KeyRange;
    use spanlite_txn::leader::LeaderConfig;

    fn leader() -> Leader {
        Leader::new(
            1,
            KeyRange::all(),
            1,
            Timestamp::MIN,
            LeaderConfig::default(),
        )
    }

    #[test]
    fn an_older_term_finishing_its_start_late_does_not_replace_a_newer_one() {
        let mut core = Core::new(leader());
        assert!(core.start_term(1588, leader()));
        assert!(core.start_term(1590, leader()));
        assert!(!core.start_term(1588, leader()));
        assert_eq!(core.serving_term, Some(1590));
        // The same term again (a retried start) is allowed.
        assert!(core.start_term(1590, leader()));
    }
}
