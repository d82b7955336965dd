//! Spanlite SQL (DESIGN.md §7): sqlparser (PostgreSQL dialect) → binder
//! (names, types, catalog) → planner (point lookups, range scans, secondary
//! indexes, joins, aggregates) → executor over a transaction.
//!
//! Status: not built yet — the SQL issue fills it. It exports nothing.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
