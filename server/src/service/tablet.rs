//! The gRPC `TabletService` of a node: reads and writes on the tablet
//! replicas it hosts.
//!
//! Built so far: raw reads (`Read`, `Scan` without a transaction: the latest
//! committed values at the leader under its lease) and raw writes (`Commit`
//! without a transaction or participants: one atomic Raft entry at a new
//! timestamp, with commit wait); and single-tablet read-write transactions
//! under 2PL (`Read`/`Scan` with a transaction take locks, `Commit` with a
//! transaction and no participants is the one-phase fast path, `Abort`
//! releases); two-phase commit (`Prepare` on participants, `Commit` with
//! participants on the coordinator, `Commit` with a commit timestamp on a
//! participant, `TxnStatus` for the termination protocol); snapshot reads at
//! a timestamp (point reads and scans), from the leader or any replica
//! whose safe time covers it. Reverse scans and the OCC/SSI modes answer
//! `UNIMPLEMENTED`.

use std::sync::Arc;

use spanlite_proto::common;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{
    AbortRequest, AbortResponse, CommitRequest, CommitResponse, KeyValue, LockStrength,
    PrepareRequest, PrepareResponse, ReadRequest, ReadResponse, ScanRequest, ScanResponse, TxnMeta,
    TxnOutcome, TxnStatusRequest, TxnStatusResponse, mutation,
};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::LockMode;
use spanlite_txn::twopc::Decision;
use tonic::{Request, Response, Status};

use super::convert::tablet_error_to_wire;
use crate::directory::KeyRange;
use crate::node::Store;
use crate::raft::Mutation;
use crate::tablet::{ReadSpan, Replica, TabletError, Validation};

/// The Tablet service over a node's store.
#[derive(Clone, Debug)]
pub struct TabletGrpc {
    store: Arc<Store>,
}

impl TabletGrpc {
    /// The service of `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    fn replica(&self, tablet: TabletId) -> Result<Arc<Replica>, TabletError> {
        self.store
            .replica(tablet)
            .ok_or(TabletError::NotFound(tablet))
    }
}

