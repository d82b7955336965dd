//! A node's tablet replicas (DESIGN.md §3, §6): one openraft group per
//! tablet with its log in the node WAL and its state machine on MVCC, and the
//! glue between a leader's Raft group and the transaction protocol of
//! `spanlite_txn`, whose steps decide everything.
//!
//! ```text
//!   Store (one per node: RocksDB, WAL, recovery, the replicas it hosts)
//!     └─ Replica (per tablet) ── tablet: steps of spanlite_txn under one mutex,
//!          │                      proposals in timestamp order, commit wait, leases
//!          └─ raft: Raft<TypeConfig> ── log store ─▶ node WAL
//!                                   ├─ state machine ─▶ MVCC on RocksDB
//!                                   └─ network ─▶ Peers (spanlite_directory) ─▶ RaftGrpc
//! ```
//!
//! - [`raft`]: the openraft glue (type config, log store on the node WAL,
//!   tablet state machine, snapshots, gRPC transport).
//! - [`tablet`]: the replica as the rest of the node sees it: reads, commits,
//!   2PC, leases, splits, closed timestamps.
//! - [`Store`]: a node's storage and the replicas it hosts; recovery at open.
//! - [`metrics`]: transaction counters and histograms.
//!
//! Depends on `spanlite-directory` (descriptors, the peer channel pool) and
//! never on the gateway: a leader reaches other tablets only through the
//! `TxnPeers` trait of `spanlite_txn`, which the node fills with its
//! gateway (`PeersSlot`).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod closed;
pub mod metrics;
pub mod raft;
mod store;
pub mod tablet;

pub use store::{Store, StoreConfig, StoreError};
