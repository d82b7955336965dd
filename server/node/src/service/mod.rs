//! The node's gRPC services (DESIGN.md §8). Raft's own service lives in
//! `crate::raft`.

mod admin;
mod convert;
mod kv;
mod sql;
mod tablet;
mod tablet_stream;
mod time;

pub use admin::AdminGrpc;
pub use kv::{KvGrpc, gateway_status};
pub use sql::{SqlGrpc, value_from_wire, value_to_wire};
pub use tablet::TabletGrpc;
pub use tablet_stream::TabletCallsGrpc;
pub use time::{GrpcTimeSource, TimeGrpc};
