//! Spanlite storage (DESIGN.md §4).
//!
//! ```text
//!   Raft log entries, votes ──▶ raftlog ──▶ wal (node WAL, group commit, fsync)
//!                                               ▲        │ recovery: analysis,
//!   checkpoint begin/end ────────────────────────┘        ▼ redo
//!   tablet state machine ──▶ mvcc ──▶ engine (RocksDB, its WAL off) ◀── meta
//!                                       keys: keycode (order-preserving)
//! ```
//!
//! - [`keycode`]: order-preserving key encoding.
//! - [`engine`]: the key-value engine trait, RocksDB and in-memory engines.
//! - [`mvcc`]: versions, intents, snapshot reads, GC.
//! - [`meta`]: per-tablet applied index (pageLSN) and the GC watermark.
//! - [`wal`]: the node write-ahead log with group commit.
//! - [`raftlog`]: the Raft logs of every tablet on the node, in the WAL.
//! - [`recovery`]: fuzzy checkpoints; analysis and redo.
//!
//! INVARIANT: the node WAL is the only log. RocksDB's own WAL is disabled;
//! RocksDB's memtables play the ARIES buffer pool (steal, no-force).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod engine;
mod error;
pub mod keycode;
pub mod meta;
pub mod mvcc;
pub mod raftlog;
pub mod recovery;
pub mod wal;

pub use error::{Result, StorageError};
