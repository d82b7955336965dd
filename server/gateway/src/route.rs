//! Routing and retries of gateway requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_storage::keycode::resume_after;
use spanlite_storage::meta::TabletId;

use crate::TabletClient;
use spanlite_proto::common::{self, tablet_error::Kind};
use spanlite_proto::tablet::tablet_service_client::TabletServiceClient;
use spanlite_proto::tablet::tablet_service_server::TabletService;
use spanlite_proto::tablet::{CommitRequest, ReadRequest, ScanRequest};
use spanlite_truetime::{Backoff, Timestamp};

use super::GatewayError;
use spanlite_directory::wire::mutation_to_wire;
use spanlite_directory::{
    KeyRange, META_TABLET, Peers, RouteCache, TabletDescriptor, descriptor_keys, is_system_key,
    node_id_of, node_keys,
};
use spanlite_txn::{Mutation, NodeId};

/// Re-routing rounds of [`Gateway::read_many`] before it gives up.
const MAX_REROUTES: usize = 8;

/// One tablet's answer to [`Gateway::read_many`].
#[derive(Debug)]
pub(super) struct ManyRead {
    /// The tablet.
    pub tablet: TabletId,
    /// The keys it was asked.
    pub keys: Vec<Vec<u8>>,
    /// Those that exist, with their values.
    pub values: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The snapshot timestamp, for snapshot reads.
    pub read_ts: Option<Timestamp>,
    /// Keys left unlocked and unread (a `skip_locked` read).
    pub skipped: Vec<Vec<u8>>,
}

/// One key's answer from its leader.
#[derive(Debug)]
pub(super) struct KeyRead {
    /// The value, if the key exists.
    pub value: Option<Vec<u8>>,
    /// The snapshot timestamp, for snapshot reads.
    pub read_ts: Option<Timestamp>,
}

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Give up on a request after this long.
    pub deadline: Duration,
    /// Deadline of one call to one replica.
    pub rpc_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(5),
        }
    }
}

/// Routes requests to tablet leaders through the node's route cache.
#[derive(Clone, Debug)]
pub struct Gateway {
    cache: Arc<RouteCache>,
    peers: Peers,
    config: GatewayConfig,
    /// This node's own Tablet service, called in process (see
    /// [`Gateway::serve_locally`]).
    local: Arc<std::sync::OnceLock<Local>>,
    /// Tablet calls made in process and over gRPC.
    calls: Arc<[std::sync::atomic::AtomicU64; 2]>,
    /// Call streams to peer nodes' Tablet services.
    streams: Arc<crate::stream::CallStreams>,
}

/// The gateway's own node and how to reach its Tablet service in process.
#[derive(Clone)]
struct Local {
    node: NodeId,
    service: LocalTablets,
}

/// The node's Tablet service while the node runs (`None` once it stopped):
/// a function, so that the gateway does not keep the node's store alive
/// (the store holds the gateway).
pub type LocalTablets = Arc<dyn Fn() -> Option<Arc<dyn TabletService>> + Send + Sync>;

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Local(node {})", self.node)
    }
}

pub(super) type WireResult<T> = Result<Result<T, common::TabletError>, tonic::Status>;

/// How long a tablet lets a transactional request wait for a lock before
/// its transaction is aborted (and retried by its client); gateways wait
/// this much longer for commits and prepares.
pub const LOCK_WAIT: Duration = Duration::from_secs(4);

impl Gateway {
    /// A gateway over `cache`, reaching nodes through `peers`.
    pub fn new(cache: Arc<RouteCache>, peers: Peers, config: GatewayConfig) -> Self {
        Self {
            cache,
            peers,
            config,
            local: Arc::default(),
            calls: Arc::default(),
            streams: Arc::default(),
        }
    }

