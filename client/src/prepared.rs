//! Prepared statements: [`Client::prepare`](crate::Client::prepare) checks
//! a statement's text once (one statement, not transaction control) and
//! gives it an id; each session it runs on prepares it once (the node
//! splits and parses it, and keeps its query plan between runs), and later
//! runs send only the id and the parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::statement::{StatementKind, classify};

/// Ids are unique in the process, so a session never mixes two statements.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A statement prepared by [`Client::prepare`](crate::Client::prepare), to
/// run with [`Client::query_prepared`](crate::Client::query_prepared) or
/// [`Transaction::query_prepared`](crate::Transaction::query_prepared)
/// (and their `execute_` forms) any number of times, on any session of
/// any client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PreparedStatement {
    sql: Arc<str>,
    kind: StatementKind,
    id: u64,
}

impl PreparedStatement {
    /// Checks `sql` (one statement, not `BEGIN`/`COMMIT`/`ROLLBACK`).
    pub(crate) fn new(sql: &str) -> Result<Self> {
        let kind = classify(sql)?;
        if kind == StatementKind::TransactionControl {
            return Err(Error::Usage(
                "transaction control cannot be prepared: use Client::begin or Client::transaction"
                    .into(),
            ));
        }
        Ok(Self {
            sql: sql.into(),
            kind,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Its text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub(crate) fn kind(&self) -> StatementKind {
        self.kind
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

/// What a request runs: a text, or a prepared statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sql<'a> {
    Text(&'a str),
    Prepared(&'a PreparedStatement),
}
