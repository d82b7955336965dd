//! Step: commit-time checks of the optimistic modes (DESIGN.md §6): OCC and
//! SSI validate what they read without locks; SSI and SI refuse to
//! overwrite a version committed after their snapshot (first committer
//! wins).
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
//! it read it at (a [`ReadSpan`]). At commit (or 2PC's lock phase) every
//! tablet it read from or writes to takes, on its leader:
//!
//! 1. exclusive locks on its writes, and shared locks on its read spans
//!    (wound-wait, as 2PL, so there are no deadlocks);
//! 2. validation: every read span must read the same now as at its
//!    snapshot — no committed version newer than the span's timestamp, and
//!    no other transaction's intent (`Mvcc::first_change`); SSI and SI
//!    also check that no written key has a version newer than the
//!    snapshot (write-write conflict, first committer wins);
//! 3. prepared (or deciding): from here it is never wounded, and its locks
//!    stay until the decision is applied.
//!
//! Any failure aborts the transaction (`ReadChanged` or `WriteConflict`, a
//! retryable 40001); nothing was written.
//!
//! The commit timestamp `s` is chosen after step 3 on every participant,
//! as in 2PL. Serializability: the locks make every read span stable from
//! validation until the decision is applied, and validation shows nothing
//! in it changed between the read and validation. A writer that commits at
//! a timestamp in `(r, s)` to a span must hold an exclusive lock on it, so
//! it either released it before our shared lock was granted — its version
//! is visible and validation sees it — or it waits until we are done and
//! commits above `s` (timestamps on a leader rise). So every value the
//! transaction read is still the newest at `s`: it reads and writes as if
//! it ran alone at `s`, like a 2PL transaction holding its locks until
//! commit. Committed transactions are therefore equivalent to the serial
//! order of their commit timestamps, the same order 2PL transactions
//! follow, which is why the modes mix on the same keys and stay
//! serializable (and, with commit wait, externally consistent).
//!
//! In SSI terms, the spans are per-key and per-range read timestamps, and
//! a read-write antidependency `T →rw U` (U overwrote what T read) with U
//! committed first is exactly a validation failure of T. This is the *read
//! refresh* form of SSI: T's reads, taken at S, are refreshed to its commit
//! timestamp, and the refresh fails if any of them changed. It aborts some
//! transactions the dangerous-structure test of Cahill et al. would let
//! commit, but needs no SIREAD state on the tablets. A read-only SSI
//! transaction reads at one snapshot and needs no validation at all (the
//! gateway commits it at the snapshot without asking the tablets).
//!
//! OCC differs in when it reads: each read sees the newest data (its own
//! snapshot), so a transaction that only read still validates. SI skips
//! step 2's read validation (a `SELECT … FOR UPDATE` read is validated,
//! as PostgreSQL's repeatable read locks it): write skew commits.

use std::ops::Bound;

use spanlite_storage::keycode::key_after;
use spanlite_storage::mvcc::{Change, Mvcc, TxnId};
use spanlite_truetime::Timestamp;

use crate::leader::Leader;
use crate::lock::LockTarget;
use crate::{AbortReason, KeyRange, Mutation, TxnError};

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

impl ReadSpan {
    /// The lock that keeps the span stable until the decision.
    pub fn lock_target(&self) -> LockTarget {
        if self.point {
            LockTarget::key(self.start.clone())
        } else {
            LockTarget::range(self.start.clone(), self.end.clone())
        }
    }

    fn bounds(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        if self.point {
            let key = Bound::Included(self.start.clone());
            (key.clone(), key)
        } else {
            let end = if self.end.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Excluded(self.end.clone())
            };
            (Bound::Included(self.start.clone()), end)
        }
    }
}

/// What a commit or prepare checks before it is prepared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// 2PL: the transaction read here under locks, which this leader must
    /// still hold.
    pub has_reads: bool,
    /// OCC/SSI: lock-free reads to validate.
    pub reads: Vec<ReadSpan>,
    /// SSI/SI: the snapshot; a write to a key with a newer version fails.
    pub snapshot: Option<Timestamp>,
}

/// Refuses spans this leader does not wholly serve.
pub(crate) fn check_spans(leader: &Leader, v: &Validation) -> Result<(), TxnError> {
    for span in &v.reads {
        leader.check_target(&span.lock_target())?;
    }
    Ok(())
}

/// Checks `v` and `writes` against storage as the module docs say (the
/// caller holds the locks). Aborts are returned, not recorded: the caller
/// aborts the transaction with the reason.
pub(crate) fn validate(
    mvcc: &Mvcc,
    txn: TxnId,
    writes: &[Mutation],
    v: &Validation,
) -> Result<(), TxnError> {
    // Below the GC watermark a deleted key's tombstone may be gone: a
    // change could no longer be seen, so such a read counts as changed.
    let watermark = mvcc.gc_watermark();
    if let Some(old) = v
        .reads
        .iter()
        .map(|s| s.read_ts)
        .chain(v.snapshot)
        .find(|ts| *ts < watermark)
    {
        return Err(TxnError::aborted_because(
            AbortReason::ReadChanged,
            format!("it read at {old}, below the GC watermark {watermark} (older than gc_ttl)"),
        ));
    }
    for span in &v.reads {
        let (start, end) = span.bounds();
        if let Some(change) = mvcc.first_change(start, end, span.read_ts, txn)? {
            let what = match change {
                Change::Version { key, ts } => format!(
                    "key {} changed at {ts}, after it was read at {}",
                    show(&key),
                    span.read_ts
                ),
                Change::Intent { key, .. } => {
                    format!("key {} has another transaction's intent", show(&key))
                }
            };
            return Err(TxnError::aborted_because(AbortReason::ReadChanged, what));
        }
    }
    if let Some(snapshot) = v.snapshot {
        for m in writes {
            if let Some(newest) = mvcc.latest_version(m.key())?.filter(|n| n.ts > snapshot) {
                return Err(TxnError::aborted_because(
                    AbortReason::WriteConflict,
                    format!(
                        "key {} committed at {}, after the snapshot at {snapshot}",
                        show(m.key()),
                        newest.ts
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A key for an error message: printable bytes as they are, others
/// escaped.
pub fn show(key: &[u8]) -> String {
    key.iter()
        .flat_map(|c| std::ascii::escape_default(*c))
        .map(char::from)
        .collect()
}

/// The range of a span (for routing checks and messages).
pub fn span_range(span: &ReadSpan) -> KeyRange {
    if span.point {
        KeyRange::new(span.start.clone(), key_after(&span.start))
    } else {
        KeyRange::new(span.start.clone(), span.end.clone())
    }
}
