//! The Spanlite Rust driver: connect to several nodes with failover, run
//! statements with parameters, read typed rows, and run transactions that
//! are retried when they lose a conflict (SQLSTATE 40001).
//!
//! Status: the value, row and error types; the client follows.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod error;
mod row;
mod value;

pub use error::{Error, Result};
pub use row::{Column, ColumnIndex, FromValue, QueryResult, Row};
pub use value::{SqlType, Timestamp, Value};
