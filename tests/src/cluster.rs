//! A cluster of real `spanlite` processes on loopback, each link between
//! them through a [`Proxies`] proxy, with the controls a nemesis needs:
//! SIGKILL and restart, SIGSTOP/SIGCONT, partitions, clock skew, and who
//! leads which tablet.
//!
//! Processes are started and stopped by PID (never by name); the data and
//! logs live in a temporary directory removed on drop, unless the run
//! asks to keep it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{InitRequest, SetClockSkewRequest, StatusRequest};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::proxy::Proxies;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Starting or controlling a process failed.
    #[error("process: {0}")]
    Process(String),
    /// The cluster did not reach a state in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// I/O (temp dirs, ports, logs).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Results of the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Tablet id → (node id, that node's replica's key/value pairs) per replica.
pub type ReplicaContents = std::collections::BTreeMap<u64, Vec<(u64, Vec<(Vec<u8>, Vec<u8>)>)>>;

/// One node process.
#[derive(Debug)]
struct NodeProc {
    id: u64,
    addr: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// A cluster of `spanlite start` processes.
#[derive(Debug)]
pub struct ProcessCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<NodeProc>,
    /// Links between nodes.
    proxies: Proxies,
    /// Links from the workload's clients to each node (link `(0, j)`), so
    /// clients can be cut off from a node the nodes still reach.
    client_proxies: Proxies,
    /// The certs dir of a cluster started with TLS on every link.
    certs: Option<PathBuf>,
}

/// A free loopback port and the listener that holds it: the caller keeps
/// it bound until just before the node's process binds the port, so the
/// proxies (which bind port 0 meanwhile) cannot be given it. A clash with
/// anything else makes the process exit.
fn free_port() -> Result<(String, std::net::TcpListener)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((l.local_addr()?.to_string(), l))
}

/// An endpoint to the node at `addr`: plain HTTP/2, or (`certs`: the
/// cluster's certs dir) TLS with the root user's client certificate.
pub fn endpoint(addr: &str, certs: Option<&Path>) -> Result<Endpoint> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let process = |e: String| HarnessError::Process(e);
    match certs {
        None => Endpoint::from_shared(format!("http://{addr}")).map_err(|e| process(e.to_string())),
        Some(dir) => {
            let read =
                |f: &str| std::fs::read(dir.join(f)).map_err(|e| process(format!("{f}: {e}")));
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("ca.crt")?))
                .identity(Identity::from_pem(
                    read("client.root.crt")?,
                    read("client.root.key")?,
                ));
            Endpoint::from_shared(format!("https://{addr}"))
                .map_err(|e| process(e.to_string()))?
                .tls_config(tls)
                .map_err(|e| process(e.to_string()))
        }
    }
}

async fn admin(addr: &str, certs: Option<&Path>) -> Result<AdminServiceClient<Channel>> {
    let ch = endpoint(addr, certs)?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| HarnessError::Process(format!("{addr}: {e}")))?;
    // ScanReplicas answers with every pair of a node's replicas in a range:
    // after a long run, more than tonic's default 4 MiB.
    Ok(AdminServiceClient::new(ch).max_decoding_message_size(256 << 20))
}

