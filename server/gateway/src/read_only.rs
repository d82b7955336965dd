//! Read-only transactions: lock-free reads at one snapshot timestamp
//! (DESIGN.md §6), strong (the first read's leader picks the timestamp) or
//! at an exact one (`AS OF SYSTEM TIME`, stale reads).
//!
//! A lone statement's read-only transaction may take the LastTS of the
//! tablet of its first point read (that tablet's last commit timestamp:
//! no wait for writes in flight there); its later reads then go to
//! leaders with `nothing_newer`, which refuse (`SnapshotBehind`) where a
//! commit above it is applied — see `spanlite_txn::actions::timestamp`.

use std::collections::BTreeMap;
use std::sync::Arc;

use spanlite_proto::tablet::ReadRequest;
use spanlite_truetime::Timestamp;

use super::route::ScanKind;
use super::transaction::at_snapshot;
use super::{Gateway, GatewayError};

/// A read-only transaction: lock-free reads at one snapshot timestamp,
/// chosen by the leader of the first tablet read (at least its
/// `TT.now().latest`, so it sees every transaction committed before it
/// began) and used for every later read, on any tablet.
#[derive(Debug)]
pub struct ReadOnly {
    gateway: Gateway,
    ts: Option<Timestamp>,
    /// The first point read may use its tablet's LastTS.
    last_ts: bool,
    /// `ts` is a tablet's LastTS: later reads check `nothing_newer`.
    pinned: bool,
}

impl Gateway {
    /// Starts a read-only transaction.
    pub fn read_only(&self) -> ReadOnly {
        ReadOnly {
            gateway: self.clone(),
            ts: None,
            last_ts: false,
            pinned: false,
        }
    }

    /// A read-only transaction of one statement: its first point read may
    /// be served at its tablet's last commit timestamp (see the module
    /// docs); it may then fail with `SnapshotBehind`.
    pub fn read_only_last_ts(&self) -> ReadOnly {
        ReadOnly {
            last_ts: true,
            ..self.read_only()
        }
    }

    /// A read-only transaction at the exact timestamp `ts` (a snapshot read,
    /// `AS OF SYSTEM TIME`): it sees every write committed at or before
    /// `ts` and none after. Reads below the GC watermark fail.
    pub fn read_only_at(&self, ts: Timestamp) -> ReadOnly {
        ReadOnly {
            gateway: self.clone(),
            ts: Some(ts),
            last_ts: false,
            pinned: false,
        }
    }
}

impl ReadOnly {
    /// The pairs in `[start, end)` (empty `end`: to the end of the
    /// keyspace) in the snapshot, across tablets, at most `limit` (0: all).
    pub async fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        Ok(self.scan_prefix(start, end, limit, false).await?.0)
    }

    /// [`ReadOnly::scan`], and the key the rest of the range begins at if
    /// `limit` cut it short; `reverse`: the last pairs, in descending key
    /// order, and the key the rest ends at.
    pub async fn scan_prefix(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>), GatewayError> {
        let range = spanlite_directory::KeyRange::new(start.to_vec(), end.to_vec());
        let kind = match self.ts {
            Some(ts) if self.pinned => ScanKind::AfterLastTs(ts),
            ts => ScanKind::Snapshot(ts),
        };
        let scanned = self
            .gateway
            .scan_tablets(&range, limit, kind, reverse)
            .await?;
        if self.ts.is_none() {
            // An empty range may have read nothing anywhere: pick no
            // timestamp then, the next read will.
            self.ts = scanned.read_ts;
        }
        Ok((scanned.pairs, scanned.resume))
    }

    /// The snapshot timestamp, once the first read chose it.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.ts
    }

    /// The values of `keys` in the snapshot, one Read call per tablet (in
    /// parallel) once the first read fixed the snapshot.
    pub async fn get_many(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, GatewayError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut rest = keys;
        if self.ts.is_none()
            && let Some((first, others)) = keys.split_first()
        {
            out.push(self.get(first).await?);
            rest = others;
        }
        if rest.is_empty() {
            return Ok(out);
        }
        let (at, pinned) = (self.ts, self.pinned);
        let shape = Arc::new(move |req: &mut ReadRequest| {
            at_snapshot(req, at);
            after_last_ts(req, pinned);
        });
        let reads = self
            .gateway
            .read_many(rest.to_vec(), shape)
            .await
            .map_err(|(e, _)| e)?;
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for r in reads {
            found.extend(r.values);
        }
        out.extend(rest.iter().map(|k| found.remove(k)));
        Ok(out)
    }

    /// The value of `key` in the snapshot.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        let (at, pinned) = (self.ts, self.pinned);
        let last_ts = at.is_none() && self.last_ts;
        let (read, _) = self
            .gateway
            .read_key(key, |req| {
                at_snapshot(req, at);
                after_last_ts(req, pinned);
                req.single_tablet = last_ts;
            })
            .await?;
        if self.ts.is_none() {
            self.ts = Some(read.read_ts.ok_or_else(|| {
                GatewayError::Failed("snapshot read without a timestamp".to_string())
            })?);
            self.pinned = last_ts;
        }
        Ok(read.value)
    }
}

/// A read at another tablet's LastTS goes to the leader, which checks that
/// it applied nothing newer.
fn after_last_ts(req: &mut ReadRequest, pinned: bool) {
    if pinned {
        req.any_replica = false;
        req.nothing_newer = true;
    }
}
