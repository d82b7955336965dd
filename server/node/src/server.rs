//! Running a node: identity check, clock and time sync, storage and
//! recovery, the gRPC services, joining the cluster, checkpoints; clean
//! shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spanlite_proto::admin::JoinRequest;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::admin_service_server::AdminServiceServer;
use spanlite_proto::common::NodeAddress;
use spanlite_proto::kv::kv_service_server::KvServiceServer;
use spanlite_proto::raft::raft_service_server::RaftServiceServer;
use spanlite_proto::sql::sql_service_server::SqlServiceServer;
use spanlite_proto::tablet::tablet_call_stream_server::TabletCallStreamServer;
use spanlite_proto::tablet::tablet_service_server::TabletServiceServer;
use spanlite_proto::time::time_service_server::TimeServiceServer;
use spanlite_truetime::{
    ReferenceClockSource, SkewedClock, SyncConfig, SyncTask, SystemClock, TimeSource, TimeSync,
    TrueTime, TrueTimeConfig,
};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use super::cluster::ClusterView;
use super::identity::{Identity, IdentityError};
use super::{Store, StoreConfig, StoreError};
use crate::service::{
    AdminGrpc, GrpcTimeSource, KvGrpc, SqlGrpc, TabletCallsGrpc, TabletGrpc, TimeGrpc,
};
use spanlite_directory::{RouteCache, TabletDescriptor};
use spanlite_gateway::{Gateway, GatewayConfig};
use spanlite_replica::raft::{NodeId, RaftTiming};

/// How often a time master reads its own reference clock. At Spanner's
/// 200 ppm drift bound, ε grows by 20 µs between two reads (by 400 µs over
/// the 2 s a node waits between syncs with remote masters).
pub const LOCAL_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// How to run a node (`spanlite start`).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id (fixed for the life of its data dir).
    pub node_id: NodeId,
    /// Address to listen on for gRPC.
    pub listen: SocketAddr,
    /// Address other nodes and clients use to reach it (default: listen).
    pub advertise: Option<String>,
    /// Addresses of nodes to join (may include this node's own).
    pub join: Vec<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// `now()` refuses past this uncertainty.
    pub max_clock_uncertainty: Duration,
    /// Time masters to poll (`host:port`); empty: trust the local clock.
    pub time_masters: Vec<String>,
    /// Declared error of a time master's own clock.
    pub master_clock_error: Duration,
    /// ε is never reported below this (TrueTime's floor).
    pub epsilon_floor: Duration,
    /// Accept fault injection through the Admin service (tests).
    pub fault_injection: bool,
    /// Raft timing.
    pub timing: RaftTiming,
    /// Time between clock sync rounds with the time masters (a master
    /// reads its own reference clock every [`LOCAL_SYNC_INTERVAL`], or this
    /// if shorter).
    pub sync_interval: Duration,
    /// Time between fuzzy checkpoints.
    pub checkpoint_interval: Duration,
    /// Unprepared transactions silent this long are aborted; prepared ones
    /// undecided this long ask their coordinator.
    pub txn_idle_timeout: Duration,
    /// Leaders send their followers closed timestamps this often (zero:
    /// never).
    pub closed_ts_every: Duration,
    /// Fault injection: reach peer addresses through these proxies
    /// (`peer → proxy`); see `PeersConfig::dial_via`.
    pub dial_via: std::collections::HashMap<String, String>,
    /// Address for PostgreSQL clients (`--pg-listen`; `None`: no
    /// PostgreSQL port). See [`crate::pgwire`].
    pub pg_listen: Option<SocketAddr>,
    /// How PostgreSQL clients log in (`--pg-auth`: each role's password by
    /// SCRAM-SHA-256 or a client certificate; default: trust).
    pub pg_auth: spanlite_pgwire::Auth,
    /// The memory one query's computation may hold (joins, groups, sorts,
    /// results), in bytes: past it the statement fails with 53200
    /// (`--sql-memory-budget`). Process-wide.
    pub sql_memory_budget: usize,
    /// Mutual TLS on every gRPC link with this node certificate (`None`:
    /// insecure, plain HTTP/2, no caller checks).
    pub tls: Option<spanlite_directory::tls::TlsConfig>,
    /// The PostgreSQL port's connection limit and login timeout
    /// (`--pg-max-connections`, `--pg-login-timeout`).
    pub pg_limits: spanlite_pgwire::Limits,
    /// How long a schema lease lasts (`--schema-lease`, DESIGN.md §7): a
    /// DROP or CREATE INDEX waits this long before it commits.
    pub schema_lease: Duration,
    /// MVCC versions older than this are collected (`--gc-ttl`): the oldest
    /// `AS OF SYSTEM TIME` allowed, and the longest an optimistic
    /// transaction may run before its reads are too old to validate.
    pub gc_ttl: Duration,
    /// How often garbage collection runs.
    pub gc_interval: Duration,
    /// When tablets split on their own (`--split-size`,
    /// `--split-check-every`).
    pub split: crate::ops::split::SplitSettings,
    /// Where replicas and leaders go (`--rebalance-every`,
    /// `--dead-node-after`).
    pub allocator: crate::ops::allocator::AllocatorSettings,
    /// Address of the HTTP port (`--http-listen`): Prometheus metrics at
    /// `/metrics` and the web console (`None`: no HTTP port).
    pub http_listen: Option<SocketAddr>,
}

