//! A cluster inside this process: N nodes on loopback ports chosen by the
//! OS, with their data in a directory. `spanlite demo`, `spanlite
//! sqllogictest` and `spanlite workload` run on an [`EmbeddedCluster`]; the
//! integration tests and benchmarks use the same steps ([`bind_loopback`],
//! [`start_nodes`], [`init`], [`split`], [`leader`]) when they need to stop
//! and restart nodes themselves. This is the one in-process harness.
//!
//! ```text
//!   bind N listeners ──▶ start N nodes (each joins the others) ──▶ init
//!        (ports known            │                                  │
//!         before any node)       ▼                                  ▼
//!                          dir/node1 … nodeN              meta tablet + first data tablet
//! ```
//!
//! INVARIANT: every listener is bound before any node starts, so each node
//! knows every peer's address and no port is picked now and bound later
//! (which races with other processes' connections).
//!
//! NB: [`EmbeddedCluster::shutdown`] stops the nodes, then removes the
//! directory. A cluster dropped without it still removes the directory,
//! but under nodes whose tasks may still be running: call `shutdown`.
//!
//! Not here: fault injection and time masters (every node trusts its own
//! clock unless a test's `tweak` says otherwise).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_gateway::Gateway;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{InitRequest, MergeTabletsRequest, SplitTabletRequest};
use spanlite_replica::tablet::Replica;
use spanlite_storage::meta::TabletId;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};

use crate::{NodeConfig, RunningNode};

/// How long starting (init), splitting or finding a leader may keep
/// retrying while leaders are elected.
const SETTLE_FOR: Duration = Duration::from_secs(60);

/// Binds `n` listeners on loopback ports the OS picks; returns them with
/// their addresses (`host:port`), to hand to [`start_nodes`].
pub async fn bind_loopback(n: usize) -> Result<(Vec<TcpListener>, Vec<String>), String> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("binding a loopback port: {e}"))?,
        );
    }
    let addrs = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a listener's address: {e}"))?;
    Ok((listeners, addrs))
}

/// The configuration of node `i` (0-based; node id `i + 1`) of a cluster
/// on `addrs`: it joins every address, keeps its data in `dir/node{i+1}`,
/// and has a PostgreSQL port and an HTTP port (metrics, console) wherever
/// the system puts them; its allocator is off.
pub fn node_config(dir: &Path, addrs: &[String], i: usize) -> Result<NodeConfig, String> {
    let addr = addrs
        .get(i)
        .ok_or_else(|| format!("no address for node {}", i + 1))?;
    config_for(dir, i as u64 + 1, addr, addrs)
}

/// Node `id` listening on `addr`, joining `join`, with data in
/// `dir/node{id}` (see [`node_config`]).
fn config_for(dir: &Path, id: u64, addr: &str, join: &[String]) -> Result<NodeConfig, String> {
    let listen = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let mut config = NodeConfig::new(id, listen, dir.join(format!("node{id}")));
    config.join = join.to_vec();
    config.pg_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.http_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    // Nothing moves, merges or splits by load on its own in a cluster
    // made for a test or a demo (tests count leaders and calls); `--auto`
    // workloads and the allocator's own tests turn them on.
    config.allocator.every = Duration::ZERO;
    config.split.qps = 0;
    config.split.merge_after = Duration::ZERO;
    Ok(config)
}

/// Starts one node per listener ([`node_config`], then `tweak`), on data in
/// `dir` (restarting them if it holds their data already). On an error the
/// nodes started so far are stopped.
pub async fn start_nodes(
    dir: &Path,
    addrs: &[String],
    listeners: Vec<TcpListener>,
    tweak: &dyn Fn(&mut NodeConfig),
) -> Result<Vec<RunningNode>, String> {
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let started = match node_config(dir, addrs, i) {
            Ok(mut config) => {
                tweak(&mut config);
                crate::start_on(config, listener)
                    .await
                    .map_err(|e| format!("starting node {}: {e}", i + 1))
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(n) => nodes.push(n),
            Err(e) => {
                stop(nodes).await;
                return Err(e);
            }
        }
    }
    Ok(nodes)
}

/// Stops `nodes`, reporting (not failing on) errors.
pub async fn stop(nodes: Vec<RunningNode>) {
    for n in nodes {
        if let Err(e) = n.shutdown().await {
            eprintln!("spanlite: shutting a node down: {e}");
        }
    }
}