/// The node at `addr`'s replica of the tablet holding `key` (its id, and
/// whether it leads), as the node's status says.
async fn replica_holding(addr: &str, key: &[u8], certs: Option<&Path>) -> Option<(u64, bool)> {
    let status = admin(addr, certs)
        .await
        .ok()?
        .status(StatusRequest {})
        .await
        .ok()?;
    status.into_inner().tablets.into_iter().find_map(|t| {
        let d = t.descriptor?;
        let r = d.range?;
        let inside = key >= r.start.as_slice() && (r.end.is_empty() || key < r.end.as_slice());
        inside.then_some((d.tablet_id, t.is_leader))
    })
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid` with kill(1).
async fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Process(format!(
            "kill -{signal} {pid}: {status}"
        )))
    }
}

impl ProcessCluster {
    /// Starts `n` nodes of `bin` with proxies on every link, initializes
    /// the cluster and waits until it serves SQL. `extra` arguments go to
    /// every `spanlite start`.
    pub async fn start(bin: &Path, n: usize, extra: &[String]) -> Result<Self> {
        Self::start_with(bin, n, extra, &[]).await
    }

    /// [`ProcessCluster::start`], with `per_node[i]` added to node `i`'s
    /// arguments (e.g. its own `--clock-uncertainty-floor`).
    pub async fn start_with(
        bin: &Path,
        n: usize,
        extra: &[String],
        per_node: &[Vec<String>],
    ) -> Result<Self> {
        Self::start_opts(bin, n, extra, per_node, false).await
    }

    /// [`ProcessCluster::start_with`]; `tls`: certificates made with
    /// `spanlite cert` (a CA, a node certificate for 127.0.0.1, root's
    /// client certificate) and mutual TLS on every link, the proxied ones
    /// included.
    pub async fn start_opts(
        bin: &Path,
        n: usize,
        extra: &[String],
        per_node: &[Vec<String>],
        tls: bool,
    ) -> Result<Self> {
        // SPANLITE_KEEP_DIRS=1 keeps data and logs for a post-mortem.
        let keep = std::env::var("SPANLITE_KEEP_DIRS").is_ok_and(|v| v == "1");
        let dir = tempfile::Builder::new()
            .prefix("spanlite-jepsen-")
            .disable_cleanup(keep)
            .tempdir()?;
        let (addrs, mut held): (Vec<String>, Vec<_>) = (0..n)
            .map(|_| free_port())
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(|(addr, l)| (addr, Some(l)))
            .unzip();
        let certs = if tls {
            let certs = dir.path().join("certs");
            let c = certs.display().to_string();
            for args in [
                vec!["cert", "create-ca", "--certs-dir", &c],
                vec![
                    "cert",
                    "create-node",
                    "127.0.0.1",
                    "localhost",
                    "--certs-dir",
                    &c,
                ],
                vec!["cert", "create-client", "root", "--certs-dir", &c],
            ] {
                let out = Command::new(bin).args(&args).output().await?;
                if !out.status.success() {
                    return Err(HarnessError::Process(format!(
                        "spanlite {}: {}",
                        args.join(" "),
                        String::from_utf8_lossy(&out.stderr)
                    )));
                }
            }
            Some(certs)
        } else {
            None
        };
        let mut proxies = Proxies::new();
        let mut client_proxies = Proxies::new();
        for i in 0..n {
            for (j, target) in addrs.iter().enumerate() {
                if i != j {
                    proxies.add(i, j, target.clone()).await?;
                }
            }
            client_proxies.add(0, i, addrs[i].clone()).await?;
        }
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut join = vec![addrs[i].clone()];
            let mut via = Vec::new();
            for j in (0..n).filter(|&j| j != i) {
                join.push(addrs[j].clone());
                let proxy = proxies
                    .addr(i, j)
                    .ok_or_else(|| HarnessError::Process("missing proxy".into()))?;
                via.push(format!("{}={proxy}", addrs[j]));
            }
            let data = dir.path().join(format!("node{}", i + 1));
            let mut args = vec![
                "start".to_string(),
                "--node-id".into(),
                (i + 1).to_string(),
                "--listen".into(),
                addrs[i].clone(),
                "--join".into(),
                join.join(","),
                "--data-dir".into(),
                data.display().to_string(),
                "--enable-fault-injection".into(),
                "--dial-via".into(),
                via.join(","),
            ];
            if let Some(certs) = &certs {
                args.extend(["--certs-dir".to_string(), certs.display().to_string()]);
            }
            args.extend(extra.iter().cloned());
            args.extend(per_node.get(i).into_iter().flatten().cloned());
            nodes.push(NodeProc {
                id: i as u64 + 1,
                addr: addrs[i].clone(),
                args,
                log: dir.path().join(format!("node{}.log", i + 1)),
                child: None,
                paused: false,
            });
        }
        let mut cluster = ProcessCluster {
            bin: bin.to_path_buf(),
            dir,
            nodes,
            proxies,
            client_proxies,
            certs,
        };
        for (i, port) in held.iter_mut().enumerate() {
            drop(port.take());
            cluster.spawn(i)?;
        }
        cluster.init().await?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(&self.bin)
            .args(&node.args)
            // Our own crates at info (leadership, recovery, splits), the
            // rest at warn; SPANLITE_NODE_LOG overrides.
            .env(
                "RUST_LOG",
                std::env::var("SPANLITE_NODE_LOG").unwrap_or_else(|_| {
                    "warn,spanlite_replica=info,spanlite_node=info".to_string()
                }),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::Process(format!("{}: {e}", self.bin.display())))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Initializes the cluster once every node answers.
    async fn init(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let first = self.nodes[0].addr.clone();
        loop {
            let attempt = async {
                let mut c = admin(&first, self.certs.as_deref()).await?;
                let r = c
                    .init(InitRequest::default())
                    .await
                    .map_err(|s| HarnessError::Process(s.message().to_string()))?
                    .into_inner();
                if r.error.is_empty() || r.error.contains("already") {
                    Ok(())
                } else {
                    Err(HarnessError::Process(r.error))
                }
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(HarnessError::Timeout(format!("cluster init: {e}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a cluster without nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The SQL/gRPC address of every node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// The address the workload's clients reach each node at (through
    /// the client-link proxies).
    pub fn client_addrs(&self) -> Vec<String> {
        (0..self.nodes.len())
            .filter_map(|j| self.client_proxies.addr(0, j).map(str::to_string))
            .collect()
    }

    /// Cuts (or heals) the clients' links to node `i`: its clients' calls
    /// hang as if the network between them lost every packet, while the
    /// nodes still reach each other.
    pub fn cut_clients(&self, i: usize, cut: bool) {
        self.client_proxies.set_cut(0, i, cut);
    }

    /// The temporary directory (data and logs).
    /// The certs dir, when the cluster runs with TLS.
    pub fn certs(&self) -> Option<&Path> {
        self.certs.as_deref()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The proxies (for partitions).
    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// SIGKILLs node `i` (no clean shutdown) and reaps it.
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut child) = self.nodes[i].child.take() {
            if self.nodes[i].paused
                && let Some(pid) = child.id()
            {
                // A stopped process dies of SIGKILL too; resume it anyway
                // so nothing lingers half-stopped.
                let _ = signal(pid, "CONT").await;
            }
            child.kill().await?;
        }
        self.nodes[i].paused = false;
        Ok(())
    }

    /// Starts node `i` again with the same arguments and data dir.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        if self.nodes[i].child.is_none() {
            // Its port may take a moment to be free again.
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpListener::bind(&self.nodes[i].addr).is_err() {
                if Instant::now() > deadline {
                    return Err(HarnessError::Timeout(format!(
                        "port {} of node {} to be free",
                        self.nodes[i].addr, self.nodes[i].id
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.spawn(i)?;
        }
        Ok(())
    }

    /// SIGSTOPs node `i`.
    pub async fn pause(&mut self, i: usize) -> Result<()> {
        if let Some(pid) = self.nodes[i].child.as_ref().and_then(Child::id) {
            signal(pid, "STOP").await?;
            self.nodes[i].paused = true;
        }
        Ok(())
    }

    /// SIGCONTs node `i`.
    pub async fn resume(&mut self, i: usize) -> Result<()> {
        if let Some(pid) = self.nodes[i].child.as_ref().and_then(Child::id) {
            signal(pid, "CONT").await?;
        }
        self.nodes[i].paused = false;
        Ok(())
    }

    /// Sets node `i`'s clock offset (through the Admin fault hook).
    pub async fn skew(&self, i: usize, offset: Duration, ahead: bool) -> Result<()> {
        let nanos = i64::try_from(offset.as_nanos()).unwrap_or(i64::MAX);
        let r = admin(&self.nodes[i].addr, self.certs.as_deref())
            .await?
            .set_clock_skew(SetClockSkewRequest {
                offset_nanos: if ahead { nanos } else { -nanos },
                drift_ppm: 0.0,
            })
            .await
            .map_err(|s| HarnessError::Process(s.message().to_string()))?
            .into_inner();
        if r.error.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::Process(r.error))
        }
    }

    /// The node (index) that leads the tablet holding `key`, if one
    /// answers as leader.
    pub async fn leader_of(&self, key: &[u8]) -> Option<usize> {
        // Right after a fault there may be no leader for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.leader_now(key).await {
                return Some(i);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn leader_now(&self, key: &[u8]) -> Option<usize> {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.child.is_none() || n.paused {
                continue;
            }
            if replica_holding(&n.addr, key, self.certs.as_deref())
                .await
                .is_some_and(|(_, leads)| leads)
            {
                return Some(i);
            }
        }
        None
    }

    /// Heals partitions, resumes paused nodes, restarts dead ones and
    /// clears clock skew: the state checks run in.
    pub async fn recover(&mut self) -> Result<()> {
        self.proxies.heal();
        self.client_proxies.heal();
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i).await?;
            }
            if self.nodes[i].child.is_none() {
                self.restart(i).await?;
            }
        }
        for i in 0..self.nodes.len() {
            // A node just restarted may not answer yet; retry a while.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match self.skew(i, Duration::ZERO, true).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => return Err(e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        Ok(())
    }

    /// Splits the tablet holding `key` at `key` (through any node that
    /// answers); returns the new tablet's id.
    pub async fn split_at(&self, key: &[u8]) -> Result<u64> {
        use spanlite_proto::admin::SplitTabletRequest;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tablet = self.tablet_of(key).await;
            for n in &self.nodes {
                let (Some(tablet), Ok(mut c)) =
                    (tablet, admin(&n.addr, self.certs.as_deref()).await)
                else {
                    continue;
                };
                let Ok(r) = c
                    .split_tablet(SplitTabletRequest {
                        tablet_id: tablet,
                        split_key: key.to_vec(),
                    })
                    .await
                else {
                    continue;
                };
                let r = r.into_inner();
                if r.error.is_empty()
                    && let Some(right) = r.right
                {
                    return Ok(right.tablet_id);
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout(format!(
                    "splitting at {}",
                    String::from_utf8_lossy(key)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Merges the tablet holding `left_key` with its right neighbour, which
    /// must start at `at` (through whichever node leads the left one;
    /// retried while refused, e.g. while the right one's leadership moves
    /// over). Returns the left and the merged-away tablet's ids.
    pub async fn merge_at(&self, left_key: &[u8], at: &[u8]) -> Result<(u64, u64)> {
        use spanlite_proto::admin::MergeTabletsRequest;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::from("no node answered");
        loop {
            if let (Some(left), Some(right)) =
                (self.tablet_of(left_key).await, self.tablet_of(at).await)
                && left != right
            {
                for n in &self.nodes {
                    let Ok(mut c) = admin(&n.addr, self.certs.as_deref()).await else {
                        continue;
                    };
                    let Ok(r) = c
                        .merge_tablets(MergeTabletsRequest {
                            left_tablet_id: left,
                        })
                        .await
                    else {
                        continue;
                    };
                    let r = r.into_inner();
                    if r.error.is_empty() {
                        return Ok((left, r.right_tablet_id));
                    }
                    last = r.error;
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout(format!(
                    "merging at {}: {last}",
                    String::from_utf8_lossy(at)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The tablet holding `key`, as some node's status says.
    async fn tablet_of(&self, key: &[u8]) -> Option<u64> {
        for n in &self.nodes {
            if let Some((tablet, _)) = replica_holding(&n.addr, key, self.certs.as_deref()).await {
                return Some(tablet);
            }
        }
        None
    }

    /// Moves the leadership of the tablet holding `key` off node `i` (to
    /// whichever voter wins), until another node leads it.
    pub async fn move_leader_off(&self, key: &[u8], i: usize) -> Result<()> {
        use spanlite_proto::admin::TransferLeaderRequest;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.leader_now(key).await {
                Some(l) if l != i => return Ok(()),
                _ if Instant::now() > deadline => {
                    return Err(HarnessError::Timeout(format!(
                        "moving the leader of {} off node {}",
                        String::from_utf8_lossy(key),
                        i + 1
                    )));
                }
                Some(_) => {
                    if let (Some(tablet), Ok(mut c)) = (
                        self.tablet_of(key).await,
                        admin(&self.nodes[i].addr, self.certs.as_deref()).await,
                    ) {
                        let to = self.nodes[(i + 1) % self.nodes.len()].id;
                        let _ = c
                            .transfer_leader(TransferLeaderRequest {
                                tablet_id: tablet,
                                to_node_id: to,
                            })
                            .await;
                    }
                }
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Each replica of the range `[start, end)`, read on its own node
    /// (whatever its role), once every replica of each tablet has applied
    /// the same log index: tablet id → the pairs of each node's replica.
    /// Replicas that never agree on an index in time are an error.
    pub async fn replica_contents(
        &self,
        start: &[u8],
        end: &[u8],
        deadline: Duration,
    ) -> Result<ReplicaContents> {
        use spanlite_proto::admin::ScanReplicasRequest;
        let until = Instant::now() + deadline;
        loop {
            let mut by_tablet: ReplicaContents = std::collections::BTreeMap::new();
            let mut indices: std::collections::BTreeMap<u64, std::collections::BTreeSet<u64>> =
                std::collections::BTreeMap::new();
            let mut complete = true;
            let mut failure = String::new();
            for n in &self.nodes {
                let scanned = async {
                    admin(&n.addr, self.certs.as_deref())
                        .await?
                        .scan_replicas(ScanReplicasRequest {
                            range: Some(spanlite_proto::common::KeyRange {
                                start: start.to_vec(),
                                end: end.to_vec(),
                            }),
                        })
                        .await
                        .map_err(|s| HarnessError::Process(s.message().to_string()))
                };
                let resp = match scanned.await {
                    Ok(resp) => resp,
                    Err(e) => {
                        failure = format!("node {}: {e}", n.id);
                        complete = false;
                        continue;
                    }
                };
                for r in resp.into_inner().replicas {
                    indices
                        .entry(r.tablet_id)
                        .or_default()
                        .insert(r.applied_index);
                    by_tablet.entry(r.tablet_id).or_default().push((
                        n.id,
                        r.pairs.into_iter().map(|p| (p.key, p.value)).collect(),
                    ));
                }
            }
            let settled = complete && indices.values().all(|i| i.len() == 1);
            if settled {
                return Ok(by_tablet);
            }
            if Instant::now() > until {
                return Err(HarnessError::Timeout(format!(
                    "replicas to apply the same index: {indices:?} (last scan failure: {failure})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every node's view of every replica it hosts, one line each (role,
    /// term, the leader it knows, applied index), for a post-mortem; a node
    /// that does not answer says so.
    pub async fn status_report(&self) -> String {
        use spanlite_proto::admin::StatusRequest;
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let status = match admin(&n.addr, self.certs.as_deref()).await {
                Ok(mut c) => c
                    .status(StatusRequest {})
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|e| e.message().to_string()),
                Err(e) => Err(e.to_string()),
            };
            match status {
                Ok(s) => {
                    for t in s.tablets {
                        let id = t.descriptor.as_ref().map_or(0, |d| d.tablet_id);
                        out.push_str(&format!(
                            "node {}: tablet {id}: {} term {} leader {} serving {} applied {}\n    {}\n",
                            i + 1,
                            t.raft_state,
                            t.term,
                            t.raft_leader,
                            t.is_leader,
                            t.applied_index,
                            t.raft_metrics
                        ));
                    }
                }
                Err(e) => out.push_str(&format!("node {}: no status: {e}\n", i + 1)),
            }
        }
        out
    }

    /// Keeps the data dir and logs after the run (for a failed check).
    pub fn keep(mut self) -> PathBuf {
        self.dir.disable_cleanup(true);
        self.dir.path().to_path_buf()
    }
}

/// The node processes die (SIGKILL, reaped) before the directory they
/// write to is removed: removing it under running nodes left files they
/// wrote meanwhile behind (`spanlite-jepsen-*` dirs after a run).
impl Drop for ProcessCluster {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (paused) process too.
        let mut dying: Vec<Child> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.child.take())
            .filter_map(|mut child| child.start_kill().is_ok().then_some(child))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            dying.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            if dying.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
