//! Read-write transactions as a gateway runs them for its client (2PL):
//! reads go to the owning tablet's leader, which locks; writes are buffered
//! here (the transaction reads its own writes) and sent with the commit.
//!
//! Built so far: transactions whose reads and writes fall in one tablet,
//! committed with the one-phase fast path. A transaction touching several
//! tablets is refused at commit (two-phase commit is not built yet) and
//! rolled back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use spanlite_proto::common::{self, tablet_error::Kind};
use spanlite_proto::tablet::{
    AbortRequest, CommitRequest, LockStrength, Mutation as WireMutation, ScanRequest, TxnMeta,
    mutation,
};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::TxnId;
use spanlite_truetime::Timestamp;

use super::{Gateway, GatewayError};

/// A read-write transaction (see the module docs). Finish it with
/// [`Transaction::commit`] or [`Transaction::rollback`]; dropping it leaves
/// its read locks to time out on the leaders.
#[derive(Debug)]
pub struct Transaction {
    gateway: Gateway,
    id: TxnId,
    priority: Timestamp,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    read_tablets: BTreeSet<TabletId>,
}

/// Outcome of a commit attempt so far (for not re-sending an ambiguous one).
const NOT_SENT: u8 = 0;
const IN_FLIGHT: u8 = 1;

impl Gateway {
    /// Starts a transaction. Its priority (wound-wait) is its begin time;
    /// `id` must be unique in the cluster (node id and a counter, say).
    pub fn begin(&self, id: TxnId, priority: Timestamp) -> Transaction {
        Transaction {
            gateway: self.clone(),
            id,
            priority,
            writes: BTreeMap::new(),
            read_tablets: BTreeSet::new(),
        }
    }
}

impl Transaction {
    /// The transaction's id.
    pub fn id(&self) -> TxnId {
        self.id
    }

    fn meta(&self) -> TxnMeta {
        TxnMeta {
            txn_id: Some(common::TxnId {
                id: self.id.0.to_be_bytes().to_vec(),
            }),
            priority: Some(common::Timestamp {
                nanos: self.priority.as_nanos(),
            }),
            ..Default::default()
        }
    }

    /// The value of `key` as this transaction sees it: its own buffered
    /// write, or the latest committed value read under a shared lock
    /// (`for_update`: an exclusive lock).
    pub async fn get(
        &mut self,
        key: &[u8],
        for_update: bool,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        let meta = self.meta();
        let lock = if for_update {
            LockStrength::Exclusive
        } else {
            LockStrength::Shared
        };
        let (read, d) = self
            .gateway
            .read_key(key, |req| {
                req.txn = Some(meta.clone());
                req.lock = lock as i32;
            })
            .await?;
        self.read_tablets.insert(d.id);
        Ok(read.value)
    }

