//! History checkers of the Jepsen-style suite. Each takes a [`History`]
//! (and what it needs beyond it) and returns a report: counts, whether the
//! history is valid, and the first anomalies found, each naming the
//! operations involved by history index.
//!
//! - [`bank`]: conserved total, no negative balance, complete snapshots, and
//!   a final state reachable from the acknowledged transfers.
//! - [`list_append`]: Elle-style dependency cycles (G0, G1c, G-single, G2,
//!   real-time) plus G1a, G1b and the list-level checks.
//!
//! [`History`]: crate::history::History

pub mod bank;
pub mod list_append;

pub use bank::BankReport;
pub use list_append::{Anomaly, AnomalyKind, ListAppendReport};