impl NodeConfig {
    /// Defaults for node `node_id` listening on `listen` with data in
    /// `data_dir`.
    pub fn new(node_id: NodeId, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            node_id,
            listen,
            advertise: None,
            join: Vec::new(),
            data_dir,
            max_clock_uncertainty: TrueTimeConfig::default().max_epsilon,
            time_masters: Vec::new(),
            master_clock_error: Duration::from_millis(1),
            epsilon_floor: TrueTimeConfig::default().epsilon_floor,
            fault_injection: false,
            timing: RaftTiming::default(),
            sync_interval: Duration::from_secs(2),
            checkpoint_interval: Duration::from_secs(60),
            txn_idle_timeout: Duration::from_secs(10),
            closed_ts_every: Duration::from_millis(200),
            dial_via: std::collections::HashMap::new(),
            pg_listen: None,
            pg_auth: spanlite_pgwire::Auth::Trust,
            pg_limits: spanlite_pgwire::Limits::default(),
            tls: None,
            sql_memory_budget: spanlite_sql::DEFAULT_MEMORY_BUDGET,
            schema_lease: spanlite_session::DEFAULT_SCHEMA_LEASE,
            gc_ttl: Duration::from_secs(600),
            gc_interval: Duration::from_secs(60),
            split: crate::ops::split::SplitSettings::default(),
            http_listen: None,
            allocator: crate::ops::allocator::AllocatorSettings::default(),
        }
    }

    /// The settings an operator looks up (the console's settings page).
    fn shown(&self) -> Vec<(&'static str, String)> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            ("max clock uncertainty", d(self.max_clock_uncertainty)),
            ("clock uncertainty floor", d(self.epsilon_floor)),
            (
                "time masters",
                if self.time_masters.is_empty() {
                    "none (the local clock)".to_string()
                } else {
                    self.time_masters.join(", ")
                },
            ),
            ("schema lease", d(self.schema_lease)),
            ("gc ttl", d(self.gc_ttl)),
            ("gc interval", d(self.gc_interval)),
            (
                "split size",
                if self.split.size == 0 {
                    "off (splits by administrators only)".to_string()
                } else {
                    format!("{} KiB", self.split.size >> 10)
                },
            ),
            ("split check every", d(self.split.check_every)),
            (
                "merge after",
                if self.split.merge_after.is_zero() {
                    "off (merges by administrators only)".to_string()
                } else {
                    d(self.split.merge_after)
                },
            ),
            (
                "rebalance every",
                if self.allocator.every.is_zero() {
                    "off (replicas move by hand only)".to_string()
                } else {
                    d(self.allocator.every)
                },
            ),
            ("dead node after", d(self.allocator.dead_after)),
            ("transaction idle timeout", d(self.txn_idle_timeout)),
            ("closed timestamps every", d(self.closed_ts_every)),
            ("checkpoint interval", d(self.checkpoint_interval)),
            ("tls", self.tls.is_some().to_string()),
        ]
    }
}

