//! Reads on a replica: under locks (2PL, on the leader) and lock-free at a
//! timestamp (strong and snapshot reads, on the leader at once or on a
//! follower whose safe time covers the timestamp). The rules are
//! `spanlite_txn::actions::{read, timestamp, safe_time}`'s.
//!
//! ```text
//!   locked    ──▶ lock_for_read (may wait) ──▶ latest version (an intent: wait)
//!   leader    ──▶ snapshot_ts: t ──▶ wait while a write is pending ≤ t ──▶ read @ t
//!   follower  ──▶ t ≤ closed ts and applied through its index? read @ t
//!                 t in the past: wait a little for the next closed ts
//!                 otherwise NotLeader (ask the leader)
//! ```

use std::time::{Duration, Instant};

use spanlite_storage::engine::Direction;
use spanlite_storage::keycode::key_after;
use spanlite_storage::mvcc::{Mvcc, ReadOutcome, Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::actions::read::{LockedRead, lock_for_read, try_lock_for_read};
use spanlite_txn::actions::safe_time::{self, Closed};
use spanlite_txn::actions::timestamp::{SnapshotRead, pending_at_or_below, snapshot_ts};
use spanlite_txn::leader::Progress;
use spanlite_txn::lock::{LockMode, LockTarget};
use spanlite_txn::{AbortReason, KeyRange, TxnError};

use super::error::TabletError;
use super::replica::Replica;

/// How a snapshot read's timestamp is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAt {
    /// The timestamp; `None`: a strong read, the leader picks.
    pub ts: Option<Timestamp>,
    /// The read-only transaction reads this tablet alone (the leader may
    /// pick its last commit timestamp).
    pub single_tablet: bool,
    /// With `ts`: it is another tablet's last commit timestamp; refused
    /// (`SnapshotBehind`) if this tablet applied a commit above it. Only
    /// the leader serves it.
    pub nothing_newer: bool,
}

/// The longest a follower waits for its safe time to reach a read in the
/// past before it sends the reader to the leader.
const FOLLOWER_WAIT: Duration = Duration::from_millis(500);

/// A read further ahead of `TT.now().latest` than this is refused at once
/// (it would push every later write's timestamp, and commit wait, that
/// far); a nearer one waits until the leader's lease covers it.
const FUTURE_READ_MAX: Duration = Duration::from_secs(1);

/// A locked read's request.
#[derive(Clone, Debug)]
pub struct TxnReadRequest {
    /// The transaction.
    pub txn: TxnId,
    /// Its wound-wait priority.
    pub priority: Timestamp,
    /// Shared, or exclusive (`FOR UPDATE`).
    pub mode: LockMode,
    /// It read from this tablet before (see `LockedRead::read_before`).
    pub read_before: bool,
    /// The descriptor generation it was routed with (0: unknown).
    pub generation: u64,
}

impl Replica {
    /// Reads `keys` for a read-write transaction under locks, waiting at
    /// most `wait` for them.
    pub async fn txn_read(
        &self,
        req: &TxnReadRequest,
        keys: Vec<Vec<u8>>,
        wait: Duration,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, TabletError> {
        self.check_serving()?;
        let targets: Vec<LockTarget> = keys.iter().map(|k| LockTarget::key(k.clone())).collect();
        self.lock_targets(req, &targets, wait).await?;
        let until = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = self
                .read_resolved(until, |m| m.get(&k, Timestamp::MAX))
                .await?
            {
                out.push((k, v));
            }
        }
        self.check_serving()?;
        Ok(out)
    }

