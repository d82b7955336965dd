//! Step: a leader's periodic transaction duties.
//!
//! ```text
//!   sweep(now) ──▶ forget aborts older than the abort memory
//!              ──▶ abort Active transactions silent past the idle timeout
//!                  (their client vanished; waiting for a lock is not silence)
//!              ──▶ prepared ones undecided that long: ask their coordinator
//!              ──▶ decisions not yet told to every participant: tell them
//!   expire_read_locks(earliest) ──▶ read locks held for a decision past
//!                  their lease end: released
//! ```
//!
//! Why aborting a silent transaction is safe: it is `Active`, so it holds
//! only locks here (its writes are buffered at its gateway); a later
//! commit of it is refused (remembered abort), or, once forgotten, finds
//! its read locks gone (`LeaderChanged` check) if it read here.

use std::time::Instant;

use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use crate::AbortReason;
use crate::leader::{Leader, TxnState};
use crate::twopc::Decision;

/// What a sweep decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Aborted now (idle).
    pub aborted: Vec<TxnId>,
    /// Prepared here and in doubt: ask these coordinators for the outcome
    /// (then `TxnBook::asked` if no answer came).
    pub in_doubt: Vec<(TxnId, TabletId)>,
    /// Decisions to tell their participants (then `decide::told`).
    pub to_tell: Vec<(TxnId, Decision, Vec<TabletId>)>,
}

/// Runs the leader's duties at `now`.
pub fn sweep(leader: &mut Leader, now: Instant) -> Sweep {
    let config = leader.config;
    leader.book.expire_aborts(now, config.abort_memory);
    let mut out = Sweep::default();
    for txn in leader.book.idle(now, config.idle_timeout) {
        if !leader.locks.is_waiting(txn) {
            leader.abort(txn, AbortReason::Idle, now);
            out.aborted.push(txn);
        }
    }
    out.in_doubt = leader.book.in_doubt(now, config.idle_timeout);
    let finishing: Vec<TxnId> = leader
        .book
        .iter()
        .filter(|(_, s)| matches!(s, TxnState::Finishing { telling: false, .. }))
        .map(|(t, _)| *t)
        .collect();
    for txn in finishing {
        if let Some((decision, participants)) = leader.book.start_telling(txn) {
            out.to_tell.push((txn, decision, participants));
        }
    }
    out.to_tell.sort_by_key(|(t, ..)| *t);
    out
}

/// Releases the read locks held for a decision (`TxnState::ReadLocked`)
/// whose lease end is at or below `earliest` (`TT.now().earliest`): any
/// commit that relied on them is below it, and every later timestamp here
/// is above it — the clock is raised to `earliest` first, as telling the
/// decision raises it to the commit timestamp. (Without the raise, a
/// writer that waited for those locks could commit from its start bound,
/// noted before the lease end, below the reader's commit:
/// `commit_from_start_bound.txt`.) Returns the transactions released.
pub fn expire_read_locks(leader: &mut Leader, earliest: Timestamp, now: Instant) -> Vec<TxnId> {
    let expired = leader.book.read_locks_expired(earliest);
    if !expired.is_empty() {
        leader.clock.raise(earliest);
    }
    for &txn in &expired {
        leader.finish(txn, now);
    }
    expired
}

/// Asking the coordinator of prepared `txn` gave no answer: ask again at
/// a later sweep.
pub fn asked(leader: &mut Leader, txn: TxnId) {
    leader.book.asked(txn);
}