/// Why a node did not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The data dir belongs elsewhere or its identity file is unreadable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why (e.g. address in use).
        #[source]
        source: std::io::Error,
    },
    /// Storage failed to open or recover.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Server(String),
    /// A setting is invalid (an advertised address, say).
    #[error("{0}")]
    Config(String),
}

/// Shared pieces of a running node, for the services.
#[derive(Debug)]
pub struct NodeContext {
    /// This node.
    pub node_id: NodeId,
    /// Its advertised address.
    pub advertise: String,
    /// Storage and replicas.
    pub store: Arc<Store>,
    /// Cluster view (identity file).
    pub cluster: ClusterView,
    /// Route cache and gateway.
    pub gateway: Gateway,
    /// The schema cache its SQL sessions share.
    pub schema: Arc<spanlite_session::SchemaCache>,
    /// The physical clock, skewable for fault injection.
    pub clock: Arc<SkewedClock>,
    /// Clock sync state.
    pub sync: Arc<TimeSync>,
    /// Whether fault injection is accepted.
    pub fault_injection: bool,
    /// Errors after which the node must stop (e.g. the cluster refused it).
    pub fatal: tokio::sync::mpsc::UnboundedSender<String>,
    /// The sizes of the tablets it leads, as last measured.
    pub sizes: crate::ops::split::TabletSizes,
    /// Its PostgreSQL port's connections.
    pub pg_connections: Arc<spanlite_pgwire::ConnectionCount>,
    /// Its gRPC port's connections (nodes, drivers, tools).
    pub grpc_connections: Arc<spanlite_pgwire::ConnectionCount>,
    /// What the console's charts show: samples of the node's counters.
    pub history: crate::ops::history::History,
    /// Its settings, as the console shows them.
    pub settings: Vec<(&'static str, String)>,
    /// What the allocator remembers between rounds (when each node last
    /// answered, where each tablet's requests came from).
    pub allocator: crate::ops::allocator::AllocatorMemory,
}

impl NodeContext {
    /// Learns what a join reply or init says about the cluster.
    pub fn learn(
        &self,
        cluster_id: &str,
        nodes: &[NodeAddress],
        meta: Option<TabletDescriptor>,
    ) -> Result<(), IdentityError> {
        // What other nodes tell is checked like a Join: a bad address or
        // cluster id is dropped, never stored.
        let nodes: Vec<&NodeAddress> = nodes
            .iter()
            .filter(|n| match spanlite_directory::validate_address(&n.address) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(node = n.node_id, "ignoring a node address: {e}");
                    false
                }
            })
            .collect();
        if let Err(e) = crate::identity::validate_cluster_id(cluster_id) {
            tracing::warn!("ignoring a cluster id: {e}");
            return Ok(());
        }
        let cache = self.gateway.cache();
        for n in &nodes {
            cache.set_node(n.node_id, n.address.clone());
        }
        if let Some(m) = &meta {
            cache.insert(m.clone());
        }
        self.cluster.update(|id| {
            if id.cluster_id.is_empty() {
                id.cluster_id = cluster_id.to_string();
            }
            for n in &nodes {
                id.nodes.insert(n.node_id, n.address.clone());
            }
            if meta.is_some() {
                id.meta = meta;
            }
        })
    }
}

/// A node serving until [`RunningNode::shutdown`].
#[derive(Debug)]
pub struct RunningNode {
    /// The address it listens on (the real port if 0 was asked for).
    pub addr: SocketAddr,
    /// The PostgreSQL port's address, if it has one (the real port if 0
    /// was asked for).
    pub pg_addr: Option<SocketAddr>,
    /// The HTTP port's address (metrics, console), if it has one.
    pub http_addr: Option<SocketAddr>,
    /// Shared state.
    pub context: Arc<NodeContext>,
    stop: Option<oneshot::Sender<()>>,
    /// Ends every SQL session (their streams would keep the graceful
    /// shutdown of the gRPC server waiting for ever).
    end_sessions: tokio::sync::watch::Sender<bool>,
    fatal: tokio::sync::mpsc::UnboundedReceiver<String>,
    server: JoinHandle<Result<(), String>>,
    background: Vec<JoinHandle<()>>,
    _sync: SyncTask,
}

