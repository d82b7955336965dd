//! Step: a split of the leader's tablet at a key (DESIGN.md §2).
//!
//! ```text
//!   begin(at) ──▶ refused while a transaction is prepared here
//!             ──▶ abort every transaction holding or waiting for a lock in
//!                 [at, end): its locks cannot move to the new tablet
//!             ──▶ refuse reads and locks in [at, end) from now on
//!             ──▶ Command::Split{at, floor = last assigned, …}
//!   end(applied range | refused)
//! ```
//!
//! Why abort the lock holders: the new tablet's leader starts with an
//! empty lock table. A 2PL transaction that read `k` under a lock here and
//! later writes `k` on the new tablet would find nobody holding `k` there,
//! and two such transactions could both read the old value (a lost update
//! across the split). Aborted, each retries on the new tablet.
//!
//! Why the floor: this leader may have served reads on the moved keys at
//! timestamps up to its last assigned one; the new tablet starts its `s_max`
//! there, so no leader of it writes at or below a snapshot already read.
//!
//! Why a commit being decided does not hold the split up (under a steady
//! write load one always is): its entry was proposed before the split's
//! (both are proposed under the proposal order), so it is applied first; its
//! decision record stays with this tablet; and the new tablet's first
//! leader waits until `TT.after(s_max)`, above its commit timestamp, before
//! it serves, so nobody sees the write there before its commit wait ends.
//! Prepared transactions do hold it up: their records belong to this tablet.

use std::time::Instant;

use spanlite_truetime::Timestamp;

use crate::leader::Leader;
use crate::lock::LockTarget;
use crate::{AbortReason, KeyRange, TxnError};

/// What a split begins with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    /// No timestamp at or below it was handed out for the moved keys.
    pub floor: Timestamp,
    /// The transactions aborted because they held locks on moved keys.
    pub aborted: Vec<spanlite_storage::mvcc::TxnId>,
}

/// Begins a split at `at`; propose `Command::Split` with the floor, then
/// call [`end`].
pub fn begin(
    leader: &mut Leader,
    at: &[u8],
    max_applied: Timestamp,
    now: Instant,
) -> Result<SplitPlan, TxnError> {
    if !leader.range().can_split_at(at) {
        return Err(TxnError::Refused(format!(
            "split key is not strictly inside the range {}",
            leader.range()
        )));
    }
    if let Some(txn) = leader.book.prepared().next() {
        return Err(TxnError::Refused(format!(
            "{txn} is prepared here; split once it is decided"
        )));
    }
    let moved = LockTarget::range(at.to_vec(), leader.range().end.clone());
    let aborted = leader.locks.holders_overlapping(&moved);
    for txn in &aborted {
        leader.abort(*txn, AbortReason::TabletMoved, now);
    }
    leader.set_splitting(Some(at.to_vec()));
    let floor = leader.clock.last_assigned().max(max_applied);
    leader.clock.raise(floor);
    Ok(SplitPlan { floor, aborted })
}

/// The split ended: applied (this tablet's new range and generation), or
/// refused or lost (the range stays).
pub fn end(leader: &mut Leader, applied: Option<(KeyRange, u64)>) {
    match applied {
        Some((range, generation)) => leader.set_range(range, generation),
        None => leader.set_splitting(None),
    }
}
