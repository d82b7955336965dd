//! The lock table of a tablet leader (DESIGN.md §6): shared and exclusive
//! key locks, shared range locks for scans (no phantoms), wound-wait by
//! priority timestamp, FIFO waiters within compatibility, upgrades, and
//! wait deadlines.
//!
//! - [`LockMode`]: the modes and the compatibility matrix.
//! - [`LockTarget`]: a key or a key range.
//! - [`LockState`]: the deterministic core; the leader state
//!   (`crate::leader`) owns one, and its callers wait on tickets.
//!
//! Not here: what a transaction does with its locks (`crate::actions`).

mod mode;
#[cfg(test)]
mod reference;
mod state;
mod target;
#[cfg(test)]
mod tests;

pub use mode::LockMode;
pub use state::{Acquired, Effects, LockState, Refused, Ticket};
pub use target::LockTarget;
