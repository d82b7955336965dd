//! Commit-time checks of the optimistic modes (DESIGN.md §6): OCC and SSI
//! validate what they read without locks; SSI and SI refuse to overwrite a
//! version committed after their snapshot (first committer wins).
//!
//! ```text
//!   OCC  reads: each at the leader's newest snapshot r_i, no locks   ─┐
//!   SSI  reads: all at one snapshot S (the first read's), no locks   ─┤ commit / prepare:
//!   SI   reads: all at S, no locks, never validated                   │  X locks on writes
//!                                                                     │  S locks on read spans
//!                                                                     │  validate, mark prepared
//!                                                                     └▶ commit at s as in 2PL
//! ```
//!
//! # The algorithm, and why OCC and SSI are serializable
//!
//! A transaction in an optimistic mode reads without locks and remembers,
//! per tablet, each key or key range it read and the snapshot timestamp
//! it read it at (a [`ReadSpan`]). At commit (or 2PC prepare) every
//! tablet it read from or writes to takes, on its leader:
//!
//! 1. exclusive locks on its writes, and shared locks on its read spans
//!    (wound-wait, as 2PL, so there are no deadlocks);
//! 2. validation: every read span must read the same now as at its
//!    snapshot — no committed version newer than the span's timestamp, and
//!    no other transaction's intent ([`Mvcc::first_change`]); SSI and SI
//!    also check that no written key has a version newer than the
//!    snapshot (write-write conflict, first committer wins);
//! 3. prepared: from here it is never wounded, and its locks stay until
//!    the decision is applied.
//!
//! Any failure aborts the transaction with reason `validation failed …`
//! (a retryable 40001); nothing was written.
//!
//! The commit timestamp `s` is chosen after step 3 on every participant,
//! as in 2PL. Serializability: the locks make every read span stable from
//! validation until the decision is applied, and validation shows nothing
//! in it changed between the read and validation. A writer that commits at
//! a timestamp in `(r, s)` to a span must hold an exclusive lock on it, so
//! it either released it before our shared lock was granted — its version
//! is applied and validation sees it — or it waits until we are done and
//! commits above `s` (timestamps on a leader rise). So every value the
//! transaction read is still the newest at `s`: the transaction reads and
//! writes as if it ran alone at `s`, exactly like a 2PL transaction
//! holding its locks until commit. Committed transactions are therefore
//! equivalent to the serial order of their commit timestamps, the same
//! order 2PL transactions follow, which is why the modes mix on the same
//! keys and stay serializable (and, with commit wait, externally
//! consistent).
//!
//! In SSI terms, the spans are per-key and per-range read timestamps, and
//! a read-write antidependency `T →rw U` (U overwrote what T read) with U
//! committed first is exactly a validation failure of T; T aborts rather
//! than commit after U in timestamp order while having read before U.
//! This is the *read refresh* form of SSI: T's reads, taken at S, are
//! refreshed to its commit timestamp, and the refresh fails if any of them
//! changed. It aborts some transactions the dangerous-structure test of
//! Cahill et al. would let commit (a lone `T →rw U` is harmless there),
//! but needs no SIREAD state on the tablets and no cross-tablet
//! bookkeeping. A read-only SSI transaction reads at one snapshot and
//! needs no validation at all: every writer is serialized at its commit
//! timestamp, and none can commit at or below a snapshot once it was read,
//! so the gateway commits it at the snapshot without asking the tablets
//! (`Transaction::read_only_at`); it never aborts for a later write.
//!
//! OCC differs in when it reads: each read sees the newest data (its own
//! snapshot), so a long transaction sees fresh values but not one
//! snapshot, and a transaction that only read still validates. SSI reads
//! one consistent snapshot, and its blind writes are checked too.
//!
//! SI skips step 2's read validation (a `SELECT … FOR UPDATE` read is
//! validated, as PostgreSQL's repeatable read locks it): two transactions
//! that each read what the other writes both commit (write skew). It is
//! offered because it never aborts readers, and so that the difference
//! can be seen (tests assert the write skew).

use spanlite_storage::mvcc::{Change, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::{LockMode, LockTarget};

use super::TabletError;
use super::replica::Replica;
use crate::directory::KeyRange;
use crate::raft::Mutation;

/// A key or key range read without locks at `read_ts` (see the module
/// docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSpan {
    /// The key, or the first key of the range.
    pub start: Vec<u8>,
    /// End of the range (exclusive, empty: unbounded); unused for a point.
    pub end: Vec<u8>,
    /// A point read of `start`.
    pub point: bool,
    /// The snapshot the read saw.
    pub read_ts: Timestamp,
}

/// What a commit or prepare checks before it is prepared.
#[derive(Clone, Debug, Default)]
pub struct Validation {
    /// 2PL: the transaction read here under locks, which this leader must
    /// still hold.
    pub has_reads: bool,
    /// OCC/SSI: lock-free reads to validate.
    pub reads: Vec<ReadSpan>,
    /// SSI/SI: the snapshot; a write to a key with a newer version fails.
    pub snapshot: Option<Timestamp>,
}

impl Replica {
    /// Takes shared locks on `reads` (after the caller took the write
    /// locks), then checks them and `writes` as the module docs say.
    pub(super) async fn validate(
        &self,
        txn: TxnId,
        priority: Timestamp,
        writes: &[Mutation],
        v: &Validation,
        wait: std::time::Duration,
    ) -> Result<(), TabletError> {
        // Each span's bounds (refused if not all on this tablet) and lock.
        let mut spans = Vec::with_capacity(v.reads.len());
        for span in &v.reads {
            let (bounds, target) = if span.point {
                self.check_key(&span.start)?;
                let key = std::ops::Bound::Included(span.start.clone());
                ((key.clone(), key), LockTarget::key(span.start.clone()))
            } else {
                (
                    self.clip(&KeyRange::new(span.start.clone(), span.end.clone()))?,
                    LockTarget::range(span.start.clone(), span.end.clone()),
                )
            };
            spans.push((span.read_ts, bounds, target));
        }
        for (_, _, target) in &spans {
            self.take_lock(txn, priority, target.clone(), LockMode::Shared, wait)
                .await?;
        }
        let storage = |source| TabletError::Storage {
            tablet: self.tablet,
            source,
        };
        for (read_ts, (start, end), _) in spans {
            let change = self
                .mvcc()
                .first_change(start, end, read_ts, txn)
                .map_err(storage)?;
            if let Some(change) = change {
                let what = match change {
                    Change::Version { key, ts } => format!(
                        "key {} changed at {ts}, after it was read at {read_ts}",
                        show(&key)
                    ),
                    Change::Intent { key, .. } => {
                        format!("key {} has another transaction's intent", show(&key))
                    }
                };
                return Err(self.aborted(txn, format!("validation failed: {what}")));
            }
        }
        if let Some(snapshot) = v.snapshot {
            for m in writes {
                let newest = self.mvcc().latest_version(m.key()).map_err(storage)?;
                if let Some(newest) = newest.filter(|n| n.ts > snapshot) {
                    return Err(self.aborted(
                        txn,
                        format!(
                            "validation failed: write-write conflict on key {} (committed at {}, after the snapshot at {snapshot}; first committer wins)",
                            show(m.key()),
                            newest.ts
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A key for an error message: printable bytes as they are, others
/// escaped.
fn show(key: &[u8]) -> String {
    key.iter()
        .flat_map(|c| std::ascii::escape_default(*c))
        .map(char::from)
        .collect()
}
