//! Spanlite SQL (DESIGN.md §7): sqlparser (PostgreSQL dialect) → binder
//! and planner → executor over a transaction ([`KvTxn`]).
//!
//! Built so far: types with NULL and three-valued logic, SQLSTATE errors,
//! the catalog as transactional data, CREATE/DROP TABLE (single-column
//! primary key or a hidden row id; NOT NULL; DEFAULT), INSERT (multi-row,
//! ON CONFLICT DO NOTHING), UPDATE, DELETE, and single-table SELECT with
//! WHERE, DISTINCT, ORDER BY, LIMIT/OFFSET and COUNT/SUM/MIN/MAX/AVG
//! without GROUP BY; primary-key point lookups when WHERE pins the key.
//!
//! Not yet: sessions (BEGIN/COMMIT live there), joins, GROUP BY, secondary
//! indexes, subqueries, EXPLAIN, SHOW, parameters, `AS OF SYSTEM TIME`.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod catalog;
mod error;
mod exec;
mod expr;
mod value;

pub use catalog::{Column, TableDef};
pub use error::{Result, SqlError};
pub use exec::{BoxFuture, KvTxn, Pairs, QueryResult, execute, parse, tables};
/// The SQL parser, re-exported so callers match on the same AST.
pub use sqlparser;
pub use value::{DataType, Value};

#[cfg(test)]
mod tests;