    /// The pairs in `[start, end)` as this transaction sees them (its
    /// buffered writes over the latest committed values), under a shared
    /// range lock, so no other transaction can insert into the range until
    /// this one ends (no phantoms). One tablet only for now: the range must
    /// lie in the tablet owning `start`.
    pub async fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        let meta = self.meta();
        let (pairs, d) = self
            .gateway
            .call(start, |mut client, d| {
                let req = ScanRequest {
                    tablet_id: d.id,
                    generation: d.generation,
                    txn: Some(meta.clone()),
                    range: Some(common::KeyRange {
                        start: start.to_vec(),
                        end: end.to_vec(),
                    }),
                    ..Default::default()
                };
                async move {
                    let resp = client.scan(req).await?.into_inner();
                    Ok(match resp.error {
                        Some(e) => Err(e),
                        None => Ok(resp.pairs),
                    })
                }
            })
            .await?;
        self.read_tablets.insert(d.id);
        let tablet_end_covers =
            d.range.end.is_empty() || (!end.is_empty() && end <= d.range.end.as_slice());
        if !tablet_end_covers {
            return Err(GatewayError::Invalid(
                "the scanned range spans tablets; multi-tablet transactions are not built yet"
                    .to_string(),
            ));
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            pairs.into_iter().map(|kv| (kv.key, kv.value)).collect();
        for (k, w) in &self.writes {
            let inside = k.as_slice() >= start && (end.is_empty() || k.as_slice() < end);
            if !inside {
                continue;
            }
            match w {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Buffers `key = value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Commits; returns the commit timestamp (after commit wait). A
    /// transaction without writes just releases its read locks.
    ///
    /// Errors: `Aborted` (retry the transaction), `Invalid` (it spans
    /// tablets: not built yet; rolled back), `Failed` when the outcome is
    /// unknown (not retried automatically).
    pub async fn commit(self) -> Result<Timestamp, GatewayError> {
        let Some(first) = self.writes.keys().next().cloned() else {
            self.rollback().await;
            return Ok(Timestamp::MIN);
        };
        let mut tablets = BTreeSet::new();
        for key in self.writes.keys() {
            tablets.insert(self.gateway.route(key).await?.id);
        }
        tablets.extend(self.read_tablets.iter().copied());
        if tablets.len() > 1 {
            self.rollback().await;
            return Err(GatewayError::Invalid(
                "the transaction touches several tablets; two-phase commit is not built yet"
                    .to_string(),
            ));
        }
        let writes: Vec<WireMutation> = self
            .writes
            .iter()
            .map(|(key, value)| WireMutation {
                key: key.clone(),
                op: Some(match value {
                    Some(v) => mutation::Op::Put(v.clone()),
                    None => mutation::Op::Delete(true),
                }),
            })
            .collect();
        let meta = self.meta();
        let read_tablets = self.read_tablets.clone();
        let state = Arc::new(AtomicU8::new(NOT_SENT));
        let (ts, _) = self
            .gateway
            .call(&first, |mut client, d| {
                let req = CommitRequest {
                    tablet_id: d.id,
                    generation: d.generation,
                    txn: Some(meta.clone()),
                    writes: writes.clone(),
                    has_reads: read_tablets.contains(&d.id),
                    ..Default::default()
                };
                let state = state.clone();
                async move {
                    // NB: an earlier attempt that neither answered nor was
                    // refused may have committed; sending again could apply
                    // the transaction twice.
                    if state.swap(IN_FLIGHT, Ordering::SeqCst) == IN_FLIGHT {
                        return Ok(Err(common::TabletError {
                            kind: Some(Kind::Internal(common::Internal {
                                message: "commit outcome unknown: an earlier attempt got no answer"
                                    .to_string(),
                            })),
                        }));
                    }
                    let resp = client.commit(req).await?.into_inner();
                    match (resp.error, resp.commit_ts) {
                        // Refusals before anything was proposed: safe to retry.
                        (Some(e), _) => {
                            if matches!(
                                e.kind,
                                Some(
                                    Kind::NotLeader(_)
                                        | Kind::WrongTablet(_)
                                        | Kind::TabletNotFound(_)
                                )
                            ) {
                                state.store(NOT_SENT, Ordering::SeqCst);
                            }
                            Ok(Err(e))
                        }
                        (None, Some(ts)) => Ok(Ok(Timestamp::from_nanos(ts.nanos))),
                        (None, None) => Ok(Err(common::TabletError {
                            kind: Some(Kind::Internal(common::Internal {
                                message: "commit without a timestamp".to_string(),
                            })),
                        })),
                    }
                }
            })
            .await?;
        Ok(ts)
    }

    /// Releases whatever the transaction holds on every tablet it read from
    /// (best effort: locks of a vanished leader died with its term).
    pub async fn rollback(self) {
        let meta_id = self.meta().txn_id;
        for &tablet in &self.read_tablets {
            let Some(d) = self.gateway.cache().tablet(tablet) else {
                continue;
            };
            let txn_id = meta_id.clone();
            let _ = self
                .gateway
                .call(&d.range.start, |mut client, d| {
                    let req = AbortRequest {
                        tablet_id: d.id,
                        txn_id: txn_id.clone(),
                        reason: "rolled back".to_string(),
                    };
                    async move {
                        let resp = client.abort(req).await?.into_inner();
                        Ok(match resp.error {
                            Some(e) => Err(e),
                            None => Ok(()),
                        })
                    }
                })
                .await;
        }
    }
}

/// A read-only transaction: lock-free reads at one snapshot timestamp,
/// chosen by the leader of the first tablet read (at least its
/// `TT.now().latest`, so it sees every transaction committed before it
/// began) and used for every later read, on any tablet.
#[derive(Debug)]
pub struct ReadOnly {
    gateway: Gateway,
    ts: Option<Timestamp>,
}

impl Gateway {
    /// Starts a read-only transaction.
    pub fn read_only(&self) -> ReadOnly {
        ReadOnly {
            gateway: self.clone(),
            ts: None,
        }
    }

    /// A read-only transaction at the exact timestamp `ts` (a snapshot read,
    /// `AS OF SYSTEM TIME`): it sees every write committed at or before
    /// `ts` and none after. Reads below the GC watermark fail.
    pub fn read_only_at(&self, ts: Timestamp) -> ReadOnly {
        ReadOnly {
            gateway: self.clone(),
            ts: Some(ts),
        }
    }
}

impl ReadOnly {
    /// The snapshot timestamp, once the first read chose it.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.ts
    }

    /// The value of `key` in the snapshot.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        let at = self.ts;
        let (read, _) = self
            .gateway
            .read_key(key, |req| {
                req.read_ts = at.map(|t| common::Timestamp {
                    nanos: t.as_nanos(),
                });
                req.choose_read_ts = at.is_none();
            })
            .await?;
        if self.ts.is_none() {
            self.ts = Some(read.read_ts.ok_or_else(|| {
                GatewayError::Failed("snapshot read without a timestamp".to_string())
            })?);
        }
        Ok(read.value)
    }
}
