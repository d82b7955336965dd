//! Step: safe time for followers (DESIGN.md §6, §10) — closed timestamps.
//!
//! ```text
//!   leader, every interval:  C = min(now.earliest, min pending − 1)
//!                            raise last assigned to C; I = applied index
//!                            ──(one message per node, all its tablets)──▶
//!   follower:                remembers (C, I); serves a read at t once
//!                            t ≤ C and it applied through I
//! ```
//!
//! Why a follower may serve a read at `t ≤ C` once it applied through `I`:
//! every write at or below `C` is visible on the leader (nothing pending
//! at or below `C`), so it was applied there at an index `≤ I`, and its
//! commit wait is over; no later write of this leader lands at or below
//! `C` (the last assigned was raised to `C`, and every assignment is
//! above the last assigned), nor of a successor (it starts above its own
//! `now.latest` at election, later in true time than `C ≤ now.earliest`).
//! Prepared transactions' intents at or below `t` were applied too, and
//! block the read until their outcome is applied (as on the leader).
//!
//! Why not the highest applied timestamp (the old rule): an entry at `s`
//! reaches followers while its commit wait may still run; a follower
//! serving reads at `s` would show the write too early.

use spanlite_truetime::{TTInterval, Timestamp};

use crate::leader::Leader;

/// A leader's promise: nothing at or below `ts` becomes visible later, and
/// everything at or below it is in the log through `index`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Closed {
    /// The closed timestamp.
    pub ts: Timestamp,
    /// The leader's applied index when it closed `ts`.
    pub index: u64,
}

/// Closes a timestamp now (see the module docs).
pub fn close(leader: &mut Leader, now: TTInterval, applied_index: u64) -> Closed {
    // A frozen tablet's keys pass to its left neighbour, which writes above
    // the freeze floor: closing above it would let followers here serve
    // reads that miss those writes.
    if let Some(floor) = leader.frozen() {
        return Closed {
            ts: floor.min(leader.clock.closed(now)),
            index: applied_index,
        };
    }
    let ts = leader.clock.closed(now);
    leader.clock.raise(ts);
    Closed {
        ts,
        index: applied_index,
    }
}

/// A follower's view of its leaders' closed timestamps.
#[derive(Clone, Debug, Default)]
pub struct FollowerSafeTime {
    /// Promises not yet usable (their index is not applied yet), and the
    /// newest usable one, in rising timestamp order.
    promises: Vec<Closed>,
}

/// Promises kept at most; older ones are dropped first.
const KEEP: usize = 8;

impl FollowerSafeTime {
    /// Notes a leader's promise.
    pub fn note(&mut self, closed: Closed) {
        if self.promises.iter().any(|c| c.ts >= closed.ts) {
            // Already promised as much (maybe at a smaller index).
            return;
        }
        self.promises.push(closed);
        if self.promises.len() > KEEP {
            self.promises.remove(0);
        }
    }

    /// The highest timestamp a read may be served at on a replica that
    /// applied through `applied_index` (`Timestamp::MIN`: none).
    pub fn safe_ts(&mut self, applied_index: u64) -> Timestamp {
        let usable = self.promises.iter().rposition(|c| c.index <= applied_index);
        match usable {
            Some(i) => {
                self.promises.drain(..i);
                self.promises[0].ts
            }
            None => Timestamp::MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ts: u64, index: u64) -> Closed {
        Closed {
            ts: Timestamp::from_nanos(ts),
            index,
        }
    }

    #[test]
    fn a_promise_counts_once_its_index_is_applied() {
        let mut f = FollowerSafeTime::default();
        assert_eq!(f.safe_ts(100), Timestamp::MIN);
        f.note(c(10, 5));
        f.note(c(20, 9));
        assert_eq!(f.safe_ts(4), Timestamp::MIN);
        assert_eq!(f.safe_ts(5), Timestamp::from_nanos(10));
        assert_eq!(f.safe_ts(8), Timestamp::from_nanos(10));
        assert_eq!(f.safe_ts(9), Timestamp::from_nanos(20));
        f.note(c(15, 12));
        assert_eq!(
            f.safe_ts(12),
            Timestamp::from_nanos(20),
            "a lower promise adds nothing"
        );
    }
}
