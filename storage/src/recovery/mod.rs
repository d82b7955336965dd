//! Checkpoints and ARIES-style crash recovery (DESIGN.md §4, docs/wal.md).
//!
//! ```text
//!   Wal::open ──▶ analysis ──▶ redo ──▶ undo ──▶ RecoveryReport (logged at start)
//!   (torn tail)   (one scan)   (repeat   (roll back
//!                               history)  losers, CLRs)
//! ```
//!
//! Each pass is a function with its own tests; [`recover`] runs them in order.
//! Recovery is safe to repeat: a crash at any point of it (including during
//! undo) leaves a log from which the next run reaches the same state — redo is
//! idempotent and CLRs make undo resume where it stopped.
//!
//! The transaction layer owns what transactions *mean*; this module owns how
//! their records are logged ([`TxnLog`]), tabled ([`TxnTable`]) and rolled back
//! ([`UndoTarget`]). The tablet state machine owns how a Raft entry becomes
//! engine writes ([`EntryApplier`]).

mod analysis;
mod checkpoint;
mod records;
mod recover;
mod redo;
mod txn_log;
mod txn_table;
mod undo;

pub use analysis::{Analysis, analysis};
pub use checkpoint::{CheckpointReport, DirtyTablets, checkpoint};
pub use records::{CheckpointBegin, CheckpointEnd, Clr, TxnRecord, TxnRecordBody};
pub use recover::{Recovered, RecoveryReport, recover};
pub use redo::{EntryApplier, RedoReport, redo};
pub use txn_log::TxnLog;
pub use txn_table::{TXN_TABLE_VERSION, TxnEntry, TxnState, TxnTable};
pub use undo::{MvccUndo, UndoReport, UndoTarget, undo};
