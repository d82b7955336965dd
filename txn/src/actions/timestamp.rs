//! Choosing timestamps (DESIGN.md §6, §10): for writes, and for strong and
//! snapshot reads on the leader.
//!
//! A strong read at `t` sees exactly the writes that were visible, or in
//! flight, when it was served, and no later one can land at or below `t`:
//!
//! - `t = max(TT.now().latest, last assigned, s_max)`, or, for a read that
//!   touches this tablet alone, the last visible commit timestamp
//!   (Spanner's LastTS, §4.2.2: no wait, no push of later writes);
//! - the leader raises its last assigned timestamp to `t`;
//! - the read waits for every write pending at or below `t` (assigned, not
//!   yet applied and commit-waited) — it never skips one.
//!
//! Why the read need not wait out `t` itself (commit wait for reads): no
//! replica shows a write before its commit wait is over (`TsClock`), so
//! every version the read sees has `s < ` true time when it is seen, and
//! nothing can commit at or below `t` on this tablet afterwards. The read
//! therefore returns the state of true time at the moment it is served,
//! whatever `t` is; a transaction that starts after the read ends gets a
//! timestamp above true time then, hence above every version the read saw.
//! `t` in the future only pushes this tablet's later writes above it. The
//! scenario `strong_read_needs_no_wait` shows it on unequal clocks.
//!
//! Future reads: a leader serves a read at `t` only while
//! `t < now.earliest + lease remaining` (`read_limit`). A successor is
//! elected after the lease ends, and starts above its own `now.latest`
//! then, which is above true time at the end of this lease, hence above
//! `t`. Nothing needs to be logged for reads. HAZARD: this compares the
//! lease (a monotonic-clock duration) with TrueTime: it assumes the
//! monotonic clock runs no faster than true time by more than the drift
//! bound (as `lease.rs` already assumes across machines).

use spanlite_truetime::{TTInterval, Timestamp};

use crate::TxnError;
use crate::leader::Leader;

/// How the timestamp of a snapshot read on the leader is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotRead {
    /// An exact timestamp (a snapshot read, or a later read of a read-only
    /// transaction); `None`: a strong read, the leader picks.
    pub at: Option<Timestamp>,
    /// The read touches this tablet alone: `LastTS` will do.
    pub single_tablet: bool,
    /// `TT.now()` on this node.
    pub now: TTInterval,
    /// The highest timestamp applied from the log.
    pub max_applied: Timestamp,
    /// `now.earliest + lease remaining`: reads at or above are refused.
    pub read_limit: Timestamp,
}

/// Picks the timestamp of a snapshot read and raises the leader's last
/// assigned timestamp to it (see the module docs). The caller then waits
/// until [`pending_at_or_below`] the result is `None`.
pub fn snapshot_ts(leader: &mut Leader, read: &SnapshotRead) -> Result<Timestamp, TxnError> {
    let t = match read.at {
        Some(t) => t,
        None if read.single_tablet => leader.clock.last_visible().max(read.max_applied),
        None => read
            .now
            .latest
            .max(leader.clock.last_assigned())
            .max(read.max_applied),
    };
    if t >= read.read_limit {
        return Err(TxnError::FutureRead {
            ts: t,
            limit: read.read_limit,
        });
    }
    leader.clock.raise(t);
    Ok(t)
}

/// The first write a read at `t` must still wait for: pending (assigned,
/// not yet applied and commit-waited) at or below `t`.
pub fn pending_at_or_below(leader: &Leader, t: Timestamp) -> Option<Timestamp> {
    leader.clock.pending_at_or_below(t)
}

/// A new timestamp for a write (see `TsClock::assign`).
pub(crate) fn assign(
    leader: &mut Leader,
    min: Timestamp,
    now: TTInterval,
    max_applied: Timestamp,
) -> Result<Timestamp, TxnError> {
    leader.clock.assign(min, now, max_applied)
}
