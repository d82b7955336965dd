//! `spanlite workload`: the same transactions against Spanlite and against
//! PostgreSQL, with throughput, latency percentiles, retries and aborts by
//! reason, and each workload's invariant checked at the end.
//!
//! ```text
//!   WorkloadOptions ─▶ run(target) ─▶ setup ─▶ N workers ─┬─▶ Report ─▶ render / JSON
//!                          │                              │
//!              Target: Spanlite (spanlite-client)         └─ per worker: pick an op,
//!                      Postgres (tokio-postgres)             attempt it until it commits
//!                                                            (retry loop, backoff)
//! ```
//!
//! - [`Target`] / [`Connection`] / [`Txn`]: what the workloads are written
//!   against, once for both systems ([`Spanlite`], [`Postgres`]).
//! - Workloads: `bank` (transfers; total conserved), `kv` (point reads
//!   and updates), `readonly` (point reads); see [`WorkloadKind`].
//! - The retry loop is the workload's, not the driver's: both systems' aborts
//!   are counted the same way (SQLSTATE 40001 and 40P01 are retried).
//! - Latency is per committed transaction from its first `BEGIN` to its
//!   commit, retries and backoff included, in an HDR histogram.
//!
//! INVARIANT: both targets run the same statements, in the same order, at
//! serializable isolation; only the drivers differ.
//!
//! Spanlite runs its read-write transactions in the `--mode` asked for
//! (2PL, OCC, SSI or SI); PostgreSQL always at SERIALIZABLE.
//!
//! Not here: skewed key distributions, open-loop (rate-limited) load, multi-tablet
//! placement (the table lives where the cluster puts it).

mod bank;
mod error;
mod kv;
mod load;
mod options;
mod postgres;
mod progress;
mod report;
mod retry;
mod runner;
mod spanlite;
mod stats;
mod target;

pub use error::WorkloadError;
pub use options::{Mode, Stop, WorkloadKind, WorkloadOptions};
pub use postgres::Postgres;
pub use report::{Check, Comparison, Latency, Report, Settings, render};
pub use runner::run;
pub use spanlite::Spanlite;
pub use target::{Cell, Connection, DbError, FailureKind, Param, Rows, Target, Txn, int_cell};