    /// Reads `keys` for a read-write transaction under exclusive locks
    /// taken only where they can be had at once (`SELECT … FOR UPDATE
    /// SKIP LOCKED` and `NOWAIT`): the latest values of the keys it
    /// locked, and the keys it skipped because another transaction holds
    /// (or waits first for) them. Never waits for a lock.
    pub async fn txn_read_skip_locked(
        &self,
        req: &TxnReadRequest,
        keys: Vec<Vec<u8>>,
        wait: Duration,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>), TabletError> {
        self.check_serving()?;
        let targets: Vec<LockTarget> = keys.iter().map(|k| LockTarget::key(k.clone())).collect();
        let read = LockedRead {
            txn: req.txn,
            priority: req.priority,
            targets: &targets,
            mode: LockMode::Exclusive,
            read_before: req.read_before,
            generation: req.generation,
        };
        let latest = self.truetime.now().ok().map(|now| now.latest);
        let busy = self
            .run_step(req.txn, wait, |leader, now| {
                try_lock_for_read(leader, &read, now, latest).map(Progress::Done)
            })
            .await?;
        let until = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        let mut skipped = Vec::with_capacity(busy.len());
        let mut busy = busy.into_iter().peekable();
        for (i, k) in keys.into_iter().enumerate() {
            if busy.next_if_eq(&i).is_some() {
                skipped.push(k);
                continue;
            }
            // As `txn_read` reads under its locks.
            if let Some(v) = self
                .read_resolved(until, |m| m.get(&k, Timestamp::MAX))
                .await?
            {
                out.push((k, v));
            }
        }
        self.check_serving()?;
        Ok((out, skipped))
    }

    /// Scans `range` for a read-write transaction under a shared range
    /// lock (no phantoms); at most `limit` pairs (0: all), and the key the
    /// rest of the range begins at when the limit cut the scan short. With
    /// a limit the lock covers only what the first `limit` rows span —
    /// found by a read before it, read again under it (rows deleted in
    /// between leave fewer) — so a `LIMIT` does not keep writers out of
    /// the whole range. `reverse`: the last rows, from the end of the
    /// range backwards (in descending key order); the key returned then
    /// ends the rest of the range.
    pub async fn txn_scan(
        &self,
        req: &TxnReadRequest,
        range: &KeyRange,
        limit: usize,
        lock_rows: bool,
        reverse: bool,
        wait: Duration,
    ) -> Result<(Vec<Row>, Option<Vec<u8>>), TabletError> {
        self.check_serving()?;
        let mut range = range.clone();
        let mut cut = None;
        if limit > 0 {
            let first = self.latest_rows(&range, limit, reverse, wait).await?;
            if let Some((last, _)) = first.last().filter(|_| first.len() >= limit) {
                if reverse {
                    range.start = last.clone();
                    cut = Some(range.start.clone());
                } else {
                    range.end = key_after(last);
                    cut = Some(range.end.clone());
                }
            }
        }
        self.clip(&range)?;
        let target = LockTarget::range(range.start.clone(), range.end.clone());
        self.lock_targets(req, std::slice::from_ref(&target), wait)
            .await?;
        let rows = self.latest_rows(&range, limit, reverse, wait).await?;
        if lock_rows && !rows.is_empty() {
            // SELECT … FOR UPDATE in the same call: the rows found are
            // locked exclusively. The shared range lock held meanwhile keeps
            // every writer out, so what was read is what is locked.
            let targets: Vec<LockTarget> = rows
                .iter()
                .map(|(k, _)| LockTarget::key(k.clone()))
                .collect();
            let exclusive = TxnReadRequest {
                mode: LockMode::Exclusive,
                read_before: true,
                ..req.clone()
            };
            self.lock_targets(&exclusive, &targets, wait).await?;
        }
        self.check_serving()?;
        let resume = locked_resume(cut, &rows, limit, reverse);
        Ok((rows, resume))
    }

    /// The latest committed rows of `range` (at most `limit`, 0: all;
    /// `reverse`: the last ones, in descending key order), once no
    /// undecided transaction's intent is among them.
    async fn latest_rows(
        &self,
        range: &KeyRange,
        limit: usize,
        reverse: bool,
        wait: Duration,
    ) -> Result<Vec<Row>, TabletError> {
        let (start, end) = self.clip(range)?;
        let until = tokio::time::Instant::now() + wait;
        self.read_resolved(until, |m| {
            m.scan(
                start.clone(),
                end.clone(),
                Timestamp::MAX,
                direction(reverse),
                (limit > 0).then_some(limit),
            )
        })
        .await
    }

