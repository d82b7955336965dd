//! The gateway: serves a request on behalf of a client by finding the tablet
//! that owns each key and calling its leader, wherever it is.
//!
//! ```text
//!   client ──▶ any node (gateway) ──route──▶ RouteCache ──miss──▶ meta tablet
//!                 │                               ▲ descriptors, node addresses
//!                 └──TabletService──▶ leader ─────┘ NotLeader{hint}: retry there
//!                                                    WrongTablet: evict, re-route
//! ```
//!
//! Retries are bounded by a deadline per request; between rounds over all
//! replicas it backs off (50 ms doubling to 1 s, jittered: `spanlite_truetime::Backoff`), so an election or a
//! restarting node is waited out rather than failed.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod commit_once;
mod error;
mod peers;
mod read_only;
mod route;
mod stream;
mod transaction;
mod txn;

pub use client::{FROM_NODE_HEADER, FromNode, TabletClient, from_node, in_process};
pub use error::GatewayError;
pub use read_only::ReadOnly;
pub use route::{Gateway, GatewayConfig, LOCK_WAIT, LocalTablets};
pub use transaction::{Locked, Transaction, WriteMark};
pub use txn::{Txn, TxnMode, TxnOptions, jitter};
