//! The node's storage and the tablet replicas on it (CockroachDB calls this a
//! store): one RocksDB engine, one node WAL, one Raft log store shared by
//! every replica, recovery at open, and periodic fuzzy checkpoints.
//!
//! ```text
//!   data-dir/ ── db/   RocksDB (its WAL off): versions, intents, meta
//!             └─ wal/  node WAL segments: Raft logs of every replica, checkpoints
//! ```
//!
//! Open runs ARIES recovery (analysis, then redo with the tablet state
//! machine's own apply function; no undo: docs/wal.md) and then starts a Raft group for every replica
//! recorded in the engine (`MetaKey::LocalReplica`); openraft catches each
//! up from its peers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use spanlite_storage::engine::{Engine, RocksConfig, RocksEngine, WriteBatch};
use spanlite_storage::meta::{self, TabletId};
use spanlite_storage::mvcc::Mvcc;
use spanlite_storage::raftlog::RaftLogStore;
use spanlite_storage::recovery::{self, DirtyTablets, RecoveryReport};
use spanlite_storage::wal::{Wal, WalConfig};
use spanlite_truetime::TrueTime;
use thiserror::Error;

use crate::metrics::TxnMetrics;
use crate::raft::{
    LocalReplica, NodeId, Raft, RaftGrpc, RaftRouter, RaftStreams, RaftTiming, RaftTransportConfig,
    RangeEvent, TabletApplier, TabletLogStore, TabletNetworkFactory, TabletStateMachine,
    raft_config,
};
use crate::tablet::{PeersSlot, Replica, ReplicaParts};
use spanlite_directory::{KeyRange, Peers, PeersConfig};
use tokio::sync::mpsc;

/// Settings of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// This node.
    pub node_id: NodeId,
    /// Data directory (`db/` and `wal/` inside).
    pub data_dir: PathBuf,
    /// Raft timing shared by every group.
    pub timing: RaftTiming,
    /// How this node dials its peers (shared by every Raft group).
    pub peers: PeersConfig,
    /// Raft transport settings (snapshots, backoff).
    pub transport: RaftTransportConfig,
    /// Recent Raft entry payloads cached per group.
    pub raft_cache_bytes: usize,
    /// WAL segment size.
    pub wal_segment_bytes: u64,
    /// RocksDB block cache.
    pub block_cache_bytes: usize,
    /// Unprepared transactions silent this long are aborted by the leader;
    /// prepared ones undecided this long ask their coordinator.
    pub txn_idle_timeout: Duration,
    /// Every leader sends its followers a closed timestamp this often (one
    /// message per node pair), so followers serve recent snapshot reads
    /// (zero: never; followers then serve none).
    pub closed_ts_every: Duration,
}

impl StoreConfig {
    /// Defaults for node `node_id` with data in `data_dir`.
    pub fn new(node_id: NodeId, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id,
            data_dir: data_dir.into(),
            timing: RaftTiming::default(),
            peers: PeersConfig::default(),
            transport: RaftTransportConfig::default(),
            raft_cache_bytes: 4 << 20,
            wal_segment_bytes: spanlite_storage::wal::DEFAULT_SEGMENT_SIZE,
            block_cache_bytes: 64 << 20,
            txn_idle_timeout: Duration::from_secs(10),
            closed_ts_every: Duration::from_millis(200),
        }
    }

    /// The lease length: shorter than the minimum election timeout by two
    /// heartbeats (see `crate::tablet::lease`).
    pub fn lease(&self) -> Duration {
        self.timing
            .election_min
            .saturating_sub(self.timing.heartbeat * 2)
            .max(self.timing.heartbeat)
    }
}

