//! Step: a read-write transaction's read under locks (2PL): shared locks
//! (exclusive for `SELECT … FOR UPDATE`) on keys, shared range locks on
//! scans (no phantoms). The caller reads the latest committed values once
//! the locks are held.
//!
//! ```text
//!   read(k)  ──▶ aborted here? refuse ──▶ read here before, unknown now? abort (LeaderChanged)
//!            ──▶ S/X lock k (may wait) ──▶ Done: read the latest version
//! ```
//!
//! Why the latest version is enough: every committed version of a locked
//! key was written under an exclusive lock held until its commit wait was
//! over, so what a reader holding a lock sees is visible already.

use std::time::Instant;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::leader::{Leader, Progress};
use crate::lock::{LockMode, LockTarget};
use crate::{AbortReason, TxnError};

/// A read under locks.
#[derive(Clone, Copy, Debug)]
pub struct LockedRead<'a> {
    /// The transaction.
    pub txn: TxnId,
    /// Its wound-wait priority (its first attempt's begin time).
    pub priority: Timestamp,
    /// What it reads.
    pub targets: &'a [LockTarget],
    /// Shared, or exclusive (`FOR UPDATE`).
    pub mode: LockMode,
    /// It read from this tablet before (its gateway says so): if this
    /// leader does not know it, the leader changed and those locks are gone.
    pub read_before: bool,
    /// The descriptor generation it was routed with (0: unknown).
    pub generation: u64,
}

/// Takes the read's locks; `Done` once all are held. `latest` is a
/// `TT.now().latest` taken on this node for this read (`None`: the clock
/// failed); the first one of a transaction here is its start bound (see
/// `actions::commit`).
pub fn lock_for_read(
    leader: &mut Leader,
    read: &LockedRead<'_>,
    now: Instant,
    latest: Option<Timestamp>,
) -> Result<Progress<()>, TxnError> {
    admit(leader, read, now)?;
    let progress = leader.acquire_all(
        read.txn,
        read.priority,
        read.targets.iter().map(|t| (t, read.mode)),
        now,
    )?;
    if let Some(latest) = latest {
        leader.book.note_start(read.txn, latest);
    }
    Ok(progress)
}

/// Takes the read's locks that can be had at once and returns the
/// indexes of the targets it could not lock (`SELECT … FOR UPDATE SKIP
/// LOCKED` and `NOWAIT`): never waits, never wounds. The caller reads the
/// latest committed values of the others, as after [`lock_for_read`].
pub fn try_lock_for_read(
    leader: &mut Leader,
    read: &LockedRead<'_>,
    now: Instant,
    latest: Option<Timestamp>,
) -> Result<Vec<usize>, TxnError> {
    admit(leader, read, now)?;
    let busy = leader.try_acquire_each(read.txn, read.priority, read.targets, read.mode, now)?;
    if let Some(latest) = latest {
        leader.book.note_start(read.txn, latest);
    }
    Ok(busy)
}

/// What every locked read checks first: the transaction is not aborted
/// here, the route is current, and a leader that took over since its
/// earlier reads here does not let it go on without their locks.
fn admit(leader: &mut Leader, read: &LockedRead<'_>, now: Instant) -> Result<(), TxnError> {
    if let Some(reason) = leader.book.aborted(read.txn) {
        return Err(TxnError::aborted(reason));
    }
    leader.check_generation(read.generation)?;
    for target in read.targets {
        leader.check_target(target)?;
    }
    if read.read_before && !leader.book.is_active(read.txn) {
        return Err(leader.abort(read.txn, AbortReason::LeaderChanged, now));
    }
    Ok(())
}