    async fn lock_targets(
        &self,
        req: &TxnReadRequest,
        targets: &[LockTarget],
        wait: Duration,
    ) -> Result<(), TabletError> {
        let read = LockedRead {
            txn: req.txn,
            priority: req.priority,
            targets,
            mode: req.mode,
            read_before: req.read_before,
            generation: req.generation,
        };
        // The transaction began before this read came: its start bound
        // here if it is the first (`actions::commit`).
        let latest = self.truetime.now().ok().map(|now| now.latest);
        self.run_step(req.txn, wait, |leader, now| {
            lock_for_read(leader, &read, now, latest)
        })
        .await
    }

    /// The value of `key` now: a strong read at the leader.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TabletError> {
        let (_, mut pairs) = self
            .snapshot_read(
                vec![key.to_vec()],
                ReadAt::default(),
                false,
                Duration::from_secs(4),
            )
            .await?;
        Ok(pairs.pop().map(|(_, v)| v))
    }

    /// A lock-free read of `keys` at a timestamp (see [`ReadAt`]); with
    /// `any_replica` and a timestamp, a follower may serve it. Returns the
    /// timestamp with the values.
    pub async fn snapshot_read(
        &self,
        keys: Vec<Vec<u8>>,
        at: ReadAt,
        any_replica: bool,
        wait: Duration,
    ) -> Result<(Timestamp, Vec<(Vec<u8>, Vec<u8>)>), TabletError> {
        for k in &keys {
            self.check_key(k)?;
        }
        self.snapshot(at, any_replica, wait, |mvcc, s| {
            let mut out = Vec::new();
            for k in &keys {
                match mvcc.get(k, s)? {
                    ReadOutcome::Ready(Some(v)) => out.push((k.clone(), v)),
                    ReadOutcome::Ready(None) => {}
                    ReadOutcome::Blocked(b) => return Ok(ReadOutcome::Blocked(b)),
                }
            }
            Ok(ReadOutcome::Ready(out))
        })
        .await
    }

    /// A lock-free scan of `range` (inside this tablet) at a timestamp, at
    /// most `limit` pairs (0: all; `reverse`: the last ones, in descending
    /// key order), as [`Replica::snapshot_read`].
    pub async fn snapshot_scan(
        &self,
        range: &KeyRange,
        at: ReadAt,
        any_replica: bool,
        limit: usize,
        reverse: bool,
        wait: Duration,
    ) -> Result<(Timestamp, Vec<Row>), TabletError> {
        let (start, end) = self.clip(range)?;
        self.snapshot(at, any_replica, wait, |mvcc, s| {
            mvcc.scan(
                start.clone(),
                end.clone(),
                s,
                direction(reverse),
                (limit > 0).then_some(limit),
            )
        })
        .await
    }

    /// Picks the read's timestamp and replica role, then runs `read` at it
    /// (again each time an undecided transaction's intent blocks it).
    async fn snapshot<T>(
        &self,
        at: ReadAt,
        any_replica: bool,
        wait: Duration,
        read: impl Fn(&Mvcc, Timestamp) -> spanlite_storage::Result<ReadOutcome<T>>,
    ) -> Result<(Timestamp, T), TabletError> {
        let until = tokio::time::Instant::now() + wait;
        let (t, leader) = match (self.check_serving(), at.ts) {
            (Ok(_), _) => (self.leader_snapshot_ts(at, until).await?, true),
            (Err(_), Some(t)) if any_replica && !at.nothing_newer => {
                self.wait_follower_safe_time(t, until).await?;
                (t, false)
            }
            (Err(e), _) => return Err(e),
        };
        let out = self.read_resolved(until, |m| read(m, t)).await?;
        if leader {
            // The lease must still hold: `t` was chosen under it.
            self.check_serving()?;
        }
        Ok((t, out))
    }

    /// The leader's timestamp for a snapshot read, once every write pending
    /// at or below it is visible.
    async fn leader_snapshot_ts(
        &self,
        at: ReadAt,
        until: tokio::time::Instant,
    ) -> Result<Timestamp, TabletError> {
        let t = loop {
            let view = self.check_serving()?;
            let now = self
                .truetime
                .now()
                .map_err(|e| TabletError::ClockUnsynchronized(e.to_string()))?;
            let read = SnapshotRead {
                at: at.ts,
                single_tablet: at.single_tablet,
                nothing_newer: at.nothing_newer,
                now,
                max_applied: self.applied().max_ts,
                gc_floor: self.mvcc().gc_watermark(),
                read_limit: now
                    .earliest
                    .saturating_add(view.remaining_at(Instant::now())),
            };
            match self.with_core(|core| snapshot_ts(&mut core.leader, &read)) {
                Ok(t) => break t,
                // Beyond what this lease covers: the lease is renewed and
                // time moves on, so a timestamp a little ahead fits soon;
                // one more than a lease ahead never will.
                Err(TxnError::FutureRead { ts, .. })
                    if ts <= now.latest.saturating_add(FUTURE_READ_MAX)
                        && tokio::time::Instant::now() < until =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(self.txn_error(e)),
            }
        };
        loop {
            let notified = self.visible.notified();
            let blocked = {
                let core = self.core_lock();
                pending_at_or_below(&core.leader, t)
            };
            let Some(pending) = blocked else {
                return Ok(t);
            };
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Err(TabletError::Aborted {
                    tablet: self.tablet,
                    reason: AbortReason::Unresolved,
                    detail: format!(
                        "a write at {pending} was still in flight at the read's deadline"
                    ),
                });
            }
        }
    }

    /// Waits until this follower may serve a read at `t`: its safe time
    /// reaches `t`. A timestamp in the past gets a short wait (the next
    /// closed timestamp will cover it); one that is not is the leader's.
    async fn wait_follower_safe_time(
        &self,
        t: Timestamp,
        until: tokio::time::Instant,
    ) -> Result<(), TabletError> {
        let past = self.truetime.now().is_ok_and(|now| t < now.earliest);
        let until = if past {
            until.min(tokio::time::Instant::now() + FOLLOWER_WAIT)
        } else {
            tokio::time::Instant::now()
        };
        let mut applied = self.applied_watch();
        loop {
            let notified = self.visible.notified();
            let index = applied.borrow_and_update().index;
            let safe = self
                .safe_time
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .safe_ts(index);
            if t <= safe {
                return Ok(());
            }
            let changed = tokio::select! {
                _ = tokio::time::sleep_until(until) => false,
                _ = notified => true,
                r = applied.changed() => r.is_ok(),
            };
            if !changed {
                return Err(self.not_leader(self.lease.view()));
            }
        }
    }

    /// Runs `read` again each time an undecided transaction's intent blocks
    /// it, until it is resolved here or `until` passes.
    async fn read_resolved<T>(
        &self,
        until: tokio::time::Instant,
        read: impl Fn(&Mvcc) -> spanlite_storage::Result<ReadOutcome<T>>,
    ) -> Result<T, TabletError> {
        let mut applied = self.applied_watch();
        loop {
            match read(self.mvcc()) {
                Ok(ReadOutcome::Ready(out)) => return Ok(out),
                Ok(ReadOutcome::Blocked(b)) => {
                    if !matches!(
                        tokio::time::timeout_at(until, applied.changed()).await,
                        Ok(Ok(()))
                    ) {
                        let detail = b
                            .first()
                            .map(|i| format!("{} prepared at {}", i.txn, i.prepare_ts))
                            .unwrap_or_default();
                        self.metrics.note_abort(AbortReason::Unresolved);
                        return Err(TabletError::Aborted {
                            tablet: self.tablet,
                            reason: AbortReason::Unresolved,
                            detail,
                        });
                    }
                }
                Err(source) => {
                    return Err(TabletError::Storage {
                        tablet: self.tablet,
                        source,
                    });
                }
            }
        }
    }

    /// The bounds of `range`, which must lie inside this tablet's range:
    /// a caller that routed with a stale descriptor (the tablet split
    /// since) gets `WrongTablet` and routes again, rather than a silently
    /// shorter answer it would take for the whole range.
    pub(super) fn clip(&self, range: &KeyRange) -> Result<super::KeyBounds, TabletError> {
        use std::ops::Bound;
        let own = self.range();
        let starts_inside = range.start >= own.start;
        let ends_inside = own.end.is_empty() || (!range.end.is_empty() && range.end <= own.end);
        if !starts_inside || !ends_inside {
            return Err(TabletError::WrongTablet {
                tablet: self.tablet,
                reason: format!("range outside its range {own}"),
            });
        }
        let end = if range.end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(range.end.clone())
        };
        Ok((Bound::Included(range.start.clone()), end))
    }

    /// Closes a timestamp for this tablet's followers, if this replica
    /// serves as leader (`spanlite_txn::actions::safe_time`).
    pub fn close_timestamp(&self) -> Option<Closed> {
        self.check_serving().ok()?;
        let now = self.truetime.now().ok()?;
        let closed = self.with_core(|core| {
            let mut closed = safe_time::close(&mut core.leader, now, 0);
            // Read after closing: every write at or below the closed
            // timestamp is visible, hence applied at or below this index.
            closed.index = self.applied().index;
            closed
        });
        // The promise holds for this replica too, should it serve as a
        // follower later.
        self.note_closed(closed);
        Some(closed)
    }

    /// The highest timestamp this replica may serve follower reads at now
    /// (its leaders' closed timestamps it has applied far enough for).
    pub fn follower_safe_time(&self) -> Timestamp {
        let index = self.applied().index;
        self.safe_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .safe_ts(index)
    }

    /// Notes a closed timestamp this tablet's leader sent.
    pub fn note_closed(&self, closed: Closed) {
        self.safe_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .note(closed);
        self.visible.notify_waiters();
    }
}

