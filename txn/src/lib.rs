//! Spanlite transactions (DESIGN.md §6): the lock table with wound-wait, the
//! two-phase-commit coordinator and participant, OCC and SSI, the timestamp
//! rules that give external consistency, and safe time for lock-free reads.
//!
//! Pure protocol logic: no networking, no tonic, no openraft. Participants are
//! reached through traits so the protocols run deterministically in one
//! process under a `ManualClock`.
//!
//! - [`lock`]: the lock table (wound-wait, range locks, FIFO waiters).
//! - [`twopc`]: two-phase commit records (prepare, decide, resolve, the
//!   termination protocol with presumed abort) and the commit timestamp rule.
//!
//! The server applies these through each tablet's Raft log and runs the
//! participant and coordinator actions at tablet leaders. OCC and SSI are
//! not built yet.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod lock;
pub mod twopc;
