//! Steps of a participant told the outcome, and of an abort asked by the
//! transaction's client. Both are idempotent.
//!
//! ```text
//!   resolve(d) ──▶ prepared here? Command::Resolve{d} ──▶ applied ──▶ resolved:
//!                  release locks, forget        (nothing prepared: just release;
//!                  read-locked and committed at s: clock raised to s first)
//!   abort      ──▶ prepared here? Command::Resolve{Abort} (as above)
//!              ──▶ fenced? Aborted(RolledBack), remembered: late requests refused
//!              ──▶ otherwise release and forget
//! ```
//!
//! Why a gateway fences the aborts it sends after a failed 2PC: a prepare
//! it gave up on may still be waiting for a lock there. An unfenced abort
//! would forget the transaction, and the prepare, once granted, would
//! prepare an orphan that blocks its keys until the termination protocol
//! asks the coordinator. A fenced abort is remembered, so the prepare is
//! refused (`unfenced_abort_racing_a_prepare`).

use std::time::Instant;

use spanlite_storage::mvcc::TxnId;

use crate::command::Command;
use crate::leader::{Leader, TxnState};
use crate::twopc::Decision;
use crate::{AbortReason, TxnError};

/// The `Resolve` command to propose for `txn` with `decision`, if it
/// prepared here; `None`: nothing prepared here (call [`resolved`] at
/// once). A read-only participant holding its read locks for a commit at
/// `s` (`TxnState::ReadLocked`) raises this leader's clock to `s` first:
/// every write after its locks go commits above `s`.
pub fn resolve(leader: &mut Leader, txn: TxnId, decision: Decision) -> Option<Command> {
    match (leader.book.get(txn), decision) {
        (Some(TxnState::Prepared { .. }), _) => Some(Command::Resolve { txn, decision }),
        (Some(TxnState::ReadLocked { .. }), Decision::Commit(s)) => {
            leader.clock.raise(s);
            None
        }
        _ => None,
    }
}

/// The outcome of `txn` is applied here: its locks go and it is forgotten.
pub fn resolved(leader: &mut Leader, txn: TxnId, now: Instant) {
    leader.finish(txn, now);
}

/// What an abort needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AbortPlan {
    /// Propose this `Resolve{Abort}`, then [`resolved`].
    Resolve(Command),
    /// Done: its locks are released.
    Released,
}

/// Aborts `txn` here at its client's request; `fence`: remember the abort
/// so that requests of it still on their way are refused.
pub fn abort(
    leader: &mut Leader,
    txn: TxnId,
    fence: bool,
    now: Instant,
) -> Result<AbortPlan, TxnError> {
    match leader.book.get(txn) {
        Some(TxnState::Prepared { .. }) => Ok(AbortPlan::Resolve(Command::Resolve {
            txn,
            decision: Decision::Abort,
        })),
        // Its gateway aborts only what was not committed: the locks go.
        Some(TxnState::ReadLocked { .. }) => {
            leader.finish(txn, now);
            if fence {
                leader.abort(txn, AbortReason::RolledBack, now);
            }
            Ok(AbortPlan::Released)
        }
        Some(TxnState::Deciding { .. } | TxnState::Finishing { .. }) => Err(TxnError::Refused(
            format!("{txn} is being decided here; only its decision ends it"),
        )),
        _ if fence => {
            leader.abort(txn, AbortReason::RolledBack, now);
            Ok(AbortPlan::Released)
        }
        _ => {
            leader.finish(txn, now);
            Ok(AbortPlan::Released)
        }
    }
}
