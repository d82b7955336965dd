//! The Spanlite node (DESIGN.md §8): gRPC services, tablet hosting with one
//! Raft group per tablet, routing, SQL sessions, metrics, and the `spanlite`
//! command line.
//!
//! - [`raft`]: the openraft glue (type config, log store on the node WAL,
//!   tablet state machine, snapshots, gRPC transport).
//! - [`directory`]: key ranges and tablet descriptors.
//! - [`embedded`]: a whole cluster inside this process (demo, SQL logic
//!   tests).
//! - [`pgwire`]: the PostgreSQL wire protocol (`--pg-listen`).
//! - [`slt`]: the sqllogictest runner (`spanlite sqllogictest`).
//! - [`workload`]: `spanlite workload`, Spanlite and PostgreSQL side by side.
//!
//! The command line offers only what is built (`spanlite --help`).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cli;
mod demo;
pub mod directory;
pub mod embedded;
pub mod gateway;
pub mod metrics;
pub mod node;
pub mod pgwire;
pub mod raft;
pub mod service;
pub mod shell;
pub mod slt;
pub mod sql;
pub mod tablet;
pub mod workload;

pub use cli::{Cli, run};
