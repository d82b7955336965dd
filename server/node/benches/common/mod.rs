//! A 3-node cluster in the benchmark's process: real nodes (RocksDB, node
//! WAL with fsync, Raft over gRPC on loopback), initialized.

#![allow(dead_code)]

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_node::embedded;
use spanlite_node::{NodeConfig, RunningNode};
use spanlite_replica::tablet::Replica;

/// Starts and initializes three nodes with data under `dir`; `tune` adjusts
/// each node's config.
pub async fn cluster(
    dir: &Path,
    tune: impl Fn(&mut NodeConfig),
) -> Result<Vec<RunningNode>, Box<dyn Error>> {
    let (listeners, addrs) = embedded::bind_loopback(3).await?;
    let nodes = embedded::start_nodes(dir, &addrs, listeners, &|c| {
        c.pg_listen = None;
        tune(c);
    })
    .await?;
    embedded::init(&addrs).await?;
    Ok(nodes)
}

/// The data tablet's leader.
pub async fn data_leader(nodes: &[RunningNode]) -> Result<Arc<Replica>, Box<dyn Error>> {
    Ok(embedded::leader(nodes, FIRST_DATA_TABLET).await?)
}

/// `$NAME` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
