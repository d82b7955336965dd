//! Step: freezing a tablet for a merge into its left neighbour (DESIGN.md
//! §2, merges), and the left neighbour's side of the merge.
//!
//! ```text
//!   right leader: block ──▶ abort every transaction holding or waiting for
//!                   a lock that has not prepared or begun its commit here
//!                 ──▶ refuse every key from now on
//!                 (wait until nothing here is prepared, deciding, finishing
//!                  or read-locked: in_the_way)
//!                 begin_freeze ──▶ Command::Freeze{into: left,
//!                                    floor = last assigned, applied s_max}
//!                 end_freeze(applied | refused: serve again)
//!   (every replica of the right tablet applies the freeze; TT.after(floor))
//!   left leader:  begin_merge(floor) ──▶ Command::Merge{right, at, end, floor}
//! ```
//!
//! Why wait for the other states: a prepared or deciding transaction's
//! record, and a finishing one's decision, belong to this tablet's log,
//! which ends here; a read-locked one may commit above the floor, below a
//! write the left neighbour would then accept. Blocking new work first is
//! what lets them drain under a steady load.
//!
//! Why the floor: this leader may have served reads and closed timestamps
//! up to its last assigned one; the left neighbour raises its clock there
//! before it serves the keys, so nothing is written at or below a snapshot
//! already read (a frozen leader closes nothing above the floor).

use std::time::Instant;

use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::leader::{Leader, TxnState};
use crate::lock::LockTarget;
use crate::{AbortReason, TxnError};

/// What a freeze begins with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezePlan {
    /// No timestamp at or below it was handed out here.
    pub floor: Timestamp,
}

/// Starts draining the leader's tablet for a freeze: aborts every
/// transaction holding or waiting for a lock that has not prepared or
/// begun its commit here, and refuses every key from now on (new reads,
/// locks, prepares and commits). What is prepared, deciding or finishing
/// here goes on to its end ([`in_the_way`]); then [`begin_freeze`].
pub fn block(leader: &mut Leader, now: Instant) -> Vec<TxnId> {
    let all = LockTarget::range(leader.range().start.clone(), leader.range().end.clone());
    let aborted: Vec<TxnId> = leader
        .locks
        .holders_overlapping(&all)
        .into_iter()
        .filter(|t| leader.book.is_active(*t))
        .collect();
    for txn in &aborted {
        leader.abort(*txn, AbortReason::TabletMoved, now);
    }
    let provisional = leader.clock.last_assigned();
    leader.set_frozen(Some(provisional));
    aborted
}

/// A transaction that still holds the freeze up: prepared, deciding,
/// finishing or read-locked here.
pub fn in_the_way(leader: &Leader) -> Option<String> {
    leader.book.iter().find_map(|(txn, s)| {
        let what = match s {
            TxnState::Active { .. } | TxnState::Aborted { .. } => return None,
            TxnState::Prepared { .. } => "prepared",
            TxnState::ReadLocked { .. } => "read-locked",
            TxnState::Deciding { .. } => "committing",
            TxnState::Finishing { .. } => "telling its participants",
        };
        Some(format!("{txn} is {what} here"))
    })
}

/// Begins the freeze once nothing is in the way; propose
/// `Command::Freeze` with the floor, then call [`end_freeze`].
pub fn begin_freeze(leader: &mut Leader, max_applied: Timestamp) -> Result<FreezePlan, TxnError> {
    if let Some(why) = in_the_way(leader) {
        return Err(TxnError::Refused(format!("{why}; freeze once it is done")));
    }
    // Above every earlier freeze's floor (it is in `max_applied`): the
    // floor names this freeze (`Command::AbandonMerge`).
    let floor = leader
        .clock
        .last_assigned()
        .max(max_applied)
        .saturating_add(std::time::Duration::from_nanos(1));
    leader.set_frozen(Some(floor));
    Ok(FreezePlan { floor })
}

/// The freeze ended: applied (the tablet stays frozen for good), or refused
/// or lost (it serves again).
pub fn end_freeze(leader: &mut Leader, applied: bool) {
    if !applied {
        leader.set_frozen(None);
    }
}

/// Before the left neighbour proposes `Command::Merge`: nothing it assigns
/// from now on is at or below the right neighbour's floor.
pub fn begin_merge(leader: &mut Leader, floor: Timestamp) {
    leader.clock.raise(floor);
}