/// Starts a node: checks the data dir, binds, opens and recovers storage,
/// serves gRPC and joins the cluster in the background.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    start_inner(config, None).await
}

/// [`start`] on a listener already bound (to `config.listen` or wherever:
/// the node serves where the listener is), e.g. so that tests can choose
/// every node's port before any node starts, without a race.
pub async fn start_on(config: NodeConfig, listener: TcpListener) -> Result<RunningNode, NodeError> {
    start_inner(config, Some(listener)).await
}

async fn start_inner(
    config: NodeConfig,
    listener: Option<TcpListener>,
) -> Result<RunningNode, NodeError> {
    let identity = Identity::load_or_create(&config.data_dir, config.node_id)?;
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.listen)
            .await
            .map_err(|source| NodeError::Listen {
                addr: config.listen,
                source,
            })?,
    };
    let addr = listener.local_addr().map_err(|source| NodeError::Listen {
        addr: config.listen,
        source,
    })?;
    let advertise = config.advertise.clone().unwrap_or_else(|| addr.to_string());
    spanlite_sql::set_memory_budget(config.sql_memory_budget);
    spanlite_directory::validate_address(&advertise).map_err(NodeError::Config)?;

    // Clock: the system clock through a skew layer (fault injection), an
    // interval clock over it, synchronized with the masters.
    let clock = Arc::new(SkewedClock::new(Arc::new(SystemClock::new())));
    let truetime = Arc::new(TrueTime::new(
        clock.clone(),
        TrueTimeConfig {
            max_epsilon: config.max_clock_uncertainty,
            epsilon_floor: config.epsilon_floor,
            ..TrueTimeConfig::default()
        },
    ));
    let is_master = config.time_masters.is_empty() || config.time_masters.contains(&advertise);
    let mut store_config = StoreConfig::new(config.node_id, config.data_dir.clone());
    store_config.timing = config.timing;
    store_config.txn_idle_timeout = config.txn_idle_timeout;
    store_config.closed_ts_every = config.closed_ts_every;
    store_config.peers.dial_via = config.dial_via.clone();
    store_config.peers.tls = config.tls.clone();
    let peers = spanlite_directory::Peers::new(store_config.peers.clone());
    let sources: Vec<Arc<dyn TimeSource>> = if is_master {
        vec![Arc::new(ReferenceClockSource::new(
            format!("local clock of node {}", config.node_id),
            clock.clone(),
            config.master_clock_error,
        ))]
    } else {
        config
            .time_masters
            .iter()
            .map(|m| {
                Arc::new(GrpcTimeSource::new(
                    m.clone(),
                    peers.clone(),
                    config.node_id,
                )) as Arc<dyn TimeSource>
            })
            .collect()
    };
    let sync = Arc::new(TimeSync::new(
        truetime.clone(),
        sources,
        SyncConfig {
            // A master reads a clock of this machine: free, so often (ε's
            // drift allowance then stays near nothing, and commit wait is
            // shorter by twice that).
            interval: if is_master {
                config.sync_interval.min(LOCAL_SYNC_INTERVAL)
            } else {
                config.sync_interval
            },
            ..SyncConfig::default()
        },
    ));
    if is_master && let Err(e) = sync.sync_once().await {
        tracing::warn!("first clock sync failed: {e}");
    }

    let store = Store::open(store_config, truetime.clone()).await?;
    let cache = Arc::new(RouteCache::new());
    for (n, a) in &identity.nodes {
        cache.set_node(*n, a.clone());
    }
    cache.set_node(config.node_id, advertise.clone());
    if let Some(meta) = &identity.meta {
        cache.insert(meta.clone());
    }
    let gateway = Gateway::new(cache, store.peers().clone(), GatewayConfig::default());
    // Ignored if already set: one gateway per store.
    let _ = store
        .txn_peers()
        .set(Arc::new(gateway.clone()) as Arc<dyn spanlite_replica::tablet::TxnPeers>);
    // The gateway calls this node's own tablets in process.
    // (Through a weak reference: the store holds the gateway.)
    let weak_store = Arc::downgrade(&store);
    gateway.serve_locally(
        config.node_id,
        Arc::new(move || {
            weak_store.upgrade().map(|s| {
                Arc::new(TabletGrpc::new(s))
                    as Arc<dyn spanlite_proto::tablet::tablet_service_server::TabletService>
            })
        }),
    );
    let schema = spanlite_session::SchemaCache::new(
        gateway.clone(),
        Some(truetime.clone()),
        config.schema_lease,
    );
    let (fatal_tx, fatal) = tokio::sync::mpsc::unbounded_channel();
    let context = Arc::new(NodeContext {
        node_id: config.node_id,
        advertise: advertise.clone(),
        store: store.clone(),
        cluster: ClusterView::new(config.data_dir.clone(), identity, &advertise),
        gateway: gateway.clone(),
        schema: schema.clone(),
        clock,
        sync: sync.clone(),
        fault_injection: config.fault_injection,
        fatal: fatal_tx,
        sizes: Default::default(),
        pg_connections: Default::default(),
        grpc_connections: Default::default(),
        history: Default::default(),
        settings: config.shown(),
        allocator: Default::default(),
    });
    context.cluster.update(|_| {})?;

    let (stop, stopped) = oneshot::channel::<()>();
    let (end_sessions, sessions_ended) = tokio::sync::watch::channel(false);
    let mut background = Vec::new();
    let pg_tls = match &config.tls {
        Some(tls) => {
            let (cert, key) = tls.pem();
            Some(
                spanlite_pgwire::tls_acceptor(cert, key, tls.ca_pem())
                    .map_err(NodeError::Config)?,
            )
        }
        None => None,
    };
    let pg_addr = match config.pg_listen {
        Some(pg) => {
            let listener = TcpListener::bind(pg)
                .await
                .map_err(|source| NodeError::Listen { addr: pg, source })?;
            let pg_addr = listener
                .local_addr()
                .map_err(|source| NodeError::Listen { addr: pg, source })?;
            background.push(tokio::spawn(spanlite_pgwire::serve(
                listener,
                schema.clone(),
                sessions_ended.clone(),
                config.pg_auth,
                config.pg_limits,
                pg_tls,
                context.pg_connections.clone(),
            )));
            Some(pg_addr)
        }
        None => None,
    };
    // Who may call what (with TLS; an insecure node lets everyone in): the
    // cluster's own traffic needs a node certificate, administration and
    // raw key-value access the admin user's; SQL sessions authenticate
    // themselves (a client certificate, or a user's password).
    use spanlite_directory::tls::{Callers, authorize};
    use tonic::service::interceptor::InterceptedService;
    let secure = config.tls.is_some();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder
            .tls_config(tls.server())
            .map_err(|e| NodeError::Config(format!("TLS: {e}")))?;
    }
    // The Tablet service, also behind the peers' call streams.
    let tablets = TabletGrpc::new(store.clone());
    let router = builder
        .add_service(InterceptedService::new(
            RaftServiceServer::new(store.raft_service()).max_decoding_message_size(256 << 20),
            authorize(secure, Callers::Nodes),
        ))
        .add_service(InterceptedService::new(
            // A large transaction's commit (pgbench -i loads 100,000 rows
            // in one) is one request: as large as a Raft append may be.
            TabletServiceServer::new(tablets.clone()).max_decoding_message_size(256 << 20),
            authorize(secure, Callers::Nodes),
        ))
        .add_service(InterceptedService::new(
            TabletCallStreamServer::new(TabletCallsGrpc::new(tablets, sessions_ended.clone()))
                .max_decoding_message_size(256 << 20),
            authorize(secure, Callers::Nodes),
        ))
        .add_service(InterceptedService::new(
            KvServiceServer::new(KvGrpc::new(gateway.clone())),
            authorize(secure, Callers::Admin),
        ))
        .add_service(InterceptedService::new(
            SqlServiceServer::new(SqlGrpc::new(schema, sessions_ended, secure)),
            authorize(secure, Callers::Sessions),
        ))
        .add_service(InterceptedService::new(
            TimeServiceServer::new(TimeGrpc::new(config.node_id, is_master, truetime.clone())),
            authorize(secure, Callers::Nodes),
        ))
        .add_service(InterceptedService::new(
            AdminServiceServer::new(AdminGrpc::new(context.clone())),
            authorize(secure, Callers::Admin),
        ));
    let grpc_connections = context.grpc_connections.clone();
    let server = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(counted_incoming(listener, grpc_connections), async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    let sync_task = sync.spawn();
    background.push(tokio::spawn(join_loop(
        context.clone(),
        config.join.clone(),
    )));
    background.push(tokio::spawn(checkpoint_loop(
        store.clone(),
        config.checkpoint_interval,
    )));
    background.push(tokio::spawn(gc_loop(
        store.clone(),
        truetime.clone(),
        config.gc_ttl,
        config.gc_interval,
    )));
    background.push(tokio::spawn(crate::ops::split::auto_split_loop(
        context.clone(),
        config.split,
    )));
    background.push(tokio::spawn(crate::ops::allocator::allocator_loop(
        context.clone(),
        config.allocator,
    )));
    background.push(tokio::spawn(crate::ops::history::sample_loop(
        context.clone(),
    )));
    let http_addr = match config.http_listen {
        Some(http) => {
            let listener = TcpListener::bind(http)
                .await
                .map_err(|source| NodeError::Listen { addr: http, source })?;
            let http_addr = listener
                .local_addr()
                .map_err(|source| NodeError::Listen { addr: http, source })?;
            background.push(tokio::spawn(crate::ops::console::serve(
                listener,
                context.clone(),
            )));
            Some(http_addr)
        }
        None => None,
    };
    tracing::info!(node = config.node_id, %addr, ?pg_addr, ?http_addr, advertise, "node started");
    Ok(RunningNode {
        addr,
        pg_addr,
        http_addr,
        context,
        stop: Some(stop),
        end_sessions,
        fatal,
        server,
        background,
        _sync: sync_task,
    })
}

