//! The Spanlite node (DESIGN.md §8): gRPC services, tablet hosting with one
//! Raft group per tablet, routing, SQL sessions, metrics, and the `spanlite`
//! command line.
//!
//! Today only the command line's frame exists (`spanlite --version`,
//! `spanlite --help`); `start`, `init`, `sql`, `demo` and `workload` arrive
//! with the issues that build them, and until then are not offered at all.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cli;

pub use cli::{Cli, run};