/// What can go wrong opening or changing a store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Storage failed (open, recovery, or a write).
    #[error("storage: {0}")]
    Storage(#[from] spanlite_storage::StorageError),
    /// The node WAL failed.
    #[error("WAL: {0}")]
    Wal(#[from] spanlite_storage::wal::WalError),
    /// A Raft group could not start.
    #[error("tablet {tablet}: cannot start Raft: {message}")]
    Raft {
        /// The tablet.
        tablet: TabletId,
        /// openraft's message.
        message: String,
    },
    /// The request names a tablet that is (or is not) hosted here.
    #[error("tablet {0}: {1}")]
    Replica(TabletId, &'static str),
    /// Bad settings.
    #[error("invalid Raft settings: {0}")]
    Config(String),
    /// The record of a tablet born of a split whose first voters do not
    /// include this node, and whose group never started here
    /// ([`LocalReplica::is_member`]): there is no replica to start.
    #[error("tablet {0}: this node is no member of the split-off group")]
    NotAMember(TabletId),
}

/// A node's storage and replicas.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    engine: Arc<dyn Engine>,
    mvcc: Mvcc,
    raftlog: RaftLogStore,
    dirty: Arc<DirtyTablets>,
    peers: Peers,
    transport: Arc<RaftTransportConfig>,
    /// Call streams to peers, shared by every group's Raft transport.
    raft_streams: Arc<RaftStreams>,
    /// True once the store shuts down (the Raft service's call streams end).
    closing: tokio::sync::watch::Sender<bool>,
    raft_config: Arc<openraft::Config>,
    truetime: Arc<TrueTime>,
    replicas: RwLock<HashMap<TabletId, Arc<Replica>>>,
    /// Held while a replica is created here, and while the record of a
    /// split-off tablet this node is no member of is discarded.
    creating: tokio::sync::Mutex<()>,
    recovery: RecoveryReport,
    /// Other tablets, for 2PC steps leaders run on their own (set by the
    /// node once its gateway exists).
    txn_peers: PeersSlot,
    /// Transaction counters of every replica here.
    metrics: Arc<TxnMetrics>,
    /// State machines report applied splits, merges and snapshots here; a
    /// task starts the new tablets' groups and retires merged ones.
    splits: mpsc::UnboundedSender<(TabletId, RangeEvent)>,
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir`, runs recovery and
    /// starts every hosted replica's Raft group.
    pub async fn open(
        config: StoreConfig,
        truetime: Arc<TrueTime>,
    ) -> Result<Arc<Self>, StoreError> {
        let raft_config =
            raft_config(config.timing).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut rocks = RocksConfig::new(config.data_dir.join("db"));
        rocks.block_cache_bytes = config.block_cache_bytes;
        let engine: Arc<dyn Engine> = Arc::new(RocksEngine::open(rocks)?);
        let mvcc = Mvcc::open(engine.clone())?;
        let (wal, opened) = Wal::open(WalConfig {
            dir: config.data_dir.join("wal"),
            segment_size: config.wal_segment_bytes,
        })?;
        let recovered = {
            let (engine, mvcc, cache) = (engine.clone(), mvcc.clone(), config.raft_cache_bytes);
            tokio::task::spawn_blocking(move || {
                recovery::recover(
                    &wal,
                    &opened,
                    engine.as_ref(),
                    &mut TabletApplier::new(mvcc.clone()),
                    cache,
                )
            })
            .await
            .map_err(|e| StoreError::Config(format!("recovery task failed: {e}")))??
        };
        tracing::info!(node = config.node_id, "{}", recovered.report);
        let (splits, split_rx) = mpsc::unbounded_channel();
        let store = Arc::new(Self {
            peers: Peers::new(config.peers.clone()),
            transport: Arc::new(config.transport.clone()),
            raft_streams: Arc::default(),
            closing: tokio::sync::watch::Sender::new(false),
            config,
            engine,
            mvcc,
            raftlog: recovered.raft,
            dirty: Arc::new(recovered.dirty),
            raft_config,
            truetime,
            replicas: RwLock::default(),
            creating: tokio::sync::Mutex::default(),
            recovery: recovered.report,
            splits,
            txn_peers: PeersSlot::default(),
            metrics: Arc::default(),
        });
        let mut in_doubt = 0;
        let records: Vec<(TabletId, LocalReplica)> = meta::local_replicas(store.engine.as_ref())?
            .into_iter()
            .map(|(t, b)| Ok((t, meta::decode_value(&b, "local replica")?)))
            .collect::<Result<_, spanlite_storage::StorageError>>()?;
        for (tablet, local) in &records {
            // Merged away before a crash that came before it was retired.
            if let Some(frozen) = spanlite_txn::apply::load_frozen(&store.mvcc, *tablet)?
                && records
                    .iter()
                    .any(|(t, l)| *t == frozen.into && covers(&l.range, &local.range))
            {
                store.retire_records(*tablet, WriteBatch::new()).await?;
            }
        }
        let mut not_members = Vec::new();
        for (tablet, bytes) in meta::local_replicas(store.engine.as_ref())? {
            let local: LocalReplica =
                spanlite_storage::meta::decode_value(&bytes, "local replica")?;
            in_doubt += crate::raft::load_txn_records(&store.mvcc, tablet)?
                .all_prepared()
                .count();
            let range = local.range.clone();
            match store.start_replica(tablet, local).await {
                Ok(_) => {}
                // Recorded by a split applied here as a learner, before a
                // crash let `follow_splits` discard it: discarded now,
                // once every replica here runs.
                Err(StoreError::NotAMember(_)) => not_members.push((tablet, range)),
                Err(e) => return Err(e),
            }
        }
        for (tablet, range) in not_members {
            // As `discard_split_off` does: the record, and the new
            // tablet's keys, which no replica here serves.
            let batch = store.unowned_data(&range)?;
            store.retire_records(tablet, batch).await?;
            tracing::info!(
                tablet,
                "dropped the record and the keys of a split-off tablet this node is no member of"
            );
        }
        if in_doubt > 0 {
            // Their records were redone with the tablets' logs; whichever
            // replica leads takes their locks again and asks their
            // coordinators.
            tracing::info!(
                node = store.config.node_id,
                in_doubt,
                "prepared transactions in doubt after recovery"
            );
        }
        tokio::spawn(follow_splits(Arc::downgrade(&store), split_rx));
        if !store.config.closed_ts_every.is_zero() {
            tokio::spawn(super::closed::publish(
                Arc::downgrade(&store),
                store.config.closed_ts_every,
            ));
        }
        Ok(store)
    }

    /// This node.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The Raft timing of every group here.
    pub fn timing(&self) -> RaftTiming {
        self.config.timing
    }

    /// How long a leader's lease lasts past each quorum acknowledgement.
    pub fn lease_duration(&self) -> Duration {
        self.config.lease()
    }

    /// What recovery did at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The shared peer channels.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The node's clock.
    pub fn truetime(&self) -> &Arc<TrueTime> {
        &self.truetime
    }

    /// MVCC over the node's engine.
    pub fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// Where replicas find other tablets for 2PC (set once by the node).
    pub fn txn_peers(&self) -> &PeersSlot {
        &self.txn_peers
    }

    /// The node's transaction metrics.
    pub fn metrics(&self) -> &Arc<TxnMetrics> {
        &self.metrics
    }

    /// The replica of `tablet` hosted here, if any.
    pub fn replica(&self, tablet: TabletId) -> Option<Arc<Replica>> {
        self.replicas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tablet)
            .cloned()
    }

    /// Every hosted replica, by tablet id.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        let mut all: Vec<_> = self
            .replicas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|r| r.tablet());
        all
    }

    /// Creates a replica of `tablet` here (empty; Raft fills it from the
    /// leader, with a snapshot if needed) and starts its Raft group. The
    /// record of it is flushed before the group starts, so a restart brings
    /// it back.
    pub async fn create_replica(
        &self,
        tablet: TabletId,
        range: KeyRange,
        generation: u64,
    ) -> Result<Arc<Replica>, StoreError> {
        let _creating = self.creating.lock().await;
        if self.replica(tablet).is_some() {
            return Err(StoreError::Replica(
                tablet,
                "a replica already exists on this node",
            ));
        }
        let mut batch = WriteBatch::new();
        let record = LocalReplica {
            range,
            generation,
            floor: spanlite_truetime::Timestamp::MIN,
            initial_members: None,
        };
        crate::raft::write_local_replica(&mut batch, tablet, &record)?;
        self.engine.write(batch)?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.flush())
            .await
            .map_err(|e| StoreError::Config(format!("flush task failed: {e}")))??;
        self.start_replica(tablet, record).await
    }

    /// Starts the Raft group of a replica recorded here. A tablet born of a
    /// split whose group was never initialized is initialized now, with the
    /// members every replica of it uses.
    async fn start_replica(
        &self,
        tablet: TabletId,
        record: LocalReplica,
    ) -> Result<Arc<Replica>, StoreError> {
        let raft_err = |message: String| StoreError::Raft { tablet, message };
        let range = record.range.clone();
        let (sm, applied) = TabletStateMachine::open(
            tablet,
            self.mvcc.clone(),
            &record,
            self.dirty.clone(),
            self.raftlog.clone(),
            self.splits.clone(),
        )
        .map_err(|e| raft_err(e.to_string()))?;
        let log = TabletLogStore::new(self.raftlog.clone(), tablet);
        let appends = log.appends();
        let raft = Raft::new(
            self.config.node_id,
            self.raft_config.clone(),
            TabletNetworkFactory::new(
                tablet,
                self.config.node_id,
                self.peers.clone(),
                self.raft_streams.clone(),
                self.transport.clone(),
            ),
            log,
            sm,
        )
        .await
        .map_err(|e| raft_err(e.to_string()))?;
        if let Some(members) = record.initial_members
            && !raft
                .is_initialized()
                .await
                .map_err(|e| raft_err(e.to_string()))?
        {
            // Checked only for a group that never started here: a node can
            // be a voter of a tablet whose record a late split entry rewrote
            // (it applied the parent's split as a learner after the new
            // tablet had been moved to it).
            if !members.contains_key(&self.config.node_id) {
                let _ = raft.shutdown().await;
                return Err(StoreError::NotAMember(tablet));
            }
            raft.initialize(members)
                .await
                .map_err(|e| raft_err(format!("initializing the split-off group: {e}")))?;
        }
        let replica = Replica::start(ReplicaParts {
            tablet,
            node_id: self.config.node_id,
            range,
            generation: record.generation,
            raft,
            appends,
            mvcc: self.mvcc.clone(),
            applied,
            lease: self.config.lease(),
            txn_idle_timeout: self.config.txn_idle_timeout,
            truetime: self.truetime.clone(),
            peers: self.txn_peers.clone(),
            metrics: self.metrics.clone(),
        });
        self.replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tablet, replica.clone());
        Ok(replica)
    }

    /// Stops and forgets the replica of `tablet` (it was removed from the
    /// group): its Raft log and its data on this node are deleted — but
    /// not keys that another replica here owns (a replica left over from
    /// before a merge or a move must not take a live tablet's data along).
    pub async fn destroy_replica(&self, tablet: TabletId) -> Result<(), StoreError> {
        let range = self.stop_replica(tablet).await?;
        let batch = self.unowned_data(&range)?;
        self.retire_records(tablet, batch).await
    }

    /// A split applied here while this node held the parent as a learner
    /// made the record of a new tablet whose group it is no member of
    /// ([`LocalReplica::is_member`]): the record goes, and so do the new
    /// tablet's keys here, which no replica on this node serves any more
    /// (should the node get a replica of that tablet later, it comes with
    /// a snapshot).
    async fn discard_split_off(
        &self,
        tablet: TabletId,
        range: &KeyRange,
    ) -> Result<(), StoreError> {
        // Unless a replica of the tablet was made here meanwhile, or the
        // record is no longer the split's.
        let _creating = self.creating.lock().await;
        let record: Option<LocalReplica> =
            meta::get_bytes(self.engine.as_ref(), &meta::MetaKey::LocalReplica(tablet))?
                .map(|b| meta::decode_value(&b, "local replica"))
                .transpose()?;
        let node = self.config.node_id;
        if self.replica(tablet).is_some() || record.is_none_or(|r| r.is_member(node)) {
            return Ok(());
        }
        let batch = self.unowned_data(range)?;
        self.retire_records(tablet, batch).await
    }

    /// Deletions of the data in `range` that no running replica here owns.
    fn unowned_data(&self, range: &KeyRange) -> Result<WriteBatch, StoreError> {
        // The other replicas' ranges as bounds on the families' keys (the
        // escaped user key is order-keeping and prefix-free, and begins
        // every version key of its user key).
        let enc = spanlite_storage::mvcc::encode_intent_key;
        let others: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .replicas()
            .iter()
            .map(|r| r.range())
            .map(|o| (enc(&o.start), (!o.end.is_empty()).then(|| enc(&o.end))))
            .collect();
        let mut batch = WriteBatch::new();
        for cf in [
            spanlite_storage::engine::Cf::Versions,
            spanlite_storage::engine::Cf::Intents,
        ] {
            for item in self.engine.scan(
                cf,
                range.storage_range(),
                spanlite_storage::engine::Direction::Forward,
            )? {
                let (key, _) = item?;
                let owned = others.iter().any(|(start, end)| {
                    *key >= **start && end.as_ref().is_none_or(|end| *key < **end)
                });
                if !owned {
                    batch.delete(cf, key.into_vec());
                }
            }
        }
        Ok(batch)
    }

    /// Stops and forgets the replica of `tablet`, merged into its left
    /// neighbour here: its Raft log and records go, its data stays (it is
    /// the left neighbour's now).
    pub async fn retire_merged(&self, tablet: TabletId) -> Result<(), StoreError> {
        self.stop_replica(tablet).await?;
        self.retire_records(tablet, WriteBatch::new()).await?;
        tracing::info!(node = self.config.node_id, tablet, "merged replica retired");
        Ok(())
    }

    /// Takes the replica of `tablet` out of the store and stops its Raft
    /// group; returns the range it served.
    async fn stop_replica(&self, tablet: TabletId) -> Result<KeyRange, StoreError> {
        let replica = self
            .replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tablet)
            .ok_or(StoreError::Replica(tablet, "no replica on this node"))?;
        replica.shutdown().await;
        Ok(replica.range())
    }

    /// Deletes the records and Raft log of a stopped replica, in one batch
    /// with what `batch` holds already (its data, when it leaves the node).
    async fn retire_records(
        &self,
        tablet: TabletId,
        mut batch: WriteBatch,
    ) -> Result<(), StoreError> {
        meta::clear_tablet(&mut batch, tablet)?;
        meta::clear_txn_records(self.engine.as_ref(), &mut batch, tablet)?;
        self.engine.write(batch)?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.flush())
            .await
            .map_err(|e| StoreError::Config(format!("flush task failed: {e}")))??;
        self.raftlog
            .remove_group(tablet)
            .await
            .map_err(|e| StoreError::Raft {
                tablet,
                message: e.to_string(),
            })?;
        Ok(())
    }

    /// Replicas here frozen into `left` whose ranges `range` covers: the
    /// merge was applied (or a snapshot brought it), so they retire.
    async fn retire_covered(&self, left: TabletId, range: &KeyRange) {
        for r in self.replicas() {
            if r.applied().frozen_into() == Some(left)
                && covers(range, &r.range())
                && let Err(e) = self.retire_merged(r.tablet()).await
            {
                tracing::error!(left, right = r.tablet(), "retiring a merged replica: {e}");
            }
        }
    }

    /// The node WAL's counters since open (appends, bytes, fsyncs).
    pub fn wal_stats(&self) -> spanlite_storage::wal::WalStats {
        self.raftlog.wal().stats()
    }

    /// Takes a fuzzy checkpoint and deletes WAL segments no longer needed.
    pub async fn checkpoint(&self) -> Result<recovery::CheckpointReport, StoreError> {
        let wal: Wal = self.raftlog.wal().clone();
        let (engine, raftlog, dirty) = (
            self.engine.clone(),
            self.raftlog.clone(),
            self.dirty.clone(),
        );
        tokio::task::spawn_blocking(move || {
            recovery::checkpoint(&wal, engine.as_ref(), &raftlog, dirty.as_ref())
        })
        .await
        .map_err(|e| StoreError::Config(format!("checkpoint task failed: {e}")))?
        .map_err(StoreError::from)
    }

    /// Stops every replica's Raft group (clean shutdown).
    pub async fn shutdown(&self) {
        self.closing.send_replace(true);
        let all: Vec<_> = self
            .replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, r)| r)
            .collect();
        for replica in all {
            replica.shutdown().await;
        }
        self.raft_streams.clear();
        // Everything queued (lazy committed ids) reaches the disk.
        let _ = self.raftlog.flush().await;
    }

    /// Raft messages (appends, votes) this node sent on its call streams
    /// to peers so far; larger ones went as unary calls.
    pub fn raft_streamed_calls(&self) -> u64 {
        self.raft_streams.sent()
    }

    /// The gRPC Raft service of this store.
    pub fn raft_service(self: &Arc<Self>) -> RaftGrpc {
        RaftGrpc::new(
            Arc::new(StoreRouter(self.clone())),
            self.closing.subscribe(),
        )
    }
}

/// True when `outer` contains every key of `inner`.
fn covers(outer: &KeyRange, inner: &KeyRange) -> bool {
    inner.start >= outer.start
        && (outer.end.is_empty() || (!inner.end.is_empty() && inner.end <= outer.end))
}

/// Starts the group of every tablet a split creates, and narrows the
/// parent's served range; widens a tablet's range after a merge and retires
/// the merged replica; until the store is dropped.
async fn follow_splits(
    store: std::sync::Weak<Store>,
    mut splits: mpsc::UnboundedReceiver<(TabletId, RangeEvent)>,
) {
    while let Some((left, event)) = splits.recv().await {
        let Some(store) = store.upgrade() else { return };
        let split = match event {
            RangeEvent::Split(split) => split,
            RangeEvent::Merged {
                right,
                range,
                generation,
            } => {
                if let Some(replica) = store.replica(left) {
                    replica.set_range(range.clone(), generation);
                }
                store.retire_covered(left, &range).await;
                if store.replica(right).is_some() {
                    tracing::error!(
                        left,
                        right,
                        "merge applied but the right replica here is not frozen into it"
                    );
                }
                tracing::info!(left, right, %range, "merge applied");
                continue;
            }
            RangeEvent::Installed { range, generation } => {
                if let Some(replica) = store.replica(left) {
                    replica.set_range(range.clone(), generation);
                }
                store.retire_covered(left, &range).await;
                continue;
            }
        };
        if let Some(parent) = store.replica(left) {
            let mut range = parent.range();
            range.end = split.replica.range.start.clone();
            parent.set_range(range, split.left_generation);
        }
        if store.replica(split.right).is_some() {
            continue;
        }
        let range = split.replica.range.clone();
        match store.start_replica(split.right, split.replica).await {
            Ok(_) => tracing::info!(left, right = split.right, "split: new tablet started"),
            Err(StoreError::NotAMember(_)) => {
                match store.discard_split_off(split.right, &range).await {
                    Ok(()) => tracing::info!(
                        left,
                        right = split.right,
                        "split applied as a learner: no replica of the new tablet here"
                    ),
                    Err(e) => tracing::error!(
                        left,
                        right = split.right,
                        "split applied as a learner: discarding the new tablet's record: {e}"
                    ),
                }
            }
            Err(e) => tracing::error!(
                left,
                right = split.right,
                "split: cannot start the new tablet: {e}"
            ),
        }
    }
}

/// Routes Raft messages to the store's replicas.
#[derive(Debug)]
struct StoreRouter(Arc<Store>);

impl RaftRouter for StoreRouter {
    fn node_id(&self) -> NodeId {
        self.0.node_id()
    }

    fn raft(&self, tablet: TabletId) -> Option<Raft> {
        self.0.replica(tablet).map(|r| r.raft().clone())
    }

    fn vote_allowed(&self, tablet: TabletId, term: u64) -> bool {
        self.0.replica(tablet).is_none_or(|r| r.vote_allowed(term))
    }

    fn note_closed(
        &self,
        tablet: TabletId,
        closed: spanlite_txn::actions::safe_time::Closed,
    ) -> bool {
        match self.0.replica(tablet) {
            Some(r) => {
                r.note_closed(closed);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanlite_truetime::{SystemClock, Timestamp, TrueTimeConfig};

    async fn open(dir: &Path) -> Arc<Store> {
        let truetime = Arc::new(TrueTime::assume_synced(
            Arc::new(SystemClock::new()),
            TrueTimeConfig::default(),
            Duration::from_micros(200),
        ));
        let mut config = StoreConfig::new(1, dir);
        config.wal_segment_bytes = 4 << 20;
        Store::open(config, truetime).await.unwrap()
    }

    fn range(start: &str, end: &str) -> KeyRange {
        KeyRange {
            start: start.as_bytes().to_vec(),
            end: end.as_bytes().to_vec(),
        }
    }

    /// The state a crash leaves between a split applied here while this
    /// node held the parent as a learner and `follow_splits` discarding
    /// the new tablet: its record (whose first voters leave this node
    /// out) and its keys. Reopened, the store drops both, and keeps the
    /// keys of the replica it runs. (Before, the keys stayed.)
    #[tokio::test]
    async fn a_split_off_tablet_this_node_is_no_member_of_leaves_nothing_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        store.create_replica(1, range("", "m"), 1).await.unwrap();
        let mut batch = WriteBatch::new();
        let ts = Timestamp::from_nanos(1_000);
        for key in ["b", "n1", "n2"] {
            store.mvcc.put(&mut batch, key.as_bytes(), ts, b"v");
        }
        let split_off = LocalReplica {
            range: range("m", ""),
            generation: 2,
            floor: Timestamp::MIN,
            initial_members: Some(
                [(
                    2,
                    crate::raft::Node {
                        addr: "127.0.0.1:1".into(),
                    },
                )]
                .into(),
            ),
        };
        crate::raft::write_local_replica(&mut batch, 2, &split_off).unwrap();
        store.engine.write(batch).unwrap();
        store.engine.flush().unwrap();
        store.shutdown().await;
        drop(store);

        let store = open(dir.path()).await;
        assert!(store.replica(1).is_some());
        assert!(store.replica(2).is_none());
        assert!(
            meta::get_bytes(store.engine.as_ref(), &meta::MetaKey::LocalReplica(2))
                .unwrap()
                .is_none(),
            "the split-off tablet's record is left"
        );
        for key in ["n1", "n2"] {
            assert!(
                store.mvcc.latest_version(key.as_bytes()).unwrap().is_none(),
                "the split-off tablet's key {key} is left"
            );
        }
        assert!(
            store.mvcc.latest_version(b"b").unwrap().is_some(),
            "the running replica's key went"
        );
        store.shutdown().await;
    }
}
