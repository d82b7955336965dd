//! The gRPC `TabletService` of a node: reads and writes on the tablet
//! replicas it hosts.
//!
//! - `Read`/`Scan` with a transaction: 2PL reads under locks; with a read
//!   timestamp or `choose_read_ts` (or neither, raw): lock-free snapshot
//!   reads, on the leader or, with `any_replica`, a follower whose safe
//!   time covers the timestamp.
//! - `Prepare`: 2PC's lock phase (`lock_only`) or prepare.
//! - `Commit`: the one-phase commit (a transaction, no participants), the
//!   coordinator's decision (participants), a participant told the commit
//!   (a commit timestamp), or a raw write (no transaction).
//! - `Abort`, `TxnStatus`: abort; the termination protocol.
//!
//! Every request's protocol work runs in a task of its own: if the caller
//! goes away (hyper drops the handler when the client's deadline passes),
//! the task still finishes and releases what it holds — a commit is never
//! cut in half between its locks, its proposal and commit wait. Reads and
//! scans are the exception: a lock-free one holds nothing and only waits
//! (for a timestamp to be safe, an intent to resolve); a locking one's
//! lock waits withdraw themselves when dropped (`WaitGuard`), and the
//! locks it was granted belong to its transaction as after any read. So a
//! dropped read leaves nothing behind, and reads run inline, saving a task
//! and a wake-up each.
//! Reverse scans answer `UNIMPLEMENTED`.

use std::sync::Arc;

use spanlite_proto::common;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{
    AbortRequest, AbortResponse, CommitRequest, CommitResponse, KeyValue, LockStrength,
    PrepareRequest, PrepareResponse, ReadRequest, ReadResponse, ScanRequest, ScanResponse, TxnMeta,
    TxnOutcome, TxnStatusRequest, TxnStatusResponse,
};
use spanlite_storage::keycode::resume_after;
use spanlite_storage::meta::TabletId;
use spanlite_storage::mvcc::{Row, TxnId};
use spanlite_truetime::Timestamp;
use spanlite_txn::lock::LockMode;
use spanlite_txn::twopc::Decision;
use std::future::Future;
use tonic::{Request, Response, Status};

use super::convert::tablet_error_to_wire;
use crate::Store;
use spanlite_directory::KeyRange;
use spanlite_directory::wire::mutation_from_wire;
use spanlite_replica::tablet::{
    CommitRequest as TabletCommit, ReadAt, ReadSpan, Replica, TabletError, TxnReadRequest,
    Validation,
};
use spanlite_txn::Mutation;

/// The Tablet service over a node's store.
#[derive(Clone, Debug)]
pub struct TabletGrpc {
    store: Arc<Store>,
    /// Every request already runs in a task of its own that finishes even
    /// if its caller goes away (a call stream's, see `tablet_stream`):
    /// the protocol work needs no task of its own then.
    detached: bool,
}

impl TabletGrpc {
    /// The service of `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            detached: false,
        }
    }

    /// The same service for callers that run each request in a task of
    /// its own that nothing cancels, and turn a panic in it into an
    /// internal error as a task of its own would (see
    /// [`TabletGrpc::spawned`] and `tablet_stream`).
    pub fn detached(&self) -> Self {
        Self {
            store: self.store.clone(),
            detached: true,
        }
    }

    /// Runs a request's protocol work in a task of its own (see the
    /// module docs), or inline when the caller's task is one already
    /// (`detached`); a panic in a task of its own becomes an internal
    /// error.
    async fn spawned<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, TabletError>> + Send + 'static,
    ) -> Result<Result<T, TabletError>, Status> {
        if self.detached {
            return Ok(work.await);
        }
        tokio::spawn(work)
            .await
            .map_err(|e| Status::internal(format!("the request's task failed: {e}")))
    }

    fn note_rpc(&self, method: &'static str, tablet: TabletId) {
        self.store.metrics().note_rpc(method, tablet);
    }

    fn replica(&self, tablet: TabletId) -> Result<Arc<Replica>, TabletError> {
        self.store
            .replica(tablet)
            .ok_or(TabletError::NotFound(tablet))
    }
}

/// How long a transactional request waits for a lock before its
/// transaction is aborted (and retried by its client).
const LOCK_WAIT: std::time::Duration = spanlite_gateway::LOCK_WAIT;

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

