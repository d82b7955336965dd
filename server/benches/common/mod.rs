//! A 3-node cluster in the benchmark's process: real nodes (RocksDB, node
//! WAL with fsync, Raft over gRPC on loopback), initialized.

#![allow(dead_code)]

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanlite_proto::admin::InitRequest;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_server::directory::FIRST_DATA_TABLET;
use spanlite_server::node::{self, NodeConfig, RunningNode};
use spanlite_server::tablet::Replica;

/// Starts and initializes three nodes with data under `dir`; `tune` adjusts
/// each node's config.
pub async fn cluster(
    dir: &Path,
    tune: impl Fn(&mut NodeConfig),
) -> Result<Vec<RunningNode>, Box<dyn Error>> {
    // Ports: bind, note, release; the nodes bind them again at once.
    let addrs: Vec<String> = (0..3)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            Ok::<_, std::io::Error>(l.local_addr()?.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut config = NodeConfig::new(i as u64 + 1, addr.parse()?, dir.join(format!("n{i}")));
        config.join = addrs.clone();
        tune(&mut config);
        nodes.push(node::start(config).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", addrs[0]))?
        .connect()
        .await?;
    loop {
        let resp = AdminServiceClient::new(channel.clone())
            .init(InitRequest {})
            .await?
            .into_inner();
        if resp.error.is_empty() {
            return Ok(nodes);
        }
        if Instant::now() > deadline {
            return Err(resp.error.into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The replica serving as leader of `tablet`, once there is one.
pub async fn leader(nodes: &[RunningNode], tablet: u64) -> Result<Arc<Replica>, Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for n in nodes {
            if let Some(r) = n.context.store.replica(tablet)
                && r.is_serving()
            {
                return Ok(r);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no leader for tablet {tablet}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The data tablet's leader.
pub async fn data_leader(nodes: &[RunningNode]) -> Result<Arc<Replica>, Box<dyn Error>> {
    leader(nodes, FIRST_DATA_TABLET).await
}

/// `$NAME` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
