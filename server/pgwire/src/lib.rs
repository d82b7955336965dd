//! The PostgreSQL wire protocol (version 3.0), so that `psql`, `pgbench`
//! and PostgreSQL drivers can talk to a node. Each connection is one
//! [`spanlite_session::Session`]; the protocol is a thin translation layer.
//!
//! ```text
//!   client ──StartupMessage──▶ AuthenticationOk, ParameterStatus…, ReadyForQuery(I)
//!          ──Query(sql)──────▶ per statement: RowDescription, DataRow…, CommandComplete
//!                              (or ErrorResponse, which ends the script), ReadyForQuery(I|T|E)
//!          ──Parse/Bind/Describe/Execute…/Sync──▶ the same, one statement per portal
//!          ──Terminate / EOF─▶ session.close() (an open transaction is rolled back)
//! ```
//!
//! - [`message`]: reading frontend messages and writing backend ones.
//! - [`types`]: type OIDs and value encodings (text and binary).
//! - [`auth`]: trust, or each role's password by SCRAM-SHA-256 (with
//!   channel binding over TLS), or a client certificate.
//! - [`cancel`]: BackendKeyData keys and CancelRequest (57014).
//! - [`connection`]: one client, from startup to close.
//! - [`listener`]: the accept loop of a node's `--pg-listen` address.
//!
//! NB: the `pgwire` crate was the first choice, but every version of it
//! depends on `lazy-regex`, whose proc macro enables `regex`'s default
//! features for the host; that changes the features of RocksDB's build
//! dependency `bindgen` and so rebuilds RocksDB. The protocol subset used
//! here is small enough to write out.
//!
//! Every statement, catalog queries included, runs in the session: the
//! system catalogs (`pg_catalog`, `information_schema`) and the session
//! functions are the SQL engine's (`spanlite_sql`'s `statement::system`); no text is
//! recognised here.
//!
//! Not here: notifications (LISTEN/NOTIFY), replication connections and
//! GSSAPI (a GSSENCRequest is answered `N`).

// No unwrap()/expect() outside tests: input, network and I/O errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod arrays;
pub mod auth;
pub mod cancel;
pub mod connection;
pub mod copy;
mod hangup;
pub mod listener;
pub mod message;
pub mod types;

pub use auth::Auth;
pub use connection::Connection;
pub use listener::{
    ConnectionCount, ConnectionGuard, Limits, PgTls, Port, TlsPeer, serve, tls_acceptor,
};