/// The end of the schema lease a transaction's commit must fall before.
fn commit_before(meta: Option<&TxnMeta>) -> Option<Timestamp> {
    meta.and_then(|m| m.commit_before.as_ref())
        .map(|t| Timestamp::from_nanos(t.nanos))
}

/// The end of the leases its read-only participants hold its read locks
/// under: its commit must fall before it too.
fn read_locks_until(meta: Option<&TxnMeta>) -> Option<Timestamp> {
    meta.and_then(|m| m.read_locks_until.as_ref())
        .map(|t| Timestamp::from_nanos(t.nanos))
}

/// True for a one-phase commit on `tablet` of a 2PL transaction that read
/// under locks on no other tablet, has no read-only participants and no
/// lock-free reads to validate: its commit timestamp may come from its
/// start bound here (`CommitInput::alone`).
fn alone(tablet: u64, meta: Option<&TxnMeta>, validation: &Validation) -> bool {
    meta.is_some_and(|m| {
        m.mode == common::ConcurrencyMode::ConcurrencyMode2pl as i32
            && m.read_tablets.iter().all(|t| *t == tablet)
            && m.read_locks_until.is_none()
            && m.snapshot_ts.is_none()
    }) && validation.reads.is_empty()
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
        .map(|w| mutation_from_wire(w).map_err(Status::invalid_argument))
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
            skipped: Vec::new(),
        },
        Err(e) => ReadResponse {
            values: Vec::new(),
            error: Some(tablet_error_to_wire(&e)),
            read_ts: None,
            skipped: Vec::new(),
        },
    })
}

fn scan_error(e: &TabletError) -> ScanResponse {
    ScanResponse {
        pairs: Vec::new(),
        resume_key: Vec::new(),
        error: Some(tablet_error_to_wire(e)),
        read_ts: None,
    }
}

