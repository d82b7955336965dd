//! A transaction's range reads: under its locks (2PL) or at its snapshot
//! (the other modes), whole or the first or last pairs (`LIMIT`), with its
//! own writes put over what the tablets gave.

use std::collections::BTreeMap;
use std::ops::Bound;

use spanlite_proto::tablet::LockStrength;

use super::{REMEMBERED_SCAN_ROWS, Transaction};
use crate::GatewayError;
use crate::route::ScanKind;
use crate::txn::TxnMode;

impl Transaction {
    /// The pairs in `[start, end)` (empty `end`: to the end of the
    /// keyspace) as this transaction sees them (its buffered writes over
    /// the latest committed values), under shared range locks on every
    /// tablet the range covers, so no other transaction can insert into the
    /// range until this one ends (no phantoms).
    pub async fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        Ok(self.scan_locking(start, end, false, 0, false).await?.0)
    }

    /// The first pairs of `[start, end)` as [`Transaction::scan`] gives
    /// them, read until about `limit` (> 0) were found, and the key the
    /// rest begins at if that cut the read short: what was read is then
    /// `[start, resume)`, which alone is locked (2PL, on the tablet where
    /// the read stopped) or validated (OCC, SSI). `reverse`: the last
    /// pairs, in descending key order, read from the end; what was read is
    /// then `[resume, end)`.
    pub async fn scan_prefix(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        for_update: bool,
        reverse: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        let limit = limit.max(1);
        if for_update {
            return self.scan_for_update_in(start, end, limit, reverse).await;
        }
        self.scan_locking(start, end, false, limit, reverse).await
    }

    /// The pairs in `[start, end)` as [`Transaction::scan`] gives them, with
    /// the rows found locked for update. Under 2PL one call per tablet
    /// scans under the shared range lock and locks the rows exclusively;
    /// otherwise the rows are read for update after the scan. Under RC the
    /// rows come as read under their locks (the newest values; a row
    /// deleted since the statement's snapshot is left out), as PostgreSQL's
    /// read committed updates the newest version of each row it found.
    /// With a `limit` (0: none), as [`Transaction::scan_prefix`].
    pub async fn scan_for_update(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        self.scan_for_update_in(start, end, limit, false).await
    }

    async fn scan_for_update_in(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        if self.mode == TxnMode::TwoPhaseLocking {
            return self.scan_locking(start, end, true, limit, reverse).await;
        }
        let (pairs, resume) = self.scan_locking(start, end, false, limit, reverse).await?;
        let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let locked = self.get_many(&keys, true).await?;
        if self.mode == TxnMode::ReadCommitted {
            let pairs = keys.into_iter().zip(locked);
            return Ok((
                pairs.filter_map(|(k, v)| v.map(|v| (k, v))).collect(),
                resume,
            ));
        }
        Ok((pairs, resume))
    }

    /// The scans above: `reverse` reads from the end backwards (pairs in
    /// descending key order; the rest of a read cut short is then
    /// `[start, resume)`).
    async fn scan_locking(
        &mut self,
        start: &[u8],
        end: &[u8],
        for_update: bool,
        limit: usize,
        reverse: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        let range = spanlite_directory::KeyRange::new(start.to_vec(), end.to_vec());
        let scanned = if self.mode == TxnMode::TwoPhaseLocking {
            let lock = if for_update {
                LockStrength::Exclusive
            } else {
                LockStrength::Shared
            };
            let scanned = self
                .gateway
                .scan_tablets(&range, limit, ScanKind::Locked(self.meta(), lock), reverse)
                .await?;
            self.read_tablets.extend(scanned.tablets.iter().copied());
            // Held under the range lock: read again, they need no call.
            // (Only a short range's rows are kept for that: copying every
            // row of a long one costs more than the calls it may save.)
            if scanned.pairs.len() <= REMEMBERED_SCAN_ROWS {
                for (k, v) in &scanned.pairs {
                    self.locked_reads.insert(k.clone(), Some(v.clone()));
                }
            }
            scanned
        } else {
            let mut scanned = self
                .gateway
                .scan_tablets(&range, limit, ScanKind::Snapshot(self.snapshot), reverse)
                .await?;
            if let Some(ts) = self.snapshot.or(scanned.read_ts) {
                self.after_read(ts);
                if self.validates(false) {
                    // Only what was read is validated: the last piece
                    // ends (backwards: begins) where the read stopped.
                    if let Some(cut) = scanned.resume.clone()
                        && let Some((_, last)) = scanned.pieces.last_mut()
                    {
                        if reverse {
                            last.start = last.start.clone().max(cut);
                        } else if last.end.is_empty() || last.end > cut {
                            last.end = cut;
                        }
                    }
                    for (tablet, piece) in &scanned.pieces {
                        self.note_span(*tablet, &piece.start, &piece.end, false, ts);
                    }
                }
            }
            scanned
        };
        let resume = scanned.resume;
        if reverse {
            let mut pairs = scanned.pairs;
            pairs.reverse();
            let covered = resume.as_deref().unwrap_or(start);
            let mut pairs = self.overlay(covered, end, pairs);
            pairs.reverse();
            return Ok((pairs, resume));
        }
        let covered = resume.as_deref().unwrap_or(end);
        Ok((self.overlay(start, covered, scanned.pairs), resume))
    }

    /// The candidates of `SELECT … FOR UPDATE SKIP LOCKED` (and `NOWAIT`)
    /// in `[start, end)`: the pairs as [`Transaction::scan`] gives them
    /// but, under 2PL, from a strong snapshot read that takes no locks and
    /// waits for none (a range lock would wait for every row another
    /// transaction holds, which is what these clauses are there to pass
    /// by). The caller then locks the rows it wants with
    /// [`Transaction::get_many_skip_locked`], which reads them again.
    pub async fn scan_unlocked(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        if self.mode != TxnMode::TwoPhaseLocking {
            return self.scan(start, end).await;
        }
        let range = spanlite_directory::KeyRange::new(start.to_vec(), end.to_vec());
        let scanned = self
            .gateway
            .scan_tablets(&range, 0, ScanKind::Snapshot(None), false)
            .await?;
        Ok(self.overlay(start, end, scanned.pairs))
    }

    /// `pairs` read from `[start, end)` with this transaction's own
    /// writes there put over them.
    fn overlay(
        &self,
        start: &[u8],
        end: &[u8],
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        // This transaction's writes in [start, end) (none when the range
        // is empty or inverted: `BTreeMap::range` refuses start > end).
        let own = (
            Bound::Included(start.to_vec()),
            if end.is_empty() {
                Bound::Unbounded
            } else {
                Bound::Excluded(end.max(start).to_vec())
            },
        );
        // Nothing of this transaction's own in the range, and the tablets'
        // rows already in key order: they are the answer as they are.
        if self.writes.range(own.clone()).next().is_none() && pairs.is_sorted_by(|a, b| a.0 < b.0) {
            return pairs;
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = pairs.into_iter().collect();
        for (k, w) in self.writes.range(own) {
            match w.value() {
                Some(v) => {
                    merged.insert(k.clone(), v.to_vec());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        merged.into_iter().collect()
    }
}
