//! Read-write transactions on one tablet under two-phase locking
//! (DESIGN.md §6): reads take shared locks (range locks for scans) at the
//! leader and return the latest committed values; writes are buffered at
//! the gateway and arrive with the commit, which takes exclusive locks, marks
//! the transaction prepared (it can no longer be wounded), writes one Raft
//! entry at a new timestamp, waits out commit wait, and releases the locks.
//!
//! ```text
//!   read(k)   ──▶ S lock k ──▶ latest value          (locks kept)
//!   commit(w) ──▶ X locks on w ──▶ prepared ──▶ Raft write @ s ──▶ TT.after(s) ──▶ release all
//!   wound     ──▶ (unprepared) forget its locks, remember it aborted
//! ```
//!
//! Not here: transactions spanning tablets (two-phase commit), lock-free
//! read-only and snapshot transactions, OCC and SSI.

use std::collections::BTreeSet;
use std::time::Duration;

use spanlite_storage::mvcc::{Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::{LockError, LockMode, LockTarget};

use super::TabletError;
use super::replica::{Replica, lock};
use crate::directory::KeyRange;
use crate::raft::Mutation;

impl Replica {
    fn aborted(&self, txn: TxnId, reason: impl Into<String>) -> TabletError {
        self.locks.release_all(txn);
        let reason = reason.into();
        lock(&self.txns).note_aborted(txn, reason.clone());
        TabletError::TxnAborted {
            tablet: self.tablet,
            reason,
        }
    }

    /// Refuses requests of a transaction aborted here; notes that the
    /// transaction is alive otherwise.
    fn check_not_aborted(&self, txn: TxnId) -> Result<(), TabletError> {
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

    async fn take_lock(
        &self,
        txn: TxnId,
        priority: Timestamp,
        target: LockTarget,
        mode: LockMode,
        wait: Duration,
    ) -> Result<(), TabletError> {
        match self.locks.acquire(txn, priority, target, mode, wait).await {
            Ok(()) => {
                lock(&self.txns).known.insert(txn);
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

    /// Reads `keys` for `txn` under locks of `mode` (shared, or exclusive for
    /// `SELECT … FOR UPDATE`), waiting at most `wait` for each.
    pub async fn txn_read(
        &self,
        txn: TxnId,
        priority: Timestamp,
        keys: Vec<Vec<u8>>,
        mode: LockMode,
        wait: Duration,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, TabletError> {
        self.check_not_aborted(txn)?;
        for k in &keys {
            self.check_key(k)?;
        }
        self.check_serving()?;
        for k in &keys {
            self.take_lock(txn, priority, LockTarget::key(k.clone()), mode, wait)
                .await?;
        }
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = self.get(&k)? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Scans `range` for `txn` under a shared range lock (no phantoms).
    pub async fn txn_scan(
        &self,
        txn: TxnId,
        priority: Timestamp,
        range: &KeyRange,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Row>, TabletError> {
        self.check_not_aborted(txn)?;
        self.check_serving()?;
        let target = LockTarget::range(range.start.clone(), range.end.clone());
        self.take_lock(txn, priority, target, LockMode::Shared, wait)
            .await?;
        self.scan(range, limit)
    }

    /// Commits `txn` on this tablet alone (the one-phase fast path): its
    /// buffered `mutations` are written atomically at a new timestamp.
    /// `has_reads`: it read here under locks, which this leader must still
    /// hold (a leadership change since loses them; then it aborts).
    pub async fn txn_commit(
        &self,
        txn: TxnId,
        priority: Timestamp,
        mutations: Vec<Mutation>,
        has_reads: bool,
        wait: Duration,
    ) -> Result<Timestamp, TabletError> {
        self.check_not_aborted(txn)?;
        for m in &mutations {
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
        // From here on it cannot be wounded; check it was not just before.
        self.locks.mark_prepared(txn, priority);
        if self.locks.is_wounded(txn) {
            return Err(self.aborted(txn, "wounded by an older transaction"));
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
        self.txn_finish(txn);
        result
    }

    /// A lock-free snapshot read of `keys` at `at`, or, when `at` is `None`
    /// (a read-only transaction's first read), at a timestamp this leader
    /// picks (see `snapshot_ts`). Returns the timestamp with the values.
    /// Served by the leader under its lease once every write at or below the
    /// timestamp is applied (waiting at most `wait`).
    pub async fn snapshot_read(
        &self,
        keys: Vec<Vec<u8>>,
        at: Option<Timestamp>,
        wait: Duration,
    ) -> Result<(Timestamp, Vec<(Vec<u8>, Vec<u8>)>), TabletError> {
        for k in &keys {
            self.check_key(k)?;
        }
        self.check_serving()?;
        let s = self.snapshot_ts(at)?;
        self.wait_applied_through(s, wait).await?;
        let mut out = Vec::new();
        for k in keys {
            match self.mvcc().get(&k, s) {
                Ok(spanlite_storage::mvcc::ReadOutcome::Ready(Some(v))) => out.push((k, v)),
                Ok(spanlite_storage::mvcc::ReadOutcome::Ready(None)) => {}
                Ok(spanlite_storage::mvcc::ReadOutcome::Blocked(_)) => {
                    return Err(TabletError::Locked {
                        tablet: self.tablet,
                    });
                }
                Err(source) => {
                    return Err(TabletError::Storage {
                        tablet: self.tablet,
                        source,
                    });
                }
            }
        }
        // The lease must still hold: `s` was chosen as this term's leader.
        self.check_serving()?;
        Ok((s, out))
    }

    /// Requests waiting in this replica's lock table.
    pub fn lock_waiters(&self) -> usize {
        self.locks.waiting()
    }

    /// Aborts `txn` here (idempotent): releases its locks and forgets it.
    pub fn txn_finish(&self, txn: TxnId) {
        self.locks.forget(txn);
        let mut book = lock(&self.txns);
        book.known.remove(&txn);
        book.aborted.remove(&txn);
        book.last_seen.remove(&txn);
    }
}
