//! The Spanlite Rust driver: connect to several nodes with failover, run
//! queries with parameters, typed rows, and `transaction(|tx| …)` that retries
//! retryable aborts (SQLSTATE 40001) with backoff.
//!
//! Status: not built yet — the SQL issue fills it. It exports nothing.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
