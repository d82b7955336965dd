//! The lock table of a tablet leader (DESIGN.md §6): shared and exclusive
//! key locks, shared range locks for scans (no phantoms), wound-wait by
//! priority timestamp, FIFO waiters within compatibility, upgrades, and
//! wait deadlines.
//!
//! - [`LockMode`]: the modes and the compatibility matrix.
//! - [`LockTarget`]: a key or a key range.
//! - [`LockState`]: the deterministic core (tests drive it directly).
//! - [`LockTable`]: the core behind a mutex, with waits as futures.
//!
//! Not here: what a transaction does with its locks (participant actions),
//! and the leader's rebuilding of prepared transactions' locks from intents
//! after a leadership change, which calls [`LockTable::restore_prepared`].

mod mode;
mod state;
mod table;
mod target;
#[cfg(test)]
mod tests;

pub use mode::LockMode;
pub use state::{Acquired, Effects, LockState, Refused, Ticket};
pub use table::{LockError, LockTable};
pub use target::LockTarget;
