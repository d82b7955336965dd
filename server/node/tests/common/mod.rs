//! In-process nodes over real gRPC on loopback, for replication tests.
//!
//! Each node is a `Store` (RocksDB + node WAL + Raft groups) behind a tonic
//! server on 127.0.0.1 with a port chosen by the OS; a restarted node binds
//! the same port again so its peers find it.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_directory::KeyRange;
use spanlite_node::embedded;
use spanlite_node::{self as node, NodeConfig, RunningNode, Store, StoreConfig};
use spanlite_proto::raft::raft_service_server::RaftServiceServer;
use spanlite_replica::raft::{Node, NodeId, RaftTiming};
use spanlite_replica::tablet::{Replica, TabletError};
use spanlite_truetime::{SystemClock, TrueTime, TrueTimeConfig};
use spanlite_txn::Mutation;
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Fast timing for tests: elections in a few hundred ms.
pub fn test_timing() -> RaftTiming {
    RaftTiming {
        heartbeat: Duration::from_millis(100),
        election_min: Duration::from_millis(500),
        election_max: Duration::from_millis(750),
        snapshot_every: 10_000,
    }
}

/// Waits until `check` returns `Some`, polling every 20 ms, or panics with
/// `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One in-process node.
pub struct TestNode {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub timing: RaftTiming,
    pub store: Option<Arc<Store>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestNode {
    /// Starts node `id` with data in `dir`, listening on `addr` (port 0:
    /// any free port).
    pub async fn start(id: NodeId, dir: PathBuf, addr: SocketAddr, timing: RaftTiming) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(128).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = StoreConfig::new(id, dir.clone());
        config.timing = timing;
        config.wal_segment_bytes = 4 << 20;
        let truetime = Arc::new(TrueTime::assume_synced(
            Arc::new(SystemClock::new()),
            TrueTimeConfig::default(),
            Duration::from_micros(200),
        ));
        let store = Store::open(config, truetime).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let service =
            RaftServiceServer::new(store.raft_service()).max_decoding_message_size(256 << 20);
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(node::incoming(listener), async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            id,
            addr,
            dir,
            timing,
            store: Some(store),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        self.store.as_ref().expect("node is stopped")
    }

    pub fn node(&self) -> Node {
        Node {
            addr: self.addr.to_string(),
        }
    }

    pub fn replica(&self, tablet: u64) -> Option<Arc<Replica>> {
        self.store.as_ref()?.replica(tablet)
    }

    /// Stops the node: Raft groups, then the server. Memtables are not
    /// flushed (closing RocksDB never flushes): recovery must redo them.
    pub async fn stop(&mut self) {
        if let Some(store) = self.store.take() {
            store.shutdown().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Stops and starts the node again from its data directory, on its port.
    pub async fn restart(&mut self) {
        self.stop().await;
        *self = TestNode::start(self.id, self.dir.clone(), self.addr, self.timing).await;
    }
}

/// The range of tablet `t` in test clusters: keys starting with byte `t`.
pub fn tablet_range(t: u64) -> KeyRange {
    let b = u8::try_from(t).expect("test tablets are numbered below 255");
    KeyRange::new(vec![b], vec![b + 1])
}

/// Key number `i` of tablet `t`, with its value.
pub fn kv(t: u64, i: usize) -> (Vec<u8>, Vec<u8>) {
    let mut key = tablet_range(t).start;
    key.extend_from_slice(format!("key{i:05}").as_bytes());
    (key, format!("value{i}").into_bytes())
}

/// A cluster of in-process nodes with tablets replicated on all of them.
pub struct Cluster {
    pub nodes: Vec<TestNode>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// `n` nodes (ids 1..=n), each hosting a replica of each tablet in
    /// `tablets` (tablet `t` owns the keys starting with byte `t`, see
    /// [`tablet_range`]), initialized with all nodes as voters.
    pub async fn start(n: u64, tablets: &[u64], timing: RaftTiming) -> Self {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for id in 1..=n {
            let dir = tempfile::tempdir().unwrap();
            let node = TestNode::start(
                id,
                dir.path().to_path_buf(),
                "127.0.0.1:0".parse().unwrap(),
                timing,
            )
            .await;
            dirs.push(dir);
            nodes.push(node);
        }
        let members: BTreeMap<NodeId, Node> = nodes.iter().map(|n| (n.id, n.node())).collect();
        for &tablet in tablets {
            for node in &nodes {
                node.store()
                    .create_replica(tablet, tablet_range(tablet), 0)
                    .await
                    .unwrap();
            }
            nodes[0]
                .replica(tablet)
                .unwrap()
                .raft()
                .initialize(members.clone())
                .await
                .unwrap();
        }
        Self { nodes, _dirs: dirs }
    }

    /// Index of the node whose replica of `tablet` serves as leader.
    pub async fn leader(&self, tablet: u64, deadline: Duration) -> usize {
        wait_for(deadline, "a serving leader", || async {
            self.nodes
                .iter()
                .position(|n| n.replica(tablet).is_some_and(|r| r.is_serving()))
        })
        .await
    }

    /// Writes `key = value` through whichever node serves as leader,
    /// retrying on `NotLeader` (an election in progress) until `deadline`.
    pub async fn put(&self, tablet: u64, key: &[u8], value: &[u8], deadline: Duration) {
        let start = Instant::now();
        loop {
            let leader = self.leader(tablet, deadline).await;
            let replica = self.nodes[leader].replica(tablet).unwrap();
            let put = Mutation::Put {
                key: key.to_vec(),
                value: value.to_vec(),
            };
            match replica.write(vec![put]).await {
                Ok(_) => return,
                Err(e @ (TabletError::NotLeader { .. } | TabletError::Replication { .. })) => {
                    assert!(start.elapsed() < deadline, "put {key:?}: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("put {key:?}: {e}"),
            }
        }
    }

    /// Waits until every running node's replica of `tablet` holds exactly
    /// `expected` for each of its keys.
    pub async fn wait_converged(
        &self,
        tablet: u64,
        expected: &BTreeMap<Vec<u8>, Vec<u8>>,
        deadline: Duration,
    ) {
        for node in self.nodes.iter().filter(|n| n.store.is_some()) {
            wait_for(
                deadline,
                &format!("node {} to hold every acknowledged key", node.id),
                || async {
                    let r = node.replica(tablet)?;
                    expected
                        .iter()
                        .all(|(k, v)| r.get_local(k).ok().flatten().as_ref() == Some(v))
                        .then_some(())
                },
            )
            .await;
        }
    }

    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Cuts node `i` off from every other node, both ways.
    pub fn isolate(&self, i: usize) {
        let id = self.nodes[i].id;
        for (j, n) in self.nodes.iter().enumerate() {
            if let Some(store) = &n.store {
                if j == i {
                    store
                        .peers()
                        .block(self.nodes.iter().map(|m| m.id).filter(|&m| m != id));
                } else {
                    store.peers().block([id]);
                }
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&self) {
        for n in &self.nodes {
            if let Some(store) = &n.store {
                store.peers().unblock_all();
            }
        }
    }

    pub async fn stop(&mut self) {
        for n in &mut self.nodes {
            n.stop().await;
        }
    }
}

/// Raft timing of the real-node test clusters.
pub fn node_timing() -> RaftTiming {
    RaftTiming {
        heartbeat: Duration::from_millis(100),
        election_min: Duration::from_millis(500),
        election_max: Duration::from_millis(750),
        snapshot_every: 10_000,
    }
}

/// A lazily connecting channel to `addr`.
pub async fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

/// `n` real nodes (gRPC on loopback, ports chosen freely) with one join
/// list, initialized; returns them with their addresses.
pub async fn start_cluster(dir: &std::path::Path, n: usize) -> (Vec<RunningNode>, Vec<String>) {
    start_cluster_with(dir, n, |_| {}).await
}

/// [`start_cluster`] with every node's configuration changed by `tweak`
/// (after the test timing of [`test_config`]).
pub async fn start_cluster_with(
    dir: &std::path::Path,
    n: usize,
    tweak: impl Fn(&mut NodeConfig),
) -> (Vec<RunningNode>, Vec<String>) {
    let (listeners, addrs) = embedded::bind_loopback(n).await.unwrap();
    let nodes = embedded::start_nodes(dir, &addrs, listeners, &|c| {
        test_config(c);
        tweak(c);
    })
    .await
    .unwrap();
    embedded::init(&addrs).await.unwrap();
    (nodes, addrs)
}

/// Test timing: elections in a few hundred ms, idle transactions reaped
/// after a second.
fn test_config(c: &mut NodeConfig) {
    c.timing = node_timing();
    // Tests move replicas and leaders themselves.
    c.allocator.every = Duration::ZERO;
    c.split.qps = 0;
    c.txn_idle_timeout = Duration::from_secs(1);
}

/// Restarts the nodes of [`start_cluster`] on their data dirs and ports
/// (a port just freed is retried for a while if something holds it).
pub async fn start_nodes(dir: &std::path::Path, addrs: &[String]) -> Vec<RunningNode> {
    let mut listeners = Vec::new();
    for a in addrs {
        listeners.push(
            wait_for(
                Duration::from_secs(10),
                &format!("port {a} to be free"),
                || async { tokio::net::TcpListener::bind(a.as_str()).await.ok() },
            )
            .await,
        );
    }
    embedded::start_nodes(dir, addrs, listeners, &test_config)
        .await
        .unwrap()
}

/// Splits `tablet` at `key` through any node of `addrs`; returns the new
/// (right-hand) tablet's id.
pub async fn split_tablet(addrs: &[String], tablet: u64, key: &[u8]) -> u64 {
    embedded::split(addrs, tablet, key).await.unwrap()
}

/// Now by the system clock, as a transaction priority.
pub fn now() -> spanlite_truetime::Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    spanlite_truetime::Timestamp::from_nanos(nanos as u64)
}

/// A value written by [`set`] (absent: 0).
pub fn int(v: Option<Vec<u8>>) -> i64 {
    String::from_utf8(v.unwrap_or_else(|| b"0".to_vec()))
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes `key = value` (decimal text) outside any transaction.
pub async fn set(gw: &spanlite_gateway::Gateway, key: &str, value: i64) {
    gw.write(Mutation::Put {
        key: key.as_bytes().to_vec(),
        value: value.to_string().into_bytes(),
    })
    .await
    .unwrap();
}

/// The latest committed value of `key`, as [`int`] reads it.
pub async fn read(gw: &spanlite_gateway::Gateway, key: &str) -> i64 {
    int(gw.get(key.as_bytes()).await.unwrap())
}

/// The last result of `sql` on `session`, errors as `"SQLSTATE: message"`.
pub async fn run(
    session: &mut spanlite_session::Session,
    sql: &str,
) -> Result<spanlite_sql::QueryResult, String> {
    let mut results = session.run(sql).await;
    match results.pop() {
        Some(r) => r.map_err(|e| format!("{}: {}", e.code, e.message)),
        None => Err("no result".to_string()),
    }
}

/// Three nodes in this process with schema leases of `lease`.
pub async fn cluster_with_lease(lease: Duration) -> embedded::EmbeddedCluster {
    embedded::EmbeddedCluster::start_with(3, &|c| c.schema_lease = lease)
        .await
        .unwrap()
}