impl RunningNode {
    /// Resolves with the reason if the node hit an error it cannot run on
    /// with (its data dir belongs to another cluster, its id is taken); the
    /// caller should shut it down and exit.
    pub async fn fatal_error(&mut self) -> String {
        self.fatal
            .recv()
            .await
            .unwrap_or_else(|| "the node's background tasks stopped".to_string())
    }

    /// Stops serving, stops every Raft group and flushes the WAL queue.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        for task in &self.background {
            task.abort();
        }
        // Wait until each has stopped: a task still running would go on
        // using the store (and writing into the data dir) after this
        // returns, when an embedded cluster removes that directory.
        for task in self.background.drain(..) {
            let _ = task.await;
        }
        self.end_sessions.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.context.store.shutdown().await;
        match (&mut self.server).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NodeError::Server(e)),
            Err(e) => Err(NodeError::Server(e.to_string())),
        }
    }
}

/// The accepted connections of `listener`, with Nagle's algorithm off:
/// small replies must not wait for the peer's delayed ACK (40 ms on Linux).
///
/// NB: never yields an error. tonic stops serving when its incoming stream
/// does, so one failed accept (out of file descriptors, say) or a
/// connection reset before it could be configured would take the whole
/// node off the network; such a connection is dropped and logged instead.
pub fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).filter_map(|conn| match conn {
        Ok(conn) => match conn.set_nodelay(true) {
            Ok(()) => Some(Ok(conn)),
            Err(e) => {
                tracing::debug!("dropping a connection that cannot be configured: {e}");
                None
            }
        },
        Err(e) => {
            tracing::warn!("accepting a connection failed: {e}");
            None
        }
    })
}

