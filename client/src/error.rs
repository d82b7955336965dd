//! The driver's errors. Each variant says what the caller can do next:
//!
//! | variant          | did the statement take effect? | what to do                           |
//! |------------------|--------------------------------|--------------------------------------|
//! | `Sql`            | no (it failed); **unknown** for SQLSTATE 40003 (the node lost its commit's answer) | retry the transaction if retryable (40001); check the data first on 40003 |
//! | `Disconnected`   | no                             | retry; the driver already failed over |
//! | `Ambiguous`      | **unknown**                    | check the data before retrying       |
//! | `Connect`        | no                             | check addresses / cluster health     |
//! | `Column`, `Type`, `UnexpectedNull` | —            | fix the code reading the row         |
//! | `Usage`          | no (nothing was sent)          | fix the call                         |
//! | `Protocol`       | unknown                        | report a bug (server or driver)      |
//! | `Application`    | no (rolled back)               | whatever the closure meant           |

use tonic::Status;

/// What [`Result`] fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No node could be reached to open a session (each was tried in turn);
    /// this is the last node's failure.
    #[error("cannot open a session on {url}: {source}")]
    Connect {
        /// The node tried last.
        url: String,
        /// Why it failed: transport error, refused session, or timeout.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The server ran the statement and it failed. Inside a transaction the
    /// transaction has failed too: only a rollback helps.
    #[error("{message} (SQLSTATE {sqlstate})")]
    Sql {
        /// PostgreSQL SQLSTATE code, e.g. `"40001"`, `"23505"`.
        sqlstate: String,
        /// The server's message (with its detail and hint, if any, on
        /// further lines).
        message: String,
        /// True when running the transaction again may succeed (SQLSTATE
        /// 40001 and the like). [`Client::transaction`](crate::Client::transaction)
        /// retries these itself.
        retryable: bool,
    },

    /// The connection broke, and the statement cannot have taken effect:
    /// either it was never sent, or it was a read, or it was inside a
    /// transaction that had not been sent `COMMIT` (the server rolls back a
    /// session whose connection goes away). Retrying is safe.
    #[error("the connection broke; nothing was committed: {source}")]
    Disconnected {
        /// What the gRPC stream reported.
        #[source]
        source: Status,
    },

    /// The connection broke while a statement that may commit was in flight
    /// (a write outside a transaction, or `COMMIT`). It may or may not have
    /// taken effect, and the driver cannot find out: it is never retried
    /// automatically. Check the data (or make the write idempotent) first.
    #[error(
        "the connection broke while a commit was in flight; it may or may not have taken effect: {source}"
    )]
    Ambiguous {
        /// What the gRPC stream reported.
        #[source]
        source: Status,
    },

    /// A row has no such column (name not found, or index out of range).
    #[error("no column {column} in this result (columns: {})", .columns.join(", "))]
    Column {
        /// The name or index asked for.
        column: String,
        /// The names the result does have.
        columns: Vec<String>,
    },

    /// A value cannot be read as the requested Rust type.
    #[error("column {column}: cannot read {found} as {expected}")]
    Type {
        /// The column's name.
        column: String,
        /// The Rust type asked for, as a SQL type name (`"INT"`, …).
        expected: &'static str,
        /// The value's SQL type name.
        found: &'static str,
    },

    /// A value is `NULL` but was read as a type that cannot hold `NULL`.
    #[error("column {column} is NULL: read it as Option<_> or Value")]
    UnexpectedNull {
        /// The column's name.
        column: String,
    },

    /// The driver was called in a way it does not support; nothing was sent.
    #[error("{0}")]
    Usage(String),

    /// The server broke the session protocol (or the driver has a bug).
    #[error("session protocol violation: {0}")]
    Protocol(String),

    /// The caller's own error, returned from a transaction closure to roll
    /// the transaction back. Never retried.
    #[error(transparent)]
    Application(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The caller's own error, to return from a
    /// [`Client::transaction`](crate::Client::transaction) closure: the
    /// transaction is rolled back and `transaction` returns it.
    ///
    /// ```
    /// let e = spanlite_client::Error::application("insufficient funds");
    /// assert_eq!(e.to_string(), "insufficient funds");
    /// ```
    pub fn application(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Application(error.into())
    }

    /// True when running the transaction (or statement) again may succeed and
    /// cannot apply anything twice: a retryable SQL error, or
    /// [`Error::Disconnected`].
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Sql { retryable, .. } => *retryable,
            Error::Disconnected { .. } => true,
            _ => false,
        }
    }

    /// The SQLSTATE of an [`Error::Sql`], `None` for the other kinds.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Sql { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
    }
}

/// Results of the driver's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(sqlstate: &str, retryable: bool) -> Error {
        Error::Sql {
            sqlstate: sqlstate.into(),
            message: "m".into(),
            retryable,
        }
    }

    #[test]
    fn retryable_means_nothing_can_apply_twice() {
        assert!(sql("40001", true).is_retryable());
        assert!(!sql("23505", false).is_retryable());
        assert!(
            Error::Disconnected {
                source: Status::unavailable("x")
            }
            .is_retryable()
        );
        assert!(
            !Error::Ambiguous {
                source: Status::unavailable("x")
            }
            .is_retryable()
        );
        assert!(!Error::application("no").is_retryable());
    }

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(sql("40001", true).to_string(), "m (SQLSTATE 40001)");
        assert_eq!(sql("40001", true).sqlstate(), Some("40001"));
        assert_eq!(Error::Usage("u".into()).sqlstate(), None);
        let e = Error::Column {
            column: "\"x\"".into(),
            columns: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_string(),
            "no column \"x\" in this result (columns: a, b)"
        );
    }
}
