//! The `spanlite` command line (DESIGN.md §8): `start`, `init`, `kv`,
//! `admin`, `sql` (the shell), `demo`, `sqllogictest` and `workload`. The
//! only crate that depends on rustyline, sqllogictest and the workload
//! driver (`spanlite-benches`).
//!
//! - [`shell`]: the SQL shell (rustyline, result tables, `\d`, `\timing`).
//! - [`slt`]: the sqllogictest runner (`spanlite sqllogictest`).
//! - [`workload`]: `spanlite workload`, Spanlite and PostgreSQL side by side.
//!
//! The command line offers only what is built (`spanlite --help`).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cert;
mod cli;
mod demo;
mod interrupt;
pub mod shell;
pub mod slt;
pub mod workload;

pub use cli::{Cli, run};
