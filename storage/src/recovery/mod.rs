//! Checkpoints and ARIES-style crash recovery (DESIGN.md §4, docs/wal.md).
//!
//! ```text
//!   Wal::open ──▶ analysis ──▶ redo ──▶ RecoveryReport (logged at start)
//!   (torn tail)   (one scan)   (repeat history: committed Raft
//!                               entries past each tablet's pageLSN)
//! ```
//!
//! Each pass is a function with its own tests; [`recover`] runs them in order.
//! Recovery is safe to repeat: a crash at any point of it leaves a log from
//! which the next run reaches the same state (redo is idempotent).
//!
//! There is no undo pass: nothing reaches storage but the effects of Raft
//! entries that were committed, and the outcome of a transaction is decided
//! through Raft by its coordinator tablet, never by one node rolling back
//! alone (docs/wal.md, "Why there is no undo pass"). The tablet state
//! machine owns how a Raft entry becomes engine writes ([`EntryApplier`]).

mod analysis;
mod checkpoint;
mod records;
mod recover;
mod redo;

pub use analysis::{Analysis, analysis};
pub use checkpoint::{CheckpointReport, DirtyTablets, checkpoint};
pub use records::{CheckpointBegin, CheckpointEnd};
pub use recover::{Recovered, RecoveryReport, recover};
pub use redo::{EntryApplier, RedoReport, redo};
