//! The gRPC `TabletService` of a node: reads and writes on the tablet
//! replicas it hosts.
//!
//! Built so far: raw reads (`Read`, `Scan` without a transaction: the latest
//! committed values at the leader under its lease) and raw writes (`Commit`
//! without a transaction or participants: one atomic Raft entry at a new
//! timestamp, with commit wait); and single-tablet read-write transactions
//! under 2PL (`Read`/`Scan` with a transaction take locks, `Commit` with a
//! transaction and no participants is the one-phase fast path, `Abort`
//! releases). Two-phase commit (`Prepare`, `TxnStatus`, `Commit` with
//! participants), snapshot reads at a timestamp and the OCC/SSI modes answer
//! `UNIMPLEMENTED` until they are built.

use std::sync::Arc;

use spanlite_proto::common;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{
    AbortRequest, AbortResponse, CommitRequest, CommitResponse, KeyValue, LockStrength,
    PrepareRequest, PrepareResponse, ReadRequest, ReadResponse, ScanRequest, ScanResponse, TxnMeta,
    TxnStatusRequest, TxnStatusResponse, mutation,
};
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::LockMode;
use tonic::{Request, Response, Status};

use super::convert::tablet_error_to_wire;
use crate::directory::KeyRange;
use crate::node::Store;
use crate::raft::Mutation;
use crate::tablet::{Replica, TabletError};

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
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The transaction id and wound-wait priority of a 2PL transaction.
fn txn_of(meta: &TxnMeta) -> Result<(TxnId, Timestamp), Status> {
    if meta.mode != common::ConcurrencyMode::Unspecified as i32
        && meta.mode != common::ConcurrencyMode::ConcurrencyMode2pl as i32
    {
        return Err(Status::unimplemented(
            "only 2PL transactions are built; OCC, SSI and SI come later",
        ));
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

/// A read's answer: the pairs found (and the snapshot timestamp, for
/// snapshot reads), or why it was not served.
fn read_response(
    result: Result<(Option<Timestamp>, Vec<Row>), TabletError>,
) -> Response<ReadResponse> {
    Response::new(match result {
        Ok((ts, pairs)) => ReadResponse {
            values: pairs
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value,
                    version_ts: None,
                })
                .collect(),
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

fn no_txn_yet(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what}: transactions are not built yet; only raw reads and writes are served"
    ))
}

#[tonic::async_trait]
impl TabletService for TabletGrpc {
    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let req = request.into_inner();
        if req.any_replica {
            return Err(no_txn_yet(
                "snapshot reads from any replica (follower reads)",
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
                Ok(r) => r.snapshot_read(req.keys, at, LOCK_WAIT).await,
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
                Ok(r) => r.txn_read(txn, priority, req.keys, mode, LOCK_WAIT).await,
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
        if req.read_ts.is_some() {
            return Err(no_txn_yet("snapshot scans at a timestamp"));
        }
        if req.reverse {
            return Err(Status::unimplemented("reverse raw scans are not offered"));
        }
        let range = req
            .range
            .map(|r| KeyRange::new(r.start, r.end))
            .unwrap_or_default();
        let limit = req.limit as usize;
        let txn = req.txn.as_ref().map(txn_of).transpose()?;
        let result = match (self.replica(req.tablet_id), txn) {
            (Ok(r), Some((txn, priority))) => {
                r.txn_scan(txn, priority, &range, limit, LOCK_WAIT).await
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
                    pairs: rows
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value,
                            version_ts: None,
                        })
                        .collect(),
                    resume_key: resume_key.unwrap_or_default(),
                    error: None,
                }
            }
            Err(e) => ScanResponse {
                pairs: Vec::new(),
                resume_key: Vec::new(),
                error: Some(tablet_error_to_wire(&e)),
            },
        }))
    }

    async fn prepare(
        &self,
        _request: Request<PrepareRequest>,
    ) -> Result<Response<PrepareResponse>, Status> {
        Err(no_txn_yet("Prepare"))
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let req = request.into_inner();
        if !req.participants.is_empty() || req.commit_ts.is_some() {
            return Err(no_txn_yet("two-phase commit"));
        }
        let mutations = mutations_of(req.writes)?;
        if mutations.is_empty() {
            return Err(Status::invalid_argument("Commit without writes"));
        }
        let txn = req.txn.as_ref().map(txn_of).transpose()?;
        let result = match (self.replica(req.tablet_id), txn) {
            (Ok(r), Some((txn, priority))) => {
                r.txn_commit(txn, priority, mutations, req.has_reads, LOCK_WAIT)
                    .await
            }
            (Ok(r), None) => r.write(mutations).await,
            (Err(e), _) => Err(e),
        };
        Ok(Response::new(match result {
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
        }))
    }

    async fn abort(
        &self,
        request: Request<AbortRequest>,
    ) -> Result<Response<AbortResponse>, Status> {
        let req = request.into_inner();
        let id = req
            .txn_id
            .as_ref()
            .and_then(|t| <[u8; 16]>::try_from(t.id.as_slice()).ok())
            .ok_or_else(|| Status::invalid_argument("transaction id must be 16 bytes"))?;
        let error = match self.replica(req.tablet_id) {
            Ok(r) => {
                // Unprepared here (2PL fast path): nothing durable to undo.
                r.txn_finish(TxnId(u128::from_be_bytes(id)));
                None
            }
            Err(e) => Some(tablet_error_to_wire(&e)),
        };
        Ok(Response::new(AbortResponse { error }))
    }

    async fn txn_status(
        &self,
        _request: Request<TxnStatusRequest>,
    ) -> Result<Response<TxnStatusResponse>, Status> {
        Err(no_txn_yet("TxnStatus"))
    }
}
