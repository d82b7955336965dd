//! Spanlite's end-to-end benchmarks: the [`workload`] driver behind
//! `spanlite workload` (bank, kv, readonly) with HDR latency histograms, run
//! against a Spanlite cluster or PostgreSQL with the same transactions.
//! Criterion micro-benchmarks live next to the code they measure (`cargo
//! bench --workspace --bench mvcc`, ...).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod workload;
