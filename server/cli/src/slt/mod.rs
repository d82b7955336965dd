//! `spanlite sqllogictest`: SQL logic tests (the sqllogictest format of
//! SQLite, as parsed and checked by the `sqllogictest` crate) run against
//! an embedded 3-node cluster.
//!
//! ```text
//!   *.slt / *.test ──parse──▶ records ──Runner──▶ SessionDb ──▶ Session ──▶ gateway ──▶ tablets
//!                                        │  compares rows as text (format.rs),
//!                                        │  errors by regex on "message (SQLSTATE xxxxx)"
//!                                        ▼
//!                                  Summary: N/M records passed per file
//! ```
//!
//! - `run.rs`: files, isolation between files, halts and labels, counting.
//! - `db.rs`: the `AsyncDB` over a session, with a time limit per record.
//! - `compare.rs`: rows against expected results (row-wise, value-wise as
//!   in SQLite's corpus, or by MD5 hash).
//! - `format.rs`: how values are written (NULL, `(empty)`, `t`/`f`, floats
//!   with three decimals, RFC 3339 timestamps).
//! - `summary.rs`: results and their printing.
//!
//! Records run under the labels `postgresql` and `spanlite` (`onlyif
//! postgresql` runs, `skipif postgresql` skips). Column type letters
//! (`query ITR`) are not checked. `hash-threshold`, `rowsort`,
//! `valuesort`, `connection` and `statement error <regex>` work as the
//! crate defines them.
//!
//! Not here: `--override` (rewriting expected results), parallel files.

mod compare;
mod db;
mod format;
mod run;
mod summary;

pub use db::SessionDb;
pub use run::{LABELS, SltOptions, run_files};
pub use summary::{Failure, FileResult, Summary};
