//! SQL sessions on a gateway node (DESIGN.md §7, §8): statements run in
//! explicit transactions (BEGIN … COMMIT/ROLLBACK) or, one at a time, in
//! implicit transactions retried on 40001.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod advisory;
mod interrupt;
mod schema;
mod session;
mod split;
mod stats;

pub use advisory::{ADVISORY_LEASE, AdvisoryLocks};
pub use interrupt::{Interrupt, canceled, duration_setting, timed_out};
pub use schema::{DEFAULT_SCHEMA_LEASE, SchemaCache};
pub use session::{DEFAULT_CONCURRENCY_KEY, Prepared, Session, StatementResult};
pub use split::split_statements;
pub use stats::{FingerprintStats, KindStats, StatementStats, fingerprint, kind_of};
