//! The Spanlite node (DESIGN.md §8), the composition root: it opens the
//! store (`spanlite_replica`), starts the gateway (`spanlite_gateway`), the
//! gRPC services, the PostgreSQL port (`spanlite_pgwire`) and time sync, and
//! wires the replicas' `TxnPeers` slot to the gateway.
//!
//! ```text
//!   start ──▶ Identity (data dir) ──▶ Store ──▶ replicas
//!         ──▶ Gateway (route cache, peers) ──▶ services: Tablet, Raft, Kv, Sql, Admin, Time
//!         ──▶ pgwire listener (--pg-listen)         ──▶ ClusterView (join, init)
//! ```
//!
//! - [`start`], [`NodeConfig`], [`RunningNode`]: the running process.
//! - [`service`]: the node's gRPC services.
//! - [`ops`]: running a growing cluster: splits by size, metrics, the web
//!   console.
//! - [`embedded`]: a whole cluster inside this process (demo, SQL logic
//!   tests, the in-process test harness).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cluster;
pub mod embedded;
mod identity;
pub mod ops;
mod server;
pub mod service;

pub use cluster::ClusterView;
pub use identity::{Identity, IdentityError};
pub use server::{NodeConfig, NodeContext, NodeError, RunningNode, incoming, start, start_on};
pub use spanlite_replica::{Store, StoreConfig, StoreError};
