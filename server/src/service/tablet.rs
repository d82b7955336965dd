//! The gRPC `TabletService` of a node: reads and writes on the tablet
//! replicas it hosts.
//!
//! Built so far: raw reads (`Read`, `Scan` without a transaction: the latest
//! committed values at the leader under its lease) and raw writes (`Commit`
//! without a transaction or participants: one atomic Raft entry at a new
//! timestamp, with commit wait). The transaction calls (`Prepare`, `Abort`,
//! `TxnStatus`, and `Commit`/`Read` with a transaction) answer
//! `UNIMPLEMENTED` until the transaction layer exists.

use std::sync::Arc;

use spanlite_proto::common;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{
    AbortRequest, AbortResponse, CommitRequest, CommitResponse, KeyValue, PrepareRequest,
    PrepareResponse, ReadRequest, ReadResponse, ScanRequest, ScanResponse, TxnStatusRequest,
    TxnStatusResponse, mutation,
};
use spanlite_storage::meta::TabletId;
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

fn no_txn_yet(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what}: transactions are not built yet; only raw reads and writes are served"
    ))
}

#[tonic::async_trait]
impl TabletService for TabletGrpc {
    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let req = request.into_inner();
        if req.txn.is_some() || req.read_ts.is_some() {
            return Err(no_txn_yet("transactional and snapshot reads"));
        }
        let result = self.replica(req.tablet_id).and_then(|r| {
            let mut values = Vec::new();
            for key in req.keys {
                if let Some(value) = r.get(&key)? {
                    values.push(KeyValue {
                        key,
                        value,
                        version_ts: None,
                    });
                }
            }
            Ok(values)
        });
        Ok(Response::new(match result {
            Ok(values) => ReadResponse {
                values,
                error: None,
            },
            Err(e) => ReadResponse {
                values: Vec::new(),
                error: Some(tablet_error_to_wire(&e)),
            },
        }))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let req = request.into_inner();
        if req.txn.is_some() || req.read_ts.is_some() {
            return Err(no_txn_yet("transactional and snapshot scans"));
        }
        if req.reverse {
            return Err(Status::unimplemented("reverse raw scans are not offered"));
        }
        let range = req
            .range
            .map(|r| KeyRange::new(r.start, r.end))
            .unwrap_or_default();
        let limit = req.limit as usize;
        let result = self
            .replica(req.tablet_id)
            .and_then(|r| r.scan(&range, limit));
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
        if req.txn.is_some() || !req.participants.is_empty() || req.commit_ts.is_some() {
            return Err(no_txn_yet("transactional Commit"));
        }
        let mut mutations = Vec::with_capacity(req.writes.len());
        for w in req.writes {
            mutations.push(match w.op {
                Some(mutation::Op::Put(value)) => Mutation::Put { key: w.key, value },
                Some(mutation::Op::Delete(_)) => Mutation::Delete { key: w.key },
                None => return Err(Status::invalid_argument("a write without put or delete")),
            });
        }
        if mutations.is_empty() {
            return Err(Status::invalid_argument("Commit without writes"));
        }
        let result = match self.replica(req.tablet_id) {
            Ok(r) => r.write(mutations).await,
            Err(e) => Err(e),
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
        _request: Request<AbortRequest>,
    ) -> Result<Response<AbortResponse>, Status> {
        Err(no_txn_yet("Abort"))
    }

    async fn txn_status(
        &self,
        _request: Request<TxnStatusRequest>,
    ) -> Result<Response<TxnStatusResponse>, Status> {
        Err(no_txn_yet("TxnStatus"))
    }
}
