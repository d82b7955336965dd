//! Spanlite SQL (DESIGN.md §7): sqlparser (PostgreSQL dialect) → binder
//! and planner (`bind`) → evaluation (`eval`) over a transaction
//! ([`KvTxn`]), one statement at a time (`statement`).
//!
//! ```text
//!   statement ─▶ bind ─▶ plan ─▶ catalog ─▶ value ─▶ error
//!       │  └──▶ explain ─┘         ▲
//!       └──▶ eval ─────────────────┘        syntax (parse, names) and kv
//!                                          (KvTxn) sit below bind/eval
//! ```
//!
//! Modules import downward only (checked by `tests/layering.rs`):
//! `statement` runs DDL, DML, queries, EXPLAIN and SHOW; `bind` turns the
//! AST into a plan (`plan`); `eval` fetches what a plan needs through
//! [`KvTxn`] and computes it; `syntax` parses and holds the naming rules;
//! `kv` is the transaction interface; `catalog` the table definitions.
//!
//! - Types with NULL and three-valued logic; errors with SQLSTATEs.
//! - The catalog is transactional data: CREATE/DROP TABLE (single or
//!   composite primary key, or a hidden row id; NOT NULL; DEFAULT; UNIQUE)
//!   and CREATE/DROP [UNIQUE] INDEX commit or abort with their transaction.
//! - INSERT (multi-row, INSERT … SELECT, ON CONFLICT DO NOTHING), UPDATE and
//!   DELETE keep secondary indexes up to date and check unique constraints.
//! - SELECT: inner, cross and left joins (hash joins on equalities), WHERE,
//!   GROUP BY/HAVING, COUNT/SUM/AVG/MIN/MAX (with DISTINCT), DISTINCT,
//!   ORDER BY, LIMIT/OFFSET, UNION/INTERSECT/EXCEPT, VALUES, subqueries in
//!   FROM and in expressions (scalar, IN, EXISTS; correlated or not), CASE,
//!   LIKE, common scalar functions, FOR UPDATE; parameters `$1`, `$2`, ….
//! - Access paths chosen from the predicates: primary-key lookups (also
//!   `IN` lists), primary-key ranges, secondary-index ranges, full scans;
//!   EXPLAIN shows them.
//!
//! Sessions (BEGIN/COMMIT, SET, SHOW of cluster state, `AS OF SYSTEM TIME`)
//! live in the server.

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod advisory;
pub mod array;
pub mod backends;
mod bind;
mod catalog;
pub mod compat;
pub mod datefmt;
mod dateparse;
pub mod datetime;
pub mod enums;
mod error;
mod eval;
mod explain;
pub mod interval;
pub mod json;
mod kv;
pub mod numeric;
pub mod password;
mod plan;
mod regexp;
pub mod sequence;
mod statement;
mod syntax;
mod value;
pub mod zone;

pub use access::{Access, RoleDef};
pub use catalog::{
    CheckDef, Column, ForeignKeyDef, Generated, IndexDef, Pending, PendingItem, RefAction,
    SchemaVersion, TableDef, Width, decode, decode_schema, decode_table, encode, encode_table,
    schema_span, schema_version_key, table_key,
};
pub use error::{Result, SqlError};
pub use eval::{DEFAULT_MEMORY_BUDGET, memory_budget, set_memory_budget};
pub use kv::{BoxFuture, KvTxn, Locked, Pairs, key_after};
/// The table of SQLSTATE codes, re-exported for the sessions and the wire.
pub use spanlite_sqlstate as sqlstate;
/// The SQL parser, re-exported so callers match on the same AST.
pub use sqlparser;
pub use statement::online;
pub use statement::{
    PlanCache, QueryResult, SchemaChange, changed_table, constant_value, execute, execute_cached,
    foreign_key_parents, param_types, returning_columns, schema_change, tables,
};
pub use syntax::{parse, reads_only};

/// A table's name as the catalog keys it (unquoted names fold to lower
/// case; no schemas).
pub fn object_name_of(name: &sqlparser::ast::ObjectName) -> Result<String> {
    syntax::object_name(name)
}
pub use value::{DataType, Value, parse_uuid};

#[cfg(test)]
mod tests;
