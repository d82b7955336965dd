//! Spanlite's multi-node and Jepsen-style suites (DESIGN.md §9): real
//! `spanlite` processes on loopback, a nemesis (kill, pause, partition, clock
//! skew), bank and list-append workloads, and history checkers.
//!
//! - [`history`]: the history model (invocations and their `Ok`/`Fail`/`Info`
//!   completions), a concurrent [`history::Recorder`], JSON-lines files;
//! - [`proxy`]: TCP proxies on every link between nodes (partitions);
//! - [`cluster`]: real `spanlite` processes with kill/restart, pause,
//!   partitions, clock skew and leader lookup;
//! - [`nemesis`]: one fault at a time, every kind in turn, logged;
//! - [`workload`]: bank and list-append clients recording their histories.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod workload;
