//! A cluster inside this process: N nodes on loopback ports chosen by the
//! OS, with their data in a temporary directory that [`EmbeddedCluster`]
//! owns. `spanlite demo` and `spanlite sqllogictest` run on one.
//!
//! ```text
//!   bind N listeners ──▶ start N nodes (each joins the others) ──▶ init
//!        (ports known            │                                  │
//!         before any node)       ▼                                  ▼
//!                          temp dir/node1 … nodeN         meta tablet + first data tablet
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
//! Not here: restarting nodes, fault injection, time masters (every node
//! trusts its own clock) — the test helpers in `server/tests/common` do
//! those.

use std::path::Path;
use std::time::{Duration, Instant};

use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{InitRequest, SplitTabletRequest};
use spanlite_storage::meta::TabletId;
use tonic::transport::{Channel, Endpoint};

use crate::gateway::Gateway;
use crate::node::{self, NodeConfig, RunningNode};

/// How long starting (init) or splitting may keep retrying while leaders
/// are elected.
const SETTLE_FOR: Duration = Duration::from_secs(60);

/// Nodes running in this process, and the directory holding their data.
#[derive(Debug)]
pub struct EmbeddedCluster {
    /// Removed (with everything in it) when the cluster is dropped.
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
        let dir = tempfile::Builder::new()
            .prefix("spanlite-embedded-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let mut listeners = Vec::new();
        for _ in 0..nodes {
            listeners.push(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("binding a loopback port: {e}"))?,
            );
        }
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.to_string()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a listener's address: {e}"))?;
        let mut cluster = EmbeddedCluster {
            dir,
            nodes: Vec::new(),
            addrs,
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let listen = cluster.addrs[i]
                .parse()
                .map_err(|e| format!("address {}: {e}", cluster.addrs[i]))?;
            let mut config = NodeConfig::new(
                i as u64 + 1,
                listen,
                cluster.dir.path().join(format!("node{}", i + 1)),
            );
            config.join = cluster.addrs.clone();
            // A PostgreSQL port too, wherever the system puts it.
            config.pg_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            match node::start_on(config, listener).await {
                Ok(n) => cluster.nodes.push(n),
                Err(e) => {
                    cluster.shutdown().await;
                    return Err(format!("starting node {}: {e}", i + 1));
                }
            }
        }
        if let Err(e) = cluster.init().await {
            cluster.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    /// Inits the cluster once every node has joined (init refuses before).
    async fn init(&self) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_FOR;
        loop {
            let r = admin(&self.addrs[0])
                .await?
                .init(InitRequest {})
                .await
                .map_err(|s| format!("init: {}", s.message()))?
                .into_inner();
            if r.error.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("init: {}", r.error));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The directory holding the nodes' data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The nodes' PostgreSQL-protocol addresses, node 1 first.
    pub fn pg_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.nodes.iter().filter_map(|n| n.pg_addr).collect()
    }

    /// The nodes' gRPC addresses (`host:port`), node 1 first.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The first node's gateway, for in-process SQL sessions
    /// ([`crate::sql::Session`]).
    pub fn gateway(&self) -> Gateway {
        self.gateway_of(0)
    }

    /// The gateway of node `i` (0-based), for sessions on other nodes.
    ///
    /// Panics if there is no node `i`.
    pub fn gateway_of(&self, i: usize) -> Gateway {
        self.nodes[i].context.gateway.clone()
    }

    /// Splits `tablet` at `key` (the first key of the new right-hand
    /// tablet), asking each node until the tablet's leader does it;
    /// retried while no leader answers. Returns the new tablet's id.
    pub async fn split(&self, tablet: TabletId, key: &[u8]) -> Result<TabletId, String> {
        let deadline = Instant::now() + SETTLE_FOR;
        loop {
            let mut last = String::new();
            for a in &self.addrs {
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

    /// Stops every node, then removes the directory.
    pub async fn shutdown(self) {
        for n in self.nodes {
            if let Err(e) = n.shutdown().await {
                eprintln!("spanlite: shutting a node down: {e}");
            }
        }
        let path = self.dir.path().to_path_buf();
        if let Err(e) = self.dir.close() {
            eprintln!("spanlite: could not remove {}: {e}", path.display());
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
