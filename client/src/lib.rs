//! The Spanlite Rust driver: connect to several nodes with failover, run
//! statements with parameters, read typed rows, and run transactions that
//! are retried when they lose a conflict (SQLSTATE 40001).
//!
//! ```no_run
//! use spanlite_client::{Client, Result};
//!
//! # async fn example() -> Result<()> {
//! let client = Client::connect(["127.0.0.1:7000", "127.0.0.1:7001"]).await?;
//!
//! client
//!     .execute("INSERT INTO users (id, name) VALUES ($1, $2)", &[1.into(), "Ada".into()])
//!     .await?;
//! let result = client.query("SELECT name FROM users WHERE id = $1", &[1.into()]).await?;
//! let name: String = result.rows[0].get("name")?;
//!
//! // Runs the closure again (in a new transaction) if the commit loses a conflict.
//! client
//!     .transaction(|tx| {
//!         Box::pin(async move {
//!             tx.execute("UPDATE users SET visits = visits + 1 WHERE id = $1", &[1.into()])
//!                 .await?;
//!             Ok(())
//!         })
//!     })
//!     .await?;
//! # let _ = name;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! ```text
//!   Client (Clone) ──▶ Pool ──┬── idle sessions ─ reused by the next call
//!                             └── nodes [A, B, C] ─ a new session tries them
//!                                   in order from a rotating start
//!
//!   Session = one SqlService.Session gRPC stream on its own connection
//!             to one node: Query{id, sql, params} ──▶
//!                          ◀── columns, row batches, Complete | Error
//! ```
//!
//! Every call takes a session of its own (idle or new) and gives it back
//! when done, unless it broke or still has a transaction open: such a
//! session is closed, and the node rolls back whatever it had open. A
//! [`Transaction`] holds its session from `BEGIN` to `COMMIT`.
//!
//! The node answers each statement with exactly one `CommandComplete` or
//! `SqlError`; the driver therefore sends exactly one statement per call
//! and refuses text with several (or none).
//!
//! When a connection breaks, whether the statement may be retried depends on
//! whether it could have committed: see [`Client`] for the table, and
//! [`Error`] for what each error tells the caller.
//!
//! A statement is cancelled by dropping its future (e.g. at a
//! `tokio::time::timeout`): its session is closed, and the node cancels a
//! query whose client went away — it stops waiting for locks and never
//! commits; an open transaction on that session is rolled back.
//!
//! Deliberately not done: streaming huge results (every row of a result is
//! read into memory), routing to the node that leads the data, and session
//! settings changed with `SET` (use [`ClientOptions::setting`]; a `SET`
//! through [`Client::execute`] changes one pooled session only). TLS
//! ([`ClientOptions::certs_dir`]) and prepared statements
//! ([`Client::prepare`]) are supported.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod client;
mod error;
mod options;
mod pool;
mod prepared;
mod row;
mod session;
mod statement;
mod transaction;
mod value;
mod wire;

#[cfg(test)]
mod tests;

pub use client::Client;
pub use error::{Error, Result};
pub use options::ClientOptions;
pub use prepared::PreparedStatement;
pub use row::{Column, ColumnIndex, FromValue, QueryResult, Row};
pub use transaction::{BoxFuture, Concurrency, Transaction, TransactionMode};
pub use value::{SqlType, Timestamp, Value};