    /// Tablet calls made so far: (in process, over gRPC).
    pub fn calls(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.calls[0].load(Relaxed), self.calls[1].load(Relaxed))
    }

    /// Tablet calls sent so far on call streams to peer nodes (counted
    /// among the calls over gRPC of [`Gateway::calls`] too).
    pub fn streamed_calls(&self) -> u64 {
        self.streams.sent()
    }

    /// Calls to node `node`'s tablets go to `service` in this process (no
    /// serialization, no socket): the node's own Tablet service. Set once;
    /// later calls are ignored.
    pub fn serve_locally(&self, node: NodeId, service: LocalTablets) {
        let _ = self.local.set(Local { node, service });
    }

    /// The Tablet service of `node` at `addr`.
    fn tablet_client(&self, node: NodeId, addr: &str) -> Result<TabletClient, String> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(local) = self.local.get()
            && local.node == node
            && let Some(service) = (local.service)()
        {
            self.calls[0].fetch_add(1, Relaxed);
            return Ok(TabletClient::local(service, Some(local.node)));
        }
        self.calls[1].fetch_add(1, Relaxed);
        let channel = self.peers.channel(addr).map_err(|e| e.to_string())?;
        let from = self.local.get().map(|l| l.node);
        let unary = TabletServiceClient::new(channel.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(256 << 20);
        Ok(match self.streams.get(addr, &channel) {
            Some(stream) => TabletClient::streamed(stream, unary, from),
            None => TabletClient::remote(unary, from),
        })
    }

    /// The route cache.
    pub fn cache(&self) -> &Arc<RouteCache> {
        &self.cache
    }

    /// Re-reads every descriptor and node address from the meta tablet.
    pub async fn refresh(&self) -> Result<(), GatewayError> {
        for (key, value) in self.scan(&node_keys(), 0).await? {
            if let (Some(id), Ok(addr)) = (node_id_of(&key), String::from_utf8(value)) {
                self.cache.set_node(id, addr);
            }
        }
        for (_, value) in self.scan(&descriptor_keys(), 0).await? {
            let d: TabletDescriptor =
                spanlite_storage::meta::decode_value(&value, "tablet descriptor")
                    .map_err(|e| GatewayError::Failed(e.to_string()))?;
            self.cache.insert(d);
        }
        Ok(())
    }

    /// The cached tablet for `key`, refreshing from the meta tablet on a
    /// miss (never for system keys: the meta tablet's own descriptor comes
    /// from join or init).
    pub(super) async fn route(&self, key: &[u8]) -> Result<TabletDescriptor, GatewayError> {
        if let Some(d) = self.cache.lookup(key) {
            return Ok(d);
        }
        if is_system_key(key) {
            return Err(GatewayError::NotInitialized(
                "the meta tablet's location is not known yet".to_string(),
            ));
        }
        Box::pin(self.refresh()).await?;
        self.cache
            .lookup(key)
            .ok_or_else(|| GatewayError::Unavailable("no tablet owns the key".to_string()))
    }

    /// The cached tablet owning the keys just below `end` (empty: the end
    /// of the keyspace), refreshing from the meta tablet on a miss.
    async fn route_before(&self, end: &[u8]) -> Result<TabletDescriptor, GatewayError> {
        if let Some(d) = self.cache.lookup_before(end) {
            return Ok(d);
        }
        Box::pin(self.refresh()).await?;
        self.cache
            .lookup_before(end)
            .ok_or_else(|| GatewayError::Unavailable("no tablet owns the keys".to_string()))
    }

    async fn route_to(&self, owner: Owner<'_>) -> Result<TabletDescriptor, GatewayError> {
        match owner {
            Owner::Of(key) => self.route(key).await,
            Owner::Before(end) => self.route_before(end).await,
        }
    }

    /// Calls `f` on the leader of the tablet owning `key`, following hints
    /// and re-routing until it answers or the deadline passes.
    pub(super) async fn call<T, F, Fut>(
        &self,
        key: &[u8],
        f: F,
    ) -> Result<(T, TabletDescriptor), GatewayError>
    where
        F: FnMut(TabletClient, TabletDescriptor) -> Fut,
        Fut: Future<Output = WireResult<T>>,
    {
        self.call_within(key, self.config.rpc_timeout, f).await
    }

    /// How long a call waits for an answer.
    pub(super) fn rpc_timeout(&self) -> Duration {
        self.config.rpc_timeout
    }

    /// How long a commit or prepare that carries `bytes` of writes may
    /// take to answer: the tablet's lock wait ([`LOCK_WAIT`]: it may wait
    /// that long for its locks before anything else happens), plus the RPC
    /// timeout, plus three seconds per MiB (a large transaction's commit is
    /// one Raft entry every replica must decode, write and apply: 100,000
    /// rows, 3.6 MiB, took about 4 s in a debug build). Waiting less would
    /// report such a commit as 40003 (outcome unknown) while it is still
    /// going through.
    pub(super) fn timeout_for(&self, bytes: usize) -> Duration {
        LOCK_WAIT + self.config.rpc_timeout + Duration::from_millis((bytes / 1024) as u64 * 3)
    }

    /// [`Gateway::call`], waiting `rpc_timeout` for each answer.
    pub(super) async fn call_within<T, F, Fut>(
        &self,
        key: &[u8],
        rpc_timeout: Duration,
        f: F,
    ) -> Result<(T, TabletDescriptor), GatewayError>
    where
        F: FnMut(TabletClient, TabletDescriptor) -> Fut,
        Fut: Future<Output = WireResult<T>>,
    {
        self.call_owner(Owner::Of(key), rpc_timeout, f).await
    }

    /// [`Gateway::call_within`] on the tablet `owner` names.
    async fn call_owner<T, F, Fut>(
        &self,
        owner: Owner<'_>,
        rpc_timeout: Duration,
        mut f: F,
    ) -> Result<(T, TabletDescriptor), GatewayError>
    where
        F: FnMut(TabletClient, TabletDescriptor) -> Fut,
        Fut: Future<Output = WireResult<T>>,
    {
        let start = Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let mut last = String::from("no replica answered");
        // Nodes that did not answer in time during this call: tried last
        // (and hints pointing at them ignored), so a leader cut off from
        // this node does not eat the whole deadline round after round.
        let mut silent: std::collections::HashSet<NodeId> = std::collections::HashSet::new();
        loop {
            let d = match self.route_to(owner).await {
                Ok(d) => d,
                Err(e) if e.is_retryable() && start.elapsed() < self.config.deadline => {
                    last = e.to_string();
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut reroute = false;
            let mut hinted = false;
            let mut candidates = self.cache.candidates(&d);
            candidates.sort_by_key(|n| silent.contains(n));
            for node in candidates {
                let Some(addr) = self.cache.node_addr(node) else {
                    last = format!("no address known for node {node}");
                    continue;
                };
                let client = match self.tablet_client(node, &addr) {
                    Ok(c) => c,
                    Err(e) => {
                        last = format!("node {node} at {addr}: {e}");
                        continue;
                    }
                };
                let answer = tokio::time::timeout(rpc_timeout, f(client, d.clone())).await;
                match answer {
                    Err(_) => {
                        last = format!("node {node} did not answer in {rpc_timeout:?}");
                        silent.insert(node);
                        self.cache.clear_leader(d.id, node);
                    }
                    Ok(Err(status)) => match status.code() {
                        tonic::Code::InvalidArgument | tonic::Code::Unimplemented => {
                            return Err(GatewayError::Invalid(status.message().to_string()));
                        }
                        _ => last = format!("node {node}: {}", status.message()),
                    },
                    Ok(Ok(Ok(t))) => {
                        self.cache.set_leader(d.id, node);
                        return Ok((t, d));
                    }
                    Ok(Ok(Err(e))) => match e.kind {
                        Some(Kind::NotLeader(nl)) => {
                            last = format!("tablet {}: node {node} is not the leader", d.id);
                            if let Some(h) = nl.leader_hint.filter(|h| {
                                h.node_id != node && h.node_id != 0 && !silent.contains(&h.node_id)
                            }) {
                                if !h.address.is_empty() {
                                    self.cache.set_node(h.node_id, h.address);
                                }
                                self.cache.set_leader(d.id, h.node_id);
                                hinted = true;
                                break;
                            }
                        }
                        Some(Kind::WrongTablet(_)) | Some(Kind::TabletNotFound(_)) => {
                            last = format!("tablet {} moved or split", d.id);
                            self.cache.evict(d.id);
                            reroute = true;
                            break;
                        }
                        Some(Kind::ClockUnsynchronized(c)) => {
                            last = format!("node {node}: clock unsynchronized: {}", c.message);
                        }
                        Some(Kind::TxnAborted(a)) => {
                            return Err(GatewayError::aborted(
                                spanlite_directory::wire::abort_reason_from_wire(a.code),
                                a.reason,
                            ));
                        }
                        Some(Kind::Ambiguous(a)) => return Err(GatewayError::Ambiguous(a.message)),
                        Some(Kind::Internal(i)) => return Err(GatewayError::Failed(i.message)),
                        Some(Kind::SnapshotTooOld(s)) => {
                            return Err(GatewayError::SnapshotTooOld(s.message));
                        }
                        None => last = format!("node {node}: empty error"),
                    },
                }
            }
            if start.elapsed() >= self.config.deadline {
                return Err(GatewayError::Unavailable(last));
            }
            if reroute && d.id != META_TABLET {
                // Best effort: the next round routes again either way.
                let _ = Box::pin(self.refresh()).await;
            }
            let pause = if hinted {
                Duration::from_millis(10)
            } else {
                backoff.next_delay()
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// The latest committed value of `key`.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, GatewayError> {
        let (read, _) = self.read_key(key, |_| {}).await?;
        Ok(read.value)
    }

    /// Reads one key from the leader of its tablet; `shape` fills in the
    /// request's transaction, lock or timestamp fields. Returns the answer
    /// with the descriptor of the tablet that gave it.
    pub(super) async fn read_key(
        &self,
        key: &[u8],
        shape: impl Fn(&mut ReadRequest),
    ) -> Result<(KeyRead, TabletDescriptor), GatewayError> {
        self.call(key, |mut client, d| {
            let mut req = ReadRequest {
                tablet_id: d.id,
                generation: d.generation,
                keys: vec![key.to_vec()],
                ..Default::default()
            };
            shape(&mut req);
            async move {
                let resp = client.read(req).await?.into_inner();
                Ok(match resp.error {
                    Some(e) => Err(e),
                    None => Ok(KeyRead {
                        value: resp.values.into_iter().next().map(|kv| kv.value),
                        read_ts: resp.read_ts.map(|t| Timestamp::from_nanos(t.nanos)),
                    }),
                })
            }
        })
        .await
    }

    /// Reads `keys` with one Read call per tablet they fall in, the tablets
    /// in parallel; `shape` fills in each request (transaction, lock,
    /// timestamp). A key that a split moved out of the tablet it was routed
    /// to is routed again. Returns each tablet's answer; on an error, the
    /// tablets asked so far come with it (a locking read may have taken
    /// locks there).
    pub(super) async fn read_many(
        &self,
        keys: Vec<Vec<u8>>,
        shape: Arc<dyn Fn(&mut ReadRequest) + Send + Sync>,
    ) -> Result<Vec<ManyRead>, (GatewayError, Vec<TabletId>)> {
        let mut pending = keys;
        let mut out = Vec::new();
        let mut asked = Vec::new();
        for _round in 0..MAX_REROUTES {
            if pending.is_empty() {
                return Ok(out);
            }
            let mut groups: BTreeMap<TabletId, Vec<Vec<u8>>> = BTreeMap::new();
            for k in pending.drain(..) {
                let d = self.route(&k).await.map_err(|e| (e, asked.clone()))?;
                groups.entry(d.id).or_default().push(k);
            }
            asked.extend(groups.keys().copied());
            // One tablet (the common case): its call runs in this task, with
            // no task to spawn and wake; more run in parallel tasks.
            let read_group = |keys: Vec<Vec<u8>>| {
                let gateway = self.clone();
                let shape = shape.clone();
                async move {
                    let first = keys[0].clone();
                    let all = keys.clone();
                    let read = gateway
                        .call(&first, move |mut client, d| {
                            let inside: Vec<Vec<u8>> = all
                                .iter()
                                .filter(|k| d.range.contains(k))
                                .cloned()
                                .collect();
                            let mut req = ReadRequest {
                                tablet_id: d.id,
                                generation: d.generation,
                                keys: inside.clone(),
                                ..Default::default()
                            };
                            shape(&mut req);
                            async move {
                                let resp = client.read(req).await?.into_inner();
                                Ok(match resp.error {
                                    Some(e) => Err(e),
                                    None => Ok((inside, resp.values, resp.read_ts, resp.skipped)),
                                })
                            }
                        })
                        .await;
                    (keys, read)
                }
            };
            let mut joined = Vec::with_capacity(groups.len());
            if groups.len() == 1 {
                for (_, keys) in groups {
                    joined.push(Ok(read_group(keys).await));
                }
            } else {
                let mut calls = tokio::task::JoinSet::new();
                for (_, keys) in groups {
                    calls.spawn(read_group(keys));
                }
                while let Some(r) = calls.join_next().await {
                    joined.push(r);
                }
            }
            let mut failure = None;
            for joined in joined {
                let (keys, read) = match joined {
                    Ok(r) => r,
                    Err(e) => {
                        failure.get_or_insert(GatewayError::Failed(e.to_string()));
                        continue;
                    }
                };
                match read {
                    Ok(((inside, values, read_ts, skipped), d)) => {
                        asked.push(d.id);
                        let covered: std::collections::HashSet<&Vec<u8>> = inside.iter().collect();
                        pending.extend(keys.iter().filter(|k| !covered.contains(k)).cloned());
                        out.push(ManyRead {
                            tablet: d.id,
                            keys: inside,
                            values: values.into_iter().map(|kv| (kv.key, kv.value)).collect(),
                            read_ts: read_ts.map(|t| Timestamp::from_nanos(t.nanos)),
                            skipped,
                        });
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Err((e, asked));
            }
        }
        Err((
            GatewayError::Unavailable("the keys kept moving between tablets".to_string()),
            asked,
        ))
    }

    /// Writes `mutation` (one key) linearizably; returns its commit timestamp.
    pub async fn write(&self, mutation: Mutation) -> Result<Timestamp, GatewayError> {
        let key = mutation.key().to_vec();
        let wire = mutation_to_wire(mutation);
        let (ts, _) = self
            .call(&key, |mut client, d| {
                let req = CommitRequest {
                    tablet_id: d.id,
                    generation: d.generation,
                    writes: vec![wire.clone()],
                    ..Default::default()
                };
                async move {
                    let resp = client.commit(req).await?.into_inner();
                    Ok(match (resp.error, resp.commit_ts) {
                        (Some(e), _) => Err(e),
                        (None, Some(ts)) => Ok(Timestamp::from_nanos(ts.nanos)),
                        (None, None) => Err(common::TabletError {
                            kind: Some(Kind::Internal(common::Internal {
                                message: "commit without a timestamp".to_string(),
                            })),
                        }),
                    })
                }
            })
            .await?;
        Ok(ts)
    }

    /// Latest committed pairs in `range`, across tablets, at most `limit`
    /// (0: all).
    pub async fn scan(
        &self,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, GatewayError> {
        let out = self
            .scan_tablets(range, limit, ScanKind::Latest, false)
            .await?;
        Ok(out.pairs)
    }

    /// Scans `range` tablet by tablet (each piece clipped to its tablet)
    /// as `kind` says, at most `limit` pairs (0: all); `reverse`: from
    /// the end of the range backwards, the pairs in descending key order.
    pub(super) async fn scan_tablets(
        &self,
        range: &KeyRange,
        limit: usize,
        mut kind: ScanKind,
        reverse: bool,
    ) -> Result<Scanned, GatewayError> {
        let mut out = Scanned::default();
        // What is left to read.
        let mut rest = range.clone();
        loop {
            let want = if limit == 0 {
                0
            } else {
                limit - out.pairs.len()
            };
            let shape = kind.clone();
            let owner = if reverse {
                Owner::Before(&rest.end)
            } else {
                Owner::Of(&rest.start)
            };
            let call = |mut client: TabletClient, d: TabletDescriptor| {
                // Clipped to the tablet: a transaction's range lock
                // covers only what this tablet owns.
                let piece = clip(&rest, &d.range);
                let mut req = ScanRequest {
                    tablet_id: d.id,
                    generation: d.generation,
                    range: Some(common::KeyRange {
                        start: piece.start,
                        end: piece.end,
                    }),
                    limit: u32::try_from(want).unwrap_or(u32::MAX),
                    reverse,
                    ..Default::default()
                };
                shape.shape(&mut req);
                async move {
                    let resp = client.scan(req).await?.into_inner();
                    Ok(match resp.error {
                        Some(e) => Err(e),
                        None => Ok((
                            resp.pairs,
                            resp.read_ts.map(|t| Timestamp::from_nanos(t.nanos)),
                            resp.resume_key,
                        )),
                    })
                }
            };
            let ((pairs, read_ts, resume_key), d) = self
                .call_owner(owner, self.config.rpc_timeout, call)
                .await?;
            out.tablets.push(d.id);
            let piece = clip(&rest, &d.range);
            out.pieces.push((d.id, piece.clone()));
            out.pairs
                .extend(pairs.into_iter().map(|kv| (kv.key, kv.value)));
            if let (ScanKind::Snapshot(ts @ None), Some(chosen)) = (&mut kind, read_ts) {
                *ts = Some(chosen);
                out.read_ts = Some(chosen);
            }
            // A locked scan may stop short of its limit where it locked.
            if limit > 0 && !resume_key.is_empty() {
                out.resume = Some(resume_key);
                return Ok(out);
            }
            let left = if reverse {
                (piece.start > rest.start).then(|| KeyRange::new(rest.start.clone(), piece.start))
            } else {
                let short = !piece.end.is_empty() && (rest.end.is_empty() || piece.end < rest.end);
                short.then(|| KeyRange::new(piece.end, rest.end.clone()))
            };
            let full = limit > 0 && out.pairs.len() >= limit;
            match left {
                Some(left) if !full => rest = left,
                _ => {
                    if full {
                        out.pairs.truncate(limit);
                        // The rest: `[last's successor, end)` forwards,
                        // `[start, last)` backwards.
                        out.resume = out.pairs.last().map(|(k, _)| resume_after(k, reverse));
                    }
                    return Ok(out);
                }
            }
        }
    }
}

/// The part of `range` inside `tablet`.
fn clip(range: &KeyRange, tablet: &KeyRange) -> KeyRange {
    let start = range.start.clone().max(tablet.start.clone());
    let end = match (range.end.is_empty(), tablet.end.is_empty()) {
        (true, _) => tablet.end.clone(),
        (false, true) => range.end.clone(),
        (false, false) => range.end.clone().min(tablet.end.clone()),
    };
    KeyRange::new(start, end)
}

/// Which tablet a call goes to.
#[derive(Clone, Copy, Debug)]
pub(super) enum Owner<'k> {
    /// The one owning the key.
    Of(&'k [u8]),
    /// The one owning the keys just below the key (empty: the end of the
    /// keyspace): a reverse scan's next tablet.
    Before(&'k [u8]),
}

/// How [`Gateway::scan_tablets`] reads.
#[derive(Clone, Debug)]
pub(super) enum ScanKind {
    /// The latest committed values at each leader (raw).
    Latest,
    /// A snapshot at the timestamp, or one the first leader picks.
    Snapshot(Option<Timestamp>),
    /// A snapshot at another tablet's LastTS: leaders only, refused where
    /// a newer commit is applied (`nothing_newer`).
    AfterLastTs(Timestamp),
    /// Under a read-write transaction's shared range locks (with
    /// `Exclusive`, the rows found are locked exclusively too).
    Locked(
        spanlite_proto::tablet::TxnMeta,
        spanlite_proto::tablet::LockStrength,
    ),
}

impl ScanKind {
    fn shape(&self, req: &mut ScanRequest) {
        match self {
            ScanKind::Latest => {}
            ScanKind::Snapshot(Some(ts)) => {
                req.read_ts = Some(common::Timestamp {
                    nanos: ts.as_nanos(),
                });
                req.any_replica = true;
            }
            ScanKind::Snapshot(None) => req.choose_read_ts = true,
            ScanKind::AfterLastTs(ts) => {
                req.read_ts = Some(common::Timestamp {
                    nanos: ts.as_nanos(),
                });
                req.nothing_newer = true;
            }
            ScanKind::Locked(meta, lock) => {
                req.txn = Some(meta.clone());
                req.lock = *lock as i32;
            }
        }
    }
}

/// What [`Gateway::scan_tablets`] found.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// Pairs in key order (descending for a reverse scan).
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The tablets read.
    pub tablets: Vec<spanlite_storage::meta::TabletId>,
    /// The piece of the range each tablet read (clipped to the tablet).
    pub pieces: Vec<(spanlite_storage::meta::TabletId, KeyRange)>,
    /// For a snapshot without a timestamp: the one the first leader picked.
    pub read_ts: Option<Timestamp>,
    /// Where the rest of the range begins (a reverse scan: ends), if the
    /// limit cut the scan short (the range may hold more).
    pub resume: Option<Vec<u8>>,
}
