//! Spanlite transactions (DESIGN.md §6, §10): the deterministic protocol
//! core every tablet leader runs, and the records and commands it leaves
//! in the Raft log.
//!
//! ```text
//!   server glue (Replica) ─┐                    ┌─ scenario tests (one ManualClock per node)
//!                          ▼                    ▼
//!   actions::*  steps: read, lock, prepare, commit, decide, resolve,
//!               validate, reap, choose timestamp, safe time, split
//!       │ over
//!   leader::Leader  { LockState (wound-wait), TxnBook (TxnState per txn),
//!                     TsClock (last assigned, pending, closed) }
//!       │ returns
//!   Command ──(Raft)──▶ apply::apply_command ──▶ MVCC + twopc::TxnRecords
//! ```
//!
//! Pure protocol logic: no networking, no tonic, no openraft, no clock
//! reads, no waiting. A step takes the leader's state, its input and the
//! time (`TTInterval`, `Instant`) and returns what to propose and what it
//! changed; when it must wait for a lock it returns a ticket. Callers keep
//! the [`Leader`](leader::Leader) behind one mutex (lock order: that mutex,
//! then nothing).
//!
//! - [`lock`]: the lock table (wound-wait, range locks, FIFO waiters).
//! - [`leader`]: the leader's state: book, locks, clock.
//! - [`actions`]: the protocol steps, one per file.
//! - [`twopc`]: two-phase commit records and their rules.
//! - [`command`], [`apply`]: the log's commands and applying them.
//! - [`lease`]: leader leases and votes.
//! - [`peers`]: how a leader reaches other tablets (the gateway does it).
//! - [`retry`]: retrying a whole transaction.
//! - [`AbortReason`], [`TxnError`]: why a step refused.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod abort;
pub mod actions;
pub mod apply;
pub mod command;
mod error;
pub mod leader;
pub mod lease;
pub mod lock;
mod mutation;
pub mod peers;
mod range;
pub mod retry;
pub mod twopc;

pub use abort::{AMBIGUOUS, AbortReason, SERIALIZATION_FAILURE};
pub use command::{Command, CommandResponse, NodeId};
pub use error::TxnError;
pub use mutation::Mutation;
pub use range::KeyRange;
