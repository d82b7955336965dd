//! The system catalogs: `pg_catalog` and `information_schema` as read-only
//! relations computed from Spanlite's catalog at the statement's snapshot,
//! and the session functions drivers call (`current_schema()`,
//! `version()`, …).
//!
//! ```text
//!   statement ──names pg_class, information_schema.columns, ::regclass,
//!               pg_get_indexdef(…), current_user …──▶ [`rewrite`]
//!     1. the catalog is read through the statement's transaction
//!        (tables, views, sequences, roles): [`Snapshot`]
//!     2. each system relation named in a FROM becomes a VALUES list of its
//!        rows ([`relations`]), typed, under the name or alias it had
//!     3. catalog functions become scalar subqueries over such lists,
//!        session functions become their values
//!   then the statement is bound and run as any other: joins, filters,
//!   subqueries, ORDER BY.
//! ```
//!
//! Every object has a stable OID (`crate::compat::oid_of`): a table, view, sequence,
//! index or constraint keeps it while its name (and its table's) does.
//! There is one database and three schemas (`pg_catalog`, `public`,
//! `information_schema`); every user object is in `public`. A system
//! relation Spanlite does not provide is 42P01, as an unknown table is.

mod columns;
mod functions;
mod information_schema;
mod objects;
mod pg_catalog;
mod relations;
mod rewrite;

pub(crate) use objects::column_default;
pub(crate) use rewrite::{expand, mentions};
