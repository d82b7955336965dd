//! History checkers of the Jepsen-style suite. Each takes a [`History`]
//! (and what it needs beyond it) and returns a report: counts, whether the
//! history is valid, and the first anomalies found, each naming the
//! operations involved by history index.
//!
//! - [`bank`]: conserved total, no negative balance, complete snapshots, and
//!   a final state reachable from the acknowledged transfers.
//!
//! [`History`]: crate::history::History

pub mod bank;

pub use bank::BankReport;