/// [`incoming`], each connection counted in `count` while it is open.
fn counted_incoming(
    listener: TcpListener,
    count: Arc<spanlite_pgwire::ConnectionCount>,
) -> impl tokio_stream::Stream<Item = std::io::Result<Counted>> {
    use tokio_stream::StreamExt;
    incoming(listener).map(move |conn| {
        conn.map(|stream| Counted {
            stream,
            _open: count.enter(),
        })
    })
}

/// A gRPC connection, counted while it is open.
struct Counted {
    stream: tokio::net::TcpStream,
    _open: spanlite_pgwire::ConnectionGuard,
}

impl tonic::transport::server::Connected for Counted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Asks the `--join` nodes for the cluster until one answers, then keeps
/// refreshing (new nodes, the meta tablet) at a slower pace.
async fn join_loop(ctx: Arc<NodeContext>, join: Vec<String>) {
    let targets: Vec<String> = join.into_iter().filter(|a| *a != ctx.advertise).collect();
    let mut failed_rounds = 0u64;
    loop {
        let mut joined = false;
        let mut last_error = String::new();
        for addr in &targets {
            match join_once(&ctx, addr).await {
                Ok(()) => {
                    joined = true;
                    break;
                }
                Err(e) => {
                    tracing::debug!(node = ctx.node_id, addr, "join: {e}");
                    last_error = format!("{addr}: {e}");
                }
            }
        }
        // An operator should hear that a node cannot join (a wrong
        // address, another CA's certificate), but not twice a second.
        if joined || targets.is_empty() {
            failed_rounds = 0;
        } else {
            if failed_rounds.is_multiple_of(20) && ctx.cluster.meta().is_none() {
                tracing::warn!(
                    node = ctx.node_id,
                    "could not join the cluster yet ({last_error})"
                );
            }
            failed_rounds += 1;
        }
        let known = ctx.cluster.meta().is_some();
        let pause = if joined && known {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(500)
        };
        tokio::time::sleep(pause).await;
    }
}