/// Initializes the cluster through `addrs[0]` once every node has joined
/// (init refuses before). A cluster initialized already — by an earlier
/// attempt whose answer was lost — counts as done.
pub async fn init(addrs: &[String]) -> Result<(), String> {
    let first = addrs.first().ok_or("init: no nodes")?;
    let deadline = Instant::now() + SETTLE_FOR;
    loop {
        let r = admin(first)
            .await?
            .init(InitRequest::default())
            .await
            .map_err(|s| format!("init: {}", s.message()))?
            .into_inner();
        if r.error.is_empty() || r.already_initialized {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("init: {}", r.error));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Splits `tablet` at `key` (the first key of the new right-hand tablet),
/// asking each node until the tablet's leader does it; retried while no
/// leader answers. Returns the new tablet's id.
pub async fn split(addrs: &[String], tablet: TabletId, key: &[u8]) -> Result<TabletId, String> {
    let deadline = Instant::now() + SETTLE_FOR;
    loop {
        let mut last = String::new();
        for a in addrs {
            let r = admin(a)
                .await?
                .split_tablet(SplitTabletRequest {
                    tablet_id: tablet,
                    split_key: key.to_vec(),
                })
                .await
                .map_err(|s| format!("split: {}", s.message()))?
                .into_inner();
            if r.error.is_empty() {
                return r
                    .right
                    .map(|d| d.tablet_id)
                    .ok_or_else(|| "split: no right-hand tablet in the answer".to_string());
            }
            last = r.error;
        }
        if Instant::now() > deadline {
            return Err(format!("could not split tablet {tablet}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Merges `tablet` with its right neighbour, asking each node until the
/// tablet's leader does it; retried while it is refused (no leader, the
/// right neighbour's leadership on its way, transactions in the way).
/// Returns the merged-away tablet's id.
pub async fn merge(addrs: &[String], tablet: TabletId) -> Result<TabletId, String> {
    let deadline = Instant::now() + SETTLE_FOR;
    loop {
        let mut last = String::new();
        for a in addrs {
            let r = admin(a)
                .await?
                .merge_tablets(MergeTabletsRequest {
                    left_tablet_id: tablet,
                })
                .await
                .map_err(|s| format!("merge: {}", s.message()))?
                .into_inner();
            if r.error.is_empty() {
                return Ok(r.right_tablet_id);
            }
            last = r.error;
        }
        if Instant::now() > deadline {
            return Err(format!("could not merge tablet {tablet}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The replica of `tablet` serving as its leader on one of `nodes`, once
/// there is one.
pub async fn leader(nodes: &[RunningNode], tablet: TabletId) -> Result<Arc<Replica>, String> {
    let deadline = Instant::now() + SETTLE_FOR;
    loop {
        for n in nodes {
            if let Some(r) = n.context.store.replica(tablet)
                && r.is_serving()
            {
                return Ok(r);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no leader for tablet {tablet}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Nodes running in this process, and the directory holding their data.
#[derive(Debug)]
pub struct EmbeddedCluster {
    /// Removed (with everything in it) by `shutdown`, or when dropped.
    dir: tempfile::TempDir,
    nodes: Vec<RunningNode>,
    addrs: Vec<String>,
}

impl EmbeddedCluster {
    /// Starts `nodes` nodes (at least 3: init needs three) in a new
    /// temporary directory and initializes the cluster: the meta tablet
    /// and one data tablet over the whole user key space, replicated on
    /// the first three nodes. Returns once init succeeded.
    pub async fn start(nodes: usize) -> Result<EmbeddedCluster, String> {
        Self::start_with(nodes, &|_| {}).await
    }

    /// [`EmbeddedCluster::start`] with every node's configuration changed by
    /// `tweak` (timing, clocks, timeouts).
    pub async fn start_with(
        nodes: usize,
        tweak: &dyn Fn(&mut NodeConfig),
    ) -> Result<EmbeddedCluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("spanlite-embedded-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let (listeners, addrs) = bind_loopback(nodes).await?;
        let nodes = start_nodes(dir.path(), &addrs, listeners, tweak).await?;
        let cluster = EmbeddedCluster { dir, nodes, addrs };
        if let Err(e) = init(&cluster.addrs).await {
            cluster.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    /// The directory holding the nodes' data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The running nodes, node 1 first.
    pub fn nodes(&self) -> &[RunningNode] {
        &self.nodes
    }

    /// The nodes' PostgreSQL-protocol addresses, node 1 first.
    pub fn pg_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.nodes.iter().filter_map(|n| n.pg_addr).collect()
    }

    /// Starts one more node (id: one above the highest so far) that joins
    /// the cluster, configured by `tweak`; returns its id.
    pub async fn add_node(&mut self, tweak: &dyn Fn(&mut NodeConfig)) -> Result<u64, String> {
        let (listeners, addrs) = bind_loopback(1).await?;
        let id = self
            .nodes
            .iter()
            .map(|n| n.context.node_id)
            .max()
            .unwrap_or(0)
            + 1;
        let addr = addrs.into_iter().next().ok_or("no address")?;
        let mut config = config_for(self.dir.path(), id, &addr, &self.addrs)?;
        tweak(&mut config);
        let listener = listeners.into_iter().next().ok_or("no listener")?;
        let node = crate::start_on(config, listener)
            .await
            .map_err(|e| format!("starting node {id}: {e}"))?;
        self.addrs.push(addr);
        self.nodes.push(node);
        Ok(id)
    }

    /// Stops node `id` (as a crash of its process would, but cleanly).
    pub async fn stop_node(&mut self, id: u64) -> Result<(), String> {
        let i = self
            .nodes
            .iter()
            .position(|n| n.context.node_id == id)
            .ok_or_else(|| format!("no running node {id}"))?;
        let node = self.nodes.remove(i);
        node.shutdown().await.map_err(|e| e.to_string())
    }

    /// Starts node `id` again, one of the first nodes, after
    /// [`EmbeddedCluster::stop_node`]: same address, same data (recovery
    /// runs), configured by `tweak`.
    pub async fn restart_node(
        &mut self,
        id: u64,
        tweak: &dyn Fn(&mut NodeConfig),
    ) -> Result<(), String> {
        if self.nodes.iter().any(|n| n.context.node_id == id) {
            return Err(format!("node {id} is running"));
        }
        let addr = usize::try_from(id)
            .ok()
            .and_then(|i| self.addrs.get(i.checked_sub(1)?))
            .ok_or_else(|| format!("node {id} was never started"))?
            .clone();
        // In one process, the stopped node's RocksDB stays open until the
        // last task holding its store (one still finishing when `shutdown`
        // returned) lets go: its lock is waited for, up to 10 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        let node = loop {
            let listener = TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("binding {addr} again: {e}"))?;
            let mut config = config_for(self.dir.path(), id, &addr, &self.addrs)?;
            tweak(&mut config);
            match crate::start_on(config, listener).await {
                Ok(node) => break node,
                Err(e)
                    if e.to_string().contains("lock hold by current process")
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(format!("restarting node {id}: {e}")),
            }
        };
        self.nodes.push(node);
        Ok(())
    }

    /// The nodes' HTTP addresses (metrics, console), node 1 first.
    pub fn http_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.nodes.iter().filter_map(|n| n.http_addr).collect()
    }

    /// The nodes' gRPC addresses (`host:port`), node 1 first.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The first node's gateway, for in-process SQL sessions
    /// (`spanlite_session::Session`).
    pub fn gateway(&self) -> Gateway {
        self.gateway_of(0)
    }

    /// The gateway of node `i` (0-based), for sessions on other nodes.
    ///
    /// Panics if there is no node `i`.
    pub fn gateway_of(&self, i: usize) -> Gateway {
        self.nodes[i].context.gateway.clone()
    }

    /// The schema cache of node `i` (0-based): sessions made with
    /// `Session::on` bind tables as that node's own sessions do.
    ///
    /// Panics if there is no node `i`.
    pub fn schema_of(&self, i: usize) -> std::sync::Arc<spanlite_session::SchemaCache> {
        self.nodes[i].context.schema.clone()
    }

    /// Splits `tablet` at `key` ([`split`]). Returns the new tablet's id.
    pub async fn split(&self, tablet: TabletId, key: &[u8]) -> Result<TabletId, String> {
        split(&self.addrs, tablet, key).await
    }

    /// Merges `tablet` with its right neighbour ([`merge`]). Returns the
    /// merged-away tablet's id.
    pub async fn merge(&self, tablet: TabletId) -> Result<TabletId, String> {
        merge(&self.addrs, tablet).await
    }

    /// Stops every node, then removes the directory.
    pub async fn shutdown(self) {
        stop(self.nodes).await;
        // Removal fails ("directory not empty") if a file appears while it
        // runs: a blocking job a stopped node started (a GC pass) or one of
        // RocksDB's threads may still be finishing. Tried again for up to
        // two seconds before giving up with a message.
        let path = self.dir.keep();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) if Instant::now() >= deadline => {
                    eprintln!("spanlite: could not remove {}: {e}", path.display());
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// An Admin client on `addr`.
async fn admin(addr: &str) -> Result<AdminServiceClient<Channel>, String> {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(AdminServiceClient::new(ch))
}