fn prepare_response(result: Result<Timestamp, TabletError>) -> PrepareResponse {
    match result {
        Ok(ts) => PrepareResponse {
            prepared: true,
            prepare_ts: Some(common::Timestamp {
                nanos: ts.as_nanos(),
            }),
            no_reason: String::new(),
            error: None,
            read_locked_until: None,
        },
        Err(e) => PrepareResponse {
            prepared: false,
            prepare_ts: None,
            no_reason: e.to_string(),
            error: Some(tablet_error_to_wire(&e)),
            read_locked_until: None,
        },
    }
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
        let from = spanlite_gateway::from_node(&request);
        let req = request.into_inner();
        self.note_rpc("read", req.tablet_id);
        if let Some(key) = req.keys.first() {
            self.store.metrics().note_load(req.tablet_id, key, from);
        }
        if req.any_replica && req.read_ts.is_none() {
            return Err(Status::invalid_argument(
                "a read from any replica needs a read timestamp",
            ));
        }
        let replica = match self.replica(req.tablet_id) {
            Ok(r) => r,
            Err(e) => return Ok(read_response(Err(e))),
        };
        let Some(meta) = &req.txn else {
            let at = ReadAt {
                ts: req.read_ts.map(|t| Timestamp::from_nanos(t.nanos)),
                single_tablet: req.single_tablet,
                nothing_newer: req.nothing_newer,
            };
            // Inline, not spawned: a snapshot read holds nothing and
            // changes nothing a caller going away could leave half done.
            let result = replica
                .snapshot_read(req.keys, at, req.any_replica, LOCK_WAIT)
                .await;
            return Ok(read_response(result.map(|(ts, pairs)| (Some(ts), pairs))));
        };
        if req.read_ts.is_some() || req.choose_read_ts {
            return Err(Status::invalid_argument(
                "a snapshot read takes no transaction (read-only transactions take no locks)",
            ));
        }
        let (txn, priority) = txn_of(meta)?;
        let read = TxnReadRequest {
            txn,
            priority,
            mode: if req.lock == LockStrength::Exclusive as i32 {
                LockMode::Exclusive
            } else {
                LockMode::Shared
            },
            read_before: meta.read_tablets.contains(&req.tablet_id),
            generation: req.generation,
        };
        if req.skip_locked {
            if read.mode != LockMode::Exclusive {
                return Err(Status::invalid_argument(
                    "skip_locked reads take exclusive locks",
                ));
            }
            let result = replica
                .txn_read_skip_locked(&read, req.keys, LOCK_WAIT)
                .await;
            return Ok(match result {
                Ok((pairs, skipped)) => {
                    let mut response = read_response(Ok((None, pairs)));
                    response.get_mut().skipped = skipped;
                    response
                }
                Err(e) => read_response(Err(e)),
            });
        }
        // Inline: a locking read leaves nothing half done if dropped (a
        // lock wait's guard withdraws it; locks granted stay with the
        // transaction, as after any read).
        let result = replica.txn_read(&read, req.keys, LOCK_WAIT).await;
        Ok(read_response(result.map(|pairs| (None, pairs))))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let from = spanlite_gateway::from_node(&request);
        let req = request.into_inner();
        self.note_rpc("scan", req.tablet_id);
        if let Some(range) = &req.range {
            self.store
                .metrics()
                .note_load(req.tablet_id, &range.start, from);
        }
        let range = req
            .range
            .map(|r| KeyRange::new(r.start, r.end))
            .unwrap_or_default();
        let limit = req.limit as usize;
        let txn = req.txn.as_ref().map(txn_of).transpose()?;
        if (req.read_ts.is_some() || req.choose_read_ts) && txn.is_some() {
            return Err(Status::invalid_argument(
                "a snapshot scan takes no transaction (read-only transactions take no locks)",
            ));
        }
        if req.any_replica && req.read_ts.is_none() {
            return Err(Status::invalid_argument(
                "a scan from any replica needs a read timestamp",
            ));
        }
        let replica = match self.replica(req.tablet_id) {
            Ok(r) => r,
            Err(e) => return Ok(Response::new(scan_error(&e))),
        };
        let (result, read_ts) = match txn {
            Some((txn, priority)) => {
                let read = TxnReadRequest {
                    txn,
                    priority,
                    mode: LockMode::Shared,
                    read_before: req
                        .txn
                        .as_ref()
                        .is_some_and(|m| m.read_tablets.contains(&req.tablet_id)),
                    generation: req.generation,
                };
                let lock_rows = req.lock == LockStrength::Exclusive as i32;
                // Inline, as a locking read (see `read`).
                let rows = replica
                    .txn_scan(&read, &range, limit, lock_rows, req.reverse, LOCK_WAIT)
                    .await;
                (rows, None)
            }
            None => {
                let at = ReadAt {
                    ts: req.read_ts.map(|t| Timestamp::from_nanos(t.nanos)),
                    single_tablet: false,
                    nothing_newer: req.nothing_newer,
                };
                let any_replica = req.any_replica;
                // Inline, as a snapshot read (see `read`).
                let read = replica
                    .snapshot_scan(&range, at, any_replica, limit, req.reverse, LOCK_WAIT)
                    .await;
                match read {
                    Ok((ts, rows)) => (
                        Ok((rows, None)),
                        Some(common::Timestamp {
                            nanos: ts.as_nanos(),
                        }),
                    ),
                    Err(e) => (Err(e), None),
                }
            }
        };
        Ok(Response::new(match result {
            Ok((rows, cut)) => {
                // Forwards the rest begins after the last row given;
                // backwards it ends at it.
                let resume_key = if limit > 0 && rows.len() == limit {
                    rows.last().map(|(k, _)| resume_after(k, req.reverse))
                } else {
                    None
                };
                // A locked scan cut short may hold fewer rows (deleted
                // before its lock): it says where it stopped.
                let resume_key = cut.or(resume_key);
                ScanResponse {
                    pairs: key_values(rows),
                    resume_key: resume_key.unwrap_or_default(),
                    error: None,
                    read_ts,
                }
            }
            Err(e) => scan_error(&e),
        }))
    }

    async fn prepare(
        &self,
        request: Request<PrepareRequest>,
    ) -> Result<Response<PrepareResponse>, Status> {
        let from = spanlite_gateway::from_node(&request);
        let req = request.into_inner();
        self.note_rpc("prepare", req.tablet_id);
        if let Some(w) = req.writes.first() {
            self.store.metrics().note_load(req.tablet_id, &w.key, from);
        }
        let meta = req
            .txn
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("Prepare without a transaction"))?;
        let (txn, priority) = txn_of(meta)?;
        let coordinator = meta.coordinator_tablet_id;
        // The lock phase needs no coordinator (a read-only transaction
        // confirming its locks has none); a prepare does.
        if !req.lock_only && !req.read_only && (coordinator == 0 || coordinator == req.tablet_id) {
            return Err(Status::invalid_argument(
                "Prepare needs a coordinator tablet other than the participant",
            ));
        }
        let commit = TabletCommit {
            txn,
            priority,
            writes: mutations_of(req.writes)?,
            validation: validation_of(meta, req.has_reads, req.reads)?,
            generation: req.generation,
            commit_before: commit_before(Some(meta)),
            read_locks_until: read_locks_until(Some(meta)),
            alone: false,
        };
        let replica = match self.replica(req.tablet_id) {
            Ok(r) => r,
            Err(e) => return Ok(Response::new(prepare_response(Err(e)))),
        };
        let (lock_only, read_only) = (req.lock_only, req.read_only);
        if read_only {
            let result = self
                .spawned(async move { replica.txn_read_lock(&commit, LOCK_WAIT).await })
                .await?;
            let until = result.as_ref().ok().copied();
            let mut resp = prepare_response(result.map(|_| Timestamp::MIN));
            if let Some(until) = until {
                resp.read_locked_until = Some(common::Timestamp {
                    nanos: until.as_nanos(),
                });
            }
            return Ok(Response::new(resp));
        }
        let result = self
            .spawned(async move {
                if lock_only {
                    replica
                        .txn_lock(&commit, LOCK_WAIT)
                        .await
                        .map(|()| Timestamp::MIN)
                } else {
                    replica.txn_prepare(&commit, coordinator, LOCK_WAIT).await
                }
            })
            .await?;
        Ok(Response::new(prepare_response(result)))
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let from = spanlite_gateway::from_node(&request);
        let req = request.into_inner();
        self.note_rpc("commit", req.tablet_id);
        if let Some(w) = req.writes.first() {
            self.store.metrics().note_load(req.tablet_id, &w.key, from);
        }
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
            let replica = match self.replica(req.tablet_id) {
                Ok(r) => r,
                Err(e) => return Ok(commit_response(Err(e))),
            };
            let result = self
                .spawned(async move {
                    replica
                        .txn_resolve(txn, Decision::Commit(ts))
                        .await
                        .map(|()| ts)
                })
                .await?;
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
            let commit = TabletCommit {
                txn,
                priority,
                writes: mutations,
                validation,
                generation: req.generation,
                commit_before: commit_before(req.txn.as_ref()),
                read_locks_until: read_locks_until(req.txn.as_ref()),
                alone: false,
            };
            let replica = match self.replica(req.tablet_id) {
                Ok(r) => r,
                Err(e) => return Ok(commit_response(Err(e))),
            };
            let result = self
                .spawned(async move {
                    replica
                        .txn_coordinate(&commit, participants, LOCK_WAIT)
                        .await
                })
                .await?;
            return Ok(commit_response(result));
        }
        if mutations.is_empty() && validation.reads.is_empty() {
            return Err(Status::invalid_argument("Commit without writes or reads"));
        }
        let replica = match self.replica(req.tablet_id) {
            Ok(r) => r,
            Err(e) => return Ok(commit_response(Err(e))),
        };
        let generation = req.generation;
        let commit_before = commit_before(req.txn.as_ref());
        let read_locks_until = read_locks_until(req.txn.as_ref());
        let alone = alone(req.tablet_id, req.txn.as_ref(), &validation);
        let result = self
            .spawned(async move {
                match txn {
                    Some((txn, priority)) => {
                        let commit = TabletCommit {
                            txn,
                            priority,
                            writes: mutations,
                            validation,
                            generation,
                            commit_before,
                            read_locks_until,
                            alone,
                        };
                        replica.txn_commit(&commit, LOCK_WAIT).await
                    }
                    None => replica.write(mutations).await,
                }
            })
            .await?;
        Ok(commit_response(result))
    }

    async fn abort(
        &self,
        request: Request<AbortRequest>,
    ) -> Result<Response<AbortResponse>, Status> {
        let req = request.into_inner();
        self.note_rpc("abort", req.tablet_id);
        let txn = txn_id_of(req.txn_id.as_ref())?;
        let result = match self.replica(req.tablet_id) {
            Ok(r) => {
                let fence = req.fence;
                self.spawned(async move { r.txn_abort(txn, fence).await })
                    .await?
            }
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
        self.note_rpc("txn_status", req.tablet_id);
        let txn = txn_id_of(req.txn_id.as_ref())?;
        let result = match self.replica(req.tablet_id) {
            Ok(r) => self.spawned(async move { r.txn_status(txn).await }).await?,
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