async fn join_once(ctx: &NodeContext, addr: &str) -> Result<(), String> {
    let channel = ctx.store.peers().channel(addr).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(
        Duration::from_secs(2),
        AdminServiceClient::new(channel).join(JoinRequest {
            node: Some(NodeAddress {
                node_id: ctx.node_id,
                address: ctx.advertise.clone(),
            }),
            cluster_id: ctx.cluster.cluster_id(),
        }),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|s| s.message().to_string())?
    .into_inner();
    if !resp.error.is_empty() {
        // A refusal is final: another cluster, or this id taken by another
        // node. Running on would serve nobody.
        let _ = ctx.fatal.send(format!(
            "the cluster at {addr} refused this node: {}",
            resp.error
        ));
        return Err(resp.error);
    }
    ctx.learn(
        &resp.cluster_id,
        &resp.nodes,
        resp.meta_tablet.as_ref().map(TabletDescriptor::from),
    )
    .map_err(|e| e.to_string())
}

/// MVCC garbage collection (DESIGN.md §4): every `every`, the versions no
/// read at or above `TT.now().earliest − ttl` can see are removed, on a
/// blocking thread (foreground work goes on; RocksDB handles the
/// concurrent writes). The watermark only rises, and reads, validations
/// and snapshots below it are refused, so collecting on each replica on
/// its own is safe whatever it has applied yet: a version ≤ the watermark
/// that arrives later is simply newer than the one kept.
async fn gc_loop(store: Arc<Store>, truetime: Arc<TrueTime>, ttl: Duration, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(now) = truetime.now() else {
            continue;
        };
        let watermark = now.earliest.saturating_sub(ttl);
        let mvcc = store.mvcc().clone();
        match tokio::task::spawn_blocking(move || mvcc.gc(watermark)).await {
            Ok(Ok(stats)) => tracing::debug!(?stats, %watermark, "mvcc gc"),
            Ok(Err(e)) => tracing::warn!("mvcc gc failed: {e}"),
            Err(e) => tracing::warn!("mvcc gc task failed: {e}"),
        }
    }
}

async fn checkpoint_loop(store: Arc<Store>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match store.checkpoint().await {
            Ok(report) => tracing::debug!(?report, "checkpoint"),
            Err(e) => tracing::warn!("checkpoint failed: {e}"),
        }
    }
}