/// How long a transactional request waits for a lock before its
/// transaction is aborted (and retried by its client).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// What a commit or prepare of the transaction `meta` validates: 2PL's
/// `has_reads`, optimistic `reads`, and the SSI/SI snapshot.
fn validation_of(
    meta: &TxnMeta,
    has_reads: bool,
    reads: Vec<spanlite_proto::tablet::ReadSpan>,
) -> Result<Validation, Status> {
    let reads = reads
        .into_iter()
        .map(|r| {
            let ts = r
                .read_ts
                .ok_or_else(|| Status::invalid_argument("a read span without a timestamp"))?;
            Ok(ReadSpan {
                start: r.start,
                end: r.end,
                point: r.point,
                read_ts: Timestamp::from_nanos(ts.nanos),
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(Validation {
        has_reads,
        reads,
        snapshot: meta
            .snapshot_ts
            .as_ref()
            .map(|t| Timestamp::from_nanos(t.nanos)),
    })
}

/// The transaction id and wound-wait priority of a read-write transaction.
fn txn_of(meta: &TxnMeta) -> Result<(TxnId, Timestamp), Status> {
    if common::ConcurrencyMode::try_from(meta.mode).is_err() {
        return Err(Status::invalid_argument(format!(
            "unknown concurrency mode {}",
            meta.mode
        )));
    }
    let id = meta
        .txn_id
        .as_ref()
        .and_then(|t| <[u8; 16]>::try_from(t.id.as_slice()).ok())
        .ok_or_else(|| Status::invalid_argument("transaction id must be 16 bytes"))?;
    let priority = meta
        .priority
        .as_ref()
        .map(|p| Timestamp::from_nanos(p.nanos))
        .ok_or_else(|| Status::invalid_argument("transaction without a priority"))?;
    Ok((TxnId(u128::from_be_bytes(id)), priority))
}

fn mutations_of(writes: Vec<spanlite_proto::tablet::Mutation>) -> Result<Vec<Mutation>, Status> {
    writes
        .into_iter()
        .map(|w| match w.op {
            Some(mutation::Op::Put(value)) => Ok(Mutation::Put { key: w.key, value }),
            Some(mutation::Op::Delete(_)) => Ok(Mutation::Delete { key: w.key }),
            None => Err(Status::invalid_argument("a write without put or delete")),
        })
        .collect()
}

/// Pairs as the wire carries them.
fn key_values(rows: Vec<Row>) -> Vec<KeyValue> {
    rows.into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect()
}

/// A read's answer: the pairs found (and the snapshot timestamp, for
/// snapshot reads), or why it was not served.
fn read_response(
    result: Result<(Option<Timestamp>, Vec<Row>), TabletError>,
) -> Response<ReadResponse> {
    Response::new(match result {
        Ok((ts, pairs)) => ReadResponse {
            values: key_values(pairs),
            error: None,
            read_ts: ts.map(|t| common::Timestamp {
                nanos: t.as_nanos(),
            }),
        },
        Err(e) => ReadResponse {
            values: Vec::new(),
            error: Some(tablet_error_to_wire(&e)),
            read_ts: None,
        },
    })
}

fn txn_id_of(id: Option<&common::TxnId>) -> Result<TxnId, Status> {
    id.and_then(|t| <[u8; 16]>::try_from(t.id.as_slice()).ok())
        .map(|b| TxnId(u128::from_be_bytes(b)))
        .ok_or_else(|| Status::invalid_argument("transaction id must be 16 bytes"))
}

fn commit_response(result: Result<Timestamp, TabletError>) -> Response<CommitResponse> {
    Response::new(match result {
        Ok(ts) => CommitResponse {
            commit_ts: Some(common::Timestamp {
                nanos: ts.as_nanos(),
            }),
            error: None,
        },
        Err(e) => CommitResponse {
            commit_ts: None,
            error: Some(tablet_error_to_wire(&e)),
        },
    })
}

#[tonic::async_trait]
impl TabletService for TabletGrpc {
    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let req = request.into_inner();
        if req.any_replica && req.read_ts.is_none() {
            return Err(Status::invalid_argument(
                "a read from any replica needs a read timestamp",
            ));
        }
        if req.read_ts.is_some() || req.choose_read_ts {
            if req.txn.is_some() {
                return Err(Status::invalid_argument(
                    "a snapshot read takes no transaction (read-only transactions take no locks)",
                ));
            }
            let at = req.read_ts.map(|t| Timestamp::from_nanos(t.nanos));
            let result = match self.replica(req.tablet_id) {
                Ok(r) => {
                    r.snapshot_read(req.keys, at, req.any_replica, LOCK_WAIT)
                        .await
                }
                Err(e) => Err(e),
            };
            return Ok(read_response(result.map(|(ts, pairs)| (Some(ts), pairs))));
        }
        if let Some(meta) = &req.txn {
            let (txn, priority) = txn_of(meta)?;
            let mode = if req.lock == LockStrength::Exclusive as i32 {
                LockMode::Exclusive
            } else {
                LockMode::Shared
            };
            let result = match self.replica(req.tablet_id) {
                Ok(r) => {
                    let read_before = meta.read_tablets.contains(&req.tablet_id);
                    r.txn_read(txn, priority, req.keys, mode, read_before, LOCK_WAIT)
                        .await
                }
                Err(e) => Err(e),
            };
            return Ok(read_response(result.map(|pairs| (None, pairs))));
        }
        let result = self.replica(req.tablet_id).and_then(|r| {
            let mut pairs = Vec::new();
            for key in req.keys {
                if let Some(value) = r.get(&key)? {
                    pairs.push((key, value));
                }
            }
            Ok((None, pairs))
        });
        Ok(read_response(result))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let req = request.into_inner();
        if req.reverse {
            return Err(Status::unimplemented("reverse scans are not offered yet"));
        }
        let range = req
            .range
            .map(|r| KeyRange::new(r.start, r.end))
            .unwrap_or_default();
        let limit = req.limit as usize;
        let txn = req.txn.as_ref().map(txn_of).transpose()?;
        let snapshot = req.read_ts.is_some() || req.choose_read_ts;
        if snapshot && txn.is_some() {
            return Err(Status::invalid_argument(
                "a snapshot scan takes no transaction (read-only transactions take no locks)",
            ));
        }
        if req.any_replica && req.read_ts.is_none() {
            return Err(Status::invalid_argument(
                "a scan from any replica needs a read timestamp",
            ));
        }
        let mut read_ts = None;
        let result = match (self.replica(req.tablet_id), txn) {
            (Ok(r), _) if snapshot => {
                let at = req.read_ts.map(|t| Timestamp::from_nanos(t.nanos));
                r.snapshot_scan(&range, at, req.any_replica, limit, LOCK_WAIT)
                    .await
                    .map(|(ts, rows)| {
                        read_ts = Some(common::Timestamp {
                            nanos: ts.as_nanos(),
                        });
                        rows
                    })
            }
            (Ok(r), Some((txn, priority))) => {
                let read_before = req
                    .txn
                    .as_ref()
                    .is_some_and(|m| m.read_tablets.contains(&req.tablet_id));
                r.txn_scan(txn, priority, &range, limit, read_before, LOCK_WAIT)
                    .await
            }
            (Ok(r), None) => r.scan(&range, limit),
            (Err(e), _) => Err(e),
        };
        Ok(Response::new(match result {
            Ok(rows) => {
                let resume_key = if limit > 0 && rows.len() == limit {
                    rows.last().map(|(k, _)| {
                        let mut next = k.clone();
                        next.push(0);
                        next
                    })
                } else {
                    None
                };
                ScanResponse {
                    pairs: key_values(rows),
                    resume_key: resume_key.unwrap_or_default(),
                    error: None,
                    read_ts,
                }
            }
            Err(e) => ScanResponse {
                pairs: Vec::new(),
                resume_key: Vec::new(),
                error: Some(tablet_error_to_wire(&e)),
                read_ts: None,
            },
        }))
    }

    async fn prepare(
        &self,
        request: Request<PrepareRequest>,
    ) -> Result<Response<PrepareResponse>, Status> {
        let req = request.into_inner();
        let meta = req
            .txn
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("Prepare without a transaction"))?;
        let (txn, priority) = txn_of(meta)?;
        let coordinator = meta.coordinator_tablet_id;
        if coordinator == 0 || coordinator == req.tablet_id {
            return Err(Status::invalid_argument(
                "Prepare needs a coordinator tablet other than the participant",
            ));
        }
        let mutations = mutations_of(req.writes)?;
        let validation = validation_of(meta, req.has_reads, req.reads)?;
        let result = match self.replica(req.tablet_id) {
            Ok(r) => {
                r.txn_prepare(
                    txn,
                    priority,
                    coordinator,
                    mutations,
                    &validation,
                    LOCK_WAIT,
                )
                .await
            }
            Err(e) => Err(e),
        };
        Ok(Response::new(match result {
            Ok(ts) => PrepareResponse {
                prepared: true,
                prepare_ts: Some(common::Timestamp {
                    nanos: ts.as_nanos(),
                }),
                no_reason: String::new(),
                error: None,
            },
            Err(e) => PrepareResponse {
                prepared: false,
                prepare_ts: None,
                no_reason: e.to_string(),
                error: Some(tablet_error_to_wire(&e)),
            },
        }))
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let req = request.into_inner();
        let mutations = mutations_of(req.writes)?;
        let txn = req.txn.as_ref().map(txn_of).transpose()?;
        let validation = match &req.txn {
            Some(meta) => validation_of(meta, req.has_reads, req.reads)?,
            None if req.reads.is_empty() => Validation::default(),
            None => return Err(Status::invalid_argument("reads without a transaction")),
        };
        // A participant told the decision.
        if let Some(commit_ts) = req.commit_ts {
            let (txn, _) = txn.ok_or_else(|| {
                Status::invalid_argument("a commit timestamp without a transaction")
            })?;
            if !mutations.is_empty() || !req.participants.is_empty() {
                return Err(Status::invalid_argument(
                    "a participant's commit carries no writes or participants",
                ));
            }
            let ts = Timestamp::from_nanos(commit_ts.nanos);
            let result = match self.replica(req.tablet_id) {
                Ok(r) => r.txn_resolve(txn, Decision::Commit(ts)).await.map(|()| ts),
                Err(e) => Err(e),
            };
            return Ok(commit_response(result));
        }
        // The coordinator of a two-phase commit.
        if !req.participants.is_empty() {
            let (txn, priority) =
                txn.ok_or_else(|| Status::invalid_argument("participants without a transaction"))?;
            let mut participants = Vec::with_capacity(req.participants.len());
            for p in &req.participants {
                let ts = p.prepare_ts.as_ref().ok_or_else(|| {
                    Status::invalid_argument("a participant without a prepare timestamp")
                })?;
                if p.tablet_id == req.tablet_id {
                    return Err(Status::invalid_argument(
                        "the coordinator tablet is not among the participants",
                    ));
                }
                participants.push((p.tablet_id, Timestamp::from_nanos(ts.nanos)));
            }
            let result = match self.replica(req.tablet_id) {
                Ok(r) => {
                    r.txn_coordinate(
                        txn,
                        priority,
                        mutations,
                        &validation,
                        participants,
                        LOCK_WAIT,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            return Ok(commit_response(result));
        }
        if mutations.is_empty() && validation.reads.is_empty() {
            return Err(Status::invalid_argument("Commit without writes or reads"));
        }
        let result = match (self.replica(req.tablet_id), txn) {
            (Ok(r), Some((txn, priority))) => {
                r.txn_commit(txn, priority, mutations, &validation, LOCK_WAIT)
                    .await
            }
            (Ok(r), None) => r.write(mutations).await,
            (Err(e), _) => Err(e),
        };
        Ok(commit_response(result))
    }

    async fn abort(
        &self,
        request: Request<AbortRequest>,
    ) -> Result<Response<AbortResponse>, Status> {
        let req = request.into_inner();
        let txn = txn_id_of(req.txn_id.as_ref())?;
        let result = match self.replica(req.tablet_id) {
            Ok(r) => r.txn_abort(txn, req.fence).await,
            Err(e) => Err(e),
        };
        Ok(Response::new(AbortResponse {
            error: result.err().map(|e| tablet_error_to_wire(&e)),
        }))
    }

    async fn txn_status(
        &self,
        request: Request<TxnStatusRequest>,
    ) -> Result<Response<TxnStatusResponse>, Status> {
        let req = request.into_inner();
        let txn = txn_id_of(req.txn_id.as_ref())?;
        let result = match self.replica(req.tablet_id) {
            Ok(r) => r.txn_status(txn).await,
            Err(e) => Err(e),
        };
        Ok(Response::new(match result {
            Ok(Some(Decision::Commit(ts))) => TxnStatusResponse {
                outcome: TxnOutcome::Committed as i32,
                commit_ts: Some(common::Timestamp {
                    nanos: ts.as_nanos(),
                }),
                error: None,
            },
            Ok(Some(Decision::Abort)) => TxnStatusResponse {
                outcome: TxnOutcome::Aborted as i32,
                commit_ts: None,
                error: None,
            },
            Ok(None) => TxnStatusResponse {
                outcome: TxnOutcome::Pending as i32,
                commit_ts: None,
                error: None,
            },
            Err(e) => TxnStatusResponse {
                outcome: TxnOutcome::Unspecified as i32,
                commit_ts: None,
                error: Some(tablet_error_to_wire(&e)),
            },
        }))
    }
}
