//! The node write-ahead log (DESIGN.md §4).
//!
//! One WAL per node holds the Raft logs and votes of every tablet replica on
//! it, checkpoint records, and transaction records. RocksDB's own WAL is off:
//! this is the only log, and the only file a commit forces.
//!
//! ```text
//!   append ─┐                    ┌────────────── dir/ ───────────────────┐
//!   append ─┼─▶ queue ─▶ wal-writer ─▶ 00000000000000000000.wal  [0, 4096)
//!   append ─┘   (group commit:   │     00000000000000004096.wal  [4096, 8190)
//!      ▲         one write,      │     00000000000000008190.wal  [8190, end) ◀ active
//!      │         one fdatasync)  └────────────────────────────────────────┘
//!      └── futures resolve with LSNs once durable      read_at / iter_from ◀─ readers
//! ```
//!
//! - **LSN** ([`Lsn`]) = global byte position of a record's first byte. A
//!   segment is named by its first LSN and the next one starts where it ends.
//! - **Framing** ([`record`](Record)): `[len u32][crc32c u32][kind u8][payload]`,
//!   the CRC over the length, kind and payload;
//!   [`RecordKind`] is the one table of every record kind on the node.
//! - **Group commit**: one writer thread takes every queued append, writes
//!   them with one `write` and one `fdatasync`, then completes every waiter.
//! - **Torn tail**: on open, a damaged last record followed by nothing but
//!   zeros is cut off and reported ([`TornTail`]). Damage anywhere else is
//!   [`WalError::Corruption`] naming segment and offset: the node stops
//!   rather than lose data.
//! - **Failure**: a failed write or fsync fails the WAL for good
//!   ([`WalError::Failed`]) until the node restarts and recovers.
//! - **Retention**: whole segments below an LSN chosen by the checkpoint are
//!   deleted ([`Wal::remove_segments_below`]).
//!
//! INVARIANT: LSNs are contiguous: no gap between segments, records never
//! span segments (a record larger than the segment size has one of its own).
//! INVARIANT: an append is acknowledged only once every byte of it and of
//! every earlier append is fdatasync'ed; [`Wal::durable_lsn`] only grows.
//! INVARIANT: one `Wal` per directory at a time (an advisory lock on
//! `dir/LOCK`, [`WalError::Locked`]).
//!
//! Not here: what records mean (`raftlog`, `recovery`), compression,
//! encryption, O_DIRECT, a bound on queued bytes (callers bound it: each
//! Raft group and transaction waits for its own appends). The active
//! segment is zero-filled ahead of its records (`segment.rs`).

mod error;
mod handle;
mod open;
mod reader;
mod record;
mod segment;
mod tail;
#[cfg(test)]
mod tests;
mod writer;

pub use error::WalError;
#[cfg(test)]
pub(crate) use handle::Fault;
pub use handle::{AppendAck, AppendFuture, Wal, WalStats};
pub use open::{DEFAULT_SEGMENT_SIZE, OpenReport, TornTail, WalConfig};
pub use reader::WalIter;
pub use record::{HEADER_LEN, Lsn, Record, RecordKind};
