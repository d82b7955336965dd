//! Spanlite's multi-node and Jepsen-style suites (DESIGN.md §9): real
//! `spanlite` processes on loopback, a nemesis (kill, pause, partition, clock
//! skew), bank and list-append workloads, and history checkers.
//!
//! - [`history`]: the history model (invocations and their `Ok`/`Fail`/`Info`
//!   completions), a concurrent [`history::Recorder`], JSON-lines files;
//! - [`checker`]: the bank checker (conserved total, no negative balance,
//!   final state reachable from the acknowledged transfers) and an Elle-style
//!   list-append checker (G0, G1a, G1b, G1c, G-single, G2, real-time cycles);
//! - [`plot`]: latency over time as SVG, with nemesis windows shaded;
//! - [`proxy`]: TCP proxies on every link between nodes (partitions);
//! - [`cluster`]: real `spanlite` processes with kill/restart, pause,
//!   partitions, clock skew and leader lookup;
//! - [`nemesis`]: one fault at a time, every kind in turn, logged;
//! - [`workload`]: bank and list-append clients recording their histories;
//! - [`jepsen`]: one whole run — cluster, clients, nemesis, final reads,
//!   checks, and the files of its results.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checker;
pub mod cluster;
pub mod history;
pub mod jepsen;
pub mod nemesis;
pub mod plot;
pub mod proxy;
pub mod workload;
