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
//! LastTS beyond one tablet: a lone statement's read-only transaction reads
//! its first tablet at that tablet's LastTS `t` before it knows whether it
//! reads more. A later read of another tablet at `t` is served only if
//! that tablet has applied nothing above `t` (`nothing_newer`): every
//! transaction that finished before ours began is applied there by now, so
//! at or below `t`, and the snapshot holds it; `t` is raised into the
//! tablet's clock as for any snapshot read, so nothing commits at or below
//! it later. Otherwise the read is refused (`SnapshotBehind`) and the
//! statement retried at a strong timestamp. (The check is conservative: a
//! newer commit may have finished after ours began.)
//!
//! Neither holds while a transaction is prepared on the tablet (as in
//! Spanner, LastTS needs no prepared transactions): its coordinator may
//! have committed it, and acknowledged the commit, at a timestamp above
//! everything applied here, before the decision reaches this tablet. A
//! LastTS read then takes the strong path; a `nothing_newer` read is
//! refused. The regression: `server/node/tests` (the demo's transfer,
//! then a lone SELECT on the participant).
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

use crate::leader::Leader;
use crate::{AbortReason, TxnError};

/// How the timestamp of a snapshot read on the leader is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotRead {
    /// An exact timestamp (a snapshot read, or a later read of a read-only
    /// transaction); `None`: a strong read, the leader picks.
    pub at: Option<Timestamp>,
    /// The read touches this tablet alone: `LastTS` will do.
    pub single_tablet: bool,
    /// With `at`: the transaction's timestamp is another tablet's LastTS;
    /// refuse (`SnapshotBehind`) if a commit above `at` is applied here.
    pub nothing_newer: bool,
    /// `TT.now()` on this node.
    pub now: TTInterval,
    /// The highest timestamp applied from the log.
    pub max_applied: Timestamp,
    /// The GC watermark: reads below it are refused, so a LastTS below it
    /// (a tablet idle for longer than `gc_ttl`) is raised to it.
    pub gc_floor: Timestamp,
    /// `now.earliest + lease remaining`: reads at or above are refused.
    pub read_limit: Timestamp,
}

/// Picks the timestamp of a snapshot read and raises the leader's last
/// assigned timestamp to it (see the module docs). The caller then waits
/// until [`pending_at_or_below`] the result is `None`.
pub fn snapshot_ts(leader: &mut Leader, read: &SnapshotRead) -> Result<Timestamp, TxnError> {
    // A transaction prepared here may have committed at its coordinator
    // (and been acknowledged) above every timestamp applied here: LastTS
    // does not hold it, so neither kind of LastTS read is served then.
    let prepared_here = leader.book.prepared().next().is_some();
    let t = match read.at {
        Some(t) => t,
        None if read.single_tablet && !prepared_here => leader
            .clock
            .last_visible()
            .max(read.max_applied)
            .max(read.gc_floor),
        None => read
            .now
            .latest
            .max(leader.clock.last_assigned())
            .max(read.max_applied),
    };
    if read.nothing_newer {
        // Everything that finished before the transaction began is applied
        // here, so at or below `max_applied`: if that is at or below `t`,
        // the snapshot at `t` holds it all (see the module docs).
        let newest = leader.clock.last_visible().max(read.max_applied);
        if newest > t || prepared_here {
            return Err(TxnError::aborted_because(
                AbortReason::SnapshotBehind,
                if prepared_here {
                    format!("a transaction prepared here may commit above the snapshot at {t}")
                } else {
                    format!("a commit at {newest} is above the snapshot at {t}")
                },
            ));
        }
    }
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

/// A new timestamp for a write (see `TsClock::assign`): `start` is
/// `now.latest` or a transaction's start bound.
pub(crate) fn assign(
    leader: &mut Leader,
    min: Timestamp,
    start: Timestamp,
    max_applied: Timestamp,
) -> Result<Timestamp, TxnError> {
    leader.clock.assign(min, start, max_applied)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use spanlite_storage::mvcc::TxnId;

    use super::*;
    use crate::KeyRange;
    use crate::leader::LeaderConfig;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    /// A leader whose last applied commit is at 10 ms, now [99, 101] ms.
    fn read(at: Option<Timestamp>, single_tablet: bool, nothing_newer: bool) -> SnapshotRead {
        SnapshotRead {
            at,
            single_tablet,
            nothing_newer,
            now: TTInterval {
                earliest: ms(99),
                latest: ms(101),
            },
            max_applied: ms(10),
            gc_floor: Timestamp::MIN,
            read_limit: ms(1000),
        }
    }

    fn leader() -> Leader {
        Leader::new(
            1,
            KeyRange::all(),
            1,
            Timestamp::MIN,
            LeaderConfig::default(),
        )
    }

    #[test]
    fn last_ts_is_the_last_applied_commit_unless_a_transaction_is_prepared() {
        let mut l = leader();
        assert_eq!(
            snapshot_ts(&mut l, &read(None, true, false)).unwrap(),
            ms(10)
        );
        // A prepared participant may be committed (and acknowledged) above
        // 10 ms already: the strong path instead.
        l.book.prepare(TxnId(7), 2, ms(5), Instant::now()).unwrap();
        assert_eq!(
            snapshot_ts(&mut l, &read(None, true, false)).unwrap(),
            ms(101)
        );
    }

    #[test]
    fn last_ts_is_raised_to_the_gc_watermark() {
        let mut l = leader();
        let mut r = read(None, true, false);
        r.gc_floor = ms(50);
        assert_eq!(snapshot_ts(&mut l, &r).unwrap(), ms(50));
    }

    #[test]
    fn nothing_newer_refuses_a_snapshot_below_a_commit_or_with_a_prepared_transaction() {
        let mut l = leader();
        assert_eq!(
            snapshot_ts(&mut l, &read(Some(ms(20)), false, true)).unwrap(),
            ms(20)
        );
        let behind = snapshot_ts(&mut l, &read(Some(ms(9)), false, true)).unwrap_err();
        assert_eq!(behind.abort_reason(), Some(AbortReason::SnapshotBehind));
        l.book.prepare(TxnId(7), 2, ms(5), Instant::now()).unwrap();
        let prepared = snapshot_ts(&mut l, &read(Some(ms(20)), false, true)).unwrap_err();
        assert_eq!(prepared.abort_reason(), Some(AbortReason::SnapshotBehind));
        // Without the flag, an exact-timestamp read is served as before.
        assert_eq!(
            snapshot_ts(&mut l, &read(Some(ms(9)), false, false)).unwrap(),
            ms(9)
        );
    }
}