/// Where the rest of a locked scan's range begins: `cut`, the end of the
/// range it locked (`None`: it locked and read the whole range), unless
/// rows inserted before the lock filled the limit sooner — then just
/// after the last row given (the locked rows past it were not read).
/// `reverse`: where the rest ends — the start of the range it locked, or
/// the last (least) row given.
fn locked_resume(
    cut: Option<Vec<u8>>,
    rows: &[Row],
    limit: usize,
    reverse: bool,
) -> Option<Vec<u8>> {
    let cut = cut?;
    match rows.last() {
        Some((last, _)) if rows.len() >= limit && reverse => Some(last.clone().max(cut)),
        Some((last, _)) if rows.len() >= limit => Some(key_after(last).min(cut)),
        _ => Some(cut),
    }
}

fn direction(reverse: bool) -> Direction {
    if reverse {
        Direction::Reverse
    } else {
        Direction::Forward
    }
}

#[cfg(test)]
mod tests {
    use super::locked_resume;

    fn rows(keys: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
        keys.iter().map(|k| (k.to_vec(), Vec::new())).collect()
    }

    #[test]
    fn a_locked_scan_resumes_after_what_it_gave() {
        // Read before the lock: a, c (limit 2), so `c\0` ends the lock.
        let cut = Some(b"c\0".to_vec());
        // Under the lock: as before.
        let resume = |given: &[&[u8]]| locked_resume(cut.clone(), &rows(given), 2, false);
        assert_eq!(resume(&[b"a", b"c"]), cut);
        // `b` inserted in between filled the limit: c was not given.
        assert_eq!(resume(&[b"a", b"b"]), Some(b"b\0".to_vec()));
        // `a` deleted in between: fewer rows, the lock's end still.
        assert_eq!(resume(&[b"c"]), cut);
        // The whole range read and locked: nothing left.
        assert_eq!(locked_resume(None, &rows(&[b"a"]), 2, false), None);
    }

    #[test]
    fn a_reverse_locked_scan_resumes_before_what_it_gave() {
        // Read before the lock, from the end: e, c (limit 2), so the lock
        // is [c, end) and the rest ends at c.
        let cut = Some(b"c".to_vec());
        let resume = |given: &[&[u8]]| locked_resume(cut.clone(), &rows(given), 2, true);
        assert_eq!(resume(&[b"e", b"c"]), cut);
        // `d` inserted in between filled the limit: c was not given.
        assert_eq!(resume(&[b"e", b"d"]), Some(b"d".to_vec()));
        // `e` deleted in between: fewer rows, the lock's start still.
        assert_eq!(resume(&[b"c"]), cut);
        assert_eq!(locked_resume(None, &rows(&[b"e"]), 2, true), None);
    }
}
