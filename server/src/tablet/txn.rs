//! What every transaction action on a tablet leader shares (locks, aborts,
//! the commit prologue), the one-phase commit of a transaction that touched
//! only this tablet, and lock-free snapshot reads (DESIGN.md §6).
//!
//! ```text
//!   commit(w) ──▶ X locks on w ──▶ prepared ──▶ Raft write @ s ──▶ TT.after(s) ──▶ release all
//!   wound     ──▶ (unprepared) forget its locks, remember it aborted
//!   snapshot  ──▶ leader: s chosen, writes ≤ s applied ──▶ read @ s (waiting on intents ≤ s)
//!                 follower: applied an entry ≥ s (safe time) ──▶ read @ s
//! ```
//!
//! The participant's reads and 2PC steps are in `participant/`, the
//! coordinator's in `coordinator.rs`, the optimistic modes' commit-time
//! validation in `validate.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use spanlite_storage::engine::Direction;
use spanlite_storage::mvcc::{Mvcc, ReadOutcome, Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::{LockError, LockMode, LockTarget};

use super::TabletError;
use super::replica::{Replica, lock};
use super::validate::Validation;
use crate::directory::KeyRange;
use crate::raft::Mutation;

impl Replica {
    pub(super) fn aborted(&self, txn: TxnId, reason: impl Into<String>) -> TabletError {
        let reason = reason.into();
        self.metrics.note_abort(&reason);
        // Noted before the locks go: a lock granted to `txn` meanwhile is
        // either released here or refused by `take_lock`'s check.
        lock(&self.txns).note_aborted(txn, reason.clone());
        self.locks.release_all(txn);
        TabletError::TxnAborted {
            tablet: self.tablet,
            reason,
        }
    }

    /// Refuses requests of a transaction aborted here; notes that the
    /// transaction is alive otherwise.
    pub(super) fn check_not_aborted(&self, txn: TxnId) -> Result<(), TabletError> {
        let mut book = lock(&self.txns);
        if !book.aborted.contains_key(&txn) {
            book.last_seen.insert(txn, std::time::Instant::now());
        }
        match book.aborted.get(&txn) {
            Some((reason, _)) => Err(TabletError::TxnAborted {
                tablet: self.tablet,
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Refuses (aborts) a transaction that read here before under another
    /// leader: this one holds none of its locks, so what it read may have
    /// changed since. Without this, a later read here would make it known
    /// again and its commit would pass the `has_reads` check with stale
    /// values (a lost update: the Jepsen bank run lost money this way).
    pub(crate) fn check_reads_still_locked(
        &self,
        txn: TxnId,
        read_before: bool,
    ) -> Result<(), TabletError> {
        if read_before && !lock(&self.txns).known.contains(&txn) {
            return Err(self.aborted(
                txn,
                "this leader holds none of its earlier read locks (leadership changed); its reads may be stale",
            ));
        }
        Ok(())
    }

    pub(super) async fn take_lock(
        &self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
        wait: Duration,
    ) -> Result<(), TabletError> {
        let started = std::time::Instant::now();
        let acquired = self.locks.acquire(txn, priority, target, mode, wait).await;
        self.metrics.note_lock_wait(started.elapsed());
        match acquired {
            Ok(()) => {
                let mut book = lock(&self.txns);
                // Aborted while it waited or while its request was on its
                // way (after `check_not_aborted`): give the lock back.
                if let Some((reason, _)) = book.aborted.get(&txn) {
                    let reason = reason.clone();
                    drop(book);
                    self.locks.release_all(txn);
                    return Err(TabletError::TxnAborted {
                        tablet: self.tablet,
                        reason,
                    });
                }
                book.known.insert(txn);
                Ok(())
            }
            Err(
                e @ (LockError::Wounded
                | LockError::Timeout(_)
                | LockError::Prepared
                | LockError::LeaderChanged),
            ) => Err(self.aborted(txn, e.to_string())),
        }
    }

    /// What every commit or prepare does first: refuses an aborted
    /// transaction, keys outside the range and a leader that lost the
    /// transaction's read locks (2PL: it read here); takes the exclusive
    /// locks of the writes; validates lock-free reads and snapshot writes
    /// (OCC, SSI, SI: see `validate.rs`); marks the transaction prepared (it
    /// can no longer be wounded).
    pub(super) async fn lock_for_commit(
        &self,
        txn: TxnId,
        priority: Timestamp,
        mutations: &[Mutation],
        validation: &Validation,
        wait: Duration,
    ) -> Result<(), TabletError> {
        let has_reads = validation.has_reads;
        self.check_not_aborted(txn)?;
        for m in mutations {
            self.check_key(m.key())?;
        }
        self.check_serving()?;
        if has_reads && !lock(&self.txns).known.contains(&txn) {
            return Err(self.aborted(
                txn,
                "this leader holds none of its read locks (leadership changed); its reads may be stale",
            ));
        }
        let keys: BTreeSet<Vec<u8>> = mutations.iter().map(|m| m.key().to_vec()).collect();
        for k in keys {
            self.take_lock(txn, priority, LockTarget::Key(k), LockMode::Exclusive, wait)
                .await?;
        }
        self.validate(txn, priority, mutations, validation, wait)
            .await?;
        // From here on it cannot be wounded; check it was not just before.
        self.locks.mark_prepared(txn, priority);
        if self.locks.is_wounded(txn) {
            return Err(self.aborted(txn, "wounded by an older transaction"));
        }
        Ok(())
    }

    /// Commits `txn` on this tablet alone (the one-phase fast path): its
    /// buffered `mutations` are written atomically at a new timestamp,
    /// after `validation` (a 2PL transaction's read locks must still be
    /// held here; optimistic reads must still be current). Without
    /// mutations (an OCC transaction that only read) it only validates and
    /// returns a timestamp its reads are current at.
    pub async fn txn_commit(
        &self,
        txn: TxnId,
        priority: Timestamp,
        mutations: Vec<Mutation>,
        validation: &Validation,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.lock_for_commit(txn, priority, &mutations, validation, wait)
            .await?;
        if mutations.is_empty() {
            let now = self.snapshot_ts(None);
            self.txn_finish(txn);
            return now;
        }
        // NB: openraft answers ForwardToLeader only for entries that were
        // not committed (not appended, or truncated), so NotLeader is safe
        // to retry; any other replication failure leaves the outcome open.
        let result = match self.write(mutations).await {
            Err(TabletError::Replication { message, .. }) => Err(TabletError::Ambiguous {
                tablet: self.tablet,
                message,
            }),
            other => other,
        };
        if result.is_ok() {
            self.metrics.note_commit(false);
        }
        self.txn_finish(txn);
        result
    }

    /// A lock-free snapshot read of `keys` at `at`, or, when `at` is `None`
    /// (a read-only transaction's first read), at a timestamp this leader
    /// picks (see `snapshot_ts`). Returns the timestamp with the values.
    ///
    /// The leader serves it under its lease once every write at or below
    /// the timestamp is applied. With `any_replica` and a timestamp, a
    /// follower serves it once its safe time reaches the timestamp: it
    /// applied an entry at or above it (entries rise in timestamp order),
    /// and prepared transactions' intents at or below it are resolved
    /// (`t_tm`). Either waits at most `wait`; a follower that cannot catch
    /// up in time answers `NotLeader` so the caller asks the leader.
    pub async fn snapshot_read(
        &self,
        keys: Vec<Vec<u8>>,
        at: Option<Timestamp>,
        any_replica: bool,
        wait: Duration,
    ) -> Result<(Timestamp, Vec<(Vec<u8>, Vec<u8>)>), TabletError> {
        for k in &keys {
            self.check_key(k)?;
        }
        self.snapshot(at, any_replica, wait, |mvcc, s| {
            let mut out = Vec::new();
            for k in &keys {
                match mvcc.get(k, s)? {
                    ReadOutcome::Ready(Some(v)) => out.push((k.clone(), v)),
                    ReadOutcome::Ready(None) => {}
                    ReadOutcome::Blocked(b) => return Ok(ReadOutcome::Blocked(b)),
                }
            }
            Ok(ReadOutcome::Ready(out))
        })
        .await
    }

    /// A lock-free snapshot scan of the part of `range` this tablet owns,
    /// at most `limit` pairs (0: all), with the same timestamp rules and
    /// replicas as [`Replica::snapshot_read`].
    pub async fn snapshot_scan(
        &self,
        range: &KeyRange,
        at: Option<Timestamp>,
        any_replica: bool,
        limit: usize,
        wait: Duration,
    ) -> Result<(Timestamp, Vec<Row>), TabletError> {
        let (start, end) = self.clip(range)?;
        self.snapshot(at, any_replica, wait, |mvcc, s| {
            mvcc.scan(
                start.clone(),
                end.clone(),
                s,
                Direction::Forward,
                (limit > 0).then_some(limit),
            )
        })
        .await
    }

    /// Picks the snapshot timestamp (see [`Replica::snapshot_read`]) and
    /// runs `read` at it, again each time an undecided transaction's intent
    /// at or below it blocks the read, until it is resolved here or `wait`
    /// is over.
    async fn snapshot<T>(
        &self,
        at: Option<Timestamp>,
        any_replica: bool,
        wait: Duration,
        read: impl Fn(&Mvcc, Timestamp) -> spanlite_storage::Result<ReadOutcome<T>>,
    ) -> Result<(Timestamp, T), TabletError> {
        let until = tokio::time::Instant::now() + wait;
        let (s, leader) = match (self.check_serving(), at) {
            (Ok(_), _) => {
                let s = self.snapshot_ts(at)?;
                self.wait_applied_through(s, wait).await?;
                (s, true)
            }
            (Err(_), Some(t)) if any_replica => {
                self.wait_safe_time(t, until).await?;
                (t, false)
            }
            (Err(e), _) => return Err(e),
        };
        let mut applied = self.applied_watch();
        let out = loop {
            match read(self.mvcc(), s) {
                Ok(ReadOutcome::Ready(out)) => break out,
                // A prepared transaction may commit at or below `s`: wait
                // until it is resolved here.
                Ok(ReadOutcome::Blocked(_)) => {
                    if !matches!(
                        tokio::time::timeout_at(until, applied.changed()).await,
                        Ok(Ok(()))
                    ) {
                        return Err(TabletError::Locked {
                            tablet: self.tablet,
                        });
                    }
                }
                Err(source) => {
                    return Err(TabletError::Storage {
                        tablet: self.tablet,
                        source,
                    });
                }
            }
        };
        if leader {
            // The lease must still hold: `s` was chosen as this term's leader.
            self.check_serving()?;
        }
        Ok((s, out))
    }

    /// Requests waiting in this replica's lock table.
    pub fn lock_waiters(&self) -> usize {
        self.locks.waiting()
    }

    /// Ends `txn` here (idempotent): releases its locks and forgets it.
    /// For a transaction prepared here, see `txn_resolve`.
    pub fn txn_finish(&self, txn: TxnId) {
        self.locks.forget(txn);
        let mut book = lock(&self.txns);
        book.known.remove(&txn);
        book.aborted.remove(&txn);
        book.last_seen.remove(&txn);
        book.prepared.remove(&txn);
    }
}
