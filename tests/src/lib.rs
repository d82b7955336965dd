//! Spanlite's multi-node and Jepsen-style suites (DESIGN.md §9): real
//! `spanlite` processes on loopback, a nemesis (kill, pause, partition, clock
//! skew), bank and list-append workloads, and history checkers.
//!
//! Built so far:
//!
//! - [`history`]: the history model (invocations and their `Ok`/`Fail`/`Info`
//!   completions), a concurrent [`history::Recorder`], JSON-lines files.
//! - [`checker`]: the bank checker (conserved total, no negative balance,
//!   final state reachable from the acknowledged transfers) and an Elle-style
//!   list-append checker (G0, G1a, G1b, G1c, G-single, G2, real-time cycles).
//! - [`plot`]: latency over time as SVG, with nemesis windows shaded.
//!
//! Not built yet: the process harness, the nemesis and the workloads'
//! clients that produce histories.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checker;
pub mod history;
pub mod plot;
