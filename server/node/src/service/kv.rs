//! The gRPC `KvService`: key-value access for tools (`spanlite kv`), served
//! through the node's gateway with the transaction API: a get is a
//! read-only transaction, a put or delete a one-write transaction
//! (retried by `run_txn` when aborted, never re-sent after an unknown
//! outcome). Scans read the latest committed values tablet by tablet
//! (snapshot scans are not built yet). `Transact` runs one transaction of
//! reads and list appends: a workload that touches only its own keys (the
//! Jepsen-style suite's catalog-free list-append).

use spanlite_proto::common::ConcurrencyMode;
use spanlite_proto::kv::kv_service_server::KvService;
use spanlite_proto::kv::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, KvOp, Pair, PutRequest, PutResponse,
    ScanRequest, ScanResponse, TransactRequest, TransactResponse, kv_op,
};
use tonic::{Request, Response, Status};

use spanlite_directory::{KeyRange, USER_KEYS_START, is_system_key};
use spanlite_gateway::{Gateway, GatewayError, Txn, TxnMode, TxnOptions};

/// The KV service of a node.
#[derive(Clone, Debug)]
pub struct KvGrpc {
    gateway: Gateway,
}

impl KvGrpc {
    /// The service over `gateway`.
    pub fn new(gateway: Gateway) -> Self {
        Self { gateway }
    }
}

fn user_key(key: &[u8]) -> Result<(), Status> {
    if is_system_key(key) {
        return Err(Status::invalid_argument(
            "keys must not be empty or start with byte 0x00 (reserved for the system)",
        ));
    }
    Ok(())
}

/// A gateway error as a gRPC status the CLI can explain.
pub fn gateway_status(e: GatewayError) -> Status {
    match e {
        GatewayError::Invalid(m) => Status::invalid_argument(m),
        e @ GatewayError::ReadOnly(_) => Status::invalid_argument(e.to_string()),
        GatewayError::NotInitialized(m) => Status::failed_precondition(format!(
            "cluster not initialized or not known to this node yet ({m}); run `spanlite init`"
        )),
        GatewayError::Unavailable(m) => Status::unavailable(m),
        // 40001-style: the client retries the whole transaction.
        GatewayError::Aborted { message, .. } => Status::aborted(message),
        GatewayError::Ambiguous(m) => Status::unknown(format!("commit outcome unknown: {m}")),
        GatewayError::SnapshotTooOld(m) => Status::out_of_range(format!("snapshot too old: {m}")),
        GatewayError::Failed(m) => Status::internal(m),
    }
}

#[tonic::async_trait]
impl KvService for KvGrpc {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let req = request.into_inner();
        user_key(&req.key)?;
        let read_only = TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        };
        let key = req.key;
        let (value, _) = self
            .gateway
            .run_txn(&read_only, |txn: &mut Txn| {
                let key = key.clone();
                Box::pin(async move { txn.get(&key).await })
            })
            .await
            .map_err(gateway_status)?;
        Ok(Response::new(GetResponse {
            found: value.is_some(),
            value: value.unwrap_or_default(),
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let req = request.into_inner();
        user_key(&req.key)?;
        let (key, value) = (req.key, req.value);
        let ((), ts) = self
            .gateway
            .run_txn(&TxnOptions::default(), |txn: &mut Txn| {
                let (key, value) = (key.clone(), value.clone());
                Box::pin(async move { txn.put(key, value) })
            })
            .await
            .map_err(gateway_status)?;
        Ok(Response::new(PutResponse {
            commit_ts: ts.as_nanos(),
        }))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let req = request.into_inner();
        user_key(&req.key)?;
        let key = req.key;
        let ((), ts) = self
            .gateway
            .run_txn(&TxnOptions::default(), |txn: &mut Txn| {
                let key = key.clone();
                Box::pin(async move { txn.delete(key) })
            })
            .await
            .map_err(gateway_status)?;
        Ok(Response::new(DeleteResponse {
            commit_ts: ts.as_nanos(),
        }))
    }

    async fn transact(
        &self,
        request: Request<TransactRequest>,
    ) -> Result<Response<TransactResponse>, Status> {
        let req = request.into_inner();
        let mut ops = Vec::with_capacity(req.ops.len());
        for op in req.ops {
            user_key(&op.key)?;
            match op.op {
                Some(kv_op::Op::Append(_)) if req.read_only => {
                    return Err(Status::invalid_argument(
                        "an append in a read-only transaction",
                    ));
                }
                Some(_) => ops.push(op),
                None => return Err(Status::invalid_argument("an op without read or append")),
            }
        }
        let mode = match ConcurrencyMode::try_from(req.mode) {
            Ok(ConcurrencyMode::Unspecified) => TxnMode::default(),
            Ok(ConcurrencyMode::ConcurrencyMode2pl) => TxnMode::TwoPhaseLocking,
            Ok(ConcurrencyMode::Occ) => TxnMode::Optimistic,
            Ok(ConcurrencyMode::Ssi) => TxnMode::SerializableSnapshot,
            Ok(ConcurrencyMode::Si) => TxnMode::Snapshot,
            Ok(ConcurrencyMode::ReadCommitted) => TxnMode::ReadCommitted,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "unknown mode {}",
                    req.mode
                )));
            }
        };
        let options = TxnOptions {
            mode,
            read_only: req.read_only,
            ..TxnOptions::default()
        };
        let (reads, ts) = self
            .gateway
            .run_txn(&options, |txn: &mut Txn| {
                let ops = ops.clone();
                Box::pin(async move { run_ops(txn, &ops).await })
            })
            .await
            .map_err(gateway_status)?;
        Ok(Response::new(TransactResponse {
            reads,
            commit_ts: ts.as_nanos(),
        }))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let req = request.into_inner();
        // Scans never see system keys: they start at the first user key.
        let start = if req.start.as_slice() < USER_KEYS_START {
            USER_KEYS_START.to_vec()
        } else {
            req.start
        };
        if !req.end.is_empty() && req.end <= start {
            return Ok(Response::new(ScanResponse { pairs: Vec::new() }));
        }
        let pairs = self
            .gateway
            .scan(&KeyRange::new(start, req.end), req.limit as usize)
            .await
            .map_err(gateway_status)?;
        Ok(Response::new(ScanResponse {
            pairs: pairs
                .into_iter()
                .map(|(key, value)| Pair { key, value })
                .collect(),
        }))
    }
}

/// Runs `ops` in `txn`: reads return the list as stored, appends add
/// `,n` (or `n` to an empty list).
async fn run_ops(txn: &mut Txn, ops: &[KvOp]) -> Result<Vec<Vec<u8>>, GatewayError> {
    let mut reads = Vec::new();
    for op in ops {
        match op.op {
            Some(kv_op::Op::Read(_)) => reads.push(txn.get(&op.key).await?.unwrap_or_default()),
            Some(kv_op::Op::Append(n)) => {
                let mut list = txn.get_for_update(&op.key).await?.unwrap_or_default();
                if !list.is_empty() {
                    list.push(b',');
                }
                list.extend_from_slice(n.to_string().as_bytes());
                txn.put(op.key.clone(), list)?;
            }
            None => {}
        }
    }
    Ok(reads)
}
