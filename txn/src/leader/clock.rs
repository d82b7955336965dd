//! The leader's timestamps (DESIGN.md §3, §6, §10): what it assigned, what
//! is still on its way to being visible, and what it may promise.
//!
//! ```text
//!   assign(s) ──▶ pending {s} ──▶ applied here AND TT.after(s) ──▶ visible(s)
//!                     │                 (commit wait)
//!   a read at t waits while some pending s ≤ t
//!   closed(now) = min(now.earliest, min pending − 1): followers may serve ≤ it
//! ```
//!
//! INVARIANT (visibility follows commit wait): a timestamp leaves `pending`
//! only once its write is applied here and `TT.after(s)` held on this node.
//! Readers at or above a pending timestamp wait, and the closed timestamp
//! stays below every pending one, so no replica shows a write before its
//! commit wait is over: whoever sees it knows true time passed `s`.
//! INVARIANT (monotonic): every timestamp assigned is above every one
//! assigned or raised to before, above a `TT.now().latest` taken on this
//! node after its transaction began (when assigned, or at the
//! transaction's first read here: `actions::commit`) and above every
//! timestamp applied from the log. Every promise (a read's timestamp, a
//! closed timestamp) is raised into the last assigned, so no later
//! assignment goes below one.

use std::collections::BTreeSet;

use spanlite_truetime::{TTInterval, Timestamp};

use crate::TxnError;

/// Proof that commit wait is over for a timestamp: `TT.after(ts)` held
/// on this node. The follow-up steps that make a commit visible and
/// release its locks take one, so no caller can do that before commit
/// wait ends — not even when the clock fails while it waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitWaited {
    ts: Timestamp,
}

impl CommitWaited {
    /// The proof for `ts`, if `now` (a `TT.now()` on the node that chose
    /// `ts`) shows `TT.after(ts)`.
    pub fn check(ts: Timestamp, now: TTInterval) -> Option<Self> {
        (ts < now.earliest).then_some(Self { ts })
    }

    /// True when this proof covers `ts` (commit wait is over for it too).
    pub fn covers(&self, ts: Timestamp) -> bool {
        ts <= self.ts
    }
}

/// The timestamp state of one tablet leader.
#[derive(Clone, Debug, Default)]
pub struct TsClock {
    /// The highest timestamp assigned, or raised to by a read.
    last_assigned: Timestamp,
    /// Assigned and not yet visible (see the module docs).
    pending: BTreeSet<Timestamp>,
    /// The highest timestamp made visible (Spanner's LastTS).
    last_visible: Timestamp,
}

impl TsClock {
    /// A clock starting above `floor` (a new term's `LeaseStart` floor).
    pub fn starting_at(floor: Timestamp) -> Self {
        Self {
            last_assigned: floor,
            pending: BTreeSet::new(),
            last_visible: Timestamp::MIN,
        }
    }

    /// The highest timestamp assigned or read at.
    pub fn last_assigned(&self) -> Timestamp {
        self.last_assigned
    }

    /// The highest timestamp made visible here.
    pub fn last_visible(&self) -> Timestamp {
        self.last_visible
    }

    /// A new timestamp: at least `min`, above `start`, the last one
    /// assigned and `max_applied` (the log's `s_max`). It is pending until
    /// [`TsClock::visible`] or [`TsClock::abandon`]. `start` is a
    /// `TT.now().latest` taken on this node after the transaction began:
    /// now's, or its start bound (`actions::commit`).
    pub fn assign(
        &mut self,
        min: Timestamp,
        start: Timestamp,
        max_applied: Timestamp,
    ) -> Result<Timestamp, TxnError> {
        let floor = start
            .max(self.last_assigned)
            .max(max_applied)
            .next()
            .ok_or_else(|| TxnError::Refused("timestamp space exhausted".to_string()))?;
        let ts = floor.max(min);
        self.last_assigned = ts;
        self.pending.insert(ts);
        Ok(ts)
    }

    /// No later assignment goes at or below `t` (a read at `t`, a promise).
    pub fn raise(&mut self, t: Timestamp) {
        self.last_assigned = self.last_assigned.max(t);
    }

    /// The write at `ts` is applied here and its commit wait is over.
    pub fn visible(&mut self, ts: Timestamp) {
        if self.pending.remove(&ts) {
            self.last_visible = self.last_visible.max(ts);
        }
    }

    /// The write at `ts` will never be applied by this leader (its
    /// proposal failed before reaching the log, or the term ended).
    pub fn abandon(&mut self, ts: Timestamp) {
        self.pending.remove(&ts);
    }

    /// The smallest pending timestamp at or below `t`: a read at `t` must
    /// wait for it.
    pub fn pending_at_or_below(&self, t: Timestamp) -> Option<Timestamp> {
        self.pending.range(..=t).next().copied()
    }

    /// Number of pending timestamps.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The highest timestamp this leader can promise now that nothing at or
    /// below it will become visible later (a closed timestamp): below every
    /// pending timestamp, and at most `now.earliest` (the caller raises the
    /// last assigned to it, so every later assignment is above it, and a
    /// successor's is above its own `now.latest` at election, which is
    /// later in true time).
    pub fn closed(&self, now: TTInterval) -> Timestamp {
        let below_pending = self
            .pending
            .first()
            .map_or(Timestamp::MAX, |p| p.prev().unwrap_or(Timestamp::MIN));
        now.earliest.min(below_pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    fn now(earliest: u64, latest: u64) -> TTInterval {
        TTInterval {
            earliest: ts(earliest),
            latest: ts(latest),
        }
    }

    #[test]
    fn assignments_rise_above_now_the_last_one_and_the_log() {
        let mut c = TsClock::starting_at(ts(100));
        assert_eq!(c.assign(ts(0), now(40, 60).latest, ts(0)).unwrap(), ts(101));
        assert_eq!(
            c.assign(ts(0), now(140, 160).latest, ts(0)).unwrap(),
            ts(161)
        );
        assert_eq!(
            c.assign(ts(0), now(140, 160).latest, ts(500)).unwrap(),
            ts(501)
        );
        assert_eq!(
            c.assign(ts(900), now(140, 160).latest, ts(0)).unwrap(),
            ts(900)
        );
        c.raise(ts(1000));
        assert_eq!(
            c.assign(ts(0), now(140, 160).latest, ts(0)).unwrap(),
            ts(1001)
        );
    }

    #[test]
    fn reads_wait_for_pending_timestamps_at_or_below_them() {
        let mut c = TsClock::default();
        let a = c.assign(ts(0), now(10, 20).latest, ts(0)).unwrap();
        let b = c.assign(ts(0), now(30, 40).latest, ts(0)).unwrap();
        assert_eq!(c.pending_at_or_below(ts(20)), None);
        assert_eq!(c.pending_at_or_below(ts(41)), Some(a));
        c.visible(a);
        assert_eq!(c.pending_at_or_below(ts(41)), Some(b));
        assert_eq!(c.last_visible(), a);
        c.abandon(b);
        assert_eq!(c.pending_at_or_below(ts(41)), None);
        assert_eq!(c.last_visible(), a, "abandoned is not visible");
    }

    #[test]
    fn the_closed_timestamp_stays_below_pending_ones_and_now() {
        let mut c = TsClock::default();
        assert_eq!(c.closed(now(90, 110)), ts(90));
        let a = c.assign(ts(0), now(90, 110).latest, ts(0)).unwrap();
        assert_eq!(a, ts(111));
        assert_eq!(c.closed(now(200, 220)), ts(110));
        c.visible(a);
        assert_eq!(c.closed(now(200, 220)), ts(200));
    }
}
