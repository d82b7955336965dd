//! The Raft glue (DESIGN.md §3): the only code that knows openraft.
//!
//! ```text
//!   Raft<TypeConfig> per tablet replica
//!     ├─ TabletLogStore ──▶ RaftLogStore (storage) ──▶ node WAL (group commit)
//!     ├─ TabletStateMachine ──▶ apply_entry ──▶ MVCC on RocksDB (one batch per
//!     │                          run of entries, with the applied mark)
//!     └─ TabletNetworkFactory ──▶ Peers (one gRPC channel per node) ──▶ RaftGrpc
//!                                                    on the peer ─┘ (routes by tablet id)
//! ```
//!
//! - [`types`]: the type configuration, tablet commands and responses.
//! - [`log_store`]: openraft's log storage over the node's shared Raft log store.
//! - [`apply`]: the deterministic apply function (live path and redo).
//! - [`state_machine`], [`snapshot`]: applying entries; snapshots of a key range.
//! - [`network`], [`service`]: the gRPC transport, both sides.
//! - [`config`]: election and heartbeat timing for many groups on small machines.
//!
//! Not here: leases and timestamps (`crate::tablet`), which tablets a node
//! hosts (`crate::node`).

// NB: openraft's error types are large (StorageError is 224 bytes) and its
// traits return them; boxing ours would only add a conversion at every call.
#![allow(clippy::result_large_err)]

mod apply;
mod codec;
mod config;
mod log_store;
mod network;
mod service;
mod snapshot;
mod state_machine;
mod types;

pub use apply::{
    AppliedMark, LocalReplica, RangeEvent, SplitApplied, TabletApplier, load_local_replica,
    write_local_replica,
};
pub use config::{RaftTiming, raft_config};
pub use log_store::TabletLogStore;
pub use network::{RaftStreams, RaftTransportConfig, TabletNetworkFactory};
pub use service::{RaftGrpc, RaftRouter};
pub use spanlite_txn::apply::{load_decision, load_txn_records};
pub use state_machine::{Applied, TabletStateMachine};
pub use types::{
    Command, CommandResponse, Entry, Node, NodeId, Raft, RaftLogId, RaftVote, StoredMembership,
    TypeConfig,
};
