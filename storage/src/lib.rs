//! Spanlite storage (DESIGN.md §4).
//!
//! This crate will hold the order-preserving key encoding, MVCC versions and
//! intents on RocksDB, the node's ARIES-style write-ahead log with group commit,
//! the Raft log store on that WAL, fuzzy checkpoints and three-pass recovery.
//!
//! Status: not built yet — the Storage issue fills it. It exports nothing, so
//! nothing can mistake it for a working engine.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
