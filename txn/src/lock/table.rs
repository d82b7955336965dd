//! The lock table as tablet leaders use it: [`LockState`] behind a mutex,
//! with waits as futures that end when granted, when the waiting
//! transaction is wounded, or at a deadline.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use super::state::{Acquired, Effects, LockState, Refused, Ticket};
use super::{LockMode, LockTarget};

/// Why a lock was not acquired. Every variant means: abort the transaction
/// and retry it (`is_retryable`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LockError {
    /// An older transaction needed the lock (wound-wait).
    #[error("wounded by an older transaction")]
    Wounded,
    /// The wait passed its deadline.
    #[error("lock wait timed out after {0:?}")]
    Timeout(Duration),
    /// A prepared transaction asked for a new lock.
    #[error("a prepared transaction cannot take new locks")]
    Prepared,
    /// The leader started a new term and dropped every lock.
    #[error("the tablet's leader changed; its locks were lost")]
    LeaderChanged,
}

impl LockError {
    /// Always true: retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

#[derive(Debug, Default)]
struct Inner {
    state: LockState,
    waiting: HashMap<Ticket, oneshot::Sender<Result<(), LockError>>>,
}

/// A tablet leader's lock table.
///
/// Example: `T1` (older) holds `k` shared; `T2` asks for `k` exclusive and
/// waits; `T1` commits and calls `release_all(T1)`; `T2`'s `acquire`
/// returns `Ok`. Had `T2` been older, `T1` would have been wounded (sent on
/// the wounded channel for its coordinator to abort) and `T2` would have
/// waited for that abort.
#[derive(Debug)]
pub struct LockTable {
    inner: Mutex<Inner>,
    wounded: mpsc::UnboundedSender<TxnId>,
}

impl LockTable {
    /// A table, and the receiver of the transactions it wounds (the caller
    /// aborts each, which releases its locks).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<TxnId>) {
        let (wounded, rx) = mpsc::unbounded_channel();
        (
            Self {
                inner: Mutex::default(),
                wounded,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers what a state change did to the waiters and the wounded.
    fn deliver(&self, inner: &mut Inner, effects: Effects) {
        for t in effects.granted {
            if let Some(tx) = inner.waiting.remove(&t) {
                let _ = tx.send(Ok(()));
            }
        }
        for t in effects.failed {
            if let Some(tx) = inner.waiting.remove(&t) {
                let _ = tx.send(Err(LockError::Wounded));
            }
        }
        for txn in effects.wounded {
            let _ = self.wounded.send(txn);
        }
    }

    /// Acquires `mode` on `target` for `txn` (priority = its begin time),
    /// waiting at most `deadline`.
    pub async fn acquire(
        &self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
        deadline: Duration,
    ) -> Result<(), LockError> {
        let (ticket, rx) = {
            let mut inner = self.lock();
            let (acquired, effects) =
                inner
                    .state
                    .acquire(txn, priority, target, mode)
                    .map_err(|r| match r {
                        Refused::Wounded => LockError::Wounded,
                        Refused::Prepared => LockError::Prepared,
                    })?;
            self.deliver(&mut inner, effects);
            match acquired {
                Acquired::Granted => return Ok(()),
                Acquired::Waiting(ticket) => {
                    let (tx, rx) = oneshot::channel();
                    inner.waiting.insert(ticket, tx);
                    (ticket, rx)
                }
            }
        };
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(result)) => result,
            // The table dropped the sender without an answer: treat as wounded.
            Ok(Err(_)) => Err(LockError::Wounded),
            Err(_) => {
                let mut inner = self.lock();
                inner.waiting.remove(&ticket);
                let (was_waiting, effects) = inner.state.cancel(ticket);
                self.deliver(&mut inner, effects);
                if was_waiting {
                    Err(LockError::Timeout(deadline))
                } else if inner.state.is_wounded(txn) {
                    Err(LockError::Wounded)
                } else {
                    // Granted just as the deadline passed.
                    Ok(())
                }
            }
        }
    }

    /// Releases everything `txn` holds or waits for (it committed or
    /// aborted).
    pub fn release_all(&self, txn: TxnId) {
        let mut inner = self.lock();
        let effects = inner.state.release_all(txn);
        self.deliver(&mut inner, effects);
    }

    /// Releases everything of `txn` and forgets it, wounded or not: its
    /// client finished it (committed, or acknowledged the abort).
    pub fn forget(&self, txn: TxnId) {
        let mut inner = self.lock();
        let effects = inner.state.forget(txn);
        self.deliver(&mut inner, effects);
    }

    /// `txn` prepared here: it can no longer be wounded.
    pub fn mark_prepared(&self, txn: TxnId, priority: Timestamp) {
        self.lock().state.mark_prepared(txn, priority);
    }

    /// Re-takes a prepared transaction's locks from its prepare record.
    pub fn restore_prepared(
        &self,
        txn: TxnId,
        priority: Timestamp,
        locks: Vec<(super::LockTarget, super::LockMode)>,
    ) {
        self.lock().state.restore_prepared(txn, priority, locks);
    }

    /// Every lock `txn` holds.
    pub fn held_by(&self, txn: TxnId) -> Vec<(super::LockTarget, super::LockMode)> {
        self.lock().state.held_by(txn)
    }

    /// Drops every lock and fails every wait (`LeaderChanged`): a leader
    /// starting a new term, whose old locks mean nothing any more.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.state = LockState::new();
        for (_, tx) in inner.waiting.drain() {
            let _ = tx.send(Err(LockError::LeaderChanged));
        }
    }

    /// True when `txn` has a request waiting for a lock.
    pub fn is_waiting(&self, txn: TxnId) -> bool {
        self.lock().state.is_waiting(txn)
    }

    /// True when `txn` prepared here.
    pub fn is_prepared(&self, txn: TxnId) -> bool {
        self.lock().state.is_prepared(txn)
    }

    /// Number of requests waiting for a lock (metrics, tests).
    pub fn waiting(&self) -> usize {
        self.lock().state.waiting()
    }

    /// True when `txn` was wounded and must abort.
    pub fn is_wounded(&self, txn: TxnId) -> bool {
        self.lock().state.is_wounded(txn)
    }
}
